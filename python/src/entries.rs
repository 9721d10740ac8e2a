//! The Python package's files in op2's cache directory (`pyop2.caching`'s pickles,
//! `pyop2.compilation`'s libraries), read through op2's trust rule: this module owns no rule
//! of its own, it calls `op2::cache::read_entry`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// The bytes of the cache file at `path`, or None when there is none. A link, a FIFO, a file
/// someone else could have written: OSError naming the file and why (the caller treats it as
/// a miss and says so, never loads it).
#[pyfunction]
fn read_cache_entry<'py>(py: Python<'py>, path: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
    match op2::cache::read_entry(std::path::Path::new(path)) {
        Ok(bytes) => Ok(bytes.map(|b| PyBytes::new(py, &b))),
        Err(e) => Err(pyo3::exceptions::PyOSError::new_err(e.to_string())),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_cache_entry, m)?)
}
