//! Mixed objects: PyOP2's `MixedSet`, `MixedDataSet`, `MixedMap` and `MixedDat`, tuples of
//! ordinary Sets, DataSets, Maps and Dats with PyOP2's identity and caching rules.
//!
//! Owns the tuples, their object-cache entries and the per-block operations on mixed data
//! (zero, values, halo refresh). It never runs a loop and never generates code: a mixed
//! argument is expanded into one ordinary argument per block before validation and code
//! generation (`exec/mixedarg.rs`), so the generated code, the plans and the halo exchanges only
//! ever see ordinary Dats, Maps and Mats.
//!
//! # Caching (PyOP2's `ObjectCached`, `tests/pyop2/test_caching.py` `TestObjectCaching`)
//! * `MixedSet::new(&[a, b])` twice is one object; `[b, a]` is another; `[a, a]` is allowed.
//!   Cached on the first set, keyed by the ids of the sets in order.
//! * `MixedDataSet` is cached on the first component's set, keyed by the ids of its DataSets in
//!   order: built from sets (dim 1), from a MixedSet and dims, or from DataSets, the same
//!   DataSets give the same object.
//! * `MixedMap` is cached on the maps' common iteration set, keyed by the ids of its maps in
//!   order (PyOP2 caches it on the first map; op2's Maps carry no object cache, so an entry
//!   whose maps were dropped stays until the iteration set is freed, as for Sparsities).
//! * `MixedDat` is not cached, as in PyOP2 (a new container each time); two MixedDats are
//!   equal iff their Dats are the same objects in the same order.
//!
//! Entries hold only a fresh id (never a handle on a component: that would be a cycle
//! `Set -> cache -> entry -> Set`); the handle holds the entry and its components, so an entry
//! lives while any handle does and is freed with its owner set.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::cache::object::{next_id, Entry};
use crate::data::dat::{update_halo, Dat};
use crate::data::dataset::DataSet;
use crate::data::map::Map;
use crate::data::set::Set;
use crate::dtype::{DType, Scalar};
use crate::error::{Error, Result};

/// Cache name of MixedSets in reports.
pub const MIXED_SET_CACHE: &str = "object:MixedSet";
/// Cache name of MixedDataSets in reports.
pub const MIXED_DATASET_CACHE: &str = "object:MixedDataSet";
/// Cache name of MixedMaps in reports.
pub const MIXED_MAP_CACHE: &str = "object:MixedMap";

/// What a mixed object's cache entry holds: its identity only.
pub(crate) struct MixedId(pub(crate) u64);

/// Find or make the entry of a mixed object of kind `kind` on `owner`'s cache, keyed by the
/// kind, the number of words and `ids` (component identities and metadata, in order).
pub(crate) fn cached(owner: &Set, kind: &'static str, ids: &[u64]) -> Result<Arc<Entry<MixedId>>> {
    let mut key = Vec::with_capacity(ids.len() + 2);
    // A hash of the kind's name tags the key, so kinds never share an entry.
    key.push(kind.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }));
    key.push(ids.len() as u64);
    key.extend_from_slice(ids);
    let bytes = (std::mem::size_of::<MixedId>() + 8 * key.len()) as u64;
    owner
        .cache()
        .get_or_try_insert(kind, key, |_| Ok((MixedId(next_id()), bytes)))
}

fn nonempty<T>(what: &str, v: &[T]) -> Result<()> {
    if v.is_empty() {
        return Err(Error::invalid(what, "at least one component is required"));
    }
    Ok(())
}

/// The components' sets must share one communicator (PyOP2's `single_valued(s.comm ...)`).
fn one_comm<'a>(what: &str, mut sets: impl Iterator<Item = &'a Set>) -> Result<()> {
    let Some(first) = sets.next() else {
        return Ok(());
    };
    match sets.find(|s| s.comm() != first.comm()) {
        Some(s) => Err(Error::invalid(
            what,
            format!(
                "set {} lives on another communicator than {}",
                s.name(),
                first.name()
            ),
        )),
        None => Ok(()),
    }
}

