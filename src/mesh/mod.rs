//! Mesh input and distribution: the standard benchmark meshes as plain arrays (Airfoil's
//! NACA0012 mesh and OP2's ASCII format, generated unit-square triangle meshes), partitioners,
//! and the distribution of a mesh over the ranks as Sets, Maps and Dats; results out as VTU /
//! PVTU files (`vtu`).
//!
//! One distribution path, two entry points:
//! * **from blocks**: every rank holds its own contiguous block of each set ([`MeshBlock`],
//!   e.g. read from a [`MeshFile`] or OP2's HDF5 layout, `h5`, the `hdf5` feature); the blocks
//!   are partitioned in parallel and migrate to their owners ([`distribute_blocks`]). No rank
//!   ever holds the whole mesh.
//! * **from rank 0**: a whole [`GlobalMesh`] on rank 0 ([`distribute()`]), validated there and
//!   cut into the same blocks, which rank 0 scatters; then [`distribute_blocks`]. For meshes
//!   that fit one node.
//!
//! The readers and generators know nothing of Sets, Maps or MPI; the distribution builds those
//! from the arrays.
pub mod airfoil;
pub mod block;
pub mod distribute;
pub mod global;
#[cfg(feature = "hdf5")]
pub mod h5;
pub mod local;
pub mod meshfile;
pub mod meshgen;
mod metis;
mod migrate;
mod naca0012;
pub mod partition;
mod prcb;
pub mod vtu;
mod wire;

pub use airfoil::AirfoilMesh;
pub use block::{block_range, MeshBlock};
pub use distribute::distribute;
pub use global::GlobalMesh;
#[cfg(feature = "hdf5")]
pub use h5::{airfoil_constants, H5Layout, H5MeshFile, H5Writer};
pub use local::DistributedMesh;
pub use meshfile::{FileDat, MeshFile, MeshFileWriter};
pub use meshgen::{unit_square, TriMesh};
pub use migrate::distribute_blocks;
pub use naca0012::{naca0012, STANDARD_I, STANDARD_J};
pub use partition::Partitioner;
