//! # op2
//!
//! An MPI-parallel unstructured-mesh runtime in the style of PyOP2: users write numerical
//! kernels in C, op2 generates the loop around them, compiles it once (rank 0, under a file
//! lock, into a disk cache shared by every rank and job), loads it everywhere, and runs it over
//! partitioned meshes.
//!
//! A first loop: a mesh of 3 edges over 4 nodes, a kernel that adds each edge's weight to its
//! two nodes (an indirect increment), and a Global reduction:
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # std::env::set_var("OP2_CACHE_DIR", dir.path());
//! use op2::{par_loop, Access, Dat, DataSet, Global, Kernel, Map, Set};
//! let nodes = Set::new(4)?;
//! let edges = Set::new(3)?;
//! let edge_nodes = Map::new(&edges, &nodes, 2, vec![0, 1, 1, 2, 2, 3])?;
//! let w = Dat::new(&DataSet::new(&edges, 1)?, vec![1.0f64, 2.0, 3.0])?;
//! let deg = Dat::new(&DataSet::new(&nodes, 1)?, vec![0.0f64; 4])?;
//! let spread = Kernel::new(
//!     "spread",
//!     "void spread(const double *w, double *a, double *b) { a[0] += w[0]; b[0] += w[0]; }",
//! )?;
//! par_loop(&spread, &edges, &[
//!     w.arg(Access::Read),
//!     deg.arg_map(Access::Inc, &edge_nodes, 0),
//!     deg.arg_map(Access::Inc, &edge_nodes, 1),
//! ])?;
//! assert_eq!(deg.to_vec::<f64>()?, vec![1.0, 3.0, 5.0, 3.0]);
//!
//! let total = Global::new(vec![0.0f64])?;
//! let sum = Kernel::new("sum", "void sum(const double *d, double *t) { t[0] += d[0]; }")?;
//! par_loop(&sum, &nodes, &[deg.arg(Access::Read), total.arg(Access::Inc)])?;
//! assert_eq!(total.value::<f64>()?, vec![12.0]);
//! # Ok::<(), op2::Error>(())
//! ```
//!
//! The kernel is compiled once into the disk cache (`OP2_CACHE_DIR`) and loaded from there by
//! every later run. Under `mpiexec`, wrap the program in [`run`] (or call [`init`]) and build the
//! mesh with [`distribute`]: the same loops then run on every rank over its part of the mesh.
//!
//! Data flows one way: user API (`Set`, `Map`, `DataSet`, `Dat`, `Global`, `Sparsity`, `Mat`,
//! `Kernel`) -> `par_loop` -> cache key -> caches (class cache, disk cache) -> codegen/compile
//! -> execute. See `docs/ARCHITECTURE.md`.

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
pub use exec::parloop::par_loop;
pub use exec::timing::{timings, LoopTiming};
pub use jit::kernel::Kernel;
pub use linalg::mat::{GatheredMat, Mat};
pub use linalg::sparsity::Sparsity;
pub use mesh::distribute::{distribute, DistributedMesh, GlobalMesh};
pub use mpi::comm::{Comm, ReduceOp};
pub use runtime::{init, run, run_with, Runtime};
