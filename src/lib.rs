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

pub mod access;
pub mod cache;
pub mod codegen;
pub mod comm;
mod compile;
pub mod config;
pub mod dat;
pub mod dataset;
pub mod distribute;
pub mod dtype;
pub mod error;
mod ffi;
mod fsutil;
pub mod halo;
pub mod kernel;
pub mod map;
pub mod mat;
mod matdist;
pub mod mesh;
pub mod meshgen;
pub mod parloop;
pub mod partition;
pub mod report;
pub mod runtime;
pub mod set;
pub mod sparsity;

pub use access::Access;
pub use comm::{Comm, ReduceOp};
pub use config::Config;
pub use dat::{Dat, Global};
pub use dataset::DataSet;
pub use distribute::{distribute, DistributedMesh, GlobalMesh};
pub use dtype::{DType, Scalar};
pub use error::{Error, Result};
pub use kernel::Kernel;
pub use map::Map;
pub use mat::Mat;
pub use parloop::{par_loop, Arg};
pub use runtime::{init, run, run_with, Runtime};
pub use set::Set;
pub use sparsity::Sparsity;
