//! The build protocol: who compiles a kernel, who waits, who loads it, and the keys that say
//! whether it was built before.
//!
//! Sits above both the caches (`cache/`: keyed, locked, verified stores of bytes and loaded
//! values, knowing nothing of kernels or compilers) and code generation (`jit/`: shapes to C,
//! C to a library, a library to a callable function, knowing nothing of caches). A par_loop's
//! class-cache miss enters here once (`fetch::fetch_or_compile`) and leaves with a loaded
//! kernel. Never touches Dats, plans or the run step.
pub mod choice;
pub mod fetch;
pub mod key;
pub mod produce;
pub mod rebuild;
pub mod share;
pub mod spmd;

use std::sync::Arc;

use crate::cache::memory::ClassCache;
use crate::jit::ffi::LoadedKernel;
use crate::mpi::comm::Comm;

/// A class-cache entry of a loaded kernel.
pub(crate) type Held = crate::cache::memory::Held<LoadedKernel>;

/// The class cache of loaded kernels of the runtime on `comm` (kept on the communicator,
/// `mpi::attr`; made on first use, dropped with the runtime at its finalize).
pub(crate) fn class_cache(comm: Comm) -> Arc<ClassCache<LoadedKernel>> {
    crate::mpi::attr::get_or_insert_with(comm, ClassCache::new)
}

/// Empty the class cache of the runtime on `comm` (PyOP2's `cache.clear()` of generated code,
/// for the Python package). Collective in effect: hits and misses must stay equal on every
/// rank, so every rank of the loops' communicator must clear it at the same point.
pub fn clear_class_cache(comm: Comm) {
    class_cache(comm).clear();
}
