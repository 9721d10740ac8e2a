//! Runtimes on mpi4py communicators: what `comm=` means in the Python package.
//!
//! Owns the bridge from an mpi4py communicator to op2's runtime on it: `runtime_on` makes a
//! runtime on a duplicate of the communicator (op2 frees the duplicate at finalize, so the
//! user's communicator may be freed at any time), the per-runtime views the caching module
//! reads (class-cache size, cache directory, toolchain), and [`comm_of`], which every
//! constructor taking `comm=` calls to find the op2 communicator of its objects. Which runtime
//! belongs to which mpi4py communicator (one per communicator, finalized when it is freed or
//! at exit) is kept by the Python module `op2._comms`; this module never keeps one itself and
//! never frees a communicator it did not make.

use pyo3::prelude::*;

use crate::errors::to_py;
use crate::Runtime;

#[pymethods]
impl Runtime {
    /// op2's id of this runtime's communicator (equal on its ranks; 1 for the world).
    #[getter]
    fn comm_id(&self) -> Option<u64> {
        self.0.as_ref().map(|r| r.comm().id())
    }
    /// Whether the runtime is still up (not finalized).
    #[getter]
    fn alive(&self) -> bool {
        self.0.is_some()
    }
    /// Loaded kernels in this runtime's class cache (0 once finalized).
    fn class_cache_len(&self) -> usize {
        self.0.as_ref().map_or(0, |r| r.class_cache_entries())
    }
    /// Empty this runtime's class cache (every rank of its communicator at the same point).
    fn clear_class_cache(&self) {
        if let Some(r) = &self.0 {
            op2::build::clear_class_cache(r.comm());
        }
    }
    /// The runtime's disk cache directory (OP2_CACHE_DIR, absolute).
    #[getter]
    fn cache_dir(&self) -> Option<std::path::PathBuf> {
        self.0.as_ref().map(|r| r.config().cache_dir.clone())
    }
    /// The runtime's C compiler and flags (OP2_CC, OP2_CFLAGS).
    #[getter]
    fn toolchain(&self) -> Option<(String, String)> {
        (self.0.as_ref()).map(|r| (r.config().cc.clone(), r.config().cflags.clone()))
    }
}

/// Collective over the communicator whose MPI handle is `handle` (mpi4py's `comm.handle`, an
/// MPICH `int`): a runtime on a duplicate of it, with the configuration from the environment.
#[pyfunction]
fn runtime_on(handle: i64) -> PyResult<Runtime> {
    let handle = std::os::raw::c_int::try_from(handle).map_err(|_| {
        crate::errors::raise(
            "Op2ValueError",
            format!("{handle} is not an MPICH communicator handle (an int)"),
        )
    })?;
    // MPICH's MPI_Comm is an int (rsmpi wraps it in a one-field struct).
    let raw = op2::mpi::comm::RawComm { 0: handle };
    let config = op2::Config::from_env().map_err(to_py)?;
    // SAFETY: `op2._comms` passes the handle of a live mpi4py intra-communicator (it refuses
    // COMM_NULL and intercommunicators) and holds the mpi4py object during the call; the
    // runtime keeps only its own duplicate.
    let rt = unsafe { op2::Runtime::on_dup_of_raw(raw, config) }.map_err(to_py)?;
    Ok(Runtime(Some(rt)))
}

/// The op2 communicator of `comm=`: the current one (the world) for `None`, else that of the
/// runtime `op2._comms.runtime_for` keeps for the mpi4py communicator (made on first use:
/// collective over it). A freed communicator's runtime is refused with a message.
pub(crate) fn comm_of(
    py: Python<'_>,
    comm: Option<&Bound<'_, PyAny>>,
) -> PyResult<op2::mpi::comm::Comm> {
    let Some(comm) = comm.filter(|c| !c.is_none()) else {
        return Ok(op2::mpi::comm::Comm::current());
    };
    let rt = py
        .import("op2._comms")?
        .getattr("runtime_for")?
        .call1((comm,))?;
    let rt = rt.downcast::<Runtime>()?.borrow();
    match &rt.0 {
        Some(r) => Ok(r.comm()),
        None => Err(crate::errors::raise(
            "Op2ValueError",
            format!("the op2 runtime of communicator {comm} was finalized (the communicator was freed, or the program is ending)"),
        )),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(runtime_on, m)?)
}
