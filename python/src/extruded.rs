//! Extruded sets as PyOP2 spells them: `ExtrudedSet(set, layers)` (constant, variable
//! `layers=[[start, stop], ...]`, `extruded_periodic=True`) and `par_loop` over one (or over
//! a Subset of its columns, `subset.rs`) with `iteration_region=` and `pass_layer_arg=`.
//!
//! Owns the Python class over op2's `ExtrudedSet`, PyOP2's extruded Maps (`Map(xset, toset,
//! arity, values, name, offset)`: op2's `ExtrudedMap::flat`, the values naming elements of a
//! plain set at each column's first layer, advanced by `offset` per layer), the arguments
//! through them (`dat(op2.INC, m)`) and the extruded form of `par_loop`: arguments through
//! extruded maps reach each layer's entries, every other argument is passed unchanged on every
//! layer (Dats and Maps of the base set, Globals). A Dat on the extruded set itself (`xset **
//! dim`, `Dat(xset)`) is a Dat on its base set, one value per column, as in PyOP2. Not bound:
//! `offset_quotient` (periodic maps), entries of extruded maps (`m[i]`), extruded Mats. Never
//! generates code itself.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{raise, to_py};
use crate::loops::PyArg;
use crate::sets::{MapIndex, PyDataSet, PyMap, PySet};

/// Columns of layers over every element of a Set (PyOP2's `ExtrudedSet`).
#[pyclass(module = "op2._op2", name = "ExtrudedSet", subclass, frozen)]
pub(crate) struct PyExtrudedSet {
    pub(crate) parent: Py<PySet>,
    pub(crate) xset: op2::ExtrudedSet,
}

#[pymethods]
impl PyExtrudedSet {
    #[new]
    #[pyo3(signature = (parent, layers, extruded_periodic=false))]
    fn new(
        parent: &Bound<'_, PyAny>,
        layers: &Bound<'_, PyAny>,
        extruded_periodic: bool,
    ) -> PyResult<Self> {
        let base = parent.downcast::<PySet>().map_err(|_| {
            raise(
                "SetTypeError",
                format!("an ExtrudedSet is built on a Set, not {parent}"),
            )
        })?;
        let set = &base.get().set;
        let xset = if let Ok(n) = layers.extract::<i64>() {
            if n < 2 {
                return Err(raise(
                    "SizeTypeError",
                    format!("ExtrudedSet needs at least 2 layers, got {n}"),
                ));
            }
            match extruded_periodic {
                true => op2::ExtrudedSet::periodic(set, n as usize),
                false => op2::ExtrudedSet::new(set, n as usize),
            }
        } else {
            let cols: Vec<[i32; 2]> = layers.extract().map_err(|_| {
                raise(
                    "SizeTypeError",
                    format!(
                        "ExtrudedSet layers must be an int or [[start, stop], ...], not {layers}"
                    ),
                )
            })?;
            op2::ExtrudedSet::variable(set, &cols)
        }
        .map_err(to_py)?;
        Ok(PyExtrudedSet {
            parent: base.clone().unbind(),
            xset,
        })
    }
    /// The base set.
    #[getter]
    fn parent(&self, py: Python<'_>) -> Py<PySet> {
        self.parent.clone_ref(py)
    }
    /// Vertex layers per column (the tallest column for variable layers).
    #[getter]
    fn layers(&self) -> usize {
        self.xset.layers()
    }
    #[getter]
    fn constant_layers(&self) -> bool {
        !self.xset.is_variable()
    }
    #[getter]
    fn size(&self) -> usize {
        self.xset.base().size()
    }
    #[getter]
    fn core_size(&self) -> usize {
        self.xset.base().core_size()
    }
    #[getter]
    fn total_size(&self) -> usize {
        self.xset.base().total_size()
    }
    #[getter]
    fn sizes(&self) -> (usize, usize, usize) {
        (self.core_size(), self.size(), self.total_size())
    }
    #[getter]
    fn name(&self) -> String {
        self.xset.base().name().to_string()
    }
    /// `xset(indices)`: PyOP2's shorthand for `Subset(xset, indices)` (some columns).
    #[pyo3(signature = (*indices))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        indices: &Bound<'py, pyo3::types::PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let subset = slf.py().get_type::<crate::subset::PySubset>();
        match indices.len() {
            1 => subset.call1((slf, indices.get_item(0)?)),
            _ => subset.call1((slf, indices)),
        }
    }
    /// `base in xset`: the set it was built on.
    fn __contains__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .downcast::<PySet>()
            .is_ok_and(|o| o.get().set.ptr_eq(self.xset.base()))
    }
    /// `xset ** dim`: values per column, the base set's DataSet (PyOP2 reaches layers
    /// through extruded maps).
    fn __pow__(
        slf: &Bound<'_, Self>,
        dim: &Bound<'_, PyAny>,
        _m: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyDataSet>> {
        let parent = slf.get().parent.bind(slf.py()).clone().into_any();
        PyDataSet::cached(slf.py(), parent, Some(dim), None)
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let me = slf.get();
        Ok(format!(
            "ExtrudedSet({}, {})",
            me.parent.bind(slf.py()).repr()?,
            me.xset.layers()
        ))
    }
    fn __str__(&self) -> String {
        format!(
            "OP2 ExtrudedSet: {} on set {} with {} layers",
            self.xset.base().name(),
            self.xset.base().name(),
            self.xset.layers()
        )
    }
}

/// A Map from an ExtrudedSet: the ExtrudedSet and op2's extruded map.
pub(crate) struct XMap {
    pub(crate) xset: Py<PyExtrudedSet>,
    pub(crate) map: op2::ExtrudedMap,
}

