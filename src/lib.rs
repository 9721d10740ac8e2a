//! # op2
//!
//! An MPI-parallel unstructured-mesh runtime in the style of PyOP2: users write numerical
//! kernels in C, op2 generates the loop around them, compiles it once (rank 0, under a file
//! lock, into a disk cache shared by every rank and job), loads it everywhere, and runs it over
//! partitioned meshes.
//!
//! Data flows one way: user API (`Set`, `Map`, `DataSet`, `Dat`, `Global`, `Sparsity`, `Mat`,
//! `Kernel`) ->
//! `par_loop` -> cache key -> caches (class cache, disk cache) -> codegen/compile -> execute.
//! See `docs/ARCHITECTURE.md`.
//!
//! ```
//! let s = op2::Set::new(1).unwrap();
//! let ds = op2::DataSet::new(&s, 10).unwrap();
//! let ds2 = op2::DataSet::new(&s, 10).unwrap();
//! assert!(ds.ptr_eq(&ds2)); // PyOP2's `ds is ds2`
//! ```

// Layers, bottom to top (a module imports only from its own layer or below; see
// docs/ARCHITECTURE.md):
//   error, config, dtype    errors, settings, element types
//   mpi/                    communicator (the only MPI caller), halo plans
//   data/                   Set, Map, DataSet, Dat, Global, dtypes, access modes
//   jit/                    kernels, generated C, the compiler, loading libraries
//   cache/                  object caches, keys, class cache, disk cache, locking
//   linalg/                 Sparsity, Mat
//   exec/                   par_loop: arguments, plans, run step, timings
//   mesh/                   mesh input, partitioners, distribution
//   runtime, report         MPI lifecycle, finalize reports
#[doc(hidden)]
pub mod cache;
pub mod config;
mod data;
mod dtype;
pub mod error;
mod exec;
mod jit;
#[doc(hidden)]
pub mod linalg;
pub mod mesh;
#[doc(hidden)]
pub mod mpi;
#[doc(hidden)]
pub mod report;
mod runtime;

pub use config::Config;
pub use data::access::Access;
pub use data::dat::{reverse_halo, update_halo, Dat, Global, ReverseMode};
pub use data::dataset::DataSet;
pub use data::map::Map;
pub use data::set::Set;
pub use dtype::{DType, Scalar};
pub use error::{Error, Result};
pub use exec::arg::Arg;
pub use exec::parloop::{par_loop, timings, LoopTiming};
pub use jit::kernel::Kernel;
pub use linalg::mat::{GatheredMat, Mat};
pub use linalg::sparsity::Sparsity;
pub use mesh::{distribute, DistributedMesh, GlobalMesh};
pub use mpi::comm::{Comm, ReduceOp};
pub use runtime::{init, run, run_with, Runtime};
