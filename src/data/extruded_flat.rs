//! PyOP2's extruded maps into plain sets (`Map(extruded_set, toset, arity, values, offset=)`):
//! each column's map value names the target element of its bottom layer, and layer `l` of the
//! column reaches element `value + (l - start) * offset` (`start` the column's first layer).
//!
//! Owns the lowering of such a map onto op2's column model ([`ExtrudedMap::flat`]): the target
//! elements every column entry reaches on its layers (its *footprint*) are joined into blocks
//! (elements sharing a footprint are in one block), each entry points at its block's first
//! element, and its position inside the block becomes a per-column shift (a READ Dat on the
//! base set that the column kernel reads). The loop then maps, colours and validates blocks as
//! it does target columns, so two columns that write one element share a block, and so a map
//! value, and never run at the same time. A target set with a halo (a block's elements must
//! be contiguous local storage) and a periodic extruded set are refused. It never generates
//! code or runs loops.

use std::sync::Arc;

use crate::data::dat::Dat;
use crate::data::dataset::DataSet;
use crate::data::extruded::{Bounds, Entity, ExtrudedMap, ExtrudedMapInner, ExtrudedSet};
use crate::data::map::Map;
use crate::error::{Error, Result};

/// Union-find over target elements; a root is its block's smallest element.
struct Blocks(Vec<u32>);

impl Blocks {
    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] as usize != x {
            let up = self.0[x] as usize;
            self.0[x] = self.0[up];
            x = up;
        }
        x
    }
    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        let (lo, hi) = (ra.min(rb), ra.max(rb));
        self.0[hi] = lo as u32;
    }
}

/// Per owned column, the last relative layer an entry reaches (`stop - start - 2`: every
/// region reaches cells `0 ..= stop - start - 2` and facets between them), `None` for a
/// column without cells.
fn reach(from: &ExtrudedSet) -> Result<Vec<Option<usize>>> {
    let n = from.base().size();
    Ok(match &from.0.bounds {
        Bounds::Constant(_) => vec![Some(from.layers() - 2); n],
        Bounds::Variable(d) => d
            .to_vec::<i32>()?
            .chunks(2)
            .take(n)
            .map(|l| (l[1] - l[0] >= 2).then(|| (l[1] - l[0] - 2) as usize))
            .collect(),
    })
}

impl ExtrudedMap {
    /// PyOP2's extruded map: `base` maps each column of `from` (its source is `from`'s base)
    /// to the elements of a plain target set at the column's first layer; entry `k` advances
    /// by `offset[k] >= 0` elements per layer. A Dat through it is a Dat on `base`'s target
    /// set, of any dim. Every reached element must lie in the target set; the target set must
    /// have no halo and `from` must not be periodic.
    ///
    /// ```
    /// let cells = op2::Set::new(2).unwrap();
    /// let nodes = op2::Set::new(3 * 4).unwrap(); // 3 node columns of 4 layers, stored by column
    /// let xset = op2::ExtrudedSet::new(&cells, 4).unwrap();
    /// let m = op2::Map::new(&cells, &nodes, 4, vec![0, 1, 4, 5, 4, 5, 8, 9]).unwrap();
    /// let x = op2::ExtrudedMap::flat(&xset, &m, &[1; 4]).unwrap();
    /// assert_eq!(x.arity(), 4);
    /// assert!(op2::ExtrudedMap::flat(&xset, &m, &[2; 4]).is_err()); // past the last node
    /// ```
    pub fn flat(from: &ExtrudedSet, base: &Map, offset: &[i32]) -> Result<ExtrudedMap> {
        let what = || format!("ExtrudedMap::flat({})", base.name());
        if !base.from_set().ptr_eq(from.base()) {
            return Err(Error::invalid(
                what(),
                format!(
                    "the map starts at set {}, not at the extruded set's base {}",
                    base.from_set().name(),
                    from.base().name()
                ),
            ));
        }
        let to = base.to_set();
        base.refuse_negative(what(), None, "an extruded map's columns")?;
        let refusal = if offset.len() != base.arity() {
            Some(format!(
                "{} offsets for arity {}: need one per entry",
                offset.len(),
                base.arity()
            ))
        } else if let Some(o) = offset.iter().find(|&&o| o < 0) {
            Some(format!("offset {o} is negative"))
        } else if from.is_periodic() {
            Some("a periodic extruded set maps through column entries (ExtrudedMap::new), not into a plain set".into())
        } else if to.halo().is_some() {
            Some(format!(
                "target set {} has a halo: a column's layers must be contiguous local elements",
                to.name()
            ))
        } else {
            None
        };
        if let Some(r) = refusal {
            return Err(Error::invalid(what(), r));
        }
        let arity = base.arity();
        let total = to.total_size();
        let reach = reach(from)?;
        let mut blocks = Blocks((0..total as u32).collect());
        for (c, top) in reach.iter().enumerate() {
            let Some(top) = *top else { continue };
            for (k, &o) in offset.iter().enumerate() {
                let v = base.values()[c * arity + k] as usize;
                let last = v + top * o as usize;
                if last >= total {
                    return Err(Error::invalid(
                        what(),
                        format!(
                            "column {c}, entry {k}: value {v} + {top} layers x offset {o} = {last} is outside the target set {} [0, {total})",
                            to.name()
                        ),
                    ));
                }
                for l in 1..=top {
                    blocks.join(v, v + l * o as usize);
                }
            }
        }
        // Each entry points at its block's first element; its place in the block is a
        // per-column shift (a READ Dat on the base set, passed to the column kernel).
        let mut firsts = Vec::with_capacity(base.values().len());
        let mut shifts = Vec::with_capacity(base.values().len());
        for &v in base.values() {
            let first = blocks.find(v as usize);
            firsts.push(first as i32);
            shifts.push(v - first as i32);
        }
        let blocks = Map::named(base.name(), from.base(), to, arity, firsts)?;
        let shifts = Dat::named(
            &format!("{}_shifts", base.name()),
            &DataSet::new(from.base(), arity)?,
            shifts,
        )?;
        let entries = (0..arity).map(|k| (k as u32, 0, offset[k])).collect();
        Ok(ExtrudedMap(Arc::new(ExtrudedMapInner {
            from: from.clone(),
            base: blocks,
            entries,
            to: Entity::Nodes,
            shifts: Some(shifts),
        })))
    }

