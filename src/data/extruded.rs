//! Extruded sets and maps (PyOP2's `ExtrudedSet` and `Map(..., offset=...)`): a base Set of
//! columns, each column a stack of layers, and maps whose values advance by a per-entry offset
//! from one layer to the next.
//!
//! Owns the layer structure (a constant layer count, or PyOP2's per-column `[start, stop]`
//! array), the column layout of Dats on extruded sets and the validation of extruded maps. The
//! base Set is partitioned like any Set, so columns are never split across ranks: a Dat on an
//! extruded set is an ordinary Dat on the base set whose DataSet dim holds a whole column
//! (`entries * dim` values, column-major as PyOP2: column `c`, entry `e`, component `j` at
//! `(c * entries + e) * dim + j`), and its halo exchange moves whole columns. It never
//! generates code or runs loops (`jit/extrude.rs` and `exec/extruded.rs` do).
//!
//! Layers count as PyOP2 counts them: `layers` is the number of *vertex* layers, a column has
//! `layers - 1` cells. With variable layers a column `c` has vertex layers `[start_c, stop_c)`
//! and its storage is padded to the largest `stop` on any rank (entries are indexed by absolute
//! layer, so a vertex column shared by cells with different bottoms is one column).

use std::sync::Arc;

use crate::data::dat::{Dat, Global};
use crate::data::dataset::DataSet;
use crate::data::map::Map;
use crate::data::set::Set;
use crate::data::subset::Subset;
use crate::error::{Error, Result};
use crate::mpi::comm::ReduceOp;

/// PyOP2's iteration regions of an extruded loop: which layers of each column `[start, stop)`
/// (vertex layers) the kernel runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    /// Every cell: layers `start ..= stop - 2` (PyOP2's `ALL`).
    All,
    /// The bottom cell only: layer `start` (`ON_BOTTOM`).
    OnBottom,
    /// The top cell only: layer `stop - 2` (`ON_TOP`).
    OnTop,
    /// Every interior horizontal facet, between cell `l` and `l + 1`: layers
    /// `start ..= stop - 3`; maps give each entry at layer `l` and at `l + 1` (`ON_INTERIOR_FACETS`).
    OnInteriorFacets,
}

impl Region {
    /// PyOP2's name.
    pub fn name(self) -> &'static str {
        match self {
            Region::All => "ALL",
            Region::OnBottom => "ON_BOTTOM",
            Region::OnTop => "ON_TOP",
            Region::OnInteriorFacets => "ON_INTERIOR_FACETS",
        }
    }
}

/// What an extruded Dat holds per column: one entry per vertex layer or one per cell layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    /// `layers` entries per column (vertices, horizontal facets).
    Nodes,
    /// `layers - 1` entries per column (cells, vertical facets).
    Cells,
}

pub(crate) struct ExtrudedInner {
    pub(crate) base: Set,
    /// The largest `stop` (vertex layers of the tallest column, agreed over the ranks).
    pub(crate) layers: usize,
    /// The runtime layer bounds: a READ Global `[0, layers]` (constant) or a Dat of `[start,
    /// stop]` per column (variable).
    pub(crate) bounds: Bounds,
    /// PyOP2's `extruded_periodic`: the top vertex layer is the bottom one.
    pub(crate) periodic: bool,
}

#[derive(Clone)]
pub(crate) enum Bounds {
    Constant(Global),
    Variable(Dat),
}

/// A Set of columns, each a stack of layers (PyOP2's `ExtrudedSet`).
///
/// ```
/// let base = op2::Set::new(3).unwrap();
/// let cells = op2::ExtrudedSet::new(&base, 5).unwrap(); // 5 vertex layers, 4 cells per column
/// assert_eq!(cells.layers(), 5);
/// assert_eq!(cells.entries(op2::Entity::Cells), 4);
/// assert_eq!(cells.dataset(op2::Entity::Nodes, 3).unwrap().dim(), 15);
/// assert!(op2::ExtrudedSet::new(&base, 1).is_err());
/// ```
#[derive(Clone)]
pub struct ExtrudedSet(pub(crate) Arc<ExtrudedInner>);

