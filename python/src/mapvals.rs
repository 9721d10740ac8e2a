//! PyOP2's writable `Map.values` over op2's immutable Maps.
//!
//! Owns the state behind `Map.values` (`MapValues`, held by each Python Map): the writable
//! numpy copy handed out, and the core `op2::Map` that replaced the one the Map was built with
//! once that copy was written. op2's plans, halos, colourings and Sparsities are cached on a
//! core Map's identity, so a core Map never changes: the first *use* of the Python Map after
//! `values` was taken (`PyMap::current`: a loop argument, a Sparsity, `values_with_halo`)
//! compares the handed-out array with the core values once; when they differ it builds a new
//! core Map from them (validated as at construction: a value outside the target set is a
//! MapValueError at that use, and at every use until the array is corrected), so whatever was
//! built on the old core Map keeps it. The array is then made read-only (a later write raises
//! instead of being lost) and `values` hands out a fresh writable copy next time. Views taken
//! from the array before that use stay writable and are not tracked after it. A Map computed
//! from others' values (PermutedMap, ComposedMap) records their core Maps: a use after one of
//! them changed is a MapValueError, never a loop over stale values.
//!
//! The hot path (a Map never written through `values`) costs one atomic load. Never runs MPI
//! (the comparison and the rebuild are local, as the Map constructor's checks are) and never
//! changes a core Map in place.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, RwLock};

use pyo3::prelude::*;

use crate::errors::{raise, to_py};
use crate::sets::PyMap;

/// A writable array is out: the next use compares it with the core values.
const OUT: u8 = 1;
/// The core Map is `replaced`, not the one the Python Map was built with.
const REPLACED: u8 = 2;
/// Computed from other Maps' values (`sources`): a use checks they were not written since.
const DERIVED: u8 = 4;

/// The `values` state of one Python Map (see the module notes).
#[derive(Default)]
pub(crate) struct MapValues {
    state: AtomicU8,
    /// The core Map built from written values (set with `REPLACED`).
    replaced: RwLock<Option<op2::Map>>,
    /// The writable array handed out since the last use (set with `OUT`).
    out: Mutex<Option<PyObject>>,
    /// The Maps this one's values were computed from, with their core Map ids then (set with
    /// `DERIVED`: PermutedMap, ComposedMap).
    sources: Mutex<Vec<(Py<PyMap>, u64)>>,
}

/// `Map.values` and what op2's Python modules read of a Map's current values.
#[pymethods]
impl PyMap {
    /// The map's values, shape (iterset size, arity): PyOP2's writable array, a copy the
    /// next use of the map compares and adopts (see the module notes). An extruded map's are a
    /// read-only copy (its layers are built on the values it was made with).
    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.extruded.is_some() {
            return read_only(py, &self.map);
        }
        self.vals.writable(py, &self.map)
    }
    /// As `values` (op2 keeps no rows for halo elements), after a use: written values are
    /// checked and adopted first.
    #[getter]
    fn values_with_halo<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.current(py)?;
        self.values(py)
    }
    /// The id of the core map a use takes now (written values checked and adopted first):
    /// changes when written values replace it (`op2/_mixed.py` keys maps built from it).
    #[getter]
    fn _core_id(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.current(py)?.id())
    }
    /// A read-only copy of the values a use takes now (hands out no writable array).
    #[getter]
    fn _core_values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        read_only(py, &self.current(py)?)
    }
    /// Record the Maps this one's values were computed from (op2/_maps.py): a use after
    /// their values were written is a MapValueError.
    fn _derived_from(&self, maps: Vec<Bound<'_, PyMap>>) -> PyResult<()> {
        self.vals.derived_from(&maps)
    }
}

impl PyMap {
    /// The core map a use of this Map takes now (a loop argument, a Sparsity): `map` unless
    /// values written through `values` replaced it; values written since the last use are
    /// checked and adopted first (MapValueError when out of range). One atomic load when
    /// `values` was never taken.
    #[inline]
    pub(crate) fn current(&self, py: Python<'_>) -> PyResult<op2::Map> {
        self.vals.current(py, &self.map, self.uninitialized)
    }
    /// Made without values and given none through `values` since.
    pub(crate) fn uninitialized(&self) -> bool {
        self.uninitialized && !self.vals.replaced()
    }
}

impl MapValues {
    /// The core Map a use sees now: `built` (the Python Map's first core Map) unless written
    /// values replaced it; an array handed out since the last use is compared first. `blank`:
    /// the Map was made without values (any array handed out counts as its values).
    #[inline]
    pub(crate) fn current(
        &self,
        py: Python<'_>,
        built: &op2::Map,
        blank: bool,
    ) -> PyResult<op2::Map> {
        if self.state.load(Ordering::Acquire) == 0 {
            return Ok(built.clone());
        }
        self.current_written(py, built, blank)
    }

    /// `current` once `values` was taken: kept out of line, off the hot path.
    #[cold]
    #[inline(never)]
    fn current_written(&self, py: Python<'_>, built: &op2::Map, blank: bool) -> PyResult<op2::Map> {
        let state = self.state.load(Ordering::Acquire);
        if state & DERIVED != 0 {
            self.check_sources(py, built)?;
        }
        if state & OUT != 0 {
            self.sync(py, built, blank)?;
        }
        Ok(self.latest(built))
    }

