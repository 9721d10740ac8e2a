//! Loop execution plans: what a par_loop works out once and reuses on every call.
//!
//! A plan holds what does not change between calls of the same loop: which arguments name the
//! same Dat or Mat (the unique targets and their access), which Dats may need a halo refresh
//! before and which travel back to their owners after, the halo entries an indirect WRITE/RW
//! touches (a full pass over the maps, once), the Mat map-pair positions and halo-row masks,
//! the Global reduction layout, and the kernel's timing slot. The run step (`parloop`) takes
//! the live objects from the call's arguments and does only the exchanges and the calls.
//!
//! # Identity and lifetime
//! Plans live in the iteration set's object cache, so they are freed with the set. A plan
//! holds no Dat, Mat, Map or Set handle (that would keep data alive in the set's cache, and
//! `Set -> cache -> plan -> Dat -> DataSet -> Set` would be a reference cycle that never
//! frees): it holds only derived index lists and masks. Its key is made of identities:
//! the loop's class key (kernel, argument shapes, toolchain, communicator), the iteration set
//! (it is the cache owner), and per argument the ids of the Maps, Sparsities and the argument
//! aliasing pattern (which earlier argument names the same Dat/Mat). Dats themselves are not
//! in the key: everything a plan derives from a Dat (its set through the map, dim, dtype) is
//! already fixed by the maps and the shapes, so a loop over fresh temporaries on every time
//! step reuses one plan instead of filling the set's cache with one plan per temporary.

use std::sync::Arc;

use crate::cache::object::Entry;
use crate::data::access::Access;
use crate::data::set::Set;
use crate::error::Result;
use crate::exec::arg::{first_alias, Arg, ArgKind, Path};
use crate::exec::colour::{self, Schedule, Written};
use crate::exec::threads;
use crate::exec::timing::{self, TimingSlot};

/// Cache name of plans in reports.
pub const CACHE_NAME: &str = "object:Plan";

/// What argument `i` is, in terms of the plan's unique targets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ArgSlot {
    /// Unique Dat number `u` (an index into [`LoopPlan::dats`]).
    Dat(usize),
    /// A Global (its reduction buffer is the argument's own).
    Global(Access),
    /// Unique Mat number `m`, through map pair number `pair` of its Sparsity.
    Mat { m: usize, pair: usize },
}

/// How one unique Dat takes part in the loop.
#[derive(Debug)]
pub(crate) struct DatPlan {
    /// The first argument that names it (where the run step finds the live Dat).
    pub(crate) arg: usize,
    pub(crate) access: Access,
    /// Reached through a map on a distributed mesh: takes part in halo exchanges.
    pub(crate) exchanges: bool,
    /// For indirect WRITE/RW with exchanges: halo entries of its set reached from owned
    /// elements (what is sent back to the owners).
    pub(crate) touched: Vec<bool>,
}

/// How one unique Mat takes part in the loop.
#[derive(Debug)]
pub(crate) struct MatPlan {
    /// The first argument that names it.
    pub(crate) arg: usize,
    pub(crate) access: Access,
    /// For WRITE on a distributed Sparsity: halo-row blocks this loop stores into.
    pub(crate) halo_touched: Vec<bool>,
}

/// A loop execution plan (see the module documentation).
pub(crate) struct LoopPlan {
    pub(crate) slots: Vec<ArgSlot>,
    pub(crate) dats: Vec<DatPlan>,
    pub(crate) mats: Vec<MatPlan>,
    /// Indices into `dats` of indirect READ/RW Dats that exchange, and of indirect WRITEs
    /// through a DatView (refreshed before the loop when their halo copies are stale).
    pub(crate) refresh: Vec<usize>,
    /// True if any Global is reduced (INC/MIN/MAX).
    pub(crate) reduces: bool,
    pub(crate) timing: Arc<TimingSlot>,
    /// Blocks, their colouring and the pool, when the loop runs on several threads.
    pub(crate) threaded: Option<Threaded>,
    /// Only Dats, no halo exchange, no Global, no Mat, one thread: the run step is lock, call,
    /// mark written halos stale.
    pub(crate) plain: bool,
}