impl ExtrudedSet {
    /// Columns of `layers` vertex layers (`layers - 1` cells) over every element of `base`.
    pub fn new(base: &Set, layers: usize) -> Result<ExtrudedSet> {
        ExtrudedSet::constant(base, layers, false)
    }

    fn constant(base: &Set, layers: usize, periodic: bool) -> Result<ExtrudedSet> {
        if layers < 2 || layers > i32::MAX as usize {
            return Err(Error::invalid(
                format!("ExtrudedSet::new({})", base.name()),
                format!("{layers} layers: a column needs at least 2 vertex layers (1 cell)"),
            ));
        }
        let g = Global::named("layers", vec![0i32, layers as i32])?;
        Ok(ExtrudedSet(Arc::new(ExtrudedInner {
            base: base.clone(),
            layers,
            bounds: Bounds::Constant(g),
            periodic,
        })))
    }

    /// Periodic columns (PyOP2's `ExtrudedSet(base, layers, extruded_periodic=True)`): as
    /// many cells per column as [`ExtrudedSet::new`], but the top vertex layer is the bottom
    /// one, so a column holds `layers - 1` vertex entries, map entries wrap around the column
    /// (entry `(shift + l * offset) mod ((layers - 1) * offset)`: PyOP2's `offset_quotient` is
    /// `shift / offset`) and `ON_INTERIOR_FACETS` includes the facet between the top cell and
    /// the bottom one.
    pub fn periodic(base: &Set, layers: usize) -> Result<ExtrudedSet> {
        ExtrudedSet::constant(base, layers, true)
    }

    /// Whether columns wrap around ([`ExtrudedSet::periodic`]).
    pub fn is_periodic(&self) -> bool {
        self.0.periodic
    }

    /// Variable layers (PyOP2's `layers` array): column `c` (an owned element of `base`) spans
    /// vertex layers `[layers[c][0], layers[c][1])`, `0 <= start <= stop`. Collective over the
    /// base set's communicator (the padding, the largest `stop`, is agreed); a rank given a
    /// bad array fails on every rank.
    pub fn variable(base: &Set, layers: &[[i32; 2]]) -> Result<ExtrudedSet> {
        let what = format!("ExtrudedSet::variable({})", base.name());
        let mut bad = String::new();
        if layers.len() != base.size() {
            bad = format!(
                "{} columns given for {} owned elements",
                layers.len(),
                base.size()
            );
        } else if let Some((c, l)) = layers
            .iter()
            .enumerate()
            .find(|(_, l)| l[0] < 0 || l[1] < l[0])
        {
            bad = format!(
                "column {c} has layers [{}, {}): need 0 <= start <= stop",
                l[0], l[1]
            );
        }
        let top = layers.iter().map(|l| l[1]).max().unwrap_or(0).max(2) as f64;
        let agreed = base.comm().allreduce(
            &[top, if bad.is_empty() { 0.0 } else { 1.0 }],
            ReduceOp::Max,
        )?;
        if !bad.is_empty() {
            return Err(Error::invalid(what, bad));
        }
        if agreed[1] != 0.0 {
            return Err(Error::invalid(
                what,
                "another rank was given a bad layers array",
            ));
        }
        let ds = DataSet::new(base, 2)?;
        let flat: Vec<i32> = layers.iter().flat_map(|l| [l[0], l[1]]).collect();
        let d = Dat::named("layers", &ds, flat)?;
        Ok(ExtrudedSet(Arc::new(ExtrudedInner {
            base: base.clone(),
            layers: agreed[0] as usize,
            bounds: Bounds::Variable(d),
            periodic: false,
        })))
    }

    /// The base Set (the columns).
    pub fn base(&self) -> &Set {
        &self.0.base
    }

    /// Vertex layers of the tallest column (PyOP2's `layers`; the padding with variable layers).
    pub fn layers(&self) -> usize {
        self.0.layers
    }

    /// Whether each column has its own `[start, stop)` (PyOP2's `constant_layers` is the opposite).
    pub fn is_variable(&self) -> bool {
        matches!(self.0.bounds, Bounds::Variable(_))
    }

    /// Entries per column of a Dat holding `entity` values.
    pub fn entries(&self, entity: Entity) -> usize {
        match entity {
            Entity::Nodes if !self.0.periodic => self.0.layers,
            _ => self.0.layers - 1,
        }
    }

