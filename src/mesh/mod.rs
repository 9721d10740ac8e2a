//! Mesh input and distribution: the standard benchmark meshes as plain arrays (Airfoil's
//! NACA0012 mesh and OP2's ASCII format, generated unit-square triangle meshes), partitioners,
//! and the distribution of a global mesh over the ranks as Sets, Maps and Dats; results out as
//! VTU / PVTU files (`vtu`).
//!
//! The readers and generators know nothing of Sets, Maps or MPI; `distribute` builds those
//! from the arrays.
pub mod airfoil;
pub mod distribute;
pub mod meshgen;
mod naca0012;
pub mod partition;
pub mod vtu;

pub use airfoil::AirfoilMesh;
pub use distribute::{distribute, DistributedMesh, GlobalMesh};
pub use meshgen::{unit_square, TriMesh};
pub use naca0012::{naca0012, STANDARD_I, STANDARD_J};
