//! The class cache: loaded kernels per process, keyed on metadata (PyOP2's `Cached`).
//!
//! Owns the map `class key -> Arc<T>` (the build layer keeps one of loaded kernels), bounded by `OP2_MEMORY_CACHE_MAX_ENTRIES`
//! with least-recently-used eviction (PyOP2 has no eviction and can run out of memory). An
//! evicted entry stays valid while any loop still holds its `Arc`; the library is unloaded when
//! the last holder drops it. It never compiles or touches the disk.
//!
//! Entries are `Held`: par_loop's dispatch slots (`exec/dispatch.rs`) remember them weakly
//! and re-hit them with `ClassCache::touch` (an atomic flag, the LRU clock and the hit
//! counter, no lock), which behaves exactly like a `ClassCache::get` hit and fails once the
//! entry was evicted. Generic over what it holds: the cache layer knows no compiled code.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::cache::object::WordHasher;
use crate::cache::stats;

/// Name of this cache in reports.
pub const CACHE_NAME: &str = "class";

/// One class-cache entry: the loaded value and its LRU bookkeeping. par_loop's dispatch slots
/// remember entries weakly and hit them through [`ClassCache::touch`] without the cache's lock.
pub(crate) struct Held<T> {
    pub(crate) kernel: Arc<T>,
    last_used: AtomicU64,
    /// False once evicted or replaced: a remembered entry is then no longer a hit.
    cached: AtomicBool,
}

struct Resident<T> {
    held: Arc<Held<T>>,
    bytes: u64,
}

type Map<T> = HashMap<u128, Resident<T>, std::hash::BuildHasherDefault<WordHasher>>;

/// A class cache of `T` (the build layer keeps one of loaded kernels per communicator).
pub(crate) struct ClassCache<T> {
    map: Mutex<Option<Map<T>>>,
}

/// The LRU clock: every hit and insert takes the next tick.
static TICK: AtomicU64 = AtomicU64::new(0);
/// Entries held by every class cache of the process.
static LEN: AtomicUsize = AtomicUsize::new(0);

/// The next tick, by a plain load and store (no locked instruction on a hit): threads calling
/// par_loop at the same moment may take the same tick, a tie in LRU order between loops whose
/// order was not determined anyway; one calling thread (the order every rank agrees on) takes
/// strictly increasing ticks.
fn tick() -> u64 {
    let t = TICK.load(Ordering::Relaxed) + 1;
    TICK.store(t, Ordering::Relaxed);
    t
}

impl<T> ClassCache<T> {
    pub(crate) const fn new() -> ClassCache<T> {
        ClassCache {
            map: Mutex::new(None),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Map<T>) -> R) -> R {
        let mut g = self.map.lock().unwrap_or_else(|e| e.into_inner());
        f(g.get_or_insert_with(HashMap::default))
    }

    /// Look up a loaded value; counts a hit or a miss.
    pub(crate) fn get(&self, key: u128) -> Option<Arc<Held<T>>> {
        let hit = self.with(|c| {
            c.get(&key).map(|s| {
                s.held.last_used.store(tick(), Ordering::Relaxed);
                s.held.clone()
            })
        });
        if hit.is_some() {
            stats::hit(CACHE_NAME)
        } else {
            stats::update(CACHE_NAME, |s| s.misses += 1)
        }
        hit
    }

    /// A hit on an entry found earlier by [`ClassCache::get`] or [`ClassCache::insert`],
    /// without the lock: true (and counted, and marked used, exactly as `get` would) if it is
    /// still in the cache; false if it was evicted since (the caller then looks it up again,
    /// which counts the miss).
    pub(crate) fn touch(held: &Held<T>) -> bool {
        if !held.cached.load(Ordering::Acquire) {
            return false;
        }
        held.last_used.store(tick(), Ordering::Relaxed);
        static HITS: stats::HitCounter = stats::HitCounter::new(CACHE_NAME);
        HITS.hit();
        true
    }

    /// Insert a loaded value, evicting least-recently-used entries beyond `capacity`.
    /// Drop every entry (as evictions: a remembered entry is no longer a hit; a loop still
    /// holding one keeps its library until it lets go).
    pub(crate) fn clear(&self) {
        self.with(|c| {
            for (_, s) in c.drain() {
                s.held.cached.store(false, Ordering::Release);
            }
        });
        LEN.store(0, Ordering::Relaxed);
        stats::update(CACHE_NAME, |s| {
            s.entries = 0;
            s.bytes = 0;
        });
    }

