//! The user's data model: Sets, Maps, DataSets, Dats and Globals, their element types and
//! access modes.
//!
//! Owns identity semantics (two Sets are equal only if they are the same object) and the
//! storage of data. It never generates code, compiles, or decides when halos are exchanged:
//! par_loop (`exec/`) does that. It may use the MPI layer (`mpi/`: a Set carries its
//! communicator and halo plan) and the object-cache mechanism (`cache/object.rs`).
pub mod access;
pub mod borrow;
pub mod dat;
pub mod dataset;
pub mod extruded;
pub mod extruded_flat;
pub mod map;
pub mod mixed;
pub mod set;
pub mod subset;
pub mod view;
