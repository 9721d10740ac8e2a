//! Just-in-time compilation: the user's kernel, the generated C wrapper around it, the call of
//! the system C compiler, and loading the resulting library.
//!
//! Knows nothing about caching (the caches in `cache/` decide *whether* to compile) nor about
//! Dats or MPI: it turns argument shapes into code and code into a callable function.
pub mod check;
pub mod codegen;
pub mod compile;
pub mod extrude;
pub mod ffi;
pub(crate) mod isa;
pub mod kernel;
pub mod shape;
pub(crate) mod simd;
