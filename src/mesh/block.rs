//! One rank's block of a mesh for the parallel path: the global sizes of every set, and for
//! this rank's contiguous block of each set ([`block_range`]) its map rows (global numbering),
//! coordinates and, optionally, its owners (a user partition). Built by a reader
//! ([`crate::mesh::MeshFile`]) or by hand, handed to [`crate::mesh::distribute_blocks`].

use std::ops::Range;

use crate::error::Result;
use crate::mesh::global::{check_parts, GCoords, GMap, GSet, Part, Parts};
use crate::mesh::partition::Partitioner;

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
        let parts = Parts {
            sets: &self.sets,
            maps: &self.maps,
            coords: self.coords.as_ref(),
            owners: self.owners.as_ref(),
        };
        let part = Part {
            range: &|n| block_range(n, nranks, rank),
            whose: format!(" in rank {rank}'s block"),
            ctx: WHAT,
            nranks,
        };
        check_parts(&parts, &part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block is checked as the whole mesh is, with the block's lengths, global element
    /// numbers and the rank in the messages.
    #[test]
    fn block_errors_name_the_rank_and_global_elements() {
        let e = |b: MeshBlock, rank| b.check(2, rank).unwrap_err().to_string();
        // 5 edges over 2 ranks: rank 1 holds edges 3 and 4.
        let b = MeshBlock::new().add_set("nodes", 4).add_set("edges", 5);
        let bad = e(b.clone().add_map("e2n", "edges", "nodes", 1, vec![0, 4]), 1);
        assert!(
            bad.contains("distribute_blocks") && bad.contains("value 4 at element 4"),
            "{bad}"
        );
        let short = e(b.clone().add_map("e2n", "edges", "nodes", 1, vec![0]), 1);
        assert!(
            short.contains("1 values given in rank 1's block, expected 2"),
            "{short}"
        );
        let own = e(b.clone().owners("edges", vec![0, 2, 1]), 0);
        assert!(own.contains("owners of `edges` in rank 0's block"), "{own}");
        assert!(own.contains("not a rank of a 2-rank"), "{own}");
        assert_eq!(
            b.add_map("e2n", "edges", "nodes", 1, vec![3, 0])
                .check(2, 1)
                .unwrap(),
            [(1, 0)]
        );
    }
}
