//! `op2._op2`: the native half of op2's Python package (pyo3).
//!
//! Owns the Python classes over op2's objects (Set, DataSet, Map, Dat, Global, Kernel, Sparsity,
//! Mat), `par_loop`, the access modes, the runtime's lifetime in a Python process and the
//! translation of op2's errors into PyOP2's exception classes. It follows PyOP2's signatures;
//! conveniences that need no Rust (Global arithmetic, placeholders for features the core has
//! not yet, the compatibility modules) live in the Python package `op2/`. It never calls MPI
//! itself and never copies a Dat's values to show them: views share op2's memory.

mod comms;
mod data;
mod datops;
mod entries;
mod errors;
mod extruded;
mod global;
mod linalg;
mod loops;
mod mapvals;
mod matrows;
mod mesh;
mod mixedmat;
mod sets;
mod subset;
mod view;

use pyo3::prelude::*;

/// The op2 runtime of this Python process: MPI attached (mpi4py starts it) and the
/// configuration from the environment installed. `finalize` tears it down on every rank; the
/// package registers it with `atexit`.
#[pyclass(module = "op2._op2", unsendable)]
struct Runtime(Option<op2::Runtime>);

#[pymethods]
impl Runtime {
    /// This rank's number.
    #[getter]
    fn rank(&self) -> i32 {
        self.0.as_ref().map_or(0, |r| r.comm().rank())
    }
    /// The number of ranks.
    #[getter]
    fn size(&self) -> i32 {
        self.0.as_ref().map_or(1, |r| r.comm().size())
    }
    /// Collective: finalize op2 (the cache report; MPI itself is left to mpi4py).
    fn finalize(&mut self) -> PyResult<()> {
        match self.0.take() {
            Some(rt) => rt.finalize().map_err(errors::to_py),
            None => Ok(()),
        }
    }
}

/// Collective: start op2's runtime with the configuration from the environment (`OP2_*`).
#[pyfunction]
fn init() -> PyResult<Runtime> {
    let config = op2::Config::from_env().map_err(errors::to_py)?;
    let rt = op2::init(config).map_err(errors::to_py)?;
    Ok(Runtime(Some(rt)))
}

/// Loop classes (compiled and loaded kernels) in op2's class cache on this process.
#[pyfunction]
fn class_cache_len() -> usize {
    op2::cache::memory::len()
}

/// Empty op2's class cache on this process (every rank must call it at the same point).
#[pyfunction]
fn clear_class_cache() {
    op2::build::clear_class_cache(op2::mpi::comm::Comm::current())
}

/// op2's cache counters on this process: name -> (entries, hits, misses, compiles).
#[pyfunction]
fn cache_counters() -> std::collections::BTreeMap<String, (u64, u64, u64, u64)> {
    (op2::cache::stats::snapshot().into_iter())
        .map(|(k, c)| (k, (c.entries, c.hits, c.misses, c.compiles)))
        .collect()
}

#[pymodule]
fn _op2(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Runtime>()?;
    m.add_function(wrap_pyfunction!(init, m)?)?;
    m.add_function(wrap_pyfunction!(class_cache_len, m)?)?;
    m.add_function(wrap_pyfunction!(cache_counters, m)?)?;
    m.add_function(wrap_pyfunction!(clear_class_cache, m)?)?;
    comms::register(m)?;
    entries::register(m)?;
    sets::register(m)?;
    subset::register(m)?;
    extruded::register(m)?;
    data::register(m)?;
    global::register(m)?;
    loops::register(m)?;
    mixedmat::register(m)?;
    linalg::register(m)?;
    mesh::register(m)?;
    Ok(())
}
