//! The caches: object caches on Sets/Maps, the class cache of loaded kernels, the shared
//! disk cache of compiled kernels, their keys and their counters.
pub mod object;
pub mod stats;
