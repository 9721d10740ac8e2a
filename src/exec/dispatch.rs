//! par_loop's dispatch slots: the loaded code and plan of a loop seen before, found again from
//! the arguments' identities without validating, building a class key or taking a lock.
//!
//! Owns a small per-thread table from a loop's *identity words* to the class-cache entry and
//! the plan the full path (`parloop::resolve`: validation, class key, class cache, plan cache)
//! found for them. The words are everything that path reads from the call:
//!
//! * the kernel's hash (name, source, flags), the iteration set's id and the configuration's
//!   epoch (compiler, flags, threads, block size; `config::epoch`);
//! * per argument its kind and access, and for a Dat its DataSet id (its set and dim), dtype,
//!   Map id and index, for a Global its dtype and dim, for a Mat its Sparsity id and Map ids;
//!   for Dats and Mats the aliasing pattern (the first argument naming the same object).
//!
//! The table is per thread (no lock, no shared line), in buckets found from the kernel, set and
//! argument count, two loops each; a call's words are compared against a bucket's as they are
//! computed and stored only when the full path remembers them.
//!
//! Each of those ids names an object whose set, dim, dtype, arity, targets and sparsity never
//! change, and ids are never reused, so equal words mean the full path would validate the same
//! way, compute the same class key and plan key, and find the same entries. Dats are in the
//! words through their DataSet only (as in the plan key), so a loop over fresh temporaries
//! still hits. A changed map, index, access, dim, dtype, set, kernel or configuration gives
//! other words: a miss, and the full path.
//!
//! A hit still behaves as the full path's hits do: the class-cache entry must still be cached
//! (an evicted one is a miss, which the full path counts and reloads: every rank evicts the
//! same entries in the same order, so hits stay agreed across ranks), its LRU tick and both
//! caches' hit counters are updated. Entries are remembered weakly: a slot keeps neither a
//! library nor a plan (nor the set owning it) alive.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use crate::build::Held;
use crate::cache::memory::ClassCache;
use crate::cache::object::Entry;
use crate::cache::stats;
use crate::data::set::Set;
use crate::exec::arg::{first_alias, Arg, ArgKind, Path};
use crate::exec::plan::{self, LoopPlan};
use crate::jit::kernel::Kernel;

/// Buckets per thread, found from the kernel, the iteration set and the argument count; each
/// holds the last [`WAYS`] loops seen with those (most recent first). A loop finding its bucket
/// full of other loops takes the full path and replaces the oldest.
const BUCKETS: usize = 128;
const WAYS: usize = 2;

const HEADER: usize = 5;

/// One call's identity (see the module documentation): compared word by word against the
/// remembered loops as it is computed, never stored on a hit.
pub(crate) struct Ident<'a> {
    header: [u64; HEADER],
    args: &'a [Arg],
}

struct Remembered {
    words: Box<[u64]>,
    class: Weak<Held>,
    plan: Weak<Entry<LoopPlan>>,
}

thread_local! {
    static TABLE: RefCell<Vec<[Option<Remembered>; WAYS]>> = const { RefCell::new(Vec::new()) };
}

fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

