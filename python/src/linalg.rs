//! Sparsities and Mats as PyOP2 spells them: `Sparsity((rds, cds), [(rmap, cmap, None)])`,
//! `Mat(sparsity)`, `mat(op2.INC, (rmap, cmap))`, `mat.values`.
//!
//! Owns the translation of PyOP2's sparsity arguments (a list of map pairs, or PyOP2's dict of
//! block pairs for a single block) to op2's Sparsity, PyOP2's checks of them, and the Mat's
//! PyOP2 API (its row operations are `matrows.rs`). Mixed (block) Sparsities and Mats are
//! `mixedmat.rs`; PETSc handles are not offered.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyWeakrefMethods, PyWeakrefReference};

use crate::errors::{raise, to_py};
use crate::loops::{PyAccess, PyArg};
use crate::sets::{PyDataSet, PyMap};

/// PyOP2's `rcmaps` of checked `maps_and_regions`: `{(0, 0): [(rmap, cmap), ...]}`, the Python
/// Map objects as given, repeated pairs once.
fn rcmaps<'py>(py: Python<'py>, maps: &Bound<'py, PyAny>) -> PyResult<Py<PyDict>> {
    let list = match maps.downcast::<PyDict>() {
        Ok(d) => d.get_item((0, 0))?.expect("pairs() checked the block"),
        Err(_) => maps.clone(),
    };
    let out = pyo3::types::PyList::empty(py);
    for item in list.try_iter()? {
        let t = item?.downcast_into::<PyTuple>()?;
        let pair = PyTuple::new(py, [t.get_item(0)?, t.get_item(1)?])?;
        if !out.contains(&pair)? {
            out.append(pair)?;
        }
    }
    let d = PyDict::new(py);
    d.set_item((0, 0), out)?;
    Ok(d.unbind())
}

/// A DataSet argument of a Sparsity.
fn dataset(x: &Bound<'_, PyAny>, which: &str) -> PyResult<Py<PyDataSet>> {
    x.downcast::<PyDataSet>()
        .map(|d| d.clone().unbind())
        .map_err(|_| {
            raise(
                "DataSetTypeError",
                format!("Sparsity {which} DataSet {x} is not a DataSet"),
            )
        })
}

/// A Map argument of a Sparsity.
fn map(x: &Bound<'_, PyAny>, which: &str) -> PyResult<op2::Map> {
    let m = x.downcast::<PyMap>().map_err(|_| {
        raise(
            "MapTypeError",
            format!("Sparsity {which} map {x} is not a Map"),
        )
    })?;
    let map = m.get().current(x.py())?;
    if m.get().uninitialized() && map.from_set().size() > 0 {
        return Err(raise(
            "MapValueError",
            format!("Unpopulated map values when trying to build sparsity: {which} map {} was made without values", map.name()),
        ));
    }
    Ok(map)
}

/// Whether PyOP2's iteration regions of a map pair mean every element: None or only `op2.ALL`.
fn whole(regions: &Bound<'_, PyAny>) -> PyResult<bool> {
    if regions.is_none() {
        return Ok(true);
    }
    for r in regions.try_iter()? {
        if r?.getattr("name")?.extract::<String>()? != "ALL" {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The (row map, column map) pairs of PyOP2's `maps_and_regions` (regions None or ALL).
fn pairs(maps: &Bound<'_, PyAny>) -> PyResult<Vec<(op2::Map, op2::Map)>> {
    let list: Bound<'_, PyAny> = if let Ok(d) = maps.downcast::<PyDict>() {
        if d.len() != 1 || !d.contains((0, 0))? {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "(i, j) must be < (1, 1) for a Sparsity of two plain DataSets (blocks need MixedDataSets): got {}",
                d.keys()
            )));
        }
        d.get_item((0, 0))?.expect("checked")
    } else {
        maps.clone()
    };
    let mut out = Vec::new();
    for item in list.try_iter()? {
        let item = item?;
        let t = item.downcast::<PyTuple>().map_err(|_| {
            raise(
                "MapTypeError",
                format!("Sparsity map pair {item} is not a tuple (rmap, cmap, region)"),
            )
        })?;
        if t.len() < 2 {
            return Err(raise(
                "MapTypeError",
                format!("Sparsity map pair {t} needs a row and a column map"),
            ));
        }
        if t.len() > 2 && !whole(&t.get_item(2)?)? {
            return Err(pyo3::exceptions::PyNotImplementedError::new_err(
                "Sparsity iteration regions other than ALL need extruded Sparsities (not bound in Python yet)",
            ));
        }
        out.push((
            map(&t.get_item(0)?, "row")?,
            map(&t.get_item(1)?, "column")?,
        ));
    }
    Ok(out)
}

