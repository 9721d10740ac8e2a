//! Extruded sets as PyOP2 spells them: `ExtrudedSet(set, layers)` (constant, variable
//! `layers=[[start, stop], ...]`, `extruded_periodic=True`) and `par_loop` over one with
//! `iteration_region=` and `pass_layer_arg=`.
//!
//! Owns the Python class over op2's `ExtrudedSet` and the extruded form of `par_loop`: every
//! argument is passed unchanged on every layer (Dats and Maps of the base set, Globals), as
//! op2's `par_loop_extruded` does with plain arguments. Not bound yet: Dats on the extruded
//! set itself (`xset ** dim`) and extruded Maps (`Map(..., offset=)`), which raise
//! NotImplementedError naming them. Never generates code itself.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{raise, to_py};
use crate::sets::PySet;

/// Columns of layers over every element of a Set (PyOP2's `ExtrudedSet`).
#[pyclass(module = "op2._op2", name = "ExtrudedSet", subclass, frozen)]
pub(crate) struct PyExtrudedSet {
    parent: Py<PySet>,
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
    /// `base in xset`: the set it was built on.
    fn __contains__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .downcast::<PySet>()
            .is_ok_and(|o| o.get().set.ptr_eq(self.xset.base()))
    }
    fn __pow__(&self, _dim: &Bound<'_, PyAny>, _m: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        Err(pyo3::exceptions::PyNotImplementedError::new_err(
            "ExtrudedSet ** dim: Dats on an extruded set (op2's ExtrudedSet::dataset) are not bound in Python yet",
        ))
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

/// `par_loop(kernel, xset, *args, iteration_region=, pass_layer_arg=)` over an ExtrudedSet.
pub(crate) fn par_loop(
    kernel: &op2::Kernel,
    xset: &PyExtrudedSet,
    args: Vec<op2::Arg>,
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
    let xargs: Vec<op2::XArg> = args.into_iter().map(Into::into).collect();
    match layer_arg {
        true => op2::par_loop_extruded_layer(kernel, &xset.xset, region, &xargs),
        false => op2::par_loop_extruded(kernel, &xset.xset, region, &xargs),
    }
    .map_err(to_py)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyExtrudedSet>()
}
