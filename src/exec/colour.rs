//! Thread schedules for threaded par_loops: which elements each thread runs, in which phase.
//!
//! Owns the decision of what runs concurrently; never runs anything (that is `blocks.rs`).
//! Core elements `[0, core)` and boundary elements `[core, owned)` are scheduled separately,
//! so the core can run while halo messages fly. A schedule is a list of **phases** run one
//! after another; in a phase each thread runs its own list of blocks (element ranges) in
//! order, and blocks of different threads in one phase never write the same target entry.
//!
//! - **Direct** (nothing written through a map): one contiguous range per thread, one phase.
//! - **Indirect writes** (partition-then-colour, as OP2/PyOP2): the group is cut into
//!   `block_size` blocks and the blocks into one contiguous partition per thread. A block is
//!   *interior* when every target it writes is written from its own partition only: a
//!   partition's interior blocks run in the first phase on its thread, consecutive ones merged
//!   into one range. The remaining *seam* blocks are coloured greedily (64 colours per bit-mask
//!   pass, a block takes the lowest colour no earlier block sharing a target has taken); each
//!   colour is a phase whose blocks are cut into one contiguous run per thread.
//!
//! The schedule depends only on the iteration set's layering, the block size, the thread count
//! and the maps written through, so it is built once per identity in the iteration set's object
//! cache (`object:Colouring` in the report) and freed with the set. It holds index lists only.

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

/// Per thread, the blocks (indices into [`Schedule::blocks`]) it runs in one phase, in order.
pub(crate) type Phase = Vec<Vec<usize>>;

/// The blocks of a threaded loop and the phases they run in.
#[derive(Debug)]
pub(crate) struct Schedule {
    /// Every block, in element order: core blocks, then boundary blocks.
    pub(crate) blocks: Vec<(usize, usize)>,
    /// `[core, boundary]`: the phases of each group, in the order they run.
    pub(crate) groups: [Vec<Phase>; 2],
}

impl Schedule {
    /// Bytes held (for the cache report).
    pub(crate) fn bytes(&self) -> u64 {
        (self.blocks.len() * (16 + 8) + std::mem::size_of::<Schedule>()) as u64
    }
}

/// The cache key words of a schedule: the set's layering, the block size, the thread count and
/// the written targets (space ids and map ids, sorted).
pub(crate) fn key(set: &Set, block: usize, threads: usize, written: &[(u64, u64)]) -> Vec<u64> {
    let mut w: Vec<(u64, u64)> = written.to_vec();
    w.sort_unstable();
    w.dedup();
    let mut k = vec![
        block as u64,
        threads as u64,
        set.core_size() as u64,
        set.size() as u64,
    ];
    for (s, m) in w {
        k.extend([s, m]);
    }
    k
}

/// The schedule of `[0, core)` and `[core, owned)` on `threads` threads with seam blocks of
/// `block` elements. `spaces[s]` is the size of target space `s`. `indices`: a Subset's index
/// table (blocks are ranges of its positions; the targets of position `p` are those of element
/// `indices[p]`).
pub(crate) fn build(
    core: usize,
    owned: usize,
    indices: Option<&[i32]>,
    block: usize,
    threads: usize,
    spaces: &[usize],
    written: &[Written],
) -> Schedule {
    let mut sched = Schedule {
        blocks: Vec::new(),
        groups: [Vec::new(), Vec::new()],
    };
    let mut scratch = Scratch {
        block: block.max(1),
        threads: threads.max(1),
        masks: spaces.iter().map(|&n| vec![0u64; n]).collect(),
        owner: spaces.iter().map(|&n| vec![FREE; n]).collect(),
    };
    for (g, (lo, hi)) in [(0, core), (core, owned)].into_iter().enumerate() {
        sched.groups[g] = if written.is_empty() {
            direct(&mut sched.blocks, lo, hi, scratch.threads)
        } else {
            scratch.partitioned(&mut sched.blocks, (lo, hi), indices, written)
        };
    }
    sched
}

