//! Sets: the iteration spaces of par_loops, with identity semantics and a halo layering.
//!
//! Owns a set's sizes, its communicator, its halo plan and the object cache built on it.
//! Axiom 1: two Sets are equal iff they are the same object (a clone of a handle is the same
//! set; two `Set::new(5)` are different sets). Sets never look at Dats or kernels.
//!
//! # Layering (per rank)
//! Local elements are numbered `[0, core) [core, owned) [owned, total)`:
//! * **core**: owned elements whose map targets are all owned: loops run them while halo
//!   messages are in flight;
//! * **owned boundary**: owned elements that touch halo data: run after the exchange;
//! * **halo**: copies of elements owned by other ranks. Loops never iterate over them (each
//!   element is executed exactly once, by its owner); Dats hold values for them, refreshed by
//!   halo exchanges, and indirect increments into them are sent back to the owner.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::cache::object::{next_id, ObjectCache};
use crate::error::{Error, Result};
use crate::mpi::comm::Comm;
use crate::mpi::halo::Halo;

/// The largest set size generated C code can index (`int`).
pub const MAX_SET_SIZE: usize = i32::MAX as usize;

pub(crate) struct SetInner {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) comm: Comm,
    pub(crate) core: usize,
    pub(crate) owned: usize,
    pub(crate) total: usize,
    pub(crate) halo: Option<Arc<Halo>>,
    /// Global number of every local element (owned then halo), for gather/scatter.
    pub(crate) global_ids: Option<Arc<Vec<u64>>>,
    /// Global size (sum of owned sizes over ranks).
    pub(crate) global_size: usize,
    pub(crate) cache: ObjectCache,
    /// For a Subset's iteration set: its superset and indices (see `data/subset.rs`).
    pub(crate) subset: Option<SubsetOf>,
}

/// What makes a set a Subset (`data/subset.rs` builds it): its root superset and its sorted
/// local indices into it.
pub(crate) struct SubsetOf {
    pub(crate) superset: Set,
    pub(crate) indices: Arc<Vec<i32>>,
}

/// A set of mesh entities (cells, edges, nodes...).
///
/// ```
/// let a = op2::Set::new(5).unwrap();
/// let b = op2::Set::new(5).unwrap();
/// assert_ne!(a, b);            // equality is identity
/// assert_eq!(a, a.clone());    // a clone is the same set
/// assert_eq!(a.size(), 5);
/// ```
#[derive(Clone)]
pub struct Set(pub(crate) Arc<SetInner>);

impl Set {
    /// A set of `size` elements on this rank, on the current communicator (MPI's world while a
    /// [`crate::Runtime`] is active). In parallel each rank's set is its local part, as in PyOP2.
    pub fn new(size: usize) -> Result<Set> {
        Set::named("set", size)
    }

    /// Like [`Set::new`], with a name used in messages and reports.
    pub fn named(name: &str, size: usize) -> Result<Set> {
        Set::named_on(Comm::current(), name, size)
    }

    /// Like [`Set::named`], on communicator `comm` (a runtime's: `Runtime::set`,
    /// `Set::new_in`). Collective over `comm` (its global size).
    pub fn named_on(comm: Comm, name: &str, size: usize) -> Result<Set> {
        if size > MAX_SET_SIZE {
            return Err(Error::invalid(
                format!("Set::new({name})"),
                format!("size {size} exceeds the maximum {MAX_SET_SIZE}"),
            ));
        }
        let global_size = comm.allreduce_u64(size as u64, crate::ReduceOp::Sum)? as usize;
        Ok(Set::from_parts(
            name,
            comm,
            size,
            size,
            size,
            None,
            None,
            global_size,
        ))
    }

    /// A set of `owned` elements on this rank, `core` of them touching no halo data, with
    /// `total - owned` halo elements that no exchange plan fills: PyOP2's `Set((core, size,
    /// total))` without a `Halo`. Dats on it hold `total` values; loops run the owned elements
    /// only and never exchange the halo values (they are this rank's own storage, as in PyOP2
    /// without a halo). Collective over the current communicator (its global size).
    ///
    /// ```
    /// let s = op2::Set::with_sizes("s", 0, 2, 4).unwrap();
    /// assert_eq!((s.core_size(), s.size(), s.total_size()), (0, 2, 4));
    /// assert!(s.halo().is_none());
    /// ```
    pub fn with_sizes(name: &str, core: usize, owned: usize, total: usize) -> Result<Set> {
        Set::with_sizes_on(Comm::current(), name, core, owned, total)
    }

