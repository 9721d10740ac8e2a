//! The global mesh description: a whole mesh in global numbering (sets, maps, coordinates,
//! an optional user partition), as rank 0 builds it for [`crate::mesh::distribute()`], and its
//! validation. Its parts (`GSet`, `GMap`, `GCoords`) are also those of a rank's
//! [`crate::mesh::MeshBlock`].

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::data::set::MAX_SET_SIZE;
use crate::error::{Error, Result};
use crate::mesh::partition::{self, Partitioner};

const WHAT: &str = "distribute";

/// A whole mesh in global numbering, built on rank 0 and handed to [`crate::distribute()`].
///
/// Builder style; nothing is checked until [`GlobalMesh::validate`] or [`crate::distribute()`] (which
/// validates on rank 0 and reports any problem on every rank).
///
/// ```
/// // Two triangles sharing an edge.
/// let mesh = op2::GlobalMesh::new()
///     .add_set("nodes", 4)
///     .add_set("cells", 2)
///     .add_map("cell_nodes", "cells", "nodes", 3, vec![0, 1, 2, 1, 3, 2])
///     .coordinates("nodes", 2, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
/// assert!(mesh.validate().is_ok());
/// let bad = op2::GlobalMesh::new().add_set("nodes", 4).add_set("cells", 1)
///     .add_map("cell_nodes", "cells", "nodes", 3, vec![0, 1, 4]);
/// assert!(bad.validate().unwrap_err().to_string().contains("value 4"));
/// ```
#[derive(Clone, Default)]
pub struct GlobalMesh {
    pub(crate) sets: Vec<GSet>,
    pub(crate) maps: Vec<GMap>,
    pub(crate) coords: Option<GCoords>,
    pub(crate) owners: Option<(String, Vec<i32>)>,
    pub(crate) partitioner: Partitioner,
}

#[derive(Clone)]
pub(crate) struct GSet {
    pub(crate) name: String,
    pub(crate) size: usize,
}

#[derive(Clone)]
pub(crate) struct GMap {
    pub(crate) name: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) arity: usize,
    pub(crate) values: Vec<i32>,
}

#[derive(Clone)]
pub(crate) struct GCoords {
    pub(crate) set: String,
    pub(crate) dim: usize,
    pub(crate) values: Vec<f64>,
}

impl std::fmt::Debug for GlobalMesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sets: Vec<_> = self
            .sets
            .iter()
            .map(|s| format!("{}[{}]", s.name, s.size))
            .collect();
        let maps: Vec<_> = self
            .maps
            .iter()
            .map(|m| format!("{}: {} -> {} x{}", m.name, m.from, m.to, m.arity))
            .collect();
        f.debug_struct("GlobalMesh")
            .field("sets", &sets)
            .field("maps", &maps)
            .field(
                "coordinates",
                &self
                    .coords
                    .as_ref()
                    .map(|c| format!("{} (dim {})", c.set, c.dim)),
            )
            .finish()
    }
}

impl GlobalMesh {
    /// An empty mesh.
    ///
    /// ```
    /// assert!(op2::GlobalMesh::new().validate().is_ok());
    /// ```
    pub fn new() -> GlobalMesh {
        GlobalMesh::default()
    }

    /// Add a set of `size` elements, numbered `0..size` (its global numbering).
    ///
    /// ```
    /// let m = op2::GlobalMesh::new().add_set("nodes", 10);
    /// assert!(m.validate().is_ok());
    /// ```
    pub fn add_set(mut self, name: &str, size: usize) -> Self {
        self.sets.push(GSet {
            name: name.to_string(),
            size,
        });
        self
    }

    /// Add a map `from -> to` (set names): `arity` global target numbers per element of
    /// `from`, row-major.
    ///
    /// ```
    /// let m = op2::GlobalMesh::new().add_set("a", 2).add_set("b", 3)
    ///     .add_map("a2b", "a", "b", 2, vec![0, 1, 1, 2]);
    /// assert!(m.validate().is_ok());
    /// ```
    pub fn add_map(
        mut self,
        name: &str,
        from: &str,
        to: &str,
        arity: usize,
        values: Vec<i32>,
    ) -> Self {
        self.maps.push(GMap {
            name: name.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            arity,
            values,
        });
        self
    }

