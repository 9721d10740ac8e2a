//! Dats as PyOP2 spells them, with numpy views over op2's memory (Globals: `global.rs`).
//!
//! Owns the dtype mapping (numpy <-> op2), the construction checks (PyOP2's exception names),
//! the views `data`, `data_ro`, `data_with_halos`, `data_ro_with_halos` (PyOP2's halo
//! semantics: a writable view marks halo copies stale; `data_ro_with_halos` refreshes them
//! first, collectively) and `dat(access, map)` arguments. Never copies values to show them.

use std::sync::atomic::{AtomicU64, Ordering};

use op2::DType;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::errors::{raise, to_py};
use crate::loops::{PyAccess, PyArg};
use crate::sets::{MapIndex, PyDataSet, PyMap, PySet};
use crate::view::{Owner, Storage};

/// op2's dtype for a numpy dtype (anything `numpy.dtype()` accepts).
pub(crate) fn dtype_of(py: Python<'_>, dtype: &Bound<'_, PyAny>) -> PyResult<DType> {
    let dt = py
        .import("numpy")?
        .call_method1("dtype", (dtype,))
        .map_err(|_| raise("DataTypeError", format!("{dtype} is not a dtype")))?;
    let name: String = dt.getattr("name")?.extract()?;
    Ok(match name.as_str() {
        "float64" => DType::F64,
        "float32" => DType::F32,
        "int32" => DType::I32,
        "int64" => DType::I64,
        "uint32" => DType::U32,
        "uint64" => DType::U64,
        _ => {
            return Err(raise(
                "DataTypeError",
                format!(
                    "op2 holds float64, float32, int32, int64, uint32 or uint64 values, not {name}"
                ),
            ))
        }
    })
}

/// numpy's name of an op2 dtype.
pub(crate) fn np_name(d: DType) -> &'static str {
    match d {
        DType::F64 => "float64",
        DType::F32 => "float32",
        DType::I32 => "int32",
        DType::I64 => "int64",
        DType::U32 => "uint32",
        _ => "uint64",
    }
}

/// The bytes of `values` as a flat C-contiguous array of `dtype` (numpy converts; a value
/// that does not convert is an error, never a silent truncation of shape).
pub(crate) fn contiguous(
    py: Python<'_>,
    values: &Bound<'_, PyAny>,
    dtype: &str,
) -> PyResult<Vec<u8>> {
    let np = py.import("numpy")?;
    let arr = np.call_method1("asarray", (values,))?;
    let arr = arr.call_method1("astype", (dtype,)).map_err(|e| {
        raise(
            "DataValueError",
            format!("values do not convert to {dtype}: {e}"),
        )
    })?;
    let arr = np.call_method1("ascontiguousarray", (arr.call_method1("reshape", (-1,))?,))?;
    let b = arr.call_method0("tobytes")?;
    Ok(b.downcast::<PyBytes>()?.as_bytes().to_vec())
}

/// A Dat of `dtype` named `name` on `ds` holding `bytes` (owned or owned + halo values).
fn dat_from_bytes(name: &str, ds: &op2::DataSet, d: DType, bytes: &[u8]) -> op2::Result<op2::Dat> {
    match d {
        DType::F64 => op2::Dat::named(name, ds, bytemuck::pod_collect_to_vec::<u8, f64>(bytes)),
        DType::F32 => op2::Dat::named(name, ds, bytemuck::pod_collect_to_vec::<u8, f32>(bytes)),
        DType::I32 => op2::Dat::named(name, ds, bytemuck::pod_collect_to_vec::<u8, i32>(bytes)),
        DType::I64 => op2::Dat::named(name, ds, bytemuck::pod_collect_to_vec::<u8, i64>(bytes)),
        DType::U32 => op2::Dat::named(name, ds, bytemuck::pod_collect_to_vec::<u8, u32>(bytes)),
        _ => op2::Dat::named(name, ds, bytemuck::pod_collect_to_vec::<u8, u64>(bytes)),
    }
}

