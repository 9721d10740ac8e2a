//! The caches: object caches on Sets/Maps, the class cache (of loaded kernels, generic over
//! what it holds), the shared disk cache (a keyed, locked, verified store of library bytes and
//! their metadata, written through one transaction) and their counters.
//!
//! Knows nothing of kernels, code generation or compilers (`build/` decides what to store,
//! `jit/` makes it): the one fact it checks about a library is the exported entry point
//! (`elf.rs`).
pub mod admin;
pub mod disk;
pub mod elf;
pub mod fsutil;
pub mod layout;
pub mod memory;
pub mod node;
pub mod object;
pub mod pack;
pub mod prune;
pub mod stats;
pub(crate) mod tally;
pub(crate) mod trust;

pub use layout::{DiskCache, EntryInfo};
pub use trust::read_entry;
