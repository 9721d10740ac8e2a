//! One rank's block of a mesh for the parallel path: the global sizes of every set, and for
//! this rank's contiguous block of each set ([`block_range`]) its map rows (global numbering),
//! coordinates and, optionally, its owners (a user partition). Built by a reader
//! ([`crate::mesh::MeshFile`]) or by hand, handed to [`crate::mesh::distribute_blocks`].

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::data::set::MAX_SET_SIZE;
use crate::error::{Error, Result};
use crate::mesh::global::{GCoords, GMap, GSet};
use crate::mesh::partition::{self, Partitioner};

const WHAT: &str = "distribute_blocks";

/// The block of `n` elements that rank `rank` of `nranks` holds on the parallel path: the
/// blocks of [`crate::mesh::partition::block`] (sizes differ by at most one, the first
/// `n % nranks` are one larger).
///
/// ```
/// use op2::mesh::block_range;
/// assert_eq!((0..3).map(|r| block_range(7, 3, r)).collect::<Vec<_>>(), [0..3, 3..5, 5..7]);
/// assert_eq!(block_range(2, 4, 3), 2..2); // rank 3 holds nothing
/// ```
pub fn block_range(n: usize, nranks: usize, rank: usize) -> Range<usize> {
    let (q, r) = (n / nranks.max(1), n % nranks.max(1));
    let start = rank * q + rank.min(r);
    start..start + q + usize::from(rank < r)
}

/// This rank's block of a mesh (see the module documentation). Builder style like
/// [`crate::GlobalMesh`], with global set sizes and block-local rows; checked by
/// [`crate::mesh::distribute_blocks`], which reports any rank's problem on every rank.
///
/// ```
/// use op2::mesh::{block_range, distribute_blocks, MeshBlock};
/// // Two triangles sharing an edge, on a one-rank communicator (the whole mesh is the block).
/// let comm = op2::Comm::serial();
/// let b = MeshBlock::new()
///     .add_set("nodes", 4)
///     .add_set("cells", 2)
///     .add_map("cell_nodes", "cells", "nodes", 3, vec![0, 1, 2, 1, 3, 2])
///     .coordinates("nodes", 2, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
///     .owners("cells", vec![0, 0]);
/// let m = distribute_blocks(comm, b).unwrap();
/// assert_eq!(m.set("cells").unwrap().size(), 2);
/// assert_eq!(block_range(4, comm.size() as usize, 0), 0..4);
/// ```
#[derive(Clone, Default)]
pub struct MeshBlock {
    pub(crate) sets: Vec<GSet>,
    pub(crate) maps: Vec<GMap>,
    pub(crate) coords: Option<GCoords>,
    pub(crate) owners: Option<(String, Vec<i32>)>,
    pub(crate) partitioner: Partitioner,
}

impl MeshBlock {
    /// An empty block.
    pub fn new() -> MeshBlock {
        MeshBlock::default()
    }

    /// Add a set of `global_size` elements (the whole set's size, equal on every rank).
    pub fn add_set(mut self, name: &str, global_size: usize) -> Self {
        self.sets.push(GSet {
            name: name.into(),
            size: global_size,
        });
        self
    }

    /// Add a map `from -> to`: `arity` global target numbers for each element of this rank's
    /// block of `from`, row-major.
    pub fn add_map(
        mut self,
        name: &str,
        from: &str,
        to: &str,
        arity: usize,
        rows: Vec<i32>,
    ) -> Self {
        self.maps.push(GMap {
            name: name.into(),
            from: from.into(),
            to: to.into(),
            arity,
            values: rows,
        });
        self
    }

    /// Coordinates (`dim` per element) of this rank's block of `set`, for RCB.
    pub fn coordinates(mut self, set: &str, dim: usize, rows: Vec<f64>) -> Self {
        self.coords = Some(GCoords {
            set: set.into(),
            dim,
            values: rows,
        });
        self
    }

    /// A user partition: the owner rank of each element of this rank's block of `set` (the
    /// other sets get owners through maps, as for a partitioner's result). Overrides the
    /// partitioner.
    pub fn owners(mut self, set: &str, owners: Vec<i32>) -> Self {
        self.owners = Some((set.into(), owners));
        self
    }

