//! Sets, DataSets and Maps as PyOP2 spells them: `Set(size, name)`, `set ** dim`,
//! `DataSet(set, dim)`, `Map(iterset, toset, arity, values)`, `m[i]`.
//!
//! Owns the argument checks PyOP2 makes at construction (with its exception names) and the
//! Python objects' identities: a DataSet or Map keeps the Python object of its Set, so
//! `ds.set is s`. Equality is op2's: identity of the underlying object.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple, PyWeakrefMethods, PyWeakrefReference};

use crate::errors::{raise, to_py};

/// `comm=` of a constructor that keeps no communicator itself (a Global reduces over its
/// loop's set): its runtime is made or found, so a freed or bad communicator fails here.
pub(crate) fn check_comm(py: Python<'_>, comm: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    crate::comms::comm_of(py, comm).map(|_| ())
}

/// A name argument: a str or None.
fn name_of(name: Option<&Bound<'_, PyAny>>, default: &str) -> PyResult<String> {
    match name {
        None => Ok(default.to_string()),
        Some(n) if n.is_none() => Ok(default.to_string()),
        Some(n) => n
            .extract::<String>()
            .map_err(|_| raise("NameTypeError", format!("name must be a string, not {n}"))),
    }
}

/// A set of mesh entities (PyOP2's `Set`).
#[pyclass(module = "op2._op2", name = "Set", subclass, frozen)]
pub(crate) struct PySet {
    pub(crate) set: op2::Set,
    /// The Python DataSets made on this set, by dim (weak: a DataSet holds its set), so
    /// that `s ** 2 is s ** 2` as in PyOP2 (op2's object cache gives the same DataSet).
    dsets: std::sync::Mutex<Vec<(Vec<usize>, Py<PyWeakrefReference>)>>,
}

impl PySet {
    /// The Python object of an op2 set made elsewhere (a Subset's own set).
    pub(crate) fn wrap(set: op2::Set) -> Self {
        PySet {
            set,
            dsets: Default::default(),
        }
    }
}