/// `[lo, hi)` as one contiguous range per thread (fewer if it has fewer elements), one phase.
fn direct(blocks: &mut Vec<(usize, usize)>, lo: usize, hi: usize, threads: usize) -> Vec<Phase> {
    let n = hi - lo;
    if n == 0 {
        return Vec::new();
    }
    let parts = threads.min(n);
    let mut phase: Phase = vec![Vec::new(); threads];
    for (p, own) in phase.iter_mut().enumerate().take(parts) {
        own.push(blocks.len());
        blocks.push((lo + n * p / parts, lo + n * (p + 1) / parts));
    }
    vec![phase]
}

/// A target entry no block has written yet / written from more than one partition.
const FREE: u32 = u32::MAX;
const SHARED: u32 = u32::MAX - 1;

/// Working storage of [`build`], sized by the target spaces once for both groups.
struct Scratch {
    block: usize,
    threads: usize,
    /// Per space, per entry: colour bits of the current pass.
    masks: Vec<Vec<u64>>,
    /// Per space, per entry: the partition writing it, [`FREE`] or [`SHARED`].
    owner: Vec<Vec<u32>>,
}

impl Scratch {
    /// Partition-then-colour of `[lo, hi)` (see the module documentation).
    fn partitioned(
        &mut self,
        blocks: &mut Vec<(usize, usize)>,
        (lo, hi): (usize, usize),
        indices: Option<&[i32]>,
        written: &[Written],
    ) -> Vec<Phase> {
        if hi == lo {
            return Vec::new();
        }
        let nb = (hi - lo).div_ceil(self.block);
        let parts = self.threads.min(nb);
        let part_of = |k: usize| k * parts / nb;
        let range = |k: usize| (lo + k * self.block, (lo + (k + 1) * self.block).min(hi));
        for o in self.owner.iter_mut() {
            o.fill(FREE);
        }
        for k in 0..nb {
            let p = part_of(k) as u32;
            let (s, e) = range(k);
            let owner = &mut self.owner;
            for_each_target((s, e), indices, written, |sp, t| {
                let o = &mut owner[sp][t];
                if *o == FREE {
                    *o = p;
                } else if *o != p {
                    *o = SHARED;
                }
            });
        }
        let seam: Vec<bool> = (0..nb)
            .map(|k| {
                let (s, e) = range(k);
                let mut shared = false;
                for_each_target((s, e), indices, written, |sp, t| {
                    shared |= self.owner[sp][t] == SHARED
                });
                shared
            })
            .collect();
        let mut interior: Phase = vec![Vec::new(); self.threads];
        let mut seams = Vec::new();
        let mut k = 0;
        while k < nb {
            let p = part_of(k);
            if seam[k] {
                seams.push(blocks.len());
                blocks.push(range(k));
                k += 1;
                continue;
            }
            let mut j = k + 1;
            while j < nb && !seam[j] && part_of(j) == p {
                j += 1;
            }
            interior[p].push(blocks.len());
            blocks.push((range(k).0, range(j - 1).1));
            k = j;
        }
        let mut phases = Vec::new();
        if interior.iter().any(|l| !l.is_empty()) {
            phases.push(interior);
        }
        for c in colour(blocks, &seams, &mut self.masks, written, indices) {
            let t = self.threads;
            phases.push(
                (0..t)
                    .map(|i| c[c.len() * i / t..c.len() * (i + 1) / t].to_vec())
                    .collect(),
            );
        }
        phases
    }
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
    if ids.is_empty() {
        return Vec::new();
    }
    if written.is_empty() {
        return vec![ids.to_vec()];
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
                // A negative entry ("no entry", Mat rows only) writes nothing.
                for &t in m.values()[s * a..e * a].iter().filter(|&&t| t >= 0) {
                    f(w.space, t as usize);
                }
            }
            (Some(m), Some(_)) => {
                let a = m.arity();
                for n in (s..e).map(element) {
                    for &t in m.values()[n * a..(n + 1) * a].iter().filter(|&&t| t >= 0) {
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

    /// Checks a schedule: its blocks tile `[0, owned)` in order without crossing `core`, each
    /// block runs exactly once, in its own group, and within a phase no two threads' blocks
    /// share a target.
    fn check(
        sched: &Schedule,
        core: usize,
        owned: usize,
        threads: usize,
        spaces: &[usize],
        written: &[Written],
        case: usize,
    ) {
        let mut next = 0;
        for &(s, e) in &sched.blocks {
            assert_eq!(s, next);
            assert!(e > s && !(s < core && e > core));
            next = e;
        }
        assert_eq!(next, owned);
        let mut seen = vec![0; sched.blocks.len()];
        for (g, group) in sched.groups.iter().enumerate() {
            for phase in group {
                assert_eq!(phase.len(), threads);
                let mut owner: Vec<Vec<usize>> =
                    spaces.iter().map(|&k| vec![usize::MAX; k]).collect();
                for (t, list) in phase.iter().enumerate() {
                    for &b in list {
                        seen[b] += 1;
                        let (s, e) = sched.blocks[b];
                        assert_eq!(s >= core, g == 1, "block in the wrong group");
                        for_each_target((s, e), None, written, |sp, x| {
                            assert!(
                                owner[sp][x] == usize::MAX || owner[sp][x] == t,
                                "case {case}: threads {} and {t} share target {x} of space {sp} in one phase",
                                owner[sp][x]
                            );
                            owner[sp][x] = t;
                        });
                    }
                }
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
    }

    /// Property: over random meshes (random maps: mostly seams; banded maps: mostly interior)
    /// and 1-4 threads, threads of one phase never share a target and every owned element is
    /// in exactly one block of its group.
    #[test]
    fn no_two_threads_of_a_phase_share_a_target_on_random_meshes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        for case in 0..80 {
            let n = rng.gen_range(0..3000);
            let core = rng.gen_range(0..=n);
            let nt = rng.gen_range(1..200);
            let nt2 = rng.gen_range(1..50);
            let block = rng.gen_range(1..300);
            let threads = rng.gen_range(1..=4);
            let banded = case % 4 == 1;
            let from = Set::new(n).unwrap();
            let to = Set::new(nt).unwrap();
            let to2 = Set::new(nt2).unwrap();
            let arity = rng.gen_range(1..5);
            let values: Vec<i32> = (0..n * arity)
                .map(|i| {
                    if banded {
                        ((i / arity * nt / n.max(1) + rng.gen_range(0..3)) % nt) as i32
                    } else {
                        rng.gen_range(0..nt as i32)
                    }
                })
                .collect();
            let m1 = Map::new(&from, &to, arity, values).unwrap();
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
            let sched = build(core, n, None, block, threads, &spaces, &written);
            check(&sched, core, n, threads, &spaces, &written, case);
        }
    }

    /// A banded mesh on 2 threads: only blocks near the partition boundary are seams, the rest
    /// run as one interior range per thread.
    #[test]
    fn partition_then_colour_colours_only_the_seam() {
        let n = 10_000;
        let from = Set::new(n).unwrap();
        let to = Set::new(n + 1).unwrap();
        let m = Map::new(
            &from,
            &to,
            2,
            (0..n).flat_map(|e| [e as i32, e as i32 + 1]).collect(),
        )
        .unwrap();
        let written = [Written {
            space: 0,
            map: Some(&m),
        }];
        let sched = build(n, n, None, 100, 2, &[n + 1], &written);
        check(&sched, n, n, 2, &[n + 1], &written, 0);
        let phases = &sched.groups[0];
        // Blocks 49 and 50 share target 5000: two seam blocks, in two colours.
        assert_eq!(
            sched.blocks,
            vec![(0, 4900), (4900, 5000), (5000, 5100), (5100, 10_000)]
        );
        assert_eq!(phases[0], vec![vec![0], vec![3]], "{sched:?}");
        assert_eq!(phases.len(), 3, "two seam colours: {sched:?}");
    }

    #[test]
    fn without_indirect_writes_one_range_per_thread() {
        let s = build(10, 25, None, 4, 2, &[], &[]);
        assert_eq!(s.blocks, vec![(0, 5), (5, 10), (10, 17), (17, 25)]);
        assert_eq!(s.groups[0], vec![vec![vec![0], vec![1]]]);
        assert_eq!(s.groups[1], vec![vec![vec![2], vec![3]]]);
        let s = build(1, 1, None, 4, 3, &[], &[]);
        assert_eq!(s.groups[0], vec![vec![vec![0], vec![], vec![]]]);
        assert!(s.groups[1].is_empty());
    }
}