/// The numpy dtype of `data`, or float64 when no data is given.
pub(crate) fn dtype_for(
    py: Python<'_>,
    data: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<DType> {
    match (dtype, data) {
        (Some(d), _) if !d.is_none() => dtype_of(py, d),
        (_, Some(v)) if !v.is_none() => {
            let arr = py.import("numpy")?.call_method1("asarray", (v,))?;
            let dt = arr.getattr("dtype")?;
            if dt.getattr("kind")?.extract::<String>()? == "i"
                && dt.getattr("itemsize")?.extract::<usize>()? == 8
            {
                return Ok(DType::I64);
            }
            dtype_of(py, &dt)
        }
        _ => Ok(DType::F64),
    }
}

/// numpy array over `len` bytes at `ptr` of `owner`, as `dtype` with `shape`.
pub(crate) fn array<'py>(
    py: Python<'py>,
    owner: Owner,
    (ptr, len): (*mut u8, usize),
    readonly: bool,
    d: DType,
    shape: Vec<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let buf = Bound::new(py, Storage::new(owner, ptr, len, readonly))?;
    let np = py.import("numpy")?;
    let n: usize = shape.iter().product();
    let arr = np.call_method1("frombuffer", (buf, np_name(d), n))?;
    arr.call_method1("reshape", (PyTuple::new(py, shape)?,))
}

/// Values on every element of a DataSet (PyOP2's `Dat`).
#[pyclass(module = "op2._op2", name = "Dat", subclass, frozen)]
pub(crate) struct PyDat {
    pub(crate) dataset: Py<PyDataSet>,
    pub(crate) dat: op2::Dat,
    version: AtomicU64,
    /// The `version` at which the halo copies were last made valid (PyOP2's `halo_valid`:
    /// a writable view makes them invalid); `u64::MAX` once marked invalid by hand.
    halo_at: AtomicU64,
}