    /// Coordinates (`dim` = 1, 2 or 3 values per element) of one set, used to partition it by
    /// recursive coordinate bisection; every other set gets its owners through maps (see
    /// [`crate::mesh::partition`]). Without coordinates the first set added is partitioned into
    /// blocks by index. A second call replaces the first.
    ///
    /// ```
    /// let m = op2::GlobalMesh::new().add_set("nodes", 2)
    ///     .coordinates("nodes", 2, vec![0.0, 0.0, 1.0, 0.0]);
    /// assert!(m.validate().is_ok());
    /// assert!(m.coordinates("nodes", 4, vec![0.0; 8]).validate().is_err()); // dim 4
    /// ```
    pub fn coordinates(mut self, set: &str, dim: usize, values: Vec<f64>) -> Self {
        self.coords = Some(GCoords {
            set: set.to_string(),
            dim,
            values,
        });
        self
    }

    /// A user partition: the owner rank of every element of `set` (from METIS, ParMETIS,
    /// PT-Scotch or a mesh generator). The other sets get their owners through maps, as for a
    /// partitioner's result ([`crate::mesh::partition`]'s rules). Overrides the partitioner.
    /// Owners are checked against the communicator's size at [`crate::distribute()`].
    ///
    /// ```
    /// let m = op2::GlobalMesh::new().add_set("cells", 3).owners("cells", vec![0, 0, 0]);
    /// let d = op2::distribute(op2::Comm::serial(), Some(m)).unwrap();
    /// assert_eq!(d.set("cells").unwrap().size(), 3);
    /// let bad = op2::GlobalMesh::new().add_set("cells", 2).owners("cells", vec![0, 1]);
    /// assert!(op2::distribute(op2::Comm::serial(), Some(bad)).is_err()); // no rank 1
    /// ```
    pub fn owners(mut self, set: &str, owners: Vec<i32>) -> Self {
        self.owners = Some((set.to_string(), owners));
        self
    }

    /// The partitioner used when no owners are given (default [`Partitioner::Rcb`]).
    ///
    /// ```
    /// use op2::mesh::Partitioner;
    /// let m = op2::GlobalMesh::new().add_set("a", 4).partitioner(Partitioner::Block);
    /// assert!(op2::distribute(op2::Comm::serial(), Some(m)).is_ok());
    /// ```
    pub fn partitioner(mut self, p: Partitioner) -> Self {
        self.partitioner = p;
        self
    }

    /// Check names, sizes, map lengths and ranges, and coordinates; the error names the
    /// offending set/map and element.
    ///
    /// ```
    /// let m = op2::GlobalMesh::new().add_set("a", 2).add_set("a", 3);
    /// assert!(m.validate().unwrap_err().to_string().contains("duplicate set name `a`"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.check().map(|_| ())
    }

    /// Validate; returns (from, to) set indices of every map.
    pub(crate) fn check(&self) -> Result<Vec<(usize, usize)>> {
        let part = Part {
            range: &|n| 0..n,
            whose: String::new(),
            ctx: WHAT,
            nranks: i32::MAX as usize,
        };
        check_parts(&self.parts(), &part)
    }

    /// The mesh's parts, as the checker sees them.
    fn parts(&self) -> Parts<'_> {
        Parts {
            sets: &self.sets,
            maps: &self.maps,
            coords: self.coords.as_ref(),
            owners: self.owners.as_ref(),
        }
    }

    pub(crate) fn set_index(&self, name: &str) -> Option<usize> {
        self.sets.iter().position(|s| s.name == name)
    }
}

/// The parts of a mesh or of a rank's block, for [`check_parts`].
pub(crate) struct Parts<'a> {
    pub(crate) sets: &'a [GSet],
    pub(crate) maps: &'a [GMap],
    pub(crate) coords: Option<&'a GCoords>,
    pub(crate) owners: Option<&'a (String, Vec<i32>)>,
}