    /// The partitioner used when no owners are given (default [`Partitioner::Rcb`], in
    /// parallel; [`Partitioner::Metis`] gathers one map's rows to rank 0, for meshes whose
    /// dual graph fits there).
    pub fn partitioner(mut self, p: Partitioner) -> Self {
        self.partitioner = p;
        self
    }

    /// What must agree across ranks: names, global sizes, map shapes, which set has coordinates
    /// or owners, the partitioner.
    pub(crate) fn schema_bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        for x in &self.sets {
            s += &format!("set {} {}\n", x.name, x.size);
        }
        for m in &self.maps {
            s += &format!("map {} {} {} {}\n", m.name, m.from, m.to, m.arity);
        }
        if let Some(c) = &self.coords {
            s += &format!("coords {} {}\n", c.set, c.dim);
        }
        if let Some((o, _)) = &self.owners {
            s += &format!("owners {o}\n");
        }
        s += &format!("partitioner {:?}\n", self.partitioner);
        s.into_bytes()
    }

    /// Check this rank's block; returns (from, to) set indices of every map.
    pub(crate) fn check(&self, nranks: usize, rank: usize) -> Result<Vec<(usize, usize)>> {
        let err = |d: String| Error::invalid(WHAT, d);
        let mut idx = HashMap::new();
        for (i, s) in self.sets.iter().enumerate() {
            if s.name.is_empty() || idx.insert(s.name.as_str(), i).is_some() {
                return Err(err(format!(
                    "set {i}: empty or duplicate name `{}`",
                    s.name
                )));
            }
            if s.size > MAX_SET_SIZE {
                return Err(err(format!(
                    "set `{}` has more than {MAX_SET_SIZE} elements",
                    s.name
                )));
            }
        }
        let len = |s: usize| block_range(self.sets[s].size, nranks, rank).len();
        let find = |n: &str, what: &str| {
            idx.get(n)
                .copied()
                .ok_or_else(|| err(format!("{what}: no set named `{n}`")))
        };
        let mut names = HashSet::new();
        let mut ends = Vec::new();
        for m in &self.maps {
            let what = format!("map `{}` ({} -> {})", m.name, m.from, m.to);
            if m.name.is_empty() || !names.insert(m.name.as_str()) {
                return Err(err(format!("{what}: empty or duplicate name")));
            }
            let (f, t) = (find(&m.from, &what)?, find(&m.to, &what)?);
            if m.arity == 0 {
                return Err(err(format!("{what}: arity must be at least 1")));
            }
            if m.values.len() != len(f) * m.arity {
                return Err(err(format!(
                    "{what}: {} values in rank {rank}'s block, expected {} ({} elements x arity {})",
                    m.values.len(),
                    len(f) * m.arity,
                    len(f),
                    m.arity
                )));
            }
            let n = self.sets[t].size;
            if let Some(i) = partition::first_where(&m.values, |&v| v < 0 || v as usize >= n) {
                let g = block_range(self.sets[f].size, nranks, rank).start + i / m.arity;
                return Err(err(format!(
                    "{what}: value {} at element {g}, slot {} is outside the target set `{}` [0, {n})",
                    m.values[i],
                    i % m.arity,
                    m.to
                )));
            }
            ends.push((f, t));
        }
        if let Some(c) = &self.coords {
            let what = format!("coordinates of `{}`", c.set);
            let s = find(&c.set, &what)?;
            if !(1..=3).contains(&c.dim) || c.values.len() != len(s) * c.dim {
                return Err(err(format!(
                    "{what}: dim {} (1 to 3) and {} values in rank {rank}'s block (expected {})",
                    c.dim,
                    c.values.len(),
                    len(s) * c.dim
                )));
            }
            if let Some(i) = partition::first_where(&c.values, |v| !v.is_finite()) {
                return Err(err(format!("{what}: value {} is not finite", c.values[i])));
            }
        }
        if let Some((set, own)) = &self.owners {
            let s = find(set, "owners")?;
            partition::check_owners(
                &format!("{WHAT}: owners of `{set}` on rank {rank}"),
                own,
                len(s),
                nranks,
            )?;
        }
        Ok(ends)
    }
}
