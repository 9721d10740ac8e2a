//! The caches: object caches on Sets/Maps, the class cache of loaded kernels, the shared
//! disk cache of compiled kernels, their keys and their counters.
pub mod admin;
pub mod disk;
pub mod fsutil;
pub mod key;
pub mod layout;
pub mod memory;
pub mod node;
pub mod object;
pub mod pack;
pub mod prune;
pub mod stats;
pub(crate) mod trust;

pub use layout::{DiskCache, EntryInfo};
