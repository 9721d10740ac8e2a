//! Process-wide cache counters, the raw material of the finalize report.
//!
//! Owns plain counters only: every cache bumps its own entry here; the report (gathering over
//! ranks, printing, JSON) reads a `Snapshot`. Counters never influence cache behaviour.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::cache::tally::Tally;

/// Counters of one cache on one process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Live entries.
    pub entries: u64,
    /// Bytes held by live entries (estimate for object caches, file sizes for disk).
    pub bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// Compilations this process ran.
    pub compiles: u64,
    /// Seconds spent in those compilations.
    pub compile_seconds: f64,
    /// Seconds ranks other than 0 waited for rank 0's outcome and loaded the result.
    pub wait_seconds: f64,
    /// Entries this rank loaded that rank 0 found or compiled (received over MPI, loaded from
    /// memory; the name is historical).
    pub loaded_from_disk: u64,
    /// Corrupt entries detected and rebuilt (or, on node leaders, replaced).
    pub corrupt: u64,
    /// Bytes of compiled libraries this rank received from rank 0's broadcasts.
    #[serde(default)]
    pub bytes_broadcast: u64,
    /// Entries a node leader published into its node's directory (node mode) or `op2 cache
    /// unpack` wrote.
    #[serde(default)]
    pub published: u64,
}

static STATS: Mutex<BTreeMap<&'static str, Counters>> = Mutex::new(BTreeMap::new());

/// Apply `f` to the counters of cache `name`.
pub(crate) fn update(name: &'static str, f: impl FnOnce(&mut Counters)) {
    let mut s = STATS.lock().unwrap_or_else(|e| e.into_inner());
    f(s.entry(name).or_default());
}

/// Hit counters without a lock (single-writer cells, `tally.rs`), for caches hit often by name
/// (object caches, the class cache): slot `i` counts hits of the cache named `HOT_NAMES[i]`.
/// Folded into the counters by [`snapshot`] and [`get`].
const HOT: usize = 16;
static HOT_NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
static HOT_PTRS: [AtomicUsize; HOT] = [const { AtomicUsize::new(0) }; HOT];
static HOT_HITS: [Tally<1>; HOT] = [const { Tally::new() }; HOT];

/// Count one hit of cache `name` (lock-free once the name has been seen).
pub(crate) fn hit(name: &'static str) {
    match hot_slot(name) {
        Some(i) => {
            HOT_HITS[i].add([1]);
        }
        None => update(name, |c| c.hits += 1),
    }
}

/// The lock-free hit counter of cache `name`; `None` when the table is full.
fn hot_slot(name: &'static str) -> Option<usize> {
    let p = name.as_ptr() as usize;
    for (i, slot) in HOT_PTRS.iter().enumerate() {
        match slot.load(Ordering::Acquire) {
            0 => break,
            q if q == p => return Some(i),
            _ => {}
        }
    }
    // First use of this pointer (or the table is full): register it under the lock.
    let mut names = HOT_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = names.iter().position(|n| n.as_ptr() as usize == p) {
        return Some(i);
    }
    if names.len() < HOT {
        let i = names.len();
        names.push(name);
        HOT_PTRS[i].store(p, Ordering::Release);
        Some(i)
    } else {
        None
    }
}

/// The hit counter of one cache, for a `static` bumped on every par_loop:
/// `HitCounter::new(NAME).hit()`. Its own single-writer cells (`tally.rs`); registered on its
/// first hit so that [`snapshot`] and [`get`] fold it in.
pub(crate) struct HitCounter {
    name: &'static str,
    tally: Tally<1>,
    registered: AtomicBool,
}

/// Every [`HitCounter`] hit so far.
static COUNTERS: Mutex<Vec<&'static HitCounter>> = Mutex::new(Vec::new());

impl HitCounter {
    pub(crate) const fn new(name: &'static str) -> HitCounter {
        HitCounter {
            name,
            tally: Tally::new(),
            registered: AtomicBool::new(false),
        }
    }

    /// Count one hit, as [`hit`] does.
    #[inline]
    pub(crate) fn hit(&'static self) {
        self.tally.add([1]);
        if !self.registered.load(Ordering::Relaxed) {
            let mut c = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
            if !self.registered.swap(true, Ordering::Relaxed) {
                c.push(self);
            }
        }
    }
}

/// Add the lock-free hit counts into `into`.
fn fold_hot(into: &mut BTreeMap<&'static str, Counters>) {
    let names = HOT_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    for (i, n) in names.iter().enumerate() {
        into.entry(n).or_default().hits += HOT_HITS[i].get(0);
    }
    drop(names);
    for c in COUNTERS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        into.entry(c.name).or_default().hits += c.tally.get(0);
    }
}

/// A copy of every cache's counters on this process, by cache name.
///
/// ```
/// let snap = op2::cache::stats::snapshot();
/// assert!(snap.values().all(|c| c.hits + c.misses >= 0));
/// ```
pub fn snapshot() -> BTreeMap<String, Counters> {
    let mut s = STATS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    fold_hot(&mut s);
    s.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Counters of one cache (zeros if it was never used).
pub fn get(name: &str) -> Counters {
    let mut s = STATS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    fold_hot(&mut s);
    s.get(name).copied().unwrap_or_default()
}
