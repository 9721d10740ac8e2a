//! The PETSc bridge (cargo feature `petsc`): op2's assembled Mats as PETSc matrices and
//! PETSc's Krylov solvers and preconditioners (AMG, direct solvers through PETSc's options)
//! on op2 Dats.
//!
//! Owns PETSc's lifetime in the process: initialised once, on the communicator of the first
//! Mat handed over (op2's world; MPI is op2's, PETSc neither starts nor ends it), finalised
//! by [`crate::Runtime`]'s finalize before MPI is. `mat.rs` owns the PETSc numbering and the
//! copy of a Mat, `ksp.rs` the solve and its verdict, `ffi.rs` the C declarations: the only
//! `unsafe` of the bridge, every PETSc error code turned into [`crate::Error::Petsc`] naming
//! the function. Never links PETSc into the default build, never calls MPI itself (the raw
//! communicator comes from `mpi/comm.rs`).
//!
//! PETSc must be built on the MPI op2 uses (MPICH): `scripts/setup-petsc.sh` installs such a
//! build into `/opt/petsc-mpich` (or `$PETSC_DIR`), where `build.rs` finds it.

mod ffi;
mod ksp;
mod mat;

pub use ksp::{PetscKsp, PetscSolveInfo};
pub use mat::PetscMat;

use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::mpi::comm::{Comm, RawComm};

/// The communicator PETSc was initialised on by this module (its op2 id), if it was.
static INIT: Mutex<Option<u64>> = Mutex::new(None);

/// Initialise PETSc on `comm` unless done already (collective on the first call: every rank
/// of `comm` gets here in the same operation). PETSc initialised by the program itself is
/// used as it is; one initialised here on another communicator is an error.
pub(crate) fn ensure_initialized(comm: Comm) -> Result<()> {
    let mut init = INIT.lock().unwrap_or_else(|e| e.into_inner());
    match *init {
        Some(id) if id == comm.id() => return Ok(()),
        Some(id) => {
            return Err(Error::invalid(
                "PETSc bridge",
                format!(
                    "PETSc was initialised on communicator {id}; objects on communicator {} cannot use it",
                    comm.id()
                ),
            ))
        }
        None => {}
    }
    if !ffi::initialized()? {
        ffi::initialize(comm_of(comm)?)?;
    }
    *init = Some(comm.id());
    Ok(())
}

/// The raw communicator PETSc objects of `comm` are created on.
pub(crate) fn comm_of(comm: Comm) -> Result<RawComm> {
    comm.raw()
}

/// Finalise PETSc if this module initialised it (collective; called by the runtime's
/// finalize before MPI_Finalize). PETSc objects still alive afterwards are not destroyed.
pub(crate) fn finalize() -> Result<()> {
    let mut init = INIT.lock().unwrap_or_else(|e| e.into_inner());
    *init = None;
    ffi::finalize()
}