#[pymethods]
impl PySet {
    #[new]
    #[pyo3(signature = (size, name=None, halo=None, comm=None))]
    fn new(
        py: Python<'_>,
        size: &Bound<'_, PyAny>,
        name: Option<&Bound<'_, PyAny>>,
        halo: Option<&Bound<'_, PyAny>>,
        comm: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let comm = crate::comms::comm_of(py, comm)?;
        if halo.is_some_and(|h| !h.is_none()) {
            return Err(pyo3::exceptions::PyNotImplementedError::new_err(
                "Set(halo=...): op2 builds halos with its distribution (op2::distribute), not from a PyOP2 Halo",
            ));
        }
        let name = name_of(name, "set")?;
        let sizes: Vec<i64> = if let Ok(n) = size.extract::<i64>() {
            vec![n, n, n]
        } else if size.is_instance_of::<PyTuple>() || size.is_instance_of::<PyList>() {
            size.extract::<Vec<i64>>().map_err(|_| {
                raise(
                    "SizeTypeError",
                    format!("Set sizes must be integers, not {size}"),
                )
            })?
        } else {
            return Err(raise(
                "SizeTypeError",
                format!("Set size must be an integer or a tuple of 3 integers, not {size}"),
            ));
        };
        if sizes.len() != 3
            || sizes.iter().any(|&s| s < 0)
            || !(sizes[0] <= sizes[1] && sizes[1] <= sizes[2])
        {
            return Err(raise(
                "SizeTypeError",
                format!("Set sizes must be non-negative (core <= size <= total), got {sizes:?}"),
            ));
        }
        // PyOP2's `(core, size, total)` without a Halo: halo storage no exchange fills.
        let [core, owned, total] = [sizes[0], sizes[1], sizes[2]].map(|s| s as usize);
        let set = if (core, total) == (owned, owned) {
            op2::Set::named_on(comm, &name, owned)
        } else {
            op2::Set::with_sizes_on(comm, &name, core, owned, total)
        }
        .map_err(to_py)?;
        Ok(PySet {
            set,
            dsets: Default::default(),
        })
    }
    /// Owned elements on this rank.
    #[getter]
    fn size(&self) -> usize {
        self.set.size()
    }
    /// Owned elements that touch no halo data.
    #[getter]
    fn core_size(&self) -> usize {
        self.set.core_size()
    }
    /// Owned plus halo elements.
    #[getter]
    fn total_size(&self) -> usize {
        self.set.total_size()
    }
    /// (core, owned, total).
    #[getter]
    fn sizes(&self) -> (usize, usize, usize) {
        (self.set.core_size(), self.set.size(), self.set.total_size())
    }
    /// PyOP2's `layers` of a Set that is not extruded: None.
    #[getter]
    fn layers(&self, py: Python<'_>) -> PyObject {
        py.None()
    }
    /// The sum of owned sizes over ranks.
    #[getter]
    fn global_size(&self) -> usize {
        self.set.global_size()
    }
    /// The mpi4py communicator the set was made on (`op2._comms.mpi4py_comm`).
    #[getter]
    fn comm<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let id = self.set.comm().id();
        py.import("op2._comms")?
            .getattr("mpi4py_comm")?
            .call1((id,))
    }
    #[getter]
    fn name(&self) -> String {
        self.set.name().to_string()
    }
    /// Sets are single: `len(s) == 1` as in PyOP2.
    fn __len__(&self) -> usize {
        1
    }
    fn __pow__(
        slf: Bound<'_, Self>,
        dim: &Bound<'_, PyAny>,
        _m: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyDataSet>> {
        PyDataSet::cached(slf.py(), slf.into_any(), Some(dim), None)
    }
    fn __contains__(&self, other: &Bound<'_, PyAny>) -> bool {
        if let Ok(ds) = other.downcast::<PyDataSet>() {
            return ds.get().ds.set().ptr_eq(&self.set);
        }
        self.__eq__(other)
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .downcast::<PySet>()
            .is_ok_and(|o| o.get().set.ptr_eq(&self.set))
    }
    fn __hash__(&self) -> u64 {
        self.set.id()
    }
    fn __repr__(&self) -> String {
        format!("Set({}, '{}')", self.set.size(), self.set.name())
    }
    fn __str__(&self) -> String {
        format!("OP2 Set: {} with size {}", self.set.name(), self.set.size())
    }
    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, pyo3::types::PyIterator>> {
        PyTuple::new(slf.py(), [slf])?.as_any().try_iter()
    }
    /// `set(indices)`, `set(i, j, ...)`: the Subset of those elements (PyOP2's shorthand).
    #[pyo3(signature = (*indices))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        indices: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match indices.len() {
            1 => crate::subset::call(slf, &indices.get_item(0)?),
            _ => crate::subset::call(slf, indices.as_any()),
        }
    }
    fn union<'py>(
        slf: &Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::subset::setop("union", slf, other)
    }
    fn intersection<'py>(
        slf: &Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::subset::setop("intersection", slf, other)
    }
    fn difference<'py>(
        slf: &Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::subset::setop("difference", slf, other)
    }
    fn symmetric_difference<'py>(
        slf: &Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::subset::setop("symmetric_difference", slf, other)
    }
}

/// A Set with a number of values per element (PyOP2's `DataSet`, `set ** dim`).
#[pyclass(module = "op2._op2", name = "DataSet", subclass, frozen, weakref)]
pub(crate) struct PyDataSet {
    pub(crate) set: Py<PySet>,
    pub(crate) ds: op2::DataSet,
    pub(crate) dim: Vec<usize>,
    name: String,
}

impl PyDataSet {
    pub(crate) fn make(
        py: Python<'_>,
        set: Bound<'_, PyAny>,
        dim: Option<&Bound<'_, PyAny>>,
        name: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let set = set
            .downcast_into::<PySet>()
            .map_err(|e| raise("SetTypeError", format!("{} is not a Set", e.into_inner())))?;
        let dim = dim_of(py, dim)?;
        let name = name_of(name, "dset")?;
        let ds = op2::DataSet::new(&set.get().set, dim.iter().product()).map_err(to_py)?;
        Ok(PyDataSet {
            set: set.unbind(),
            ds,
            dim,
            name,
        })
    }
}

