//! Maps: connectivity from one Set to another, with identity semantics.
//!
//! Owns validated local-numbered connectivity. Axiom 1 applies as for Sets. A Map never
//! changes after construction, which is what makes caching on it sound.
//!
//! # Negative entries
//! As in PyOP2, a negative value means "no entry" (PyOP2 and PETSc spell it -1; any negative
//! value is accepted and means the same). Only Mat assembly gives them a meaning: Sparsities
//! skip them and a Mat argument adds nothing at a negative row or column (PETSc's
//! `MatSetValues` convention). Every other use of a Map's values must skip them or refuse the
//! Map ([`Map::has_negative`]); a Dat argument through a negative entry is refused at par_loop
//! validation. Mesh specs (`mesh/`) still refuse negative values: partitioning and halo
//! construction never see one.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::cache::object::next_id;
use crate::data::set::Set;
use crate::error::{Error, Result};

pub(crate) struct MapInner {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) from: Set,
    pub(crate) to: Set,
    pub(crate) arity: usize,
    pub(crate) values: Vec<i32>,
    /// Per column (`arity` entries): whether some element's entry there is negative.
    pub(crate) negative: Vec<bool>,
}

/// `arity` entries of the target set for each owned element of the source set.
///
/// ```
/// let edges = op2::Set::new(2).unwrap();
/// let nodes = op2::Set::new(3).unwrap();
/// let e2n = op2::Map::new(&edges, &nodes, 2, vec![0, 1, 1, 2]).unwrap();
/// assert_eq!(e2n.arity(), 2);
/// assert!(op2::Map::new(&edges, &nodes, 2, vec![0, 1, 1, 3]).is_err()); // 3 is out of range
/// // A negative value is "no entry" (PyOP2's -1): accepted, skipped by Mat assembly.
/// let partial = op2::Map::new(&edges, &nodes, 2, vec![0, 1, -1, 2]).unwrap();
/// assert!(partial.has_negative() && partial.has_negative_at(0) && !partial.has_negative_at(1));
/// ```
#[derive(Clone)]
pub struct Map(pub(crate) Arc<MapInner>);

impl Map {
    /// Build a map. `values` holds `arity` local target indices per owned element of `from`
    /// (row-major). Every value must index an element of `to` (owned or halo) or be negative
    /// ("no entry", see the module notes).
    pub fn new(from: &Set, to: &Set, arity: usize, values: Vec<i32>) -> Result<Map> {
        Map::named("map", from, to, arity, values)
    }

    /// Like [`Map::new`], with a name for messages.
    pub fn named(name: &str, from: &Set, to: &Set, arity: usize, values: Vec<i32>) -> Result<Map> {
        let what = || format!("Map::new({name}: {} -> {})", from.name(), to.name());
        if arity == 0 {
            return Err(Error::invalid(what(), "arity must be at least 1"));
        }
        if from.superset().is_some() || to.superset().is_some() {
            return Err(Error::invalid(
                what(),
                "maps join whole sets, not Subsets: build it on the superset (a loop over a \
                 Subset uses the superset's maps at the chosen elements)",
            ));
        }
        let want = from
            .size()
            .checked_mul(arity)
            .ok_or_else(|| Error::invalid(what(), "size * arity overflows"))?;
        if values.len() != want {
            return Err(Error::invalid(
                what(),
                format!(
                    "{} values given, expected {} ({} elements x arity {arity})",
                    values.len(),
                    want,
                    from.size()
                ),
            ));
        }
        if from.comm() != to.comm() {
            return Err(Error::invalid(
                what(),
                "source and target sets live on different communicators",
            ));
        }
        let n = to.total_size();
        if let Some((i, &v)) = values
            .iter()
            .enumerate()
            .find(|(_, &v)| v >= 0 && v as usize >= n)
        {
            return Err(Error::invalid(
                what(),
                format!(
                    "value {v} at element {}, slot {} is outside the target set [0, {n})",
                    i / arity,
                    i % arity
                ),
            ));
        }
        let mut negative = vec![false; arity];
        for (i, &v) in values.iter().enumerate() {
            if v < 0 {
                negative[i % arity] = true;
            }
        }
        Ok(Map(Arc::new(MapInner {
            id: next_id(),
            name: name.to_string(),
            from: from.clone(),
            to: to.clone(),
            arity,
            values,
            negative,
        })))
    }

    /// Source set.
    pub fn from_set(&self) -> &Set {
        &self.0.from
    }
    /// Target set.
    pub fn to_set(&self) -> &Set {
        &self.0.to
    }
    /// Entries per source element.
    pub fn arity(&self) -> usize {
        self.0.arity
    }
    /// Local target indices, `arity` per owned source element.
    pub fn values(&self) -> &[i32] {
        &self.0.values
    }
    /// Whether some entry is negative ("no entry").
    pub fn has_negative(&self) -> bool {
        self.0.negative.iter().any(|&b| b)
    }
    /// Whether some element's entry `idx` is negative (false for `idx >= arity()`).
    pub fn has_negative_at(&self, idx: usize) -> bool {
        self.0.negative.get(idx).copied().unwrap_or(false)
    }
    /// An error for `what` when the entries a use reads (entry `idx`, or all with `None`) hold
    /// a negative value, which `user` (e.g. "Dat x") cannot skip.
    pub(crate) fn refuse_negative(
        &self,
        what: String,
        idx: Option<usize>,
        user: &str,
    ) -> Result<()> {
        let neg = idx.map_or(self.has_negative(), |i| self.has_negative_at(i));
        if !neg {
            return Ok(());
        }
        let at = idx.map_or(String::new(), |i| format!(" at entry {i}"));
        Err(Error::invalid(
            what,
            format!(
                "map {} has negative (\"no entry\") values{at}: {user} cannot be reached through \
                 them (only Mat assembly skips negative entries)",
                self.name()
            ),
        ))
    }
    /// Name given at creation.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// Process-unique identity.
    pub fn id(&self) -> u64 {
        self.0.id
    }
    /// Identity comparison.
    pub fn ptr_eq(&self, other: &Map) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.ptr_eq(other)
    }
}
impl Eq for Map {}
impl Hash for Map {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.id.hash(h)
    }
}
impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Map({}#{}: {:?} -> {:?}, arity {})",
            self.0.name, self.0.id, self.0.from, self.0.to, self.0.arity
        )
    }
}