    /// The DataSet of a Dat on this extruded set: `dim` values per `entity` of every column,
    /// i.e. a DataSet on the base set of dim `entries(entity) * dim` (cached like every
    /// DataSet: the same object for the same base set and column size).
    pub fn dataset(&self, entity: Entity, dim: usize) -> Result<DataSet> {
        DataSet::new(&self.0.base, self.entries(entity) * dim)
    }

    /// Identity.
    pub fn ptr_eq(&self, other: &ExtrudedSet) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Some columns of an [`ExtrudedSet`] (PyOP2's `Subset(extruded_set, indices)`): an extruded
/// loop over it ([`par_loop_extruded`](crate::par_loop_extruded)) runs every layer of the
/// chosen columns only, with the arguments of the superset (its extruded maps, layer Dats,
/// base-set Dats and its layer bounds, read at the chosen column). It is the [`Subset`] of the
/// base set (the columns) beside its ExtrudedSet; loops visit its owned columns only.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # std::env::set_var("OP2_CACHE_DIR", dir.path());
/// use op2::{par_loop_extruded, Access, Dat, Entity, ExtrudedSet, Kernel, Region, Set};
/// let base = Set::new(4).unwrap();
/// let xset = ExtrudedSet::new(&base, 3).unwrap(); // 2 cells per column
/// let some = xset.subset(&[1, 3]).unwrap();
/// let d = Dat::new(&xset.dataset(Entity::Cells, 1).unwrap(), vec![0.0f64; 8]).unwrap();
/// let one = Kernel::new("one", "void one(double *x) { x[0] = 1.0; }").unwrap();
/// par_loop_extruded(&one, &some, Region::All, &[d.arg_layer(Access::Write)]).unwrap();
/// assert_eq!(d.to_vec::<f64>().unwrap(), [0., 0., 1., 1., 0., 0., 1., 1.]);
/// assert!(xset.subset(&[4]).is_err()); // no such column
/// ```
#[derive(Clone)]
pub struct ExtrudedSubset {
    superset: ExtrudedSet,
    columns: Subset,
}

impl ExtrudedSet {
    /// The columns `columns` of this set (local indices into the base set: sorted, unique,
    /// below its `total_size`), as [`Set::subset`] takes them. Collective like it: a bad list
    /// on any rank fails on every rank.
    pub fn subset(&self, columns: &[usize]) -> Result<ExtrudedSubset> {
        Ok(ExtrudedSubset {
            superset: self.clone(),
            columns: self.base().subset(columns)?,
        })
    }
}

impl ExtrudedSubset {
    /// The ExtrudedSet whose columns this subset chooses.
    pub fn superset(&self) -> &ExtrudedSet {
        &self.superset
    }

    /// The chosen columns: the Subset of the superset's base set.
    pub fn columns(&self) -> &Subset {
        &self.columns
    }

    /// The chosen local columns, sorted (owned first, then halo).
    pub fn indices(&self) -> &[i32] {
        self.columns.indices()
    }

    /// The columns at `positions` of this subset, a subset of the same ExtrudedSet
    /// (collective, as [`ExtrudedSet::subset`]).
    pub fn subset(&self, positions: &[usize]) -> Result<ExtrudedSubset> {
        Ok(ExtrudedSubset {
            superset: self.superset.clone(),
            columns: self.columns.subset(positions)?,
        })
    }
}

pub(crate) struct ExtrudedMapInner {
    pub(crate) from: ExtrudedSet,
    pub(crate) base: Map,
    /// Per extruded entry: (base map entry, shift within the target column, offset per layer).
    pub(crate) entries: Vec<(u32, i32, i32)>,
    pub(crate) to: Entity,
    /// A map into a plain set ([`ExtrudedMap::flat`], `data/extruded_flat.rs`): per column and
    /// entry, the shift of its value inside the block its base entry points at.
    pub(crate) shifts: Option<Dat>,
}

/// A map from an extruded set to the columns of another: PyOP2's extruded `Map` with its
/// `offset` (or, [`ExtrudedMap::flat`], into a plain set as PyOP2 numbers it). Entry `k` at layer `l` names entry `shift[k] + l * offset[k]` of the column
/// `base[c][b_k]` (the base map's entry `b_k` for column `c`). A prism's six vertices are the
/// base triangle's three at shift 0 (bottom) then at shift 1 (top), each with offset 1
/// ([`ExtrudedMap::prism`]).
#[derive(Clone)]
pub struct ExtrudedMap(pub(crate) Arc<ExtrudedMapInner>);

impl ExtrudedMap {
    /// `entries[k] = (b_k, shift_k)`, `offset[k]`; the target holds `to` entries per column
    /// (`from.entries(to)`). Every entry must stay inside the target column on every layer of
    /// every region: `0 <= shift_k`, `0 <= offset_k`, `shift_k + (layers - 2) * offset_k <
    /// entries`.
    pub fn new(
        from: &ExtrudedSet,
        base: &Map,
        entries: &[(usize, i32)],
        offset: &[i32],
        to: Entity,
    ) -> Result<ExtrudedMap> {
        let what = || format!("ExtrudedMap::new({})", base.name());
        if !base.from_set().ptr_eq(from.base()) {
            return Err(Error::invalid(
                what(),
                format!(
                    "the base map starts at set {}, not at the extruded set's base {}",
                    base.from_set().name(),
                    from.base().name()
                ),
            ));
        }
        base.refuse_negative(what(), None, "an extruded map's columns")?;
        if entries.is_empty() || entries.len() != offset.len() {
            return Err(Error::invalid(
                what(),
                format!(
                    "{} entries and {} offsets: need one offset per entry, at least one",
                    entries.len(),
                    offset.len()
                ),
            ));
        }
        let per_column = from.entries(to) as i64;
        let top = from.layers() as i64 - 2;
        let mut out = Vec::with_capacity(entries.len());
        for (k, (&(b, s), &o)) in entries.iter().zip(offset).enumerate() {
            // The largest entry reached: on a periodic set entries wrap at `cells * offset`.
            let last = match (from.is_periodic(), o) {
                (true, 1..) => (s as i64).max((top + 1) * o as i64 - 1),
                _ => s as i64 + top * o as i64,
            };
            if b >= base.arity() || s < 0 || o < 0 || last >= per_column {
                return Err(Error::invalid(
                    what(),
                    format!(
                        "entry {k} = (base entry {b}, shift {s}, offset {o}): needs base entry < arity {}, shift >= 0, offset >= 0 and shift + {top} * offset < {per_column} entries per target column",
                        base.arity()
                    ),
                ));
            }
            out.push((b as u32, s, o));
        }
        Ok(ExtrudedMap(Arc::new(ExtrudedMapInner {
            from: from.clone(),
            base: base.clone(),
            entries: out,
            to,
            shifts: None,
        })))
    }

    /// Each base entry once, at the current layer (offset 1): cell-to-cell or the bottom
    /// vertex of each base entry.
    pub fn columns(from: &ExtrudedSet, base: &Map, to: Entity) -> Result<ExtrudedMap> {
        let e: Vec<(usize, i32)> = (0..base.arity()).map(|b| (b, 0)).collect();
        ExtrudedMap::new(from, base, &e, &vec![1; e.len()], to)
    }

    /// The vertices of the prism (or hexahedron) over each base cell: the base entries at the
    /// bottom of the cell, then the same at its top; offset 1; the target holds vertex layers.
    pub fn prism(from: &ExtrudedSet, base: &Map) -> Result<ExtrudedMap> {
        let n = base.arity();
        let e: Vec<(usize, i32)> = (0..2 * n).map(|k| (k % n, (k / n) as i32)).collect();
        ExtrudedMap::new(from, base, &e, &vec![1; e.len()], Entity::Nodes)
    }

    /// Number of entries (the kernel sees `arity * dim` values, twice that on interior facets).
    pub fn arity(&self) -> usize {
        self.0.entries.len()
    }

    /// The base map.
    pub fn base(&self) -> &Map {
        &self.0.base
    }

    /// The extruded iteration set.
    pub fn from_set(&self) -> &ExtrudedSet {
        &self.0.from
    }

    /// Per-layer offsets (PyOP2's `offset`).
    pub fn offset(&self) -> Vec<i32> {
        self.0.entries.iter().map(|e| e.2).collect()
    }

    /// What the target Dats hold per column.
    pub fn target(&self) -> Entity {
        self.0.to
    }
}