/// The accessors, equality, hashing and `Debug` that every cached mixed handle shares: its
/// components (`$field`, of `$comp`) and the identity of its cache entry.
macro_rules! mixed_handle {
    ($t:ident, $field:ident, $comp:ty) => {
        impl $t {
            /// The components, in order (PyOP2's `split`).
            pub fn split(&self) -> &[$comp] {
                &self.$field
            }
            /// Number of components.
            pub fn len(&self) -> usize {
                self.$field.len()
            }
            /// Never true (a mixed object has at least one component).
            pub fn is_empty(&self) -> bool {
                self.$field.is_empty()
            }
            /// Process-unique identity of the cached object.
            pub fn id(&self) -> u64 {
                self.entry.0
            }
            /// Identity comparison (PyOP2's `is`).
            pub fn ptr_eq(&self, other: &$t) -> bool {
                Arc::ptr_eq(&self.entry, &other.entry)
            }
            /// A weak handle, to observe that the cached object is freed with its owner.
            pub fn downgrade(&self) -> WeakMixed {
                WeakMixed(Arc::downgrade(&self.entry))
            }
        }
        impl PartialEq for $t {
            fn eq(&self, other: &$t) -> bool {
                self.ptr_eq(other)
            }
        }
        impl Eq for $t {}
        impl Hash for $t {
            fn hash<H: Hasher>(&self, h: &mut H) {
                self.entry.0.hash(h)
            }
        }
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}#{}{:?}", stringify!($t), self.entry.0, self.$field)
            }
        }
    };
}

/// PyOP2's `MixedSet`: a tuple of Sets (the row and column space of a mixed function space).
///
/// ```
/// let (a, b) = (op2::Set::new(2).unwrap(), op2::Set::new(3).unwrap());
/// let ms = op2::MixedSet::new(&[a.clone(), b.clone()]).unwrap();
/// assert_eq!(ms, op2::MixedSet::new(&[a.clone(), b.clone()]).unwrap()); // `ms is ms2`
/// assert_ne!(ms, op2::MixedSet::new(&[b, a]).unwrap());                 // order matters
/// assert_eq!(ms.size(), 5);
/// ```
#[derive(Clone)]
pub struct MixedSet {
    entry: Arc<Entry<MixedId>>,
    sets: Arc<[Set]>,
}

impl MixedSet {
    /// The MixedSet of `sets` (in this order, repetitions allowed), cached on `sets[0]`.
    pub fn new(sets: &[Set]) -> Result<MixedSet> {
        nonempty("MixedSet::new", sets)?;
        one_comm("MixedSet::new", sets.iter())?;
        let ids: Vec<u64> = sets.iter().map(Set::id).collect();
        Ok(MixedSet {
            entry: cached(&sets[0], MIXED_SET_CACHE, &ids)?,
            sets: sets.into(),
        })
    }
    /// Owned elements, summed over the components (PyOP2's `size`).
    pub fn size(&self) -> usize {
        self.sets.iter().map(Set::size).sum()
    }
    /// Owned plus halo elements, summed over the components.
    pub fn total_size(&self) -> usize {
        self.sets.iter().map(Set::total_size).sum()
    }
}
mixed_handle!(MixedSet, sets, Set);

/// PyOP2's `MixedDataSet`: a tuple of DataSets, one per component of a MixedSet.
///
/// ```
/// let (a, b) = (op2::Set::new(2).unwrap(), op2::Set::new(3).unwrap());
/// let ms = op2::MixedSet::new(&[a.clone(), b.clone()]).unwrap();
/// let mds = op2::MixedDataSet::from_mixed_set(&ms, &[1, 2]).unwrap();
/// let same = op2::MixedDataSet::new(&[op2::DataSet::new(&a, 1).unwrap(), op2::DataSet::new(&b, 2).unwrap()]).unwrap();
/// assert_eq!(mds, same);
/// assert_eq!(mds.set(), ms);
/// ```
#[derive(Clone)]
pub struct MixedDataSet {
    entry: Arc<Entry<MixedId>>,
    dsets: Arc<[DataSet]>,
}

