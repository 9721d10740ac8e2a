//! # op2
//!
//! An MPI-parallel unstructured-mesh runtime in the style of PyOP2: users write numerical
//! kernels in C, op2 generates the loop around them, compiles it once (rank 0, under a file
//! lock, into a disk cache shared by every rank and job), loads it everywhere, and runs it over
//! partitioned meshes.
//!
//! The README's first example (`tests/heat.rs` checks that the README shows this code):
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
//! use op2::{par_loop, Access, Dat, DataSet, Global, Kernel, Set};
//!
//! let cells = Set::new(4).unwrap();
//! let area = Dat::new(&DataSet::new(&cells, 1).unwrap(), vec![0.5f64, 0.25, 0.125, 0.125]).unwrap();
//! let total = Global::scalar(0.0f64);
//! let sum = Kernel::new("sum", "void sum(const double *a, double *t) { t[0] += a[0]; }").unwrap();
//! par_loop(&sum, &cells, &[area.arg(Access::Read), total.arg(Access::Inc)]).unwrap();
//! assert_eq!(total.get::<f64>().unwrap(), 1.0);
//! ```
//!
//! `docs/GUIDE.md` is the getting-started page (a whole solver, the kernel calling convention,
//! PyOP2 and OP2 names).
//!
//! Under `mpiexec`, wrap the program in [`run`] (or call [`init`]) and build the mesh with
//! [`distribute()`]: the same loops then run on every rank over its part of the mesh.

// Layers, bottom to top (a module imports only from its own layer or below; see
// docs/ARCHITECTURE.md):
//   error, config, dtype    errors, settings, element types
//   mpi/                    communicator (the only MPI caller), halo plans
//   cache/                  object caches, class cache, disk cache store, locking, trust
//   data/                   Set, Map, DataSet, Dat, Global, dtypes, access modes
//   jit/                    kernels, generated C, the compiler, loading libraries
//   build/                  keys, who compiles / waits / loads on a class-cache miss
//   linalg/                 Sparsity, Mat
//   exec/                   par_loop: arguments, plans, run step, timings
//   mesh/                   mesh input, partitioners, distribution
//   runtime, report         MPI lifecycle, finalize reports
#[doc(hidden)]
pub mod build;
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
pub mod settings;

pub use config::Config;
pub use data::access::Access;
pub use data::borrow::{DataMut, DataRef};
#[doc(hidden)]
pub use data::dat::corrupt_halo_copy_for_tests;
pub use data::dat::{reverse_halo, update_halo, Dat, Global, ReverseMode};
pub use data::dataset::DataSet;
pub use data::extruded::{Entity, ExtrudedMap, ExtrudedSet, ExtrudedSubset, Region};
pub use data::map::Map;
pub use data::mixed::{MixedDat, MixedDataSet, MixedMap, MixedSet, WeakMixed};
pub use data::set::Set;
pub use data::subset::Subset;
pub use data::view::DatView;
pub use dtype::{DType, Scalar};
pub use error::{Error, Result};
pub use exec::arg::Arg;
pub use exec::extruded::{par_loop_extruded, par_loop_extruded_layer, Columns, XArg};
pub use exec::krylov::{
    solve, CgVariant, KrylovSolver, Method, Orthogonalization, PcSide, SolveInfo,
};
pub use exec::parloop::par_loop;
pub use exec::precond::Preconditioner;
pub use exec::timing::{timings, LoopTiming};
pub use exec::vecops::{
    axpby, axpy, copy, dot, dots, nonzero_entries, norm, pointwise_divide, pointwise_mult, scale,
    zero,
};
pub use jit::kernel::Kernel;
pub use linalg::mat::{GatheredMat, Mat};
pub use linalg::mixedmat::{BlockPairs, MixedMat, MixedSparsity};
#[cfg(feature = "petsc")]
pub use linalg::petsc::{PetscKsp, PetscMat, PetscSolveInfo};
pub use linalg::sparsity::Sparsity;
pub use mesh::{distribute, DistributedMesh, GlobalMesh};
pub use mpi::comm::{Comm, ReduceOp};
pub use runtime::{init, run, run_with, Runtime};