impl PyDataSet {
    /// The DataSet of `set` with `dim`: the Python object made before if it is alive.
    pub(crate) fn cached(
        py: Python<'_>,
        set: Bound<'_, PyAny>,
        dim: Option<&Bound<'_, PyAny>>,
        name: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyDataSet>> {
        // A Dat on an ExtrudedSet holds values per column: a Dat on its base set.
        let set = match set.downcast::<crate::extruded::PyExtrudedSet>() {
            Ok(x) => x.get().parent.bind(py).clone().into_any(),
            Err(_) => set,
        };
        let s = set
            .downcast::<PySet>()
            .map_err(|_| raise("SetTypeError", format!("{set} is not a Set")))?
            .clone();
        let want = dim_of(py, dim)?;
        let mut known = s.get().dsets.lock().unwrap_or_else(|e| e.into_inner());
        known.retain(|(_, w)| w.bind(py).upgrade().is_some());
        for (d, w) in known.iter() {
            if *d == want {
                if let Some(obj) = w.bind(py).upgrade() {
                    return Ok(obj.downcast_into::<PyDataSet>()?.unbind());
                }
            }
        }
        let obj = Py::new(py, PyDataSet::make(py, set, dim, name)?)?;
        known.push((want, PyWeakrefReference::new(obj.bind(py))?.unbind()));
        Ok(obj)
    }
}

/// A dim argument: a non-negative int or a tuple of them (PyOP2's DimTypeError otherwise;
/// a dim of 0, PyOP2's `set ** 0`, gives Dats holding no values).
/// A dim as Python prints a tuple: `(1,)`, `(2, 3)`.
pub(crate) fn tuple_str(dim: &[usize]) -> String {
    match dim {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            dim.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub(crate) fn dim_of(_py: Python<'_>, dim: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<usize>> {
    let Some(dim) = dim else { return Ok(vec![1]) };
    let v: Vec<i64> = if let Ok(n) = dim.extract::<i64>() {
        vec![n]
    } else {
        dim.extract::<Vec<i64>>().map_err(|_| {
            raise(
                "DimTypeError",
                format!("dim must be an integer or a tuple of integers, not {dim}"),
            )
        })?
    };
    if v.is_empty() || v.iter().any(|&d| d < 0) {
        return Err(raise(
            "DimTypeError",
            format!("dim must not be negative, got {v:?}"),
        ));
    }
    Ok(v.into_iter().map(|d| d as usize).collect())
}

#[pymethods]
impl PyDataSet {
    #[new]
    #[pyo3(signature = (iter_set, dim=None, name=None))]
    fn new(
        py: Python<'_>,
        iter_set: Bound<'_, PyAny>,
        dim: Option<&Bound<'_, PyAny>>,
        name: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyDataSet>> {
        PyDataSet::cached(py, iter_set, dim, name)
    }
    #[getter]
    fn set(&self, py: Python<'_>) -> Py<PySet> {
        self.set.clone_ref(py)
    }
    /// The shape of the values on one element.
    #[getter]
    fn dim<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.dim)
    }
    /// Values per element (the product of `dim`).
    #[getter]
    fn cdim(&self) -> usize {
        self.ds.dim()
    }
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }
    fn __len__(&self) -> usize {
        1
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .downcast::<PyDataSet>()
            .is_ok_and(|o| o.get().ds.ptr_eq(&self.ds))
    }
    fn __hash__(&self) -> u64 {
        self.ds.id()
    }
    /// The set's owned size.
    #[getter]
    fn size(&self) -> usize {
        self.ds.set().size()
    }
    #[getter]
    fn total_size(&self) -> usize {
        self.ds.set().total_size()
    }
    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, pyo3::types::PyIterator>> {
        PyTuple::new(slf.py(), [slf])?.as_any().try_iter()
    }
    fn __contains__(&self, other: &Bound<'_, PyAny>) -> bool {
        if let Ok(d) = other.downcast::<crate::data::PyDat>() {
            return d.get().dat.dataset().ptr_eq(&self.ds);
        }
        self.__eq__(other)
    }
    /// op2 applies no local-to-global filter (PyOP2's flag for PETSc's numbering).
    #[getter]
    fn _apply_local_global_filter(&self) -> bool {
        false
    }
    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "OP2 DataSet: {} on set {}, with dim {}, False",
            self.name,
            self.set.bind(py).str()?,
            tuple_str(&self.dim)
        ))
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "DataSet({}, {}, '{}')",
            self.set.bind(py).repr()?,
            tuple_str(&self.dim),
            self.name
        ))
    }
}

