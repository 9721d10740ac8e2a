//! PyOP2's Dat methods that are numpy on the Dat's views: `axpy`, `maxpy`, `save`, `load`.
//!
//! Owns only the native entry points; the work is `op2/_arith.py` (shared with MixedDat).
//! Writes go through the writable views, so halo copies are marked stale as PyOP2 does.

use pyo3::prelude::*;

use crate::data::PyDat;

fn call(slf: &Bound<'_, PyDat>, fun: &str, args: (PyObject, PyObject)) -> PyResult<()> {
    let m = slf.py().import("op2._arith")?;
    m.getattr(fun)?.call1((slf, args.0, args.1)).map(drop)
}

#[pymethods]
impl PyDat {
    /// `self += alpha * other` (owned values).
    fn axpy(slf: &Bound<'_, Self>, alpha: PyObject, other: PyObject) -> PyResult<()> {
        call(slf, "axpy", (alpha, other))
    }
    /// One `axpy` per pair of `scalars` and `dats`.
    fn maxpy(slf: &Bound<'_, Self>, scalars: PyObject, dats: PyObject) -> PyResult<()> {
        call(slf, "maxpy", (scalars, dats))
    }
    /// The owned values to `filename` in NumPy's format.
    fn save(slf: &Bound<'_, Self>, filename: PyObject) -> PyResult<()> {
        let m = slf.py().import("op2._arith")?;
        m.getattr("save")?.call1((slf, filename)).map(drop)
    }
    /// The values written by `save`.
    fn load(slf: &Bound<'_, Self>, filename: PyObject) -> PyResult<()> {
        let m = slf.py().import("op2._arith")?;
        m.getattr("load")?.call1((slf, filename)).map(drop)
    }
}