#[pymethods]
impl PyDat {
    #[new]
    #[pyo3(signature = (dataset, data=None, dtype=None, name=None))]
    fn new(
        py: Python<'_>,
        dataset: &Bound<'_, PyAny>,
        data: Option<&Bound<'_, PyAny>>,
        dtype: Option<&Bound<'_, PyAny>>,
        name: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let dataset: Bound<'_, PyDataSet> = if let Ok(ds) = dataset.downcast::<PyDataSet>() {
            ds.clone()
        } else if dataset.downcast::<PySet>().is_ok() {
            PyDataSet::cached(py, dataset.clone(), None, None)?.into_bound(py)
        } else if dataset.downcast::<PyDat>().is_ok() {
            // Dat(other): a copy, as PyOP2.
            let other = dataset.downcast::<PyDat>()?.get();
            let ds = other.dataset.bind(py).clone();
            let d = other.dat.dtype();
            let bytes = other.bytes(py)?;
            let nm = name
                .map(|n| n.extract::<String>())
                .transpose()?
                .unwrap_or_else(|| format!("copy_of_{}", other.dat.name()));
            let dat = dat_from_bytes(&nm, &ds.get().ds, d, &bytes).map_err(to_py)?;
            return Ok(PyDat {
                dataset: ds.unbind(),
                dat,
                version: AtomicU64::new(0),
                halo_at: AtomicU64::new(0),
            });
        } else {
            return Err(raise(
                "DataSetTypeError",
                format!("{dataset} is not a DataSet or a Set"),
            ));
        };
        let name = match name {
            Some(n) if !n.is_none() => n
                .extract::<String>()
                .map_err(|_| raise("NameTypeError", format!("name must be a string, not {n}")))?,
            _ => "dat".to_string(),
        };
        let d = dtype_for(py, data, dtype)?;
        let ds = &dataset.get().ds;
        let dat = match data {
            Some(v) if !v.is_none() => {
                let bytes = contiguous(py, v, np_name(d))?;
                let n = bytes.len() / d.size();
                let (owned, total) = (ds.set().size() * ds.dim(), ds.set().total_size() * ds.dim());
                if n != owned && n != total {
                    return Err(raise(
                        "DataValueError",
                        format!(
                        "Dat {name}: {n} values given for {} elements x dim {} (expected {owned})",
                        ds.set().size(), ds.dim()),
                    ));
                }
                dat_from_bytes(&name, ds, d, &bytes).map_err(to_py)?
            }
            _ => dat_from_bytes(
                &name,
                ds,
                d,
                &vec![0u8; ds.set().size() * ds.dim() * d.size()],
            )
            .map_err(to_py)?,
        };
        Ok(PyDat {
            dataset: dataset.unbind(),
            dat,
            version: AtomicU64::new(0),
            halo_at: AtomicU64::new(0),
        })
    }

    /// Owned values, writable: halo copies become stale.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.view(py, true, false)
    }
    /// Owned values, read-only.
    #[getter]
    fn data_ro<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.view(py, false, false)
    }
    /// Owned and halo values, writable (halo copies are marked stale).
    #[getter]
    fn data_with_halos<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.view(py, true, true)
    }
    /// Collective: owned and halo values, read-only, halo copies refreshed first.
    #[getter]
    fn data_ro_with_halos<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        op2::update_halo(&self.dat).map_err(to_py)?;
        self.halo_at.store(self.dat_version(), Ordering::Relaxed);
        self.view(py, false, true)
    }
    /// PyOP2's `halo_valid`: false after a writable view (`data`, `data_with_halos`) until
    /// `data_ro_with_halos`, `zero()` or `halo_valid = True`; on a distributed set also false
    /// while op2 holds the halo copies stale (after a loop wrote the Dat).
    #[getter]
    fn get_halo_valid(&self) -> bool {
        self.halo_at.load(Ordering::Relaxed) == self.dat_version() && self.dat.halo_valid()
    }
    #[setter]
    fn set_halo_valid(&self, valid: bool) {
        let at = if valid { self.dat_version() } else { u64::MAX };
        self.halo_at.store(at, Ordering::Relaxed);
    }
    #[getter]
    fn dataset(&self, py: Python<'_>) -> Py<PyDataSet> {
        self.dataset.clone_ref(py)
    }
    #[getter]
    fn dim<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.dataset.get().dim)
    }
    #[getter]
    fn cdim(&self) -> usize {
        self.dat.dim()
    }
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("numpy")?
            .call_method1("dtype", (np_name(self.dat.dtype()),))
    }
    #[getter]
    fn name(&self) -> String {
        self.dat.name().to_string()
    }
    /// (set size, *dim): the shape of `data`.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.shape_of(self.dat.set().size()))
    }
    /// Bytes of storage (owned and halo values).
    #[getter]
    fn nbytes(&self) -> usize {
        self.dat.set().total_size() * self.dat.dim() * self.dat.dtype().size()
    }
    /// How many writable views were taken, `zero()`s and loop writes included (PyOP2's).
    #[getter]
    fn dat_version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }
    /// Set every value (halo copies included) to zero.
    fn zero(&self, py: Python<'_>) -> PyResult<()> {
        let a = self.view(py, true, true)?;
        a.call_method1("fill", (0,))?;
        self.halo_at.store(self.dat_version(), Ordering::Relaxed);
        Ok(())
    }
    /// Copy this Dat's owned values into `other` (same DataSet shape and dtype).
    #[pyo3(signature = (other, subset=None))]
    fn copy(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyDat>,
        subset: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let src = self.view(py, false, false)?;
        let dst = other.get().view(py, true, false)?;
        match subset.filter(|s| !s.is_none()) {
            None => dst.set_item(pyo3::types::PySlice::full(py), src)?,
            Some(ss) => {
                // The subset's owned elements (its indices list owned ones first).
                let ss = ss.downcast::<crate::subset::PySubset>().map_err(|_| {
                    raise(
                        "SetTypeError",
                        format!("Dat.copy(subset=...): {ss} is not a Subset"),
                    )
                })?;
                let own = ss.as_super().get().set.size();
                let idx = ss.getattr("indices")?.get_item(pyo3::types::PySlice::new(
                    py,
                    0,
                    own as isize,
                    1,
                ))?;
                dst.set_item(&idx, src.get_item(&idx)?)?;
            }
        }
        Ok(())
    }
    /// A par_loop argument: `dat(access)`, `dat(access, map)`, `dat(access, map[i])`.
    #[pyo3(signature = (access, path=None))]
    fn __call__(
        slf: &Bound<'_, Self>,
        access: &Bound<'_, PyAccess>,
        path: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyArg> {
        slf.get().make_arg(access, path, None)
    }
    /// A par_loop argument through one component (PyOP2's `DatView(dat, c)(access, path)`):
    /// the kernel sees one value per element or map entry, component `component` of this Dat.
    #[pyo3(signature = (component, access, path=None))]
    fn _view_arg(
        slf: &Bound<'_, Self>,
        component: usize,
        access: &Bound<'_, PyAccess>,
        path: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyArg> {
        let me = slf.get();
        let view = me.dat.view(component).map_err(to_py)?;
        me.make_arg(access, path, Some(&view))
    }

    fn __len__(&self) -> usize {
        1
    }
    /// `dat[0] is dat` (a Dat is its own only block, as in PyOP2, so code written for a
    /// MixedDat takes a Dat); any other index is an IndexValueError.
    fn __getitem__<'py>(slf: &Bound<'py, Self>, idx: i64) -> PyResult<Bound<'py, Self>> {
        match idx {
            0 => Ok(slf.clone()),
            _ => Err(raise(
                "IndexValueError",
                format!(
                    "Dat {} has one block: index {idx} is out of range",
                    slf.get().dat.name()
                ),
            )),
        }
    }
    /// `(dat,)`: its blocks, as a MixedDat's `split`.
    #[getter]
    fn split<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(slf.py(), [slf])
    }
    /// PyOP2's `Dat(dataset, None, dtype, name)` (eval gives a Dat of zeros like it).
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Dat({}, None, dtype('{}'), '{}')",
            self.dataset.bind(py).repr()?,
            np_name(self.dat.dtype()),
            self.dat.name()
        ))
    }
    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "OP2 Dat: {} on ({}) with datatype {}",
            self.dat.name(),
            self.dataset.bind(py).str()?,
            np_name(self.dat.dtype())
        ))
    }
}