    /// Like [`Set::with_sizes`], on communicator `comm`. Collective over `comm`.
    pub fn with_sizes_on(
        comm: Comm,
        name: &str,
        core: usize,
        owned: usize,
        total: usize,
    ) -> Result<Set> {
        if !(core <= owned && owned <= total) || total > MAX_SET_SIZE {
            return Err(Error::invalid(
                format!("Set::with_sizes({name})"),
                format!(
                    "sizes (core {core}, owned {owned}, total {total}) must satisfy core <= \
                     owned <= total <= {MAX_SET_SIZE}"
                ),
            ));
        }
        let global_size = comm.allreduce_u64(owned as u64, crate::ReduceOp::Sum)? as usize;
        Ok(Set::from_parts(
            name,
            comm,
            core,
            owned,
            total,
            None,
            None,
            global_size,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        name: &str,
        comm: Comm,
        core: usize,
        owned: usize,
        total: usize,
        halo: Option<Arc<Halo>>,
        global_ids: Option<Arc<Vec<u64>>>,
        global_size: usize,
    ) -> Set {
        debug_assert!(core <= owned && owned <= total);
        Set(Arc::new(SetInner {
            id: next_id(),
            name: name.to_string(),
            comm,
            core,
            owned,
            total,
            halo,
            global_ids,
            global_size,
            cache: ObjectCache::default(),
            subset: None,
        }))
    }

    /// Owned elements on this rank (what loops iterate over).
    pub fn size(&self) -> usize {
        self.0.owned
    }
    /// Owned elements whose map targets are all owned (run before halo exchanges complete).
    pub fn core_size(&self) -> usize {
        self.0.core
    }
    /// Owned plus halo elements (the length of a Dat on this set, in elements).
    pub fn total_size(&self) -> usize {
        self.0.total
    }
    /// Sum of owned sizes over all ranks.
    pub fn global_size(&self) -> usize {
        self.0.global_size
    }
    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The communicator whose ranks share this set.
    pub fn comm(&self) -> Comm {
        self.0.comm
    }
    /// Process-unique identity (equal across ranks for sets created in the same order).
    pub fn id(&self) -> u64 {
        self.0.id
    }
    /// Identity comparison (the Rust spelling of Python's `is`).
    pub fn ptr_eq(&self, other: &Set) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
    /// A weak handle, to observe liveness without keeping the set alive.
    pub fn downgrade(&self) -> WeakSet {
        WeakSet(Arc::downgrade(&self.0))
    }
    /// The halo exchange plan, if this set was distributed on more than one rank
    /// (see [`crate::distribute()`]); `None` for sets built with [`Set::new`] and serial meshes.
    ///
    /// ```
    /// assert!(op2::Set::new(3).unwrap().halo().is_none());
    /// ```
    pub fn halo(&self) -> Option<&Halo> {
        self.0.halo.as_deref()
    }
    /// Global ids of local elements (owned then halo), if this set was distributed on more
    /// than one rank; `None` means the local numbering is the global one (serial) or there is
    /// no global numbering (a set built with [`Set::new`]).
    ///
    /// ```
    /// assert!(op2::Set::new(3).unwrap().global_ids().is_none());
    /// ```
    pub fn global_ids(&self) -> Option<&[u64]> {
        self.0.global_ids.as_deref().map(|v| &v[..])
    }
    pub(crate) fn cache(&self) -> &ObjectCache {
        &self.0.cache
    }
    /// The superset, if this is the iteration set of a [`crate::Subset`] (always a set that is
    /// not itself a subset: a subset of a subset composes its indices).
    pub fn superset(&self) -> Option<&Set> {
        self.0.subset.as_ref().map(|s| &s.superset)
    }
    /// The set whose elements a loop over this set visits: the superset of a subset, else the
    /// set itself (direct Dats and maps of a loop must be on it).
    pub(crate) fn elements(&self) -> &Set {
        self.superset().unwrap_or(self)
    }
    /// A subset's local indices into its superset (owned then halo, sorted); `None` for a set.
    pub(crate) fn indices(&self) -> Option<&[i32]> {
        self.0.subset.as_ref().map(|s| &s.indices[..])
    }
}

impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.ptr_eq(other)
    }
}
impl Eq for Set {}
impl Hash for Set {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.id.hash(h)
    }
}
impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Set({}#{}, owned {}, total {})",
            self.0.name, self.0.id, self.0.owned, self.0.total
        )
    }
}

/// A weak reference to a [`Set`]: `upgrade()` is `None` once every handle is gone.
#[derive(Clone)]
pub struct WeakSet(std::sync::Weak<SetInner>);

impl WeakSet {
    /// The set, if still alive.
    pub fn upgrade(&self) -> Option<Set> {
        self.0.upgrade().map(Set)
    }
    /// True while some handle keeps the set alive.
    pub fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}
