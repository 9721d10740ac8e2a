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
use crate::exec::plan::{self, Plan};
use crate::jit::kernel::Kernel;

/// Slots per thread (direct-mapped on the words' hash): a colliding loop takes the full path
/// and replaces the slot.
const SLOTS: usize = 256;

const HEADER: usize = 5;
/// Identity words kept on the stack: the header and 8 arguments (longer loops use the heap).
const INLINE: usize = HEADER + 4 * 8;

/// Storage for one call's identity words, in the caller's frame (never moved).
pub(crate) struct Words {
    inline: [u64; INLINE],
    spill: Vec<u64>,
}

impl Words {
    pub(crate) fn new() -> Words {
        Words {
            inline: [0; INLINE],
            spill: Vec::new(),
        }
    }
}

/// One call's identity (see the module documentation).
pub(crate) struct Ident<'w> {
    words: &'w [u64],
    hash: u64,
}

struct Remembered {
    words: Box<[u64]>,
    class: Weak<Held>,
    plan: Weak<Entry<Plan>>,
}

thread_local! {
    static TABLE: RefCell<Vec<Option<Remembered>>> = const { RefCell::new(Vec::new()) };
}

fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

impl<'w> Ident<'w> {
    /// The identity of `kernel` over `set` with `args`, written into `buf`. `epoch` is the
    /// configuration epoch, read before the full path reads the configuration.
    pub(crate) fn of(
        kernel: &Kernel,
        set: &Set,
        args: &[Arg],
        epoch: u64,
        buf: &'w mut Words,
    ) -> Ident<'w> {
        let len = HEADER + 4 * args.len();
        let words: &'w mut [u64] = if len <= INLINE {
            &mut buf.inline[..len]
        } else {
            buf.spill.resize(len, 0);
            &mut buf.spill
        };
        let kh = kernel.0.hash;
        words[..HEADER].copy_from_slice(&[
            kh as u64,
            (kh >> 64) as u64,
            set.id(),
            epoch,
            args.len() as u64,
        ]);
        for (i, (a, w)) in args
            .iter()
            .zip(words[HEADER..].chunks_exact_mut(4))
            .enumerate()
        {
            w.copy_from_slice(&arg_words(args, i, a));
        }
        let hash = words.iter().fold(0, |h, &w| mix(h, w));
        Ident { words, hash }
    }

    fn slot(&self) -> usize {
        (self.hash >> 32) as usize % SLOTS
    }

    /// The class-cache entry and plan remembered for these words, if both are still live and
    /// the entry still cached; counts the hits as the full path would.
    pub(crate) fn find(&self) -> Option<(Arc<Held>, Arc<Entry<Plan>>)> {
        let (class, plan) = TABLE.with(|t| {
            let t = t.borrow();
            let r = t.get(self.slot())?.as_ref()?;
            if *r.words != *self.words {
                return None;
            }
            Some((r.class.upgrade()?, r.plan.upgrade()?))
        })?;
        if !ClassCache::touch(&class) {
            return None;
        }
        static PLAN_HITS: stats::HitCounter = stats::HitCounter::new(plan::CACHE_NAME);
        PLAN_HITS.hit();
        Some((class, plan))
    }

    /// Remember what the full path found for these words.
    pub(crate) fn remember(&self, class: &Arc<Held>, plan: &Arc<Entry<Plan>>) {
        let r = Remembered {
            words: self.words.into(),
            class: Arc::downgrade(class),
            plan: Arc::downgrade(plan),
        };
        let i = self.slot();
        TABLE.with(|t| {
            let mut t = t.borrow_mut();
            if t.is_empty() {
                t.resize_with(SLOTS, || None);
            }
            t[i] = Some(r);
        });
    }
}

/// The four identity words of argument `i` (`a`) of `args`.
fn arg_words(args: &[Arg], i: usize, a: &Arg) -> [u64; 4] {
    match &a.0 {
        ArgKind::Dat { dat, path, access } => {
            let first = first_alias(args, i);
            let (kind, map, idx) = match path {
                Path::Direct => (1u64, 0, 0),
                Path::Index(m, idx) => (2, m.id(), *idx as u64),
                Path::Vector(m) => (3, m.id(), 0),
            };
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