/// What a checker sees of each set: the whole (rank 0's [`GlobalMesh`]), or one rank's block.
pub(crate) struct Part<'a> {
    /// Global numbers of the elements seen of a set of `n`.
    pub(crate) range: &'a dyn Fn(usize) -> Range<usize>,
    /// Who is checked, for messages (`""` or ` in rank R's block`).
    pub(crate) whose: String,
    /// The errors' context.
    pub(crate) ctx: &'static str,
    /// Owners must be below this.
    pub(crate) nranks: usize,
}

/// Check names, sizes, map lengths and ranges, coordinates and owners of `parts` (the whole
/// mesh, or one rank's block: lengths are those of the block's elements, element numbers
/// global); returns (from, to) set indices of every map. The error names the offending
/// set/map and element. Owners are checked against `part.nranks` (for the whole mesh,
/// [`crate::distribute()`] checks them against the communicator).
pub(crate) fn check_parts(parts: &Parts, part: &Part) -> Result<Vec<(usize, usize)>> {
    let (whose, ctx) = (&part.whose, part.ctx);
    let err = |d: String| Error::invalid(ctx, d);
    let sets = parts.sets;
    let mut idx = HashMap::new();
    for (i, s) in sets.iter().enumerate() {
        if s.name.is_empty() {
            return Err(err(format!("set {i} has an empty name")));
        }
        if idx.insert(s.name.as_str(), i).is_some() {
            return Err(err(format!("duplicate set name `{}`", s.name)));
        }
        if s.size > MAX_SET_SIZE {
            return Err(err(format!(
                "set `{}` has {} elements, more than the maximum {MAX_SET_SIZE}",
                s.name, s.size
            )));
        }
    }
    let find = |n: &str, what: &str| {
        idx.get(n)
            .copied()
            .ok_or_else(|| err(format!("{what}: no set named `{n}`")))
    };
    let mut names = HashSet::new();
    let mut ends = Vec::with_capacity(parts.maps.len());
    for m in parts.maps {
        let what = format!("map `{}` ({} -> {})", m.name, m.from, m.to);
        if m.name.is_empty() {
            return Err(err(format!("{what} has an empty name")));
        }
        if !names.insert(m.name.as_str()) {
            return Err(err(format!("duplicate map name `{}`", m.name)));
        }
        let (f, t) = (find(&m.from, &what)?, find(&m.to, &what)?);
        if m.arity == 0 {
            return Err(err(format!("{what}: arity must be at least 1")));
        }
        let rows = (part.range)(sets[f].size);
        let want = rows
            .len()
            .checked_mul(m.arity)
            .ok_or_else(|| err(format!("{what}: size x arity overflows")))?;
        if m.values.len() != want {
            return Err(err(format!(
                "{what}: {} values given{whose}, expected {want} ({} elements x arity {})",
                m.values.len(),
                rows.len(),
                m.arity
            )));
        }
        let n = sets[t].size;
        if let Some(i) = partition::first_where(&m.values, |&v| v < 0 || v as usize >= n) {
            return Err(err(format!(
                "{what}: value {} at element {}, slot {} is outside the target set `{}` [0, {n})",
                m.values[i],
                rows.start + i / m.arity,
                i % m.arity,
                m.to
            )));
        }
        ends.push((f, t));
    }
    if let Some(c) = parts.coords {
        let what = format!("coordinates of `{}`", c.set);
        let s = find(&c.set, &what)?;
        if !(1..=3).contains(&c.dim) {
            return Err(err(format!("{what}: dim {} (must be 1, 2 or 3)", c.dim)));
        }
        let rows = (part.range)(sets[s].size);
        if c.values.len() != rows.len() * c.dim {
            return Err(err(format!(
                "{what}: {} values given{whose}, expected {} ({} elements x dim {})",
                c.values.len(),
                rows.len() * c.dim,
                rows.len(),
                c.dim
            )));
        }
        if let Some(i) = partition::first_where(&c.values, |v| !v.is_finite()) {
            return Err(err(format!(
                "{what}: coordinate {} of element {} is {} (must be finite)",
                i % c.dim,
                rows.start + i / c.dim,
                c.values[i]
            )));
        }
    }
    if let Some((set, own)) = parts.owners {
        let s = find(set, "owners")?;
        let what = format!("{ctx}: owners of `{set}`{whose}");
        partition::check_owners(&what, own, (part.range)(sets[s].size).len(), part.nranks)?;
    }
    Ok(ends)
}