impl LoopPlan {
    fn is_plain(&self) -> bool {
        self.mats.is_empty()
            && self.threaded.is_none()
            && self.dats.iter().all(|d| !d.exchanges)
            && self.slots.iter().all(|s| matches!(s, ArgSlot::Dat(_)))
    }
}

/// How a loop runs on several threads.
pub(crate) struct Threaded {
    pub(crate) pool: Arc<rayon::ThreadPool>,
    /// Cached on the iteration set too (shared by loops writing through the same maps).
    pub(crate) schedule: Arc<Entry<Schedule>>,
}

impl std::fmt::Debug for LoopPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopPlan")
            .field("slots", &self.slots)
            .field("dats", &self.dats.len())
            .field("mats", &self.mats.len())
            .finish()
    }
}

/// The plan of a loop over `set` with `args` (already validated), whose class key is
/// `class_key`: from the set's object cache, built on a miss.
/// `threads` and `block` are the thread count and block size in force; `no_colour` is the
/// test-only switch `OP2_TEST_NO_COLOUR` (every block in one colour: wrong answers).
pub(crate) fn plan_for(
    kernel_name: &str,
    class_key: u128,
    set: &Set,
    args: &[Arg],
    threads: usize,
    block: usize,
    no_colour: bool,
) -> Result<Arc<Entry<LoopPlan>>> {
    set.cache().get_or_try_insert(
        CACHE_NAME,
        key(class_key, args, threads, block, no_colour),
        |_| {
            let mut plan = build(kernel_name, set, args);
            if threads > 1 && set.size() > block {
                plan.threaded = Some(Threaded {
                    pool: threads::pool(threads)?,
                    schedule: schedule(set, args, block, threads, no_colour)?,
                });
            }
            plan.plain = plan.is_plain();
            let bytes = std::mem::size_of::<LoopPlan>()
                + plan.slots.len() * std::mem::size_of::<ArgSlot>()
                + plan
                    .dats
                    .iter()
                    .map(|d| std::mem::size_of::<DatPlan>() + d.touched.len())
                    .sum::<usize>()
                + plan
                    .mats
                    .iter()
                    .map(|m| std::mem::size_of::<MatPlan>() + m.halo_touched.len())
                    .sum::<usize>();
            Ok((plan, bytes as u64))
        },
    )
}

/// The plan key: identities only (see the module documentation).
fn key(class_key: u128, args: &[Arg], threads: usize, block: usize, no_colour: bool) -> Vec<u64> {
    let mut k = Vec::with_capacity(5 + 4 * args.len());
    k.push(class_key as u64);
    k.push((class_key >> 64) as u64);
    k.push(threads as u64);
    k.push(block as u64);
    k.push(no_colour as u64);
    for (i, a) in args.iter().enumerate() {
        match &a.0 {
            ArgKind::Dat { path, .. } => {
                k.push(1 + first_alias(args, i) as u64);
                match path {
                    Path::Direct => k.push(0),
                    Path::Index(m, _) | Path::Vector(m) => k.push(m.id()),
                }
            }
            ArgKind::Global { .. } => k.push(0),
            ArgKind::Mat {
                mat, rmap, cmap, ..
            } => {
                k.push(1 + first_alias(args, i) as u64);
                k.push(mat.sparsity().id());
                k.push(rmap.id());
                k.push(cmap.id());
            }
        }
    }
    k
}

fn build(kernel_name: &str, set: &Set, args: &[Arg]) -> LoopPlan {
    let (slots, mut dats, mut mats) = slots(args);
    dat_halos(set, args, &slots, &mut dats);
    mat_halo_touched(set, args, &slots, &mut mats);
    // An indirect WRITE through a DatView sends whole elements back to their owners, so the
    // components it does not write must be current in the halo copies: refresh those too.
    let viewed = |u: usize| {
        (args.iter().zip(&slots)).any(|(a, s)| {
            *s == ArgSlot::Dat(u) && matches!(&a.0, ArgKind::Dat { view: Some(_), .. })
        })
    };
    let refresh = dats
        .iter()
        .enumerate()
        .filter(|&(u, d)| {
            d.exchanges
                && (matches!(
                    d.access,
                    Access::Read | Access::RW | Access::Min | Access::Max
                ) || (d.access == Access::Write && viewed(u)))
        })
        .map(|(u, _)| u)
        .collect();
    let reduces = slots
        .iter()
        .any(|s| matches!(s, ArgSlot::Global(a) if *a != Access::Read));
    LoopPlan {
        slots,
        dats,
        mats,
        refresh,
        reduces,
        timing: timing::slot(kernel_name, set.comm()),
        threaded: None,
        plain: false,
    }
}