impl PyDat {
    /// The Python object of an op2 Dat made elsewhere (a mesh file's, `mesh.rs`) on `dataset`.
    pub(crate) fn wrap(dataset: Py<PyDataSet>, dat: op2::Dat) -> Self {
        PyDat {
            dataset,
            dat,
            version: AtomicU64::new(0),
            halo_at: AtomicU64::new(0),
        }
    }
    /// The par_loop argument `dat(access, path)`, through component `view` if given.
    fn make_arg(
        &self,
        access: &Bound<'_, PyAccess>,
        path: Option<&Bound<'_, PyAny>>,
        view: Option<&op2::DatView>,
    ) -> PyResult<PyArg> {
        let me = self;
        let access = access.get().mode;
        if access.writes() {
            me.version.fetch_add(1, Ordering::Relaxed);
        }
        let mut from_set = me.dat.set().clone();
        let direct = || match view {
            Some(v) => v.arg(access),
            None => me.dat.arg(access),
        };
        let arg = match path {
            None => direct(),
            Some(p) if p.is_none() => direct(),
            Some(p) => {
                if let Some(arg) = crate::extruded::dat_arg(&me.dat, access, p, view.is_some()) {
                    return arg;
                }
                let used = |m: &PyMap| {
                    let map = m.current(p.py())?;
                    // A Map on an empty iterset has no values to miss (PyOP2 accepts it).
                    if m.uninitialized() && map.from_set().size() > 0 {
                        return Err(raise(
                            "MapValueError",
                            format!("Map {} was made without values", map.name()),
                        ));
                    }
                    Ok(map)
                };
                let (map, idx) = if let Ok(m) = p.downcast::<PyMap>() {
                    (used(m.get())?, None)
                } else if let Ok(mi) = p.downcast::<MapIndex>() {
                    let mi = mi.get();
                    (used(mi.map.get())?, Some(mi.idx))
                } else {
                    return Err(raise(
                        "MapTypeError",
                        format!("{p} is not a Map or a Map entry"),
                    ));
                };
                if !map.to_set().ptr_eq(me.dat.set()) {
                    return Err(raise(
                        "MapValueError",
                        format!(
                            "To Set of Map {} does not match Set of Dat {}",
                            map.name(),
                            me.dat.name()
                        ),
                    ));
                }
                from_set = map.from_set().clone();
                match (idx, view) {
                    (Some(i), None) => me.dat.arg_map(access, &map, i),
                    (None, None) => me.dat.arg_vec(access, &map),
                    (Some(i), Some(v)) => v.arg_map(access, &map, i),
                    (None, Some(v)) => v.arg_vec(access, &map),
                }
            }
        };
        Ok(PyArg {
            from_set: Some(from_set),
            arg,
            xarg: None,
        })
    }
    fn shape_of(&self, n: usize) -> Vec<usize> {
        let dim = &self.dataset.get().dim;
        let mut shape = vec![n];
        if !(dim.len() == 1 && dim[0] == 1) {
            shape.extend(dim.iter().copied());
        }
        shape
    }
    fn view<'py>(&self, py: Python<'py>, write: bool, halos: bool) -> PyResult<Bound<'py, PyAny>> {
        let set = self.dat.set();
        let n = if halos { set.total_size() } else { set.size() };
        if write {
            self.version.fetch_add(1, Ordering::Relaxed);
        }
        let st = self.dat.storage(write);
        array(
            py,
            Owner::Dat(self.dat.clone()),
            st,
            !write,
            self.dat.dtype(),
            self.shape_of(n),
        )
    }
    fn bytes(&self, py: Python<'_>) -> PyResult<Vec<u8>> {
        let a = self.view(py, false, false)?;
        Ok(a.call_method0("tobytes")?
            .downcast::<PyBytes>()?
            .as_bytes()
            .to_vec())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDat>()?;
    m.add_class::<Storage>()?;
    Ok(())
}