impl MixedDataSet {
    /// The MixedDataSet of `dsets` (in order), cached on the first one's set.
    pub fn new(dsets: &[DataSet]) -> Result<MixedDataSet> {
        nonempty("MixedDataSet::new", dsets)?;
        one_comm("MixedDataSet::new", dsets.iter().map(DataSet::set))?;
        let ids: Vec<u64> = dsets.iter().map(DataSet::id).collect();
        Ok(MixedDataSet {
            entry: cached(dsets[0].set(), MIXED_DATASET_CACHE, &ids)?,
            dsets: dsets.into(),
        })
    }
    /// The MixedDataSet of `sets` with dim 1 each (PyOP2's `MixedDataSet([s1, s2])`).
    pub fn from_sets(sets: &[Set]) -> Result<MixedDataSet> {
        let ds: Result<Vec<DataSet>> = sets.iter().map(|s| DataSet::new(s, 1)).collect();
        MixedDataSet::new(&ds?)
    }
    /// The MixedDataSet of a MixedSet with `dims[i]` values per element of component `i`
    /// (PyOP2's `mset ** dims`; one dim applies to every component).
    pub fn from_mixed_set(ms: &MixedSet, dims: &[usize]) -> Result<MixedDataSet> {
        if dims.len() != 1 && dims.len() != ms.len() {
            return Err(Error::invalid(
                "MixedDataSet::from_mixed_set",
                format!("{} dims given for {} sets", dims.len(), ms.len()),
            ));
        }
        let ds: Result<Vec<DataSet>> = ms
            .split()
            .iter()
            .enumerate()
            .map(|(i, s)| DataSet::new(s, dims[i.min(dims.len() - 1)]))
            .collect();
        MixedDataSet::new(&ds?)
    }
    /// The MixedSet of the components' sets (a cache hit after the first call).
    pub fn set(&self) -> MixedSet {
        let sets: Vec<Set> = self.dsets.iter().map(|d| d.set().clone()).collect();
        MixedSet::new(&sets).expect("MixedDataSet::new checked that the sets share a communicator")
    }
    /// Per-component dims.
    pub fn dims(&self) -> Vec<usize> {
        self.dsets.iter().map(DataSet::dim).collect()
    }
}
mixed_handle!(MixedDataSet, dsets, DataSet);

/// PyOP2's `MixedMap`: a tuple of Maps from one iteration set into the components of a
/// MixedSet.
///
/// ```
/// let cells = op2::Set::new(1).unwrap();
/// let (a, b) = (op2::Set::new(2).unwrap(), op2::Set::new(1).unwrap());
/// let ma = op2::Map::new(&cells, &a, 2, vec![0, 1]).unwrap();
/// let mb = op2::Map::new(&cells, &b, 1, vec![0]).unwrap();
/// let mm = op2::MixedMap::new(&[ma.clone(), mb.clone()]).unwrap();
/// assert_eq!(mm, op2::MixedMap::new(&[ma.clone(), mb.clone()]).unwrap());
/// assert_ne!(mm, op2::MixedMap::new(&[mb, ma]).unwrap());
/// assert_eq!(mm.arity(), 3);
/// ```
#[derive(Clone)]
pub struct MixedMap {
    entry: Arc<Entry<MixedId>>,
    maps: Arc<[Map]>,
}

impl MixedMap {
    /// The MixedMap of `maps` (in order; all from the same iteration set), cached on that set.
    pub fn new(maps: &[Map]) -> Result<MixedMap> {
        nonempty("MixedMap::new", maps)?;
        let from = maps[0].from_set();
        if let Some(m) = maps.iter().find(|m| m.from_set() != from) {
            return Err(Error::invalid(
                "MixedMap::new",
                format!(
                    "map {} starts from set {}, map {} from set {}: a MixedMap's maps share their iteration set",
                    m.name(),
                    m.from_set().name(),
                    maps[0].name(),
                    from.name()
                ),
            ));
        }
        let ids: Vec<u64> = maps.iter().map(Map::id).collect();
        Ok(MixedMap {
            entry: cached(from, MIXED_MAP_CACHE, &ids)?,
            maps: maps.into(),
        })
    }
    /// The common iteration set.
    pub fn iterset(&self) -> &Set {
        self.maps[0].from_set()
    }
    /// The MixedSet of the maps' target sets.
    pub fn to_set(&self) -> Result<MixedSet> {
        let sets: Vec<Set> = self.maps.iter().map(|m| m.to_set().clone()).collect();
        MixedSet::new(&sets)
    }
    /// Sum of the component arities (PyOP2's `arity`).
    pub fn arity(&self) -> usize {
        self.maps.iter().map(Map::arity).sum()
    }
}
mixed_handle!(MixedMap, maps, Map);

