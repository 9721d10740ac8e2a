//! Sparse linear algebra on meshes: Sparsities (block CSR non-zero structure, object-cached on
//! their row set) and Mats (f64 values on a Sparsity), serial and distributed, and the
//! operations on assembled Mats (`matops.rs`: diagonal, Dirichlet rows and columns, scale, axpy);
//! with the cargo feature `petsc`, the bridge to PETSc's matrices and solvers (`petsc/`).
//!
//! Uses the data model and the MPI layer; never generates code (a Mat becomes a par_loop
//! argument in `exec/arg.rs`).
pub mod mat;
pub(crate) mod matdist;
pub mod matops;
pub mod mixedmat;
#[cfg(feature = "petsc")]
pub mod petsc;
pub mod sparsity;