/// A map from the elements of one Set to `arity` elements of another (PyOP2's `Map`);
/// `values` and the core map a use takes (`current`) are in `mapvals.rs`.
#[pyclass(module = "op2._op2", name = "Map", subclass, frozen)]
pub(crate) struct PyMap {
    pub(crate) iterset: Py<PySet>,
    pub(crate) toset: Py<PySet>,
    /// The core map it was built with: its name, sets and arity hold for every core map it
    /// has; a use reads the core map now through `current` (`values` may have replaced it).
    pub(crate) map: op2::Map,
    /// Made without values (PyOP2 allows it): using it in a loop is a MapValueError, until
    /// values written through `values` give it some (read through `uninitialized()`).
    pub(crate) uninitialized: bool,
    /// Writable `values` and the core map written values made (`mapvals.rs`).
    pub(crate) vals: crate::mapvals::MapValues,
    /// From an ExtrudedSet (`iterset` is then its base): the extruded map (`extruded.rs`).
    pub(crate) extruded: Option<crate::extruded::XMap>,
}

#[pymethods]
impl PyMap {
    #[new]
    #[pyo3(signature = (iterset, toset, arity, values=None, name=None, offset=None, offset_quotient=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        iterset: &Bound<'_, PyAny>,
        toset: &Bound<'_, PyAny>,
        arity: &Bound<'_, PyAny>,
        values: Option<&Bound<'_, PyAny>>,
        name: Option<&Bound<'_, PyAny>>,
        offset: Option<&Bound<'_, PyAny>>,
        offset_quotient: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let xset = iterset.downcast::<crate::extruded::PyExtrudedSet>().ok();
        let base = xset.map(|x| x.get().parent.bind(py).clone().into_any());
        let from = base
            .as_ref()
            .unwrap_or(iterset)
            .downcast::<PySet>()
            .map_err(|_| raise("SetTypeError", format!("iterset {iterset} is not a Set")))?;
        let to = toset
            .downcast::<PySet>()
            .map_err(|_| raise("SetTypeError", format!("toset {toset} is not a Set")))?;
        let arity = arity
            .extract::<i64>()
            .ok()
            .filter(|&a| a > 0)
            .ok_or_else(|| {
                raise(
                    "ArityTypeError",
                    format!("arity must be a positive integer, not {arity}"),
                )
            })? as usize;
        if xset.is_none()
            && (offset.is_some_and(|o| !o.is_none())
                || offset_quotient.is_some_and(|o| !o.is_none()))
        {
            return Err(pyo3::exceptions::PyNotImplementedError::new_err(
                "Map(set, ..., offset=...): offsets apply to maps from an ExtrudedSet",
            ));
        }
        let name = name_of(name, "map")?;
        let n = from.get().set.size() * arity;
        let uninitialized = values.is_none_or(|v| v.is_none());
        let values: Vec<i32> = match values {
            Some(v) if !v.is_none() => {
                // Read as int64, then narrowed with a check: a cast to int32 would wrap a
                // value past 2^31 to a negative one ("no entry") without a word.
                let bytes = crate::data::contiguous(py, v, "int64").map_err(|e| {
                    raise(
                        "DataValueError",
                        format!("Map {name}: values must be integers: {e}"),
                    )
                })?;
                let wide: Vec<i64> = bytemuck::pod_collect_to_vec(&bytes);
                let vals = wide
                    .iter()
                    .map(|&v| i32::try_from(v))
                    .collect::<Result<Vec<i32>, _>>()
                    .map_err(|_| {
                        let bad = wide.iter().find(|&&v| i32::try_from(v).is_err());
                        raise(
                            "MapValueError",
                            format!(
                                "Map {name}: value {} does not fit a 32-bit map entry",
                                bad.copied().unwrap_or_default()
                            ),
                        )
                    })?;
                if vals.len() != n {
                    // A map given its halo rows too: op2 keeps owned rows only.
                    if vals.len() == from.get().set.total_size() * arity {
                        vals[..n].to_vec()
                    } else {
                        return Err(raise(
                            "DataValueError",
                            format!("Map {name}: {} values given, expected {n} ({} elements x arity {arity})", vals.len(), from.get().set.size()),
                        ));
                    }
                } else {
                    crate::mapvals::in_range(&name, &vals, &to.get().set)?;
                    vals
                }
            }
            _ => vec![0; n],
        };
        let map =
            op2::Map::named(&name, &from.get().set, &to.get().set, arity, values).map_err(to_py)?;
        let extruded = xset
            .map(|x| crate::extruded::XMap::new(x, &map, offset, offset_quotient))
            .transpose()?;
        Ok(PyMap {
            iterset: from.clone().unbind(),
            toset: to.clone().unbind(),
            map,
            uninitialized,
            vals: Default::default(),
            extruded,
        })
    }
    #[getter]
    fn iterset(&self, py: Python<'_>) -> PyObject {
        match &self.extruded {
            Some(x) => x.xset.clone_ref(py).into_any(),
            None => self.iterset.clone_ref(py).into_any(),
        }
    }
    #[getter]
    fn toset(&self, py: Python<'_>) -> Py<PySet> {
        self.toset.clone_ref(py)
    }
    #[getter]
    fn arity(&self) -> usize {
        self.map.arity()
    }
    #[getter]
    fn arities(&self) -> (usize,) {
        (self.map.arity(),)
    }
    /// PyOP2's `arange`: the offsets of the (single) block in an element's targets.
    #[getter]
    fn arange(&self) -> (usize, usize) {
        (0, self.map.arity())
    }
    #[getter]
    fn name(&self) -> String {
        self.map.name().to_string()
    }
    #[getter]
    fn offset(&self, py: Python<'_>) -> PyResult<PyObject> {
        crate::extruded::offset_of(py, self.extruded.as_ref())
    }
    /// The single map (`m.split == (m,)`).
    #[getter]
    fn split(slf: Bound<'_, Self>) -> PyResult<Bound<'_, PyTuple>> {
        PyTuple::new(slf.py(), [slf])
    }
    fn __len__(&self) -> usize {
        1
    }
    fn __getitem__(slf: Bound<'_, Self>, idx: &Bound<'_, PyAny>) -> PyResult<MapIndex> {
        let arity = slf.get().map.arity();
        let i = idx.extract::<i64>().map_err(|_| {
            raise(
                "IndexTypeError",
                format!("map index must be an integer, not {idx}"),
            )
        })?;
        if i < 0 || i as usize >= arity {
            return Err(raise(
                "IndexValueError",
                format!("index {i} out of range for map of arity {arity}"),
            ));
        }
        Ok(MapIndex {
            map: slf.unbind(),
            idx: i as usize,
        })
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .downcast::<PyMap>()
            .is_ok_and(|o| o.get().map.ptr_eq(&self.map))
    }
    fn __hash__(&self) -> u64 {
        self.map.id()
    }
    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "OP2 Map: {} from ({}) to ({}) with arity {}",
            self.map.name(),
            self.iterset.bind(py).str()?,
            self.toset.bind(py).str()?,
            self.map.arity()
        ))
    }
    /// PyOP2's extruded-map offsets: op2's plain Maps have none.
    #[getter]
    fn _offset(&self) -> Option<usize> {
        None
    }
    #[getter]
    fn _offset_quotient(&self) -> Option<usize> {
        None
    }
    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, pyo3::types::PyIterator>> {
        PyTuple::new(slf.py(), [slf])?.as_any().try_iter()
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Map({}, {}, {}, None, '{}', None, None)",
            self.iterset.bind(py).repr()?,
            self.toset.bind(py).repr()?,
            self.map.arity(),
            self.map.name()
        ))
    }
}

/// One entry of a Map: `m[i]`, a par_loop argument reaches the i-th target of each element.
#[pyclass(module = "op2._op2", frozen)]
pub(crate) struct MapIndex {
    pub(crate) map: Py<PyMap>,
    pub(crate) idx: usize,
}

#[pymethods]
impl MapIndex {
    #[getter]
    fn map(&self, py: Python<'_>) -> Py<PyMap> {
        self.map.clone_ref(py)
    }
    #[getter]
    fn idx(&self) -> usize {
        self.idx
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySet>()?;
    m.add_class::<PyDataSet>()?;
    m.add_class::<PyMap>()?;
    m.add_class::<MapIndex>()?;
    Ok(())
}