impl<'a> Ident<'a> {
    /// The identity of `kernel` over `set` with `args`. `epoch` is the configuration epoch,
    /// read before the full path reads the configuration.
    pub(crate) fn of(kernel: &Kernel, set: &Set, args: &'a [Arg], epoch: u64) -> Ident<'a> {
        let kh = kernel.0.hash;
        Ident {
            header: [
                kh as u64,
                (kh >> 64) as u64,
                set.id(),
                epoch,
                args.len() as u64,
            ],
            args,
        }
    }

    fn bucket(&self) -> usize {
        let h = &self.header;
        let x = mix(mix(mix(h[0], h[2]), h[4]), h[1]);
        (x >> 32) as usize % BUCKETS
    }

    /// Every identity word, in order (the full path's copy, kept by [`Ident::remember`]).
    fn words(&self) -> Vec<u64> {
        let mut w = Vec::with_capacity(HEADER + 4 * self.args.len());
        w.extend_from_slice(&self.header);
        for (i, a) in self.args.iter().enumerate() {
            w.extend_from_slice(&arg_words(self.args, i, a));
        }
        w
    }

    /// Whether `words` are this call's identity words.
    fn is(&self, words: &[u64]) -> bool {
        words.len() == HEADER + 4 * self.args.len()
            && words[..HEADER] == self.header
            && (self.args.iter().enumerate()).all(|(i, a)| {
                words[HEADER + 4 * i..HEADER + 4 * i + 4] == arg_words(self.args, i, a)
            })
    }

    /// The class-cache entry and plan remembered for these words, if both are still live and
    /// the entry still cached; counts the hits as the full path would.
    pub(crate) fn find(&self) -> Option<(Arc<Held>, Arc<Entry<LoopPlan>>)> {
        let (class, plan) = TABLE.with(|t| {
            let t = t.borrow();
            let r = t
                .get(self.bucket())?
                .iter()
                .flatten()
                .find(|r| self.is(&r.words))?;
            Some((r.class.upgrade()?, r.plan.upgrade()?))
        })?;
        if !ClassCache::touch(&class) {
            return None;
        }
        static PLAN_HITS: stats::HitCounter = stats::HitCounter::new(plan::CACHE_NAME);
        PLAN_HITS.hit();
        Some((class, plan))
    }

    /// Remember what the full path found for these words (first in its bucket, the oldest
    /// other loop there forgotten).
    pub(crate) fn remember(&self, class: &Arc<Held>, plan: &Arc<Entry<LoopPlan>>) {
        let words = self.words();
        let r = Remembered {
            words: words.into(),
            class: Arc::downgrade(class),
            plan: Arc::downgrade(plan),
        };
        let b = self.bucket();
        TABLE.with(|t| {
            let mut t = t.borrow_mut();
            if t.is_empty() {
                t.resize_with(BUCKETS, Default::default);
            }
            let ways = &mut t[b];
            // This loop's own older entry (an evicted class or plan) goes; otherwise the oldest.
            let k = (ways.iter())
                .position(|w| w.as_ref().is_some_and(|w| *w.words == *r.words))
                .unwrap_or(WAYS - 1);
            ways[..=k].rotate_right(1);
            ways[0] = Some(r);
        });
    }
}

/// The four identity words of argument `i` (`a`) of `args`.
fn arg_words(args: &[Arg], i: usize, a: &Arg) -> [u64; 4] {
    match &a.0 {
        ArgKind::Dat {
            dat,
            path,
            access,
            view,
        } => {
            let first = first_alias(args, i);
            let (kind, map, idx) = match path {
                Path::Direct => (1u64, 0, 0),
                Path::Index(m, idx) => (2, m.id(), *idx as u64),
                Path::Vector(m) => (3, m.id(), 0),
            };
            // A DatView's component in the high half (map indices fit in the low one).
            let idx = idx | view.map_or(0, |c| c as u64 + 1) << 32;
            [
                kind << 56 | access.tag() << 48 | (dat.dtype().tag() as u64) << 40 | first as u64,
                dat.dataset().id(),
                map,
                idx,
            ]
        }
        ArgKind::Global { global, access } => [
            4u64 << 56 | access.tag() << 48 | (global.dtype().tag() as u64) << 40,
            global.dim() as u64,
            0,
            0,
        ],
        ArgKind::Mat {
            mat,
            rmap,
            cmap,
            access,
        } => {
            let first = first_alias(args, i);
            [
                5u64 << 56 | access.tag() << 48 | first as u64,
                mat.sparsity().id(),
                rmap.id(),
                cmap.id(),
            ]
        }
    }
}

/// Identity words: equal exactly when the full path would find the same entries (no MPI, no
/// compiler: words are computed from the arguments alone).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::access::Access;
    use crate::data::dat::{Dat, Global};
    use crate::data::dataset::DataSet;
    use crate::data::map::Map;
    use crate::dtype::DType;
    use crate::linalg::mat::Mat;
    use crate::linalg::sparsity::Sparsity;

    const CODE: &str = "void k(double *a, double *b, double *g) { *b += *a; *g += 1; }";

    fn words(kernel: &Kernel, set: &Set, args: &[Arg], epoch: u64) -> Vec<u64> {
        let id = Ident::of(kernel, set, args, epoch);
        let w = id.words();
        assert!(id.is(&w), "a call's identity matches its own words");
        w
    }