/// Every argument's slot, with the unique Dats and Mats they name (each at the first argument
/// that names it; halo facts filled in later).
fn slots(args: &[Arg]) -> (Vec<ArgSlot>, Vec<DatPlan>, Vec<MatPlan>) {
    let mut slots = Vec::with_capacity(args.len());
    let mut dats: Vec<DatPlan> = Vec::new();
    let mut mats: Vec<MatPlan> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        slots.push(match &a.0 {
            ArgKind::Dat { dat, access, .. } => {
                let u = dats
                    .iter()
                    .position(|d| match &args[d.arg].0 {
                        ArgKind::Dat { dat: x, .. } => x.ptr_eq(dat),
                        _ => false,
                    })
                    .unwrap_or_else(|| {
                        dats.push(DatPlan {
                            arg: i,
                            access: *access,
                            exchanges: false,
                            touched: Vec::new(),
                        });
                        dats.len() - 1
                    });
                ArgSlot::Dat(u)
            }
            ArgKind::Global { access, .. } => ArgSlot::Global(*access),
            ArgKind::Mat {
                mat,
                rmap,
                cmap,
                access,
            } => {
                let m = mats
                    .iter()
                    .position(|p| match &args[p.arg].0 {
                        ArgKind::Mat { mat: x, .. } => x.ptr_eq(mat),
                        _ => false,
                    })
                    .unwrap_or_else(|| {
                        mats.push(MatPlan {
                            arg: i,
                            access: *access,
                            halo_touched: Vec::new(),
                        });
                        mats.len() - 1
                    });
                let pair = mat
                    .sparsity()
                    .pair_index(rmap, cmap)
                    .expect("checked by arg_shape");
                ArgSlot::Mat { m, pair }
            }
        });
    }
    (slots, dats, mats)
}

/// Halo participation of every unique Dat and, for an indirect WRITE/RW that exchanges, the
/// halo entries it touches.
fn dat_halos(set: &Set, args: &[Arg], slots: &[ArgSlot], dats: &mut [DatPlan]) {
    let parallel = set.comm().size() > 1;
    for (u, d) in dats.iter_mut().enumerate() {
        // Each map with the entries the loop reaches through it: one column for `arg_map`
        // (`Some(i)`), every column for `arg_vec` (`None`).
        let maps: Vec<(&crate::data::map::Map, Option<usize>)> = args
            .iter()
            .zip(slots)
            .filter_map(|(a, s)| match (&a.0, s) {
                (
                    ArgKind::Dat {
                        path: Path::Index(m, i),
                        ..
                    },
                    ArgSlot::Dat(x),
                ) if *x == u => Some((m, Some(*i))),
                (
                    ArgKind::Dat {
                        path: Path::Vector(m),
                        ..
                    },
                    ArgSlot::Dat(x),
                ) if *x == u => Some((m, None)),
                _ => None,
            })
            .collect();
        let ArgKind::Dat { dat, .. } = &args[d.arg].0 else {
            unreachable!("a Dat slot names a Dat argument")
        };
        d.exchanges = parallel && !maps.is_empty() && dat.set().halo().is_some();
        if d.exchanges && matches!(d.access, Access::Write | Access::RW) {
            let mut t = vec![false; dat.set().total_size()];
            // Only the entries written: a halo copy reached through another column of the
            // map was never written here, and sending it back would overwrite its owner's value.
            for &(m, col) in &maps {
                let a = m.arity();
                for n in (0..set.size()).map(|p| set.element_at(p)) {
                    let row = &m.values()[n * a..(n + 1) * a];
                    match col {
                        Some(i) => t[row[i] as usize] = true,
                        None => row.iter().for_each(|&v| t[v as usize] = true),
                    }
                }
            }
            d.touched = t;
        }
    }
}