/// The reprs of a Sparsity's DataSets pair and `_maps_and_regions`.
fn describe(slf: &Bound<'_, PySparsity>) -> PyResult<(String, String)> {
    let py = slf.py();
    let d = PyTuple::new(py, [&slf.get().dsets.0, &slf.get().dsets.1])?;
    let m = slf.get()._maps_and_regions(py)?;
    Ok((d.repr()?.to_string(), m.repr()?.to_string()))
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// The Python Sparsities alive, by op2 Sparsity id: op2's object cache returns the same
/// Sparsity for the same DataSets and map pairs, and PyOP2 the same object (`sp1 is sp2`).
static KNOWN: std::sync::Mutex<Vec<(u64, Py<PyWeakrefReference>)>> =
    std::sync::Mutex::new(Vec::new());

/// The Python object of `made`'s op2 Sparsity if one is alive, else `made` (remembered).
fn cached(py: Python<'_>, made: PySparsity) -> PyResult<Py<PySparsity>> {
    let id = made.sparsity.id();
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    known.retain(|(_, w)| w.bind(py).upgrade().is_some());
    if let Some((_, w)) = known.iter().find(|(k, _)| *k == id) {
        if let Some(obj) = w.bind(py).upgrade() {
            return Ok(obj.downcast_into::<PySparsity>()?.unbind());
        }
    }
    let obj = Py::new(py, made)?;
    known.push((id, PyWeakrefReference::new(obj.bind(py))?.unbind()));
    Ok(obj)
}

/// The non-zero structure of a matrix (PyOP2's `Sparsity`).
#[pyclass(module = "op2._op2", name = "Sparsity", subclass, frozen, weakref)]
pub(crate) struct PySparsity {
    dsets: (Py<PyDataSet>, Py<PyDataSet>),
    /// PyOP2's `rcmaps`: `{(0, 0): [(rmap, cmap), ...]}` as given (duplicates dropped).
    rcmaps: Py<PyDict>,
    sparsity: op2::Sparsity,
    name: String,
}

#[pymethods]
impl PySparsity {
    #[new]
    #[pyo3(signature = (dsets, maps_and_regions, name=None, nest=None, block_sparse=None, diagonal_block=true))]
    pub(crate) fn new(
        py: Python<'_>,
        dsets: &Bound<'_, PyAny>,
        maps_and_regions: &Bound<'_, PyAny>,
        name: Option<&Bound<'_, PyAny>>,
        nest: Option<&Bound<'_, PyAny>>,
        block_sparse: Option<&Bound<'_, PyAny>>,
        diagonal_block: bool,
    ) -> PyResult<Py<PySparsity>> {
        let _ = (nest, block_sparse, diagonal_block);
        let (r, c) = if let Ok(t) = dsets.downcast::<PyTuple>() {
            if t.len() != 2 {
                return Err(raise(
                    "DataSetTypeError",
                    "Sparsity takes (row DataSet, column DataSet)",
                ));
            }
            (
                dataset(&t.get_item(0)?, "row")?,
                dataset(&t.get_item(1)?, "column")?,
            )
        } else {
            let d = dataset(dsets, "row")?;
            (d.clone_ref(py), d)
        };
        let name = match name {
            Some(n) if !n.is_none() => n
                .extract::<String>()
                .map_err(|_| raise("NameTypeError", format!("name must be a string, not {n}")))?,
            _ => "sparsity".to_string(),
        };
        let pairs = pairs(maps_and_regions)?;
        let rcmaps = rcmaps(py, maps_and_regions)?;
        let (rds, cds) = (&r.get().ds, &c.get().ds);
        // PyOP2 raises RuntimeError for these three (its `Sparsity._process_args`).
        let bad = pyo3::exceptions::PyRuntimeError::new_err;
        for (rm, cm) in &pairs {
            if !rm.to_set().ptr_eq(rds.set()) {
                return Err(bad(format!(
                    "Map toset must be the same as DataSet set: row map {} does not target the row DataSet's set",
                    rm.name()
                )));
            }
            if !cm.to_set().ptr_eq(cds.set()) {
                return Err(bad(format!(
                    "Map toset must be the same as DataSet set: column map {} does not target the column DataSet's set",
                    cm.name()
                )));
            }
            if !rm.from_set().ptr_eq(cm.from_set()) {
                return Err(bad(format!(
                    "Iterset of both maps in a pair must be the same: maps {} and {} start from different sets",
                    rm.name(),
                    cm.name()
                )));
            }
        }
        let sparsity = op2::Sparsity::new(rds, cds, &pairs).map_err(to_py)?;
        cached(
            py,
            PySparsity {
                dsets: (r, c),
                rcmaps,
                sparsity,
                name,
            },
        )
    }
    #[getter]
    fn dsets(&self, py: Python<'_>) -> (Py<PyDataSet>, Py<PyDataSet>) {
        (self.dsets.0.clone_ref(py), self.dsets.1.clone_ref(py))
    }
    #[getter]
    fn dims(&self) -> Vec<Vec<(usize, usize)>> {
        vec![vec![self.sparsity.dims()]]
    }
    /// `{(0, 0): [(rmap, cmap), ...]}`.
    #[getter]
    fn rcmaps(&self, py: Python<'_>) -> Py<PyDict> {
        self.rcmaps.clone_ref(py)
    }
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (1, 1)
    }
    #[getter]
    fn nrows(&self) -> usize {
        self.sparsity.nrows()
    }
    #[getter]
    fn ncols(&self) -> usize {
        self.sparsity.ncols()
    }
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }
    /// Per owned block row, the non-zero blocks in owned columns (a numpy array, as PyOP2's).
    #[getter]
    fn nnz<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("numpy")?
            .call_method1("array", (self.sparsity.nnz_diag().to_vec(),))
    }
    /// Per owned block row, the non-zero blocks in other ranks' columns (a numpy array).
    #[getter]
    fn onnz<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("numpy")?
            .call_method1("array", (self.sparsity.nnz_offdiag().to_vec(),))
    }
    /// PyOP2's `maps_and_regions`: `{(0, 0): [(rmap, cmap, None), ...]}`.
    #[getter]
    fn _maps_and_regions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let pairs = self.rcmaps.bind(py).get_item((0, 0))?.expect("one block");
        let out = pyo3::types::PyList::empty(py);
        for p in pairs.try_iter()? {
            let p = p?;
            out.append((p.get_item(0)?, p.get_item(1)?, py.None()))?;
        }
        let d = PyDict::new(py);
        d.set_item((0, 0), out)?;
        Ok(d)
    }
    /// One block: never nested.
    #[getter]
    fn nested(&self) -> bool {
        false
    }
    #[getter]
    fn _nested(&self) -> bool {
        false
    }
    /// op2 stores a block of `rdim x cdim` values per non-zero (a block sparsity).
    #[getter]
    fn _block_sparse(&self) -> bool {
        true
    }
    #[getter]
    fn _diagonal_block(&self) -> bool {
        self.sparsity.row_dataset() == self.sparsity.col_dataset()
    }
    /// `s[0, 0]` (and `s[0]`, the row of blocks `[s]`): a single block is its own block.
    fn __getitem__(slf: &Bound<'_, Self>, idx: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        let py = slf.py();
        if let Ok((i, j)) = idx.extract::<(usize, usize)>() {
            if (i, j) == (0, 0) {
                return Ok(slf.clone().into_any().unbind());
            }
        } else if idx.extract::<usize>().is_ok_and(|i| i == 0) {
            return Ok(pyo3::types::PyList::new(py, [slf])?.into_any().unbind());
        }
        Err(pyo3::exceptions::PyIndexError::new_err(format!(
            "Sparsity {} has one block, no block {idx}",
            slf.get().name
        )))
    }
    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, pyo3::types::PyIterator>> {
        PyTuple::new(slf.py(), [slf])?.as_any().try_iter()
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let (d, m) = describe(slf)?;
        Ok(format!(
            "Sparsity({d}, {m}, name='{}', nested=False, block_sparse=True, diagonal_block={})",
            slf.get().name,
            py_bool(slf.get()._diagonal_block())
        ))
    }
    fn __str__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let (d, m) = describe(slf)?;
        Ok(format!("OP2 Sparsity: dsets {d}, maps_and_regions {m}, name {}, nested False, block_sparse True, diagonal_block {}",
            slf.get().name, py_bool(slf.get()._diagonal_block())))
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .downcast::<PySparsity>()
            .is_ok_and(|o| o.get().sparsity.ptr_eq(&self.sparsity))
    }
    fn __hash__(&self) -> u64 {
        self.sparsity.id()
    }
}

