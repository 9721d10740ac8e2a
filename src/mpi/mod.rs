//! Everything that talks to other ranks: the communicator wrapper (the only module that calls
//! MPI) and halo plans (which local elements go to which rank, packed as bytes).
//!
//! Owns no user data types: halo plans pack and unpack byte slices handed to them, so this
//! layer sits below `data/`.
pub mod agree;
pub mod attr;
pub mod comm;
pub mod exchange;
pub mod halo;
pub mod node;
