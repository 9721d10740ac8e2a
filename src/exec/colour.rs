//! Block colouring for threaded par_loops (OP2's two-level scheme).
//!
//! A threaded loop cuts its owned elements into blocks of `block_size` consecutive elements
//! (core elements and boundary elements separately, so the core can run while halo messages
//! fly); a thread runs a whole block, in element order. Blocks are coloured so that no two
//! blocks of one colour write the same target entry through any map the loop writes through;
//! colours run one after another, the blocks of a colour concurrently. Without indirect writes
//! every block has colour 0.
//!
//! The schedule depends only on the iteration set's layering, the block size and the maps
//! written through, so it is built once per identity in the iteration set's object cache
//! (`object:Colouring` in the report) and freed with the set. It holds index lists only.

use crate::data::map::Map;
use crate::data::set::Set;

/// Cache name of colourings in reports.
pub const CACHE_NAME: &str = "object:Colouring";

/// A target written through: entries of `space` reached from each iteration element through
/// `map` (or the element itself when `map` is `None`: a direct write into a set that is also
/// written indirectly).
pub(crate) struct Written<'a> {
    /// Index of the target space (the target set); spaces are compared by this index.
    pub(crate) space: usize,
    pub(crate) map: Option<&'a Map>,
}

/// The blocks of a threaded loop and the order they may run in.
#[derive(Debug)]
pub(crate) struct Schedule {
    /// Every block, in element order: core blocks, then boundary blocks.
    pub(crate) blocks: Vec<(usize, usize)>,
    /// `[core, boundary]`: per colour, the blocks (indices into `blocks`) of that colour.
    pub(crate) groups: [Vec<Vec<usize>>; 2],
}

impl Schedule {
    /// Bytes held (for the cache report).
    pub(crate) fn bytes(&self) -> u64 {
        (self.blocks.len() * (16 + 8) + std::mem::size_of::<Schedule>()) as u64
    }
}

/// The cache key words of a schedule: the set's layering, the block size and the written
/// targets (space ids and map ids, sorted).
pub(crate) fn key(set: &Set, block: usize, written: &[(u64, u64)]) -> Vec<u64> {
    let mut w: Vec<(u64, u64)> = written.to_vec();
    w.sort_unstable();
    w.dedup();
    let mut k = vec![block as u64, set.core_size() as u64, set.size() as u64];
    for (s, m) in w {
        k.extend([s, m]);
    }
    k
}

/// Cut `[0, core)` and `[core, owned)` into blocks of `block` elements and colour each group.
/// `spaces[s]` is the size of target space `s`. `indices`: a Subset's index table (blocks are
/// ranges of its positions; the targets of position `p` are those of element `indices[p]`).
pub(crate) fn build(
    core: usize,
    owned: usize,
    indices: Option<&[i32]>,
    block: usize,
    spaces: &[usize],
    written: &[Written],
) -> Schedule {
    let block = block.max(1);
    let mut blocks = Vec::new();
    let mut groups: [Vec<Vec<usize>>; 2] = [Vec::new(), Vec::new()];
    let mut masks: Vec<Vec<u64>> = spaces.iter().map(|&n| vec![0u64; n]).collect();
    for (g, (lo, hi)) in [(0, core), (core, owned)].into_iter().enumerate() {
        let first = blocks.len();
        let mut s = lo;
        while s < hi {
            let e = (s + block).min(hi);
            blocks.push((s, e));
            s = e;
        }
        let ids: Vec<usize> = (first..blocks.len()).collect();
        groups[g] = colour(&blocks, &ids, &mut masks, written, indices);
    }
    Schedule { blocks, groups }
}

/// Greedy colouring of the blocks `ids`, 64 colours per pass (OP2's bit-mask scheme): a block
/// takes the lowest colour no earlier block touching one of its targets has taken.
fn colour(
    blocks: &[(usize, usize)],
    ids: &[usize],
    masks: &mut [Vec<u64>],
    written: &[Written],
    indices: Option<&[i32]>,
) -> Vec<Vec<usize>> {
    if written.is_empty() {
        return if ids.is_empty() {
            Vec::new()
        } else {
            vec![ids.to_vec()]
        };
    }
    let mut colour_of = vec![usize::MAX; ids.len()];
    let mut base = 0;
    loop {
        for m in masks.iter_mut() {
            m.fill(0);
        }
        let mut left = false;
        for (k, &b) in ids.iter().enumerate() {
            if colour_of[k] != usize::MAX {
                continue;
            }
            let (s, e) = blocks[b];
            let mut used = 0u64;
            for_each_target((s, e), indices, written, |sp, t| used |= masks[sp][t]);
            if used == u64::MAX {
                left = true;
                continue;
            }
            let c = (!used).trailing_zeros() as usize;
            colour_of[k] = base + c;
            for_each_target((s, e), indices, written, |sp, t| masks[sp][t] |= 1 << c);
        }
        if !left {
            break;
        }
        base += 64;
    }
    let n = colour_of.iter().max().map_or(0, |&c| c + 1);
    let mut out = vec![Vec::new(); n];
    for (k, &b) in ids.iter().enumerate() {
        out[colour_of[k]].push(b);
    }
    out.retain(|c| !c.is_empty());
    out
}