impl XMap {
    /// `Map(xset, toset, arity, values, name, offset)` over the base-set Map `map` already made
    /// from `values`: `offset` one int per entry (or one for all; None: 0, the same element
    /// on every layer).
    pub(crate) fn new(
        xset: &Bound<'_, PyExtrudedSet>,
        map: &op2::Map,
        offset: Option<&Bound<'_, PyAny>>,
        offset_quotient: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<XMap> {
        if offset_quotient.is_some_and(|q| !q.is_none()) {
            return Err(pyo3::exceptions::PyNotImplementedError::new_err(format!(
                "Map {}: offset_quotient (maps on periodic extruded sets) is not bound in Python",
                map.name()
            )));
        }
        let arity = map.arity();
        let offset: Vec<i32> = match offset {
            None => vec![0; arity],
            Some(o) if o.is_none() => vec![0; arity],
            Some(o) => match o.extract::<i32>() {
                Ok(one) => vec![one; arity],
                Err(_) => o.extract::<Vec<i32>>().map_err(|_| {
                    raise(
                        "DataTypeError",
                        format!("Map {}: offset must be integers, not {o}", map.name()),
                    )
                })?,
            },
        };
        let map = op2::ExtrudedMap::flat(&xset.get().xset, map, &offset)
            .map_err(|e| raise("MapValueError", e.to_string()))?;
        Ok(XMap {
            xset: xset.clone().unbind(),
            map,
        })
    }
}

/// PyOP2's `Map.offset`: the offsets (int32 array) of an extruded map, else None.
pub(crate) fn offset_of(py: Python<'_>, x: Option<&XMap>) -> PyResult<PyObject> {
    let Some(x) = x else { return Ok(py.None()) };
    let np = py.import("numpy")?;
    Ok(np
        .call_method1("array", (x.map.offset(), "int32"))?
        .unbind())
}

/// `dat(access, path)` when `path` is an extruded map (or an entry of one): the argument of a
/// loop over its ExtrudedSet; None when `path` is not extruded.
pub(crate) fn dat_arg(
    dat: &op2::Dat,
    access: op2::Access,
    path: &Bound<'_, PyAny>,
    view: bool,
) -> Option<PyResult<PyArg>> {
    if let Ok(mi) = path.downcast::<MapIndex>() {
        let m = mi.get().map.get();
        return m.extruded.as_ref().map(|_| {
            Err(pyo3::exceptions::PyNotImplementedError::new_err(format!(
                "an entry of the extruded Map {} (m[i]) is not bound: pass the whole map",
                m.map.name()
            )))
        });
    }
    let m = path.downcast::<PyMap>().ok()?.get();
    let x = m.extruded.as_ref()?;
    Some(if m.uninitialized() {
        Err(raise(
            "MapValueError",
            format!("Map {} was made without values", m.map.name()),
        ))
    } else if !m.map.to_set().ptr_eq(dat.set()) {
        Err(raise(
            "MapValueError",
            format!(
                "To Set of Map {} does not match Set of Dat {}",
                m.map.name(),
                dat.name()
            ),
        ))
    } else if view {
        Err(pyo3::exceptions::PyNotImplementedError::new_err(format!(
            "a DatView of {} through the extruded Map {} is not bound",
            dat.name(),
            m.map.name()
        )))
    } else {
        Ok(PyArg {
            arg: dat.arg_map(access, x.map.base(), 0),
            from_set: Some(m.map.from_set().clone()),
            xarg: Some(dat.arg_extruded(access, &x.map)),
        })
    })
}

/// The error of a loop over a plain Set given an argument through an extruded map.
pub(crate) fn needs_extruded_loop(set: &op2::Set) -> PyErr {
    raise(
        "MapValueError",
        format!(
            "par_loop over set {}: an argument through an extruded Map needs a loop over its ExtrudedSet",
            set.name()
        ),
    )
}

/// `par_loop(kernel, xset, *args, iteration_region=, pass_layer_arg=)` over an ExtrudedSet
/// or some of its columns (a Subset of it).
pub(crate) fn par_loop(
    kernel: &op2::Kernel,
    cols: op2::Columns<'_>,
    args: &[Bound<'_, PyArg>],
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let mut region = op2::Region::All;
    let mut layer_arg = false;
    for (k, v) in kwargs.into_iter().flat_map(|d| d.iter()) {
        match k.extract::<String>()?.as_str() {
            "iteration_region" => {
                let name: String = v.getattr("name").and_then(|n| n.extract())?;
                region = match name.as_str() {
                    "ALL" => op2::Region::All,
                    "ON_BOTTOM" => op2::Region::OnBottom,
                    "ON_TOP" => op2::Region::OnTop,
                    "ON_INTERIOR_FACETS" => op2::Region::OnInteriorFacets,
                    _ => {
                        return Err(raise(
                            "Op2ValueError",
                            format!("unknown iteration region {name}"),
                        ))
                    }
                };
            }
            "pass_layer_arg" => layer_arg = v.is_truthy()?,
            other => {
                return Err(raise(
                    "Op2ValueError",
                    format!("par_loop: unknown keyword argument {other}"),
                ))
            }
        }
    }
    let xargs: Vec<op2::XArg> = args
        .iter()
        .map(|a| {
            let a = a.get();
            a.xarg.clone().unwrap_or_else(|| a.arg.clone().into())
        })
        .collect();
    match layer_arg {
        true => op2::par_loop_extruded_layer(kernel, cols, region, &xargs),
        false => op2::par_loop_extruded(kernel, cols, region, &xargs),
    }
    .map_err(to_py)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyExtrudedSet>()
}
