//! Subsets (PyOP2's `Subset`): iterating a par_loop over chosen elements of a set.
//!
//! Owns the construction of a [`Subset`] from local indices into its superset: validation
//! (sorted, unique, in range; errors name the set), the composition of a subset of a subset
//! into indices of the root set, and the split of the indices into core, owned and halo parts
//! the way PyOP2 computes a Subset's sizes (`core` = indices below the superset's core size,
//! `owned` = below its owned size, `total` = all). It never runs a loop: a Subset *is* a
//! [`Set`] (it dereferences to its own iteration set, with its own identity and object cache,
//! so plans and colourings of loops over it are cached on it and freed with it), and par_loop
//! (`exec/`) reads the superset and the index table from that set.
//!
//! **Not cached.** As in PyOP2, `Set::subset` builds a new object on every call: two subsets
//! of the same indices are two different sets (axiom 1), each with its own plans.
//!
//! **Distributed.** Each rank's indices are its *local* elements of the superset (owned and,
//! if wanted, halo elements). Loops visit the owned part only (each element once, by its
//! owner), core elements first while halo messages fly, exactly as over the superset; halo
//! indices are kept for the sizes PyOP2 reports. The superset's halo plan serves every Dat, so
//! a subset needs no halo of its own.

use std::ops::Deref;
use std::sync::Arc;

use crate::data::set::{Set, SetInner, SubsetOf};
use crate::error::{Error, Result};
use crate::mpi::agree::{self, Share};

/// A subset of a [`Set`]: a par_loop over it runs the kernel on the chosen elements of the
/// superset only. Direct Dat arguments are Dats on the superset, accessed at the chosen
/// element; map arguments use the superset's maps at the chosen element's row. It
/// dereferences to its own [`Set`] (pass `&subset` wherever a loop takes `&Set`).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # std::env::set_var("OP2_CACHE_DIR", dir.path());
/// use op2::{par_loop, Access, Dat, DataSet, Kernel, Set};
/// let nodes = Set::new(6).unwrap();
/// let even = nodes.subset(&[0, 2, 4]).unwrap();
/// let x = Dat::new(&DataSet::new(&nodes, 1).unwrap(), vec![0.0f64; 6]).unwrap();
/// let one = Kernel::new("one", "void one(double *x) { x[0] = 1.0; }").unwrap();
/// par_loop(&one, &even, &[x.arg(Access::Write)]).unwrap();
/// assert_eq!(x.to_vec::<f64>().unwrap(), vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
/// assert!(nodes.subset(&[2, 1]).is_err()); // unsorted
/// assert!(nodes.subset(&[6]).is_err());    // out of range
/// ```
#[derive(Clone)]
pub struct Subset(Set);

impl Deref for Subset {
    type Target = Set;
    fn deref(&self) -> &Set {
        &self.0
    }
}

impl AsRef<Set> for Subset {
    fn as_ref(&self) -> &Set {
        &self.0
    }
}

impl std::fmt::Debug for Subset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Subset({:?} of {:?})", self.0, self.superset())
    }
}

impl Subset {
    /// The set whose elements this subset chooses (never itself a subset).
    pub fn superset(&self) -> &Set {
        self.0.superset().expect("a Subset's set has a superset")
    }
    /// The chosen local indices into the superset, sorted (owned elements first, then halo).
    pub fn indices(&self) -> &[i32] {
        self.0.indices().expect("a Subset's set has indices")
    }
    /// The subset's own iteration set (what the loops over it are cached on).
    pub fn as_set(&self) -> &Set {
        &self.0
    }
}

impl Set {
    /// The subset of this set's local elements `indices` (PyOP2's `Subset(set, indices)`).
    /// `indices` must be sorted, without duplicates, and index this rank's elements
    /// (`[0, total_size)`: owned and halo); an error names the set otherwise (PyOP2 sorts
    /// and removes duplicates instead; op2 refuses them so a mistake cannot pass unnoticed).
    /// On a subset, `indices` are positions in it and the result is a subset of the root set
    /// (`s.subset(a)?.subset(b)` chooses `a[b]`). Not cached: each call is a new set.
    ///
    /// Collective over the set's communicator (every rank calls it, with its own indices):
    /// an invalid list on any rank fails on every rank, and the global size is summed.
    pub fn subset(&self, indices: &[usize]) -> Result<Subset> {
        let what = || format!("Set::subset({})", self.name());
        let local = check(self, indices).map_err(|d| Error::invalid(what(), d));
        let local = agree::agree(self.comm(), Share::Detail, local)?;
        let (root, idx): (&Set, Vec<i32>) = match self.indices() {
            Some(parent) => (self.elements(), local.iter().map(|&i| parent[i]).collect()),
            None => (self, local.iter().map(|&i| i as i32).collect()),
        };
        let core = idx.partition_point(|&i| (i as usize) < root.core_size());
        let owned = idx.partition_point(|&i| (i as usize) < root.size());
        let comm = self.comm();
        let global_size =
            comm.allreduce_u64(owned as u64, crate::mpi::comm::ReduceOp::Sum)? as usize;
        let name = format!("{}[subset]", root.name());
        let set = Set::from_parts(&name, comm, core, owned, idx.len(), None, None, global_size);
        let inner = Arc::into_inner(set.0).expect("a new set has one handle");
        Ok(Subset(Set(Arc::new(SetInner {
            subset: Some(SubsetOf {
                superset: root.clone(),
                indices: Arc::new(idx),
            }),
            ..inner
        }))))
    }
}

impl Set {
    /// The superset element a loop over this set visits at position `pos` (the element itself
    /// for a set, the subset's index there for a subset).
    pub(crate) fn element_at(&self, pos: usize) -> usize {
        match self.indices() {
            Some(ix) => ix[pos] as usize,
            None => pos,
        }
    }
}

/// Validate `indices` against `set`'s local elements; returns them, or what is wrong.
fn check(set: &Set, indices: &[usize]) -> std::result::Result<Vec<usize>, String> {
    let n = set.total_size();
    if let Some((k, &i)) = indices.iter().enumerate().find(|(_, &i)| i >= n) {
        return Err(format!(
            "index {i} (position {k}) is outside the set's local elements [0, {n})"
        ));
    }
    if let Some(k) = indices.windows(2).position(|w| w[0] >= w[1]) {
        let (a, b) = (indices[k], indices[k + 1]);
        let why = if a == b { "repeated" } else { "not sorted" };
        return Err(format!(
            "indices must be sorted and unique: {a} then {b} at positions {k}, {} ({why})",
            k + 1
        ));
    }
    Ok(indices.to_vec())
}
