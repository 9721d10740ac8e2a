//! Subsets as PyOP2 spells them: `Subset(set, indices)`, `set(indices)`, `ss.superset`,
//! `ss.indices`, and the set operations (`union`, `intersection`, `difference`,
//! `symmetric_difference`) of Sets and Subsets.
//!
//! Owns the Python Subset class, a `Set` (so `par_loop(k, ss, ...)` iterates over it, with the
//! Dats and Maps of its superset) over op2's `Subset`. A Subset of an ExtrudedSet (its columns)
//! is the same class over the Subset of the base set, carrying op2's `ExtrudedSubset`: a loop
//! over it is an extruded loop (`loops.rs` sends it to `extruded.rs`), and its other attributes
//! (`layers`, ...) are the superset's, as in PyOP2. PyOP2 sorts the indices
//! and removes duplicates; this module does that (with numpy) before op2's core, which refuses
//! unsorted or repeated indices. Never cached, as in PyOP2: each call is a new set. The set
//! operations are numpy code in `op2/_setops.py`; this module only forwards to them.

use pyo3::prelude::*;

use crate::errors::{raise, to_py};
use crate::extruded::PyExtrudedSet;
use crate::sets::PySet;

/// Some elements of a Set (PyOP2's `Subset`): a par_loop over it visits those elements only.
#[pyclass(module = "op2._op2", name = "Subset", extends = PySet, subclass, frozen)]
pub(crate) struct PySubset {
    /// The root set (never itself a Subset: a subset of a subset chooses from the root): a
    /// Set, or the ExtrudedSet whose columns an extruded subset chooses.
    superset: PyObject,
    sub: op2::Subset,
    /// Of an ExtrudedSet: its chosen columns (`sub` is their Subset of the base set).
    pub(crate) extruded: Option<op2::ExtrudedSubset>,
}

#[pymethods]
impl PySubset {
    #[new]
    fn new(
        superset: &Bound<'_, PyAny>,
        indices: &Bound<'_, PyAny>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let py = superset.py();
        // Sorted and unique as in PyOP2. Nothing is refused here: op2's `subset` is
        // collective and refuses a bad list on every rank together (no rank left waiting).
        let idx = sorted_unique(indices).unwrap_or_else(|_| vec![usize::MAX]);
        // Of an ExtrudedSet or of a Subset of one: columns of the ExtrudedSet.
        let columns = match superset.downcast::<PyExtrudedSet>() {
            Ok(x) => Some((x.clone().into_any().unbind(), x.get().xset.subset(&idx))),
            Err(_) => superset.downcast::<PySubset>().ok().and_then(|s| {
                let s = s.get();
                (s.extruded.as_ref()).map(|x| (s.superset.clone_ref(py), x.subset(&idx)))
            }),
        };
        let (root, extruded, sub) = match columns {
            Some((root, xs)) => {
                let xs = xs.map_err(refused)?;
                let sub = xs.columns().clone();
                (root, Some(xs), sub)
            }
            None => {
                let sup = superset.downcast::<PySet>().map_err(|_| {
                    raise(
                        "SetTypeError",
                        format!("a Subset is made on a Set or an ExtrudedSet, not {superset}"),
                    )
                })?;
                let sub = sup.get().set.subset(&idx).map_err(refused)?;
                let root = match superset.downcast::<PySubset>() {
                    Ok(s) => s.get().superset.clone_ref(py),
                    Err(_) => sup.clone().into_any().unbind(),
                };
                (root, None, sub)
            }
        };
        Ok(
            PyClassInitializer::from(PySet::wrap(sub.as_set().clone())).add_subclass(PySubset {
                superset: root,
                sub,
                extruded,
            }),
        )
    }
    /// The set whose elements this subset chooses (the root set for a subset of a subset).
    #[getter]
    fn superset(&self, py: Python<'_>) -> PyObject {
        self.superset.clone_ref(py)
    }
    /// The chosen local elements of the superset, sorted (a numpy int32 array, a copy).
    #[getter]
    fn indices<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let np = py.import("numpy")?;
        np.call_method1("array", (self.sub.indices().to_vec(), np.getattr("int32")?))
    }
    /// PyOP2's spelling of `indices`.
    #[getter]
    fn _indices<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.indices(py)
    }
    /// The superset's layers: None for a Subset of a Set, vertex layers per column for one of
    /// an ExtrudedSet.
    #[getter]
    fn layers<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.get().superset.bind(slf.py()).getattr("layers")
    }
    /// A Subset of an ExtrudedSet: any other attribute is its superset's, as in PyOP2
    /// (`layers`, `constant_layers`, `parent`, ...).
    fn __getattr__<'py>(slf: &Bound<'py, Self>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let me = slf.get();
        match &me.extruded {
            Some(_) => me.superset.bind(slf.py()).getattr(name),
            None => Err(pyo3::exceptions::PyAttributeError::new_err(format!(
                "'Subset' object has no attribute '{name}'"
            ))),
        }
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let me = slf.get();
        Ok(format!(
            "Subset({}, {})",
            me.superset.bind(slf.py()).repr()?,
            me.indices(slf.py())?.repr()?
        ))
    }
    fn __str__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let me = slf.get();
        Ok(format!(
            "OP2 Subset: {} with sizes {:?}",
            me.sub.superset().name(),
            (me.sub.core_size(), me.sub.size(), me.sub.total_size())
        ))
    }
}

/// op2's refusal of a subset: PyOP2's `SubsetIndexOutOfBounds` for an index out of range.
fn refused(e: op2::Error) -> PyErr {
    if e.to_string().contains("outside the set's local elements") {
        raise("SubsetIndexOutOfBounds", e.to_string())
    } else {
        to_py(e)
    }
}

/// `indices` as PyOP2 takes them (any integer sequence or array), sorted and without
/// duplicates; a negative index becomes one op2 refuses as out of range.
fn sorted_unique(indices: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let np = indices.py().import("numpy")?;
    let arr = np
        .call_method1("asarray", (indices, np.getattr("int64")?))?
        .call_method0("ravel")?;
    let sorted: Vec<i64> = np
        .call_method1("unique", (arr,))?
        .call_method0("tolist")?
        .extract()?;
    Ok(sorted
        .into_iter()
        .map(|i| usize::try_from(i).unwrap_or(usize::MAX))
        .collect())
}

/// `set(indices)`: PyOP2's shorthand for `Subset(set, indices)`.
pub(crate) fn call<'py>(
    set: &Bound<'py, PySet>,
    indices: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    set.py().get_type::<PySubset>().call1((set, indices))
}

/// One of the set operations of `op2/_setops.py` on `a` and `b`.
pub(crate) fn setop<'py>(
    op: &str,
    a: &Bound<'py, PySet>,
    b: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    a.py().import("op2._setops")?.getattr(op)?.call1((a, b))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySubset>()
}
