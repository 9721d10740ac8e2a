//! Globals as PyOP2 spells them (`Global(dim, data, dtype, name, comm=)`, `g(op2.INC)`,
//! `g.data`), with numpy views over op2's memory and PyOP2's arithmetic.
//!
//! Owns the Global's construction checks (PyOP2's exception names) and its access-mode check
//! (READ, INC, MIN, MAX). Never copies values to show them.

use std::sync::atomic::{AtomicU64, Ordering};

use op2::DType;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::data::{arith, array, contiguous, dtype_for, np_name};
use crate::errors::{raise, to_py};
use crate::loops::{PyAccess, PyArg};
use crate::sets::dim_of;
use crate::view::Owner;

/// A Global of `dtype` named `name` holding `bytes`.
fn global_from_bytes(name: &str, d: DType, bytes: &[u8]) -> op2::Result<op2::Global> {
    match d {
        DType::F64 => op2::Global::named(name, bytemuck::pod_collect_to_vec::<u8, f64>(bytes)),
        DType::F32 => op2::Global::named(name, bytemuck::pod_collect_to_vec::<u8, f32>(bytes)),
        DType::I32 => op2::Global::named(name, bytemuck::pod_collect_to_vec::<u8, i32>(bytes)),
        DType::I64 => op2::Global::named(name, bytemuck::pod_collect_to_vec::<u8, i64>(bytes)),
        DType::U32 => op2::Global::named(name, bytemuck::pod_collect_to_vec::<u8, u32>(bytes)),
        _ => op2::Global::named(name, bytemuck::pod_collect_to_vec::<u8, u64>(bytes)),
    }
}

/// A small array of values shared by every element and rank (PyOP2's `Global`).
#[pyclass(module = "op2._op2", name = "Global", subclass, frozen)]
pub(crate) struct PyGlobal {
    pub(crate) global: op2::Global,
    dim: Vec<usize>,
    version: AtomicU64,
}

#[pymethods]
impl PyGlobal {
    #[new]
    #[pyo3(signature = (dim, data=None, dtype=None, name=None, comm=None))]
    fn new(
        py: Python<'_>,
        dim: &Bound<'_, PyAny>,
        data: Option<&Bound<'_, PyAny>>,
        dtype: Option<&Bound<'_, PyAny>>,
        name: Option<&Bound<'_, PyAny>>,
        comm: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        crate::sets::check_comm(py, comm)?;
        if let Ok(other) = dim.downcast::<PyGlobal>() {
            // Global(other): a copy.
            let o = other.get();
            let bytes = o.bytes(py)?;
            let global =
                global_from_bytes(o.global.name(), o.global.dtype(), &bytes).map_err(to_py)?;
            return Ok(PyGlobal {
                global,
                dim: o.dim.clone(),
                version: AtomicU64::new(0),
            });
        }
        let dim = dim_of(py, Some(dim))?;
        let n: usize = dim.iter().product();
        if n == 0 {
            return Err(raise(
                "DimTypeError",
                format!("a Global needs a positive dim, not {dim:?}"),
            ));
        }
        let name = match name {
            Some(n) if !n.is_none() => n
                .extract::<String>()
                .map_err(|_| raise("NameTypeError", format!("name must be a string, not {n}")))?,
            _ => "global".to_string(),
        };
        let d = dtype_for(py, data, dtype)?;
        let bytes = match data {
            Some(v) if !v.is_none() => {
                let b = contiguous(py, v, np_name(d))?;
                let got = b.len() / d.size();
                if got == 1 && n > 1 {
                    b.repeat(n)
                } else if got != n {
                    return Err(raise(
                        "DataValueError",
                        format!("Global {name}: {got} values given for dim {dim:?}"),
                    ));
                } else {
                    b
                }
            }
            _ => vec![0u8; n * d.size()],
        };
        let global = global_from_bytes(&name, d, &bytes).map_err(to_py)?;
        Ok(PyGlobal {
            global,
            dim,
            version: AtomicU64::new(0),
        })
    }
    /// The values, writable.
    #[getter]
    fn get_data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.view(py, true)
    }
    /// Overwrite the values.
    #[setter]
    fn set_data(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let a = self.view(py, true)?;
        a.set_item(pyo3::types::PySlice::full(py), value)
            .map_err(|e| {
                raise(
                    "DataValueError",
                    format!("Global {}: {e}", self.global.name()),
                )
            })
    }
    /// The values, read-only.
    #[getter]
    fn data_ro<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.view(py, false)
    }
    #[getter]
    fn data_with_halos<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.view(py, true)
    }
    #[getter]
    fn data_ro_with_halos<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.view(py, false)
    }
    #[getter]
    fn dim<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.dim)
    }
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.dim)
    }
    #[getter]
    fn cdim(&self) -> usize {
        self.global.dim()
    }
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("numpy")?
            .call_method1("dtype", (np_name(self.global.dtype()),))
    }
    #[getter]
    fn name(&self) -> String {
        self.global.name().to_string()
    }
    #[getter]
    fn dat_version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }
    fn zero(&self, py: Python<'_>) -> PyResult<()> {
        self.view(py, true)?.call_method1("fill", (0,))?;
        Ok(())
    }
    /// A par_loop argument: `g(access)` (READ, INC, MIN, MAX; also WRITE/RW as op2 checks).
    #[pyo3(signature = (access, path=None))]
    fn __call__(
        &self,
        access: &Bound<'_, PyAccess>,
        path: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyArg> {
        if path.is_some_and(|p| !p.is_none()) {
            return Err(raise(
                "MapValueError",
                format!("Global {} takes no map", self.global.name()),
            ));
        }
        let access = access.get().mode;
        if matches!(access, op2::Access::Write | op2::Access::RW) {
            return Err(raise(
                "ModeValueError",
                format!(
                    "Global {}: loops READ, INC, MIN or MAX a Global",
                    self.global.name()
                ),
            ));
        }
        if access.writes() {
            self.version.fetch_add(1, Ordering::Relaxed);
        }
        Ok(PyArg {
            from_set: None,
            arg: self.global.arg(access),
            xarg: None,
        })
    }
    fn __len__(&self) -> usize {
        1
    }
    fn __repr__(&self) -> String {
        format!("{:?}", self.global)
    }
    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "OP2 Global Argument: {} with dim {} and value {}",
            self.global.name(),
            crate::sets::tuple_str(&self.dim),
            self.view(py, false)?.str()?
        ))
    }
}

impl PyGlobal {
    fn view<'py>(&self, py: Python<'py>, write: bool) -> PyResult<Bound<'py, PyAny>> {
        if write {
            self.version.fetch_add(1, Ordering::Relaxed);
        }
        array(
            py,
            Owner::Global(self.global.clone()),
            self.global.storage(),
            !write,
            self.global.dtype(),
            self.dim.clone(),
        )
    }
    fn bytes(&self, py: Python<'_>) -> PyResult<Vec<u8>> {
        let a = self.view(py, false)?;
        Ok(a.call_method0("tobytes")?
            .downcast::<PyBytes>()?
            .as_bytes()
            .to_vec())
    }
}

crate::data::arithmetic!(PyGlobal);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyGlobal>()?;
    Ok(())
}