    /// Whether this map goes into a plain set ([`ExtrudedMap::flat`]) rather than columns.
    pub fn is_flat(&self) -> bool {
        self.0.shifts.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::set::Set;

    #[test]
    fn entries_point_at_their_block_with_their_shift_in_it() {
        // Two cells over 3 node columns of 4 layers; entries: bottom and top of two nodes.
        let cells = Set::new(2).unwrap();
        let nodes = Set::new(12).unwrap();
        let xset = ExtrudedSet::new(&cells, 4).unwrap();
        let m = Map::new(&cells, &nodes, 4, vec![0, 1, 4, 5, 4, 5, 8, 9]).unwrap();
        let x = ExtrudedMap::flat(&xset, &m, &[1; 4]).unwrap();
        assert_eq!(x.base().values(), &[0, 0, 4, 4, 4, 4, 8, 8]);
        assert_eq!(
            x.0.entries,
            vec![(0, 0, 1), (1, 0, 1), (2, 0, 1), (3, 0, 1)]
        );
        let shifts = x.0.shifts.as_ref().unwrap().to_vec::<i32>().unwrap();
        assert_eq!(shifts, vec![0, 1, 0, 1, 0, 1, 0, 1]);
        assert!(x.is_flat());
        // Offset 2 on entries 0 and 1: [0, 2, 4] and [1, 3, 5] join node 1's block, so
        // every element the two columns reach is one block.
        let x = ExtrudedMap::flat(&xset, &m, &[2, 2, 1, 1]).unwrap();
        assert_eq!(x.base().values(), &[0; 8]);
        let shifts = x.0.shifts.as_ref().unwrap().to_vec::<i32>().unwrap();
        assert_eq!(shifts, vec![0, 1, 4, 5, 4, 5, 8, 9]);
    }

    #[test]
    fn variable_layers_reach_from_each_columns_start() {
        // PyOP2's test_indirect_loop layout: column 0 has one cell, column 1 two.
        let cells = Set::new(2).unwrap();
        let nodes = Set::new(8).unwrap();
        let xset = ExtrudedSet::variable(&cells, &[[1, 3], [0, 3]]).unwrap();
        let m = Map::new(&cells, &nodes, 3, vec![5, 6, 7, 0, 1, 2]).unwrap();
        let x = ExtrudedMap::flat(&xset, &m, &[2; 3]).unwrap();
        // Column 0 reaches one element per entry, column 1 two: blocks {5}, {6}, {7} and
        // {0, 2, 4} (entries 0 and 2 of column 1 share 2), {1, 3}.
        assert_eq!(x.base().values(), &[5, 6, 7, 0, 1, 0]);
        let shifts = x.0.shifts.as_ref().unwrap().to_vec::<i32>().unwrap();
        assert_eq!(shifts, vec![0, 0, 0, 0, 0, 2]);
        // Absolute layers would reach 9 on column 0: relative ones stay inside 8 elements.
        let short = Set::new(7).unwrap();
        let m = Map::new(&cells, &short, 3, vec![4, 5, 6, 0, 1, 2]).unwrap();
        assert!(ExtrudedMap::flat(&xset, &m, &[2; 3]).is_ok());
        let m = Map::new(&cells, &short, 3, vec![4, 5, 6, 3, 4, 5]).unwrap();
        let e = ExtrudedMap::flat(&xset, &m, &[2; 3]).err().unwrap();
        assert!(e.to_string().contains("outside the target set"), "{e}");
    }

    #[test]
    fn refusals_name_the_problem() {
        let cells = Set::new(2).unwrap();
        let nodes = Set::new(12).unwrap();
        let xset = ExtrudedSet::new(&cells, 4).unwrap();
        let m = Map::new(&cells, &nodes, 2, vec![0, 4, 4, 8]).unwrap();
        let e = ExtrudedMap::flat(&xset, &m, &[1]).err().unwrap();
        assert!(e.to_string().contains("1 offsets for arity 2"), "{e}");
        let e = ExtrudedMap::flat(&xset, &m, &[1, -1]).err().unwrap();
        assert!(e.to_string().contains("negative"), "{e}");
        let p = ExtrudedSet::periodic(&cells, 4).unwrap();
        let e = ExtrudedMap::flat(&p, &m, &[1, 1]).err().unwrap();
        assert!(e.to_string().contains("periodic"), "{e}");
        let other = ExtrudedSet::new(&nodes, 4).unwrap();
        assert!(ExtrudedMap::flat(&other, &m, &[1, 1]).is_err());
        // A negative ("no entry") value has no column to reach: refused, naming the map.
        let holes = Map::named("holes", &cells, &nodes, 2, vec![0, 4, -1, 8]).unwrap();
        let e = ExtrudedMap::flat(&xset, &holes, &[1, 1]).err().unwrap();
        assert!(e.to_string().contains("map holes has negative"), "{e}");
        let e = ExtrudedMap::new(&xset, &holes, &[(0, 0)], &[1], Entity::Nodes);
        assert!(e.err().unwrap().to_string().contains("negative"));
    }
}