/// `x op other` through `op2._arith` (numpy on the views).
pub(crate) fn arith<'py>(
    x: &Bound<'py, PyAny>,
    fun: &str,
    other: Option<&Bound<'py, PyAny>>,
    op: &str,
    reflected: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let m = x.py().import("op2._arith")?;
    match other {
        Some(o) if fun == "binary" => m.getattr(fun)?.call1((x, o, op, reflected)),
        Some(o) => m.getattr(fun)?.call1((x, o, op)),
        None => m.getattr(fun)?.call1((x,)),
    }
}

/// The operators of Dats and Globals (PyOP2 has them on both).
macro_rules! arithmetic {
    ($t:ty) => {
        #[pymethods]
        impl $t {
            fn __add__<'py>(
                slf: &Bound<'py, Self>,
                o: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                arith(slf.as_any(), "binary", Some(o), "add", false)
            }
            fn __radd__<'py>(
                slf: &Bound<'py, Self>,
                o: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                arith(slf.as_any(), "binary", Some(o), "add", true)
            }
            fn __sub__<'py>(
                slf: &Bound<'py, Self>,
                o: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                arith(slf.as_any(), "binary", Some(o), "sub", false)
            }
            fn __rsub__<'py>(
                slf: &Bound<'py, Self>,
                o: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                arith(slf.as_any(), "binary", Some(o), "sub", true)
            }
            fn __mul__<'py>(
                slf: &Bound<'py, Self>,
                o: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                arith(slf.as_any(), "binary", Some(o), "mul", false)
            }
            fn __rmul__<'py>(
                slf: &Bound<'py, Self>,
                o: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                arith(slf.as_any(), "binary", Some(o), "mul", true)
            }
            fn __truediv__<'py>(
                slf: &Bound<'py, Self>,
                o: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                arith(slf.as_any(), "binary", Some(o), "truediv", false)
            }
            fn __iadd__<'py>(slf: &Bound<'py, Self>, o: &Bound<'py, PyAny>) -> PyResult<()> {
                arith(slf.as_any(), "inplace", Some(o), "add", false).map(drop)
            }
            fn __isub__<'py>(slf: &Bound<'py, Self>, o: &Bound<'py, PyAny>) -> PyResult<()> {
                arith(slf.as_any(), "inplace", Some(o), "sub", false).map(drop)
            }
            fn __imul__<'py>(slf: &Bound<'py, Self>, o: &Bound<'py, PyAny>) -> PyResult<()> {
                arith(slf.as_any(), "inplace", Some(o), "mul", false).map(drop)
            }
            fn __itruediv__<'py>(slf: &Bound<'py, Self>, o: &Bound<'py, PyAny>) -> PyResult<()> {
                arith(slf.as_any(), "inplace", Some(o), "truediv", false).map(drop)
            }
            fn __neg__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
                arith(slf.as_any(), "neg", None, "", false)
            }
            fn __iter__<'py>(
                slf: &Bound<'py, Self>,
            ) -> PyResult<Bound<'py, pyo3::types::PyIterator>> {
                PyTuple::new(slf.py(), [slf])?.as_any().try_iter()
            }
        }
    };
}
arithmetic!(PyDat);
pub(crate) use arithmetic;