/// A matrix on a Sparsity (PyOP2's `Mat`), float64 values.
#[pyclass(module = "op2._op2", name = "Mat", subclass, frozen)]
pub(crate) struct PyMat {
    sparsity: Py<PySparsity>,
    pub(crate) mat: op2::Mat,
}

#[pymethods]
impl PyMat {
    #[new]
    #[pyo3(signature = (sparsity, dtype=None, name=None))]
    fn new(
        py: Python<'_>,
        sparsity: &Bound<'_, PyAny>,
        dtype: Option<&Bound<'_, PyAny>>,
        name: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let name: Option<String> =
            match name {
                Some(n) if !n.is_none() => Some(n.extract().map_err(|_| {
                    raise("NameTypeError", format!("name must be a string, not {n}"))
                })?),
                _ => None,
            };
        let sp = sparsity
            .downcast::<PySparsity>()
            .map_err(|_| raise("SparsityTypeError", format!("{sparsity} is not a Sparsity")))?;
        let d = match dtype {
            Some(d) if !d.is_none() => crate::data::dtype_of(py, d)?,
            _ => op2::DType::F64,
        };
        let mat = op2::Mat::named(name.as_deref().unwrap_or("mat"), &sp.get().sparsity, d)
            .map_err(to_py)?;
        Ok(PyMat {
            sparsity: sp.clone().unbind(),
            mat,
        })
    }
    /// A par_loop argument: `mat(op2.INC, (rmap, cmap))`.
    fn __call__(&self, access: &Bound<'_, PyAccess>, path: &Bound<'_, PyAny>) -> PyResult<PyArg> {
        let t = path.downcast::<PyTuple>().map_err(|_| {
            raise(
                "MapTypeError",
                "a Mat argument takes a pair of maps (rmap, cmap)",
            )
        })?;
        if t.len() != 2 {
            return Err(raise(
                "MapTypeError",
                "a Mat argument takes a pair of maps (rmap, cmap)",
            ));
        }
        let (rm, cm) = (
            map(&t.get_item(0)?, "row")?,
            map(&t.get_item(1)?, "column")?,
        );
        let access = access.get().mode;
        if !matches!(access, op2::Access::Inc | op2::Access::Write) {
            return Err(raise(
                "ModeValueError",
                format!("Mat {}: loops INC or WRITE a Mat", self.mat.name()),
            ));
        }
        let pairs = self.mat.sparsity().map_pairs();
        if !pairs
            .iter()
            .any(|(r, c)| r.id() == rm.id() && c.id() == cm.id())
        {
            return Err(raise(
                "MapValueError",
                format!(
                    "Mat {}: the maps ({}, {}) are not a pair of its Sparsity",
                    self.mat.name(),
                    rm.name(),
                    cm.name()
                ),
            ));
        }
        Ok(PyArg {
            from_set: Some(rm.from_set().clone()),
            arg: self.mat.arg(access, (&rm, &cm)),
            xarg: None,
        })
    }
    #[getter]
    fn sparsity(&self, py: Python<'_>) -> Py<PySparsity> {
        self.sparsity.clone_ref(py)
    }
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("numpy")?
            .call_method1("dtype", (crate::data::np_name(self.mat.dtype()),))
    }
    #[getter]
    fn name(&self) -> String {
        self.mat.name().to_string()
    }
    /// The owned rows as a dense array (a copy).
    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.mat.values().map_err(to_py)?;
        let sp = self.mat.sparsity();
        let (rd, cd) = sp.dims();
        let np = py.import("numpy")?;
        let arr = np.call_method1("array", (v,))?;
        arr.call_method1("reshape", ((sp.owned_rows() * rd, sp.ncols() * cd),))
    }
    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, pyo3::types::PyIterator>> {
        PyTuple::new(slf.py(), [slf])?.as_any().try_iter()
    }
    /// `mat[0, 0]`: a Mat of one block is its own block.
    fn __getitem__<'py>(slf: &Bound<'py, Self>, idx: (usize, usize)) -> PyResult<Bound<'py, Self>> {
        if idx != (0, 0) {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "Mat {} has one block, no block {idx:?}",
                slf.get().mat.name()
            )));
        }
        Ok(slf.clone())
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let me = slf.get();
        let sp = me.sparsity.bind(py).repr()?;
        let dt = me.dtype(py)?.repr()?;
        Ok(format!("Mat({sp}, {dt}, '{}')", me.mat.name()))
    }
    fn __str__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let me = slf.get();
        let sp = me.sparsity.bind(py).str()?;
        Ok(format!(
            "OP2 Mat: {}, sparsity ({sp}), datatype {}",
            me.mat.name(),
            crate::data::np_name(me.mat.dtype())
        ))
    }
    /// Bytes of the stored values (every scalar non-zero of the Sparsity).
    #[getter]
    fn nbytes(&self) -> usize {
        self.mat.sparsity().nnz() * std::mem::size_of::<f64>()
    }
    /// Set every value to zero.
    fn zero(&self) -> PyResult<()> {
        self.mat.zero().map_err(to_py)
    }
    /// op2 assembles inside par_loop; nothing left to do.
    fn assemble(&self) {}
    /// y = A x.
    fn mult(
        &self,
        x: &Bound<'_, crate::data::PyDat>,
        y: &Bound<'_, crate::data::PyDat>,
    ) -> PyResult<()> {
        self.mat.mult(&x.get().dat, &y.get().dat).map_err(to_py)
    }
}

impl PyMat {
    /// A block of a mixed Mat: `mat` on the Python Sparsity of its block.
    pub(crate) fn wrap(sparsity: Py<PySparsity>, mat: op2::Mat) -> PyMat {
        PyMat { sparsity, mat }
    }
}

impl PySparsity {
    /// The op2 Sparsity.
    pub(crate) fn op2(&self) -> &op2::Sparsity {
        &self.sparsity
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySparsity>()?;
    m.add_class::<PyMat>()?;
    Ok(())
}