    /// Record that this Map's values were computed from `maps`' current values (PyOP2
    /// computes a PermutedMap's or ComposedMap's in the loop; op2 once, at construction).
    pub(crate) fn derived_from(&self, maps: &[Bound<'_, PyMap>]) -> PyResult<()> {
        let mut now = Vec::with_capacity(maps.len());
        for m in maps {
            now.push((m.clone().unbind(), m.get().current(m.py())?.id()));
        }
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(now);
        self.state.fetch_or(DERIVED, Ordering::AcqRel);
        Ok(())
    }

    /// A MapValueError when a Map this one was computed from has other values now: its
    /// values would be stale, where PyOP2's follow the writes.
    fn check_sources(&self, py: Python<'_>, built: &op2::Map) -> PyResult<()> {
        let sources: Vec<(Py<PyMap>, u64)> = {
            let s = self.sources.lock().unwrap_or_else(|e| e.into_inner());
            s.iter().map(|(m, id)| (m.clone_ref(py), *id)).collect()
        };
        for (m, id) in sources {
            let m = m.get();
            if m.current(py)?.id() != id {
                return Err(raise(
                    "MapValueError",
                    format!(
                        "Map {} was computed from Map {} when it was made, and {}'s values \
                         were written since: make it again from the written Map",
                        built.name(),
                        m.map.name(),
                        m.map.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether written values replaced the first core Map (a Map made without values then
    /// has values).
    pub(crate) fn replaced(&self) -> bool {
        self.state.load(Ordering::Acquire) & REPLACED != 0
    }

    /// The core Map now, without looking at an array that is out.
    fn latest(&self, built: &op2::Map) -> op2::Map {
        if !self.replaced() {
            return built.clone();
        }
        let r = self.replaced.read().unwrap_or_else(|e| e.into_inner());
        r.as_ref().unwrap_or(built).clone()
    }

    /// `Map.values`: the array handed out since the last use, else a new writable copy of
    /// the core values, shape (iterset size, arity), which the next use compares. No Python
    /// runs while `out` is locked (numpy may release the GIL; another thread could then wait
    /// on the lock while holding it).
    pub(crate) fn writable<'py>(
        &self,
        py: Python<'py>,
        built: &op2::Map,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(a) = self.handed_out(py) {
            return Ok(a);
        }
        let arr = copy_of(py, &self.latest(built))?;
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = out.as_ref() {
            return Ok(a.bind(py).clone()); // another thread's, handed out meanwhile
        }
        *out = Some(arr.clone().unbind());
        self.state.fetch_or(OUT, Ordering::AcqRel);
        Ok(arr)
    }

    fn handed_out<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.as_ref().map(|a| a.bind(py).clone())
    }

    /// The use after `values` was taken: compare the array out with the core values, replace
    /// the core Map when they differ (or the Map had no values), then freeze the array. An
    /// invalid array stays out and writable, so every use raises until it is corrected. The
    /// array stays in `out` until frozen, so `values` meanwhile hands out the same one.
    fn sync(&self, py: Python<'_>, built: &op2::Map, blank: bool) -> PyResult<()> {
        let Some(arr) = self.handed_out(py) else {
            return Ok(());
        };
        let core = self.latest(built);
        let bytes = crate::data::contiguous(py, &arr, "int32")?;
        let vals: Vec<i32> = bytemuck::pod_collect_to_vec(&bytes);
        if vals.as_slice() != core.values() || (blank && !self.replaced()) {
            let new = rebuilt(&core, vals)?;
            *self.replaced.write().unwrap_or_else(|e| e.into_inner()) = Some(new);
            self.state.fetch_or(REPLACED, Ordering::AcqRel);
        }
        freeze(&arr)?;
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if out.as_ref().is_some_and(|a| a.is(&arr)) {
            *out = None;
            self.state.fetch_and(!OUT, Ordering::AcqRel);
        }
        Ok(())
    }
}

/// A writable numpy copy of `map`'s values, shape (iterset size, arity).
pub(crate) fn copy_of<'py>(py: Python<'py>, map: &op2::Map) -> PyResult<Bound<'py, PyAny>> {
    let np = py.import("numpy")?;
    let bytes = pyo3::types::PyBytes::new(py, bytemuck::cast_slice(map.values()));
    let arr = np
        .call_method1("frombuffer", (bytes, "int32"))?
        .call_method0("copy")?;
    arr.call_method1("reshape", ((map.from_set().size(), map.arity()),))
}

/// A read-only numpy copy of `map`'s values, shape (iterset size, arity).
pub(crate) fn read_only<'py>(py: Python<'py>, map: &op2::Map) -> PyResult<Bound<'py, PyAny>> {
    let arr = copy_of(py, map)?;
    freeze(&arr)?;
    Ok(arr)
}

/// Make numpy array `arr` read-only.
fn freeze(arr: &Bound<'_, PyAny>) -> PyResult<()> {
    let kw = pyo3::types::PyDict::new(arr.py());
    kw.set_item("write", false)?;
    arr.call_method("setflags", (), Some(&kw))?;
    Ok(())
}

/// A core Map like `core` with `vals`, checked as the Map constructor checks them.
fn rebuilt(core: &op2::Map, vals: Vec<i32>) -> PyResult<op2::Map> {
    let name = core.name();
    let want = core.from_set().size() * core.arity();
    if vals.len() != want {
        return Err(raise(
            "MapValueError",
            format!(
                "Map {name}: values hold {} entries, expected {want}",
                vals.len()
            ),
        ));
    }
    in_range(name, &vals, core.to_set())?;
    op2::Map::named(name, core.from_set(), core.to_set(), core.arity(), vals).map_err(to_py)
}

/// PyOP2's MapValueError for a value past the target set `to` (owned and halo elements);
/// negative values mean "no entry", as in PyOP2.
pub(crate) fn in_range(name: &str, vals: &[i32], to: &op2::Set) -> PyResult<()> {
    let total = to.total_size() as i64;
    match vals.iter().find(|&&v| v >= 0 && (v as i64) >= total) {
        Some(bad) => Err(raise(
            "MapValueError",
            format!("Map {name}: value {bad} is outside the target set [0, {total})"),
        )),
        None => Ok(()),
    }
}