    pub(crate) fn insert(
        &self,
        key: u128,
        kernel: Arc<T>,
        bytes: u64,
        capacity: usize,
    ) -> Arc<Held<T>> {
        let held = Arc::new(Held {
            kernel,
            last_used: AtomicU64::new(tick()),
            cached: AtomicBool::new(true),
        });
        let (evicted, len, total) = self.with(|c| {
            let before = c.len();
            let old = c.insert(
                key,
                Resident {
                    held: held.clone(),
                    bytes,
                },
            );
            if let Some(old) = old {
                old.held.cached.store(false, Ordering::Release);
            }
            let mut n = 0;
            while c.len() > capacity.max(1) {
                let (&k, _) = c
                    .iter()
                    .min_by_key(|(_, s)| s.held.last_used.load(Ordering::Relaxed))
                    .expect("non-empty");
                if let Some(s) = c.remove(&k) {
                    s.held.cached.store(false, Ordering::Release);
                }
                n += 1;
            }
            // Net change of this cache's size, into the count over every class cache.
            LEN.fetch_add(c.len(), Ordering::Relaxed);
            LEN.fetch_sub(before, Ordering::Relaxed);
            (n, len() as u64, c.values().map(|s| s.bytes).sum::<u64>())
        });
        stats::update(CACHE_NAME, |s| {
            s.evictions += evicted;
            s.entries = len;
            s.bytes = total;
        });
        held
    }
}

impl<T> ClassCache<T> {
    /// Number of entries this cache holds.
    pub(crate) fn entries(&self) -> usize {
        self.with(|c| c.len())
    }
}

impl<T> Drop for ClassCache<T> {
    /// A runtime's cache ends at its finalize: its entries leave the process's count.
    fn drop(&mut self) {
        let n = self.entries();
        LEN.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Number of loaded kernels held by every class cache of the process.
///
/// ```
/// assert!(op2::cache::memory::len() < usize::MAX);
/// ```
pub fn len() -> usize {
    LEN.load(Ordering::Relaxed)
}

/// The LRU, on a cache of its own (the class cache is generic: the runtime's holds loaded
/// kernels, one per communicator: `build::class_cache`), so no other test's loops can disturb it.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_drops_every_entry_and_remembered_entries_miss() {
        let c = ClassCache::<String>::new();
        let a = c.insert(1, Arc::new("a".to_string()), 10, usize::MAX);
        c.insert(2, Arc::new("b".to_string()), 10, usize::MAX);
        assert!(ClassCache::<String>::touch(&a));
        c.clear();
        assert_eq!(c.with(|m| m.len()), 0);
        assert!(c.get(1).is_none() && c.get(2).is_none());
        assert!(
            !ClassCache::<String>::touch(&a),
            "a cleared entry is no longer a hit"
        );
        assert_eq!(a.kernel.as_str(), "a", "its value stays alive while held");
    }

    #[test]
    fn least_recently_used_entries_are_evicted_and_stay_usable_while_held() {
        let c = ClassCache::<String>::new();
        let k = Arc::new("k".to_string());
        let len = || c.with(|m| m.len());
        let touch = ClassCache::<String>::touch;
        let key = |i: u128| i;
        let evicted_before = stats::get(CACHE_NAME).evictions;
        let a = c.insert(key(1), k.clone(), 10, 1);
        assert_eq!(len(), 1);
        let b = c.insert(key(2), k.clone(), 20, usize::MAX);
        let _c = c.insert(key(3), k.clone(), 30, usize::MAX);
        assert!(c.get(key(1)).is_some(), "a hit makes `a` the most recent");
        let _d = c.insert(key(4), k.clone(), 40, 3);
        // `b` was the least recently used: evicted; a, c, d remain.
        assert!(c.get(key(2)).is_none());
        for i in [1, 3, 4] {
            assert!(c.get(key(i)).is_some(), "key {i}");
        }
        assert_eq!(len(), 3);
        assert!(stats::get(CACHE_NAME).evictions > evicted_before);
        // A remembered entry: `touch` hits while cached, misses once evicted; the evicted
        // entry's value stays alive while held.
        assert!(touch(&a));
        assert!(!touch(&b));
        assert_eq!(b.kernel.as_str(), "k");
        // Touching `a` keeps it: the next insert evicts `c`, the least recent now.
        assert!(touch(&a) && c.get(key(4)).is_some());
        let _e = c.insert(key(5), k.clone(), 50, 3);
        assert!(c.get(key(3)).is_none());
        assert!(c.get(key(1)).is_some() && touch(&a));
        // Replacing an entry under the same key makes the old one a miss for its holders.
        let a2 = c.insert(key(1), k.clone(), 10, usize::MAX);
        assert!(!touch(&a) && touch(&a2));
        assert!(Arc::ptr_eq(&c.get(key(1)).unwrap(), &a2));
        // Capacity 0 still keeps the newest entry (the loop about to run needs it).
        let f = c.insert(key(6), k.clone(), 60, 0);
        assert!(touch(&f) && c.get(key(6)).is_some());
        assert!(!touch(&a2) && c.get(key(5)).is_none());
        assert_eq!(len(), 1);
    }
}