/// Every (space, target) the positions `[s, e)` write through `written`.
fn for_each_target(
    (s, e): (usize, usize),
    indices: Option<&[i32]>,
    written: &[Written],
    mut f: impl FnMut(usize, usize),
) {
    let element = |p: usize| indices.map_or(p, |ix| ix[p] as usize);
    for w in written {
        match (w.map, indices) {
            (None, _) => (s..e).for_each(|p| f(w.space, element(p))),
            (Some(m), None) => {
                let a = m.arity();
                for &t in &m.values()[s * a..e * a] {
                    f(w.space, t as usize);
                }
            }
            (Some(m), Some(_)) => {
                let a = m.arity();
                for n in (s..e).map(element) {
                    for &t in &m.values()[n * a..(n + 1) * a] {
                        f(w.space, t as usize);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Property: over random meshes, blocks of one colour never share a target, and every
    /// owned element is in exactly one block of its group.
    #[test]
    fn no_two_blocks_of_a_colour_share_a_target_on_random_meshes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        for case in 0..60 {
            let n = rng.gen_range(0..3000);
            let core = rng.gen_range(0..=n);
            let nt = rng.gen_range(1..200);
            let nt2 = rng.gen_range(1..50);
            let block = rng.gen_range(1..300);
            let from = Set::new(n).unwrap();
            let to = Set::new(nt).unwrap();
            let to2 = Set::new(nt2).unwrap();
            let arity = rng.gen_range(1..5);
            let m1 = Map::new(
                &from,
                &to,
                arity,
                (0..n * arity)
                    .map(|_| rng.gen_range(0..nt as i32))
                    .collect(),
            )
            .unwrap();
            let m2 = Map::new(
                &from,
                &to2,
                1,
                (0..n).map(|_| rng.gen_range(0..nt2 as i32)).collect(),
            )
            .unwrap();
            let mut written = vec![Written {
                space: 0,
                map: Some(&m1),
            }];
            if case % 2 == 0 {
                written.push(Written {
                    space: 1,
                    map: Some(&m2),
                });
            }
            if case % 3 == 0 {
                written.push(Written {
                    space: 2,
                    map: None,
                });
            }
            let spaces = [nt, nt2, n];
            let sched = build(core, n, None, block, &spaces, &written);
            // Coverage: blocks tile [0, n) in order, none crossing `core`.
            let mut next = 0;
            for &(s, e) in &sched.blocks {
                assert_eq!(s, next);
                assert!(e > s && e - s <= block && !(s < core && e > core));
                next = e;
            }
            assert_eq!(next, n);
            let mut seen = vec![0; sched.blocks.len()];
            for (g, group) in sched.groups.iter().enumerate() {
                for colour in group {
                    let mut owner: Vec<Vec<usize>> =
                        spaces.iter().map(|&k| vec![usize::MAX; k]).collect();
                    for &b in colour {
                        seen[b] += 1;
                        let (s, e) = sched.blocks[b];
                        assert_eq!(s >= core, g == 1, "block in the wrong group");
                        for_each_target((s, e), None, &written, |sp, t| {
                            assert!(
                                owner[sp][t] == usize::MAX || owner[sp][t] == b,
                                "case {case}: blocks {} and {b} of one colour share target {t} of space {sp}",
                                owner[sp][t]
                            );
                            owner[sp][t] = b;
                        });
                    }
                }
            }
            assert!(seen.iter().all(|&c| c == 1));
        }
    }

    #[test]
    fn without_indirect_writes_one_colour() {
        let s = build(10, 25, None, 4, &[], &[]);
        assert_eq!(s.blocks.len(), 3 + 4);
        assert_eq!(s.groups[0], vec![vec![0, 1, 2]]);
        assert_eq!(s.groups[1], vec![vec![3, 4, 5, 6]]);
    }
}