/// Halo-row blocks a Mat WRITE stores into (sent to the owners after the loop).
fn mat_halo_touched(set: &Set, args: &[Arg], slots: &[ArgSlot], mats: &mut [MatPlan]) {
    for (k, mp) in mats.iter_mut().enumerate() {
        let ArgKind::Mat { mat, .. } = &args[mp.arg].0 else {
            unreachable!("a Mat slot names a Mat argument")
        };
        let sp = mat.sparsity();
        if sp.dist().is_none() || mp.access != Access::Write {
            continue;
        }
        let first = sp.halo_block_start();
        let mut touched = vec![false; sp.block_nnz() - first];
        for (a, s) in args.iter().zip(slots) {
            let (ArgKind::Mat { rmap, cmap, .. }, ArgSlot::Mat { m, pair }) = (&a.0, *s) else {
                continue;
            };
            if m != k {
                continue;
            }
            // The rows of the elements the loop visits (all owned ones, or a Subset's).
            let (table, row) = (sp.positions(pair), rmap.arity() * cmap.arity());
            for n in (0..set.size()).map(|p| set.element_at(p)) {
                for &b in &table.table[n * row..(n + 1) * row] {
                    // b < 0: a negative map entry, nothing stored.
                    if b >= 0 && b as usize >= first {
                        touched[b as usize - first] = true;
                    }
                }
            }
        }
        mp.halo_touched = touched;
    }
}

/// The thread schedule of a threaded loop over `set`: from the set's object cache, keyed on the
/// set's layering, the block size, the thread count and the maps written through (`no_colour`:
/// the test-only switch, scheduled as if nothing were written through a map).
fn schedule(
    set: &Set,
    args: &[Arg],
    block: usize,
    threads: usize,
    no_colour: bool,
) -> Result<Arc<Entry<Schedule>>> {
    // Targets written through maps: (target set, map); Mats conflict through their row map
    // (two elements can share a matrix block only if they share its row).
    let mut through: Vec<(&Set, &crate::data::map::Map)> = Vec::new();
    for a in args {
        match &a.0 {
            ArgKind::Dat {
                path: Path::Index(m, _) | Path::Vector(m),
                access,
                ..
            } if access.writes() => through.push((m.to_set(), m)),
            ArgKind::Mat { rmap, .. } => through.push((rmap.to_set(), rmap)),
            _ => {}
        }
    }
    // A direct write conflicts with indirect writes into the iteration set itself (a Subset's
    // direct arguments are on its superset).
    let elements = set.elements();
    let direct_into_set = through.iter().any(|(t, _)| *t == elements)
        && args.iter().any(
            |a| matches!(&a.0, ArgKind::Dat { path: Path::Direct, access, .. } if access.writes()),
        );
    let mut words: Vec<(u64, u64)> = through.iter().map(|(t, m)| (t.id(), m.id())).collect();
    if direct_into_set {
        words.push((elements.id(), 0));
    }
    let mut key = colour::key(set, block, threads, &words);
    key.push(no_colour as u64);
    set.cache().get_or_try_insert(colour::CACHE_NAME, key, |_| {
        let mut spaces: Vec<(u64, usize)> = Vec::new();
        let mut space = |t: &Set| match spaces.iter().position(|s| s.0 == t.id()) {
            Some(i) => i,
            None => {
                spaces.push((t.id(), t.total_size()));
                spaces.len() - 1
            }
        };
        let mut written: Vec<Written> = through
            .iter()
            .map(|(t, m)| Written {
                space: space(t),
                map: Some(*m),
            })
            .collect();
        if direct_into_set {
            written.push(Written {
                space: space(elements),
                map: None,
            });
        }
        let sizes: Vec<usize> = spaces.iter().map(|s| s.1).collect();
        if no_colour {
            written.clear();
        }
        let (core, owned, indices) = (set.core_size(), set.size(), set.indices());
        let sched = colour::build(core, owned, indices, block, threads, &sizes, &written);
        let bytes = sched.bytes();
        Ok((sched, bytes))
    })
}