    #[test]
    fn identity_words_differ_when_any_descriptor_differs() {
        let k = Kernel::new("k", CODE).unwrap();
        let (cells, nodes) = (Set::new(2).unwrap(), Set::new(3).unwrap());
        let pcell = Map::new(&cells, &nodes, 2, vec![0, 1, 1, 2]).unwrap();
        let pcell2 = Map::new(&cells, &nodes, 2, vec![0, 1, 1, 2]).unwrap();
        let n1 = DataSet::new(&nodes, 1).unwrap();
        let c1 = DataSet::new(&cells, 1).unwrap();
        let x = Dat::zeros(&n1, DType::F64);
        let y = Dat::zeros(&c1, DType::F64);
        let g = Global::new(vec![0.0f64]).unwrap();
        let base_args = |x: &Dat, y: &Dat| {
            vec![
                x.arg_map(Access::Read, &pcell, 0),
                y.arg(Access::Inc),
                g.arg(Access::Inc),
            ]
        };
        let base = words(&k, &cells, &base_args(&x, &y), 7);
        // The same call again, and one over fresh Dats on the same DataSets: the same words
        // (temporaries still hit).
        assert_eq!(words(&k, &cells, &base_args(&x, &y), 7), base);
        let (x2, y2) = (Dat::zeros(&n1, DType::F64), Dat::zeros(&c1, DType::F64));
        assert_eq!(words(&k, &cells, &base_args(&x2, &y2), 7), base);

        let sp = Sparsity::new(&n1, &n1, &[(pcell.clone(), pcell.clone())]).unwrap();
        let mat = Mat::new(&sp, DType::F64).unwrap();
        let with = |i: usize, a: Arg| {
            let mut v = base_args(&x, &y);
            v[i] = a;
            v
        };
        let n2 = DataSet::new(&nodes, 2).unwrap();
        let variants: Vec<(&str, Vec<u64>)> = vec![
            ("other kernel source", {
                let k2 = Kernel::new("k", &format!("{CODE}\n")).unwrap();
                words(&k2, &cells, &base_args(&x, &y), 7)
            }),
            ("other kernel flags", {
                let k2 = Kernel::with_flags("k", CODE, &["-DX=1"]).unwrap();
                words(&k2, &cells, &base_args(&x, &y), 7)
            }),
            ("other iteration set", {
                let cells2 = Set::new(2).unwrap();
                words(&k, &cells2, &base_args(&x, &y), 7)
            }),
            (
                "other configuration epoch",
                words(&k, &cells, &base_args(&x, &y), 8),
            ),
            (
                "other access",
                words(&k, &cells, &with(0, x.arg_map(Access::RW, &pcell, 0)), 7),
            ),
            (
                "other map index",
                words(&k, &cells, &with(0, x.arg_map(Access::Read, &pcell, 1)), 7),
            ),
            (
                "other map",
                words(&k, &cells, &with(0, x.arg_map(Access::Read, &pcell2, 0)), 7),
            ),
            (
                "vector map",
                words(&k, &cells, &with(0, x.arg_vec(Access::Read, &pcell)), 7),
            ),
            ("other dim", {
                let x3 = Dat::zeros(&n2, DType::F64);
                words(&k, &cells, &with(0, x3.arg_map(Access::Read, &pcell, 0)), 7)
            }),
            ("other dtype", {
                let x3 = Dat::zeros(&n1, DType::F32);
                words(&k, &cells, &with(0, x3.arg_map(Access::Read, &pcell, 0)), 7)
            }),
            ("direct instead of a map", {
                let y3 = Dat::zeros(&c1, DType::F64);
                words(&k, &cells, &with(0, y3.arg(Access::Read)), 7)
            }),
            ("aliased arguments", {
                // y twice instead of y and a fresh Dat on the same DataSet.
                let y3 = Dat::zeros(&c1, DType::F64);
                let a = vec![y.arg(Access::Read), y.arg(Access::Inc), g.arg(Access::Inc)];
                let b = vec![y3.arg(Access::Read), y.arg(Access::Inc), g.arg(Access::Inc)];
                let (wa, wb) = (words(&k, &cells, &a, 7), words(&k, &cells, &b, 7));
                assert_ne!(wa, wb, "aliasing pattern");
                wa
            }),
            ("global dim", {
                let g2 = Global::new(vec![0.0f64; 2]).unwrap();
                words(&k, &cells, &with(2, g2.arg(Access::Inc)), 7)
            }),
            ("global dtype", {
                let g2 = Global::new(vec![0i32]).unwrap();
                words(&k, &cells, &with(2, g2.arg(Access::Inc)), 7)
            }),
            (
                "global access",
                words(&k, &cells, &with(2, g.arg(Access::Max)), 7),
            ),
            (
                "a Mat argument",
                words(
                    &k,
                    &cells,
                    &with(1, mat.arg(Access::Inc, (&pcell, &pcell))),
                    7,
                ),
            ),
            (
                "fewer arguments",
                words(&k, &cells, &base_args(&x, &y)[..2], 7),
            ),
        ];
        let call = base_args(&x, &y);
        let ident = Ident::of(&k, &cells, &call, 7);
        for (what, w) in &variants {
            assert_ne!(w, &base, "{what}: same identity words as the base loop");
            assert!(!ident.is(w), "{what}: the base call matches its words");
        }
        // The Mat's words name its sparsity and maps: another sparsity or map differs too
        // (the same maps give the same, cached, sparsity; other maps another one).
        let sp2 = Sparsity::new(&n1, &n1, &[(pcell2.clone(), pcell2.clone())]).unwrap();
        let mat2 = Mat::new(&sp2, DType::F64).unwrap();
        let m = |mat: &Mat, r: &Map, c: &Map| {
            words(&k, &cells, &with(1, mat.arg(Access::Inc, (r, c))), 7)
        };
        let wm = m(&mat, &pcell, &pcell);
        assert_ne!(m(&mat2, &pcell, &pcell), wm, "other sparsity");
        assert_ne!(m(&mat, &pcell2, &pcell), wm, "other row map");
        assert_ne!(m(&mat, &pcell, &pcell2), wm, "other column map");
        // Many arguments: every one is in the words.
        let many: Vec<Arg> = (0..12).map(|_| y.arg(Access::Read)).collect();
        let w12 = words(&k, &cells, &many, 7);
        assert_eq!(w12.len(), HEADER + 4 * 12);
        assert_eq!(words(&k, &cells, &many, 7), w12);
        assert_ne!(words(&k, &cells, &many[..11], 7), w12[..HEADER + 4 * 11]);
    }
}