/// A weak reference to a mixed object's cache entry.
pub struct WeakMixed(std::sync::Weak<Entry<MixedId>>);

impl WeakMixed {
    /// True while the cached object is alive.
    pub fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// PyOP2's `MixedDat`: one Dat per component of a MixedDataSet. Not cached (as in PyOP2);
/// equal iff the same Dats in the same order.
///
/// ```
/// let (a, b) = (op2::Set::new(2).unwrap(), op2::Set::new(1).unwrap());
/// let mds = op2::MixedDataSet::from_sets(&[a, b]).unwrap();
/// let md = op2::MixedDat::zeros(&mds, op2::DType::F64).unwrap();
/// md.split()[1].set_values(&[4.0f64]).unwrap();
/// assert_eq!(md.to_vecs::<f64>().unwrap(), vec![vec![0.0, 0.0], vec![4.0]]);
/// assert_eq!(md.dataset(), mds);
/// ```
#[derive(Clone)]
pub struct MixedDat {
    dats: Arc<[Dat]>,
}

impl MixedDat {
    /// The MixedDat of `dats` (all of one dtype, as PyOP2 requires).
    pub fn new(dats: &[Dat]) -> Result<MixedDat> {
        nonempty("MixedDat::new", dats)?;
        one_comm("MixedDat::new", dats.iter().map(Dat::set))?;
        if let Some(d) = dats.iter().find(|d| d.dtype() != dats[0].dtype()) {
            return Err(Error::invalid(
                "MixedDat::new",
                format!(
                    "Dat {} is {}, Dat {} is {}: a MixedDat has one dtype",
                    d.name(),
                    d.dtype(),
                    dats[0].name(),
                    dats[0].dtype()
                ),
            ));
        }
        Ok(MixedDat { dats: dats.into() })
    }
    /// A zero MixedDat on `mds`, one fresh Dat per component.
    pub fn zeros(mds: &MixedDataSet, dtype: DType) -> Result<MixedDat> {
        let dats: Vec<Dat> = mds.split().iter().map(|d| Dat::zeros(d, dtype)).collect();
        MixedDat::new(&dats)
    }
    /// The component Dats (PyOP2's `split`): a Dat's data is its block of the mixed vector.
    pub fn split(&self) -> &[Dat] {
        &self.dats
    }
    /// Number of components.
    pub fn len(&self) -> usize {
        self.dats.len()
    }
    /// Never true.
    pub fn is_empty(&self) -> bool {
        self.dats.is_empty()
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dats[0].dtype()
    }
    /// The MixedDataSet of the components' DataSets (cached).
    pub fn dataset(&self) -> MixedDataSet {
        let ds: Vec<DataSet> = self.dats.iter().map(|d| d.dataset().clone()).collect();
        MixedDataSet::new(&ds)
            .expect("MixedDat::new checked one component or more, one communicator")
    }
    /// Every block's owned values (PyOP2's `data_ro`, a tuple of arrays).
    pub fn to_vecs<T: Scalar>(&self) -> Result<Vec<Vec<T>>> {
        self.dats.iter().map(Dat::to_vec).collect()
    }
    /// Set every block's owned values (`values[i]` for component `i`).
    pub fn set_values<T: Scalar>(&self, values: &[Vec<T>]) -> Result<()> {
        if values.len() != self.dats.len() {
            return Err(Error::invalid(
                "MixedDat::set_values",
                format!("{} blocks given for {} Dats", values.len(), self.dats.len()),
            ));
        }
        self.dats
            .iter()
            .zip(values)
            .try_for_each(|(d, v)| d.set_values(v))
    }
    /// Refresh every block's halo copies (collective; one exchange per block, in order).
    pub fn update_halo(&self) -> Result<()> {
        self.dats.iter().try_for_each(update_halo)
    }
}

impl PartialEq for MixedDat {
    fn eq(&self, other: &MixedDat) -> bool {
        self.dats.len() == other.dats.len()
            && self
                .dats
                .iter()
                .zip(other.dats.iter())
                .all(|(a, b)| a.ptr_eq(b))
    }
}
impl Eq for MixedDat {}
impl std::fmt::Debug for MixedDat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MixedDat{:?}", self.dats)
    }
}
