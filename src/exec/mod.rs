//! Running loops: par_loop arguments, loop plans (built once per loop and iteration set,
//! cached on the set), the run step (halo exchanges, the call of the loaded code, reverse
//! exchanges, reductions), per-kernel timings, and vector operations on Dats (loops over
//! generated kernels) and the Krylov solvers built on them.
//!
//! The top of the library below mesh input: it reaches down into the caches for the loaded
//! code and never generates or compiles code itself.
pub mod arg;
pub mod blocks;
pub mod check;
pub mod choose;
pub mod colour;
pub mod dispatch;
pub mod extruded;
pub mod gmres;
pub mod krylov;
pub mod mixedarg;
pub mod mixedvec;
pub mod parloop;
pub mod phases;
pub mod plan;
pub mod precond;
pub mod threads;
pub mod timing;
pub mod vecops;
