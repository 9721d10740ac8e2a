//! The class cache: loaded kernels per process, keyed on metadata (PyOP2's `Cached`).
//!
//! Owns the map `class key -> Arc<LoadedKernel>`, bounded by `OP2_MEMORY_CACHE_MAX_ENTRIES`
//! with least-recently-used eviction (PyOP2 has no eviction and can run out of memory). An
//! evicted entry stays valid while any loop still holds its `Arc`; the library is unloaded when
//! the last holder drops it. It never compiles or touches the disk.
//!
//! Entries are [`Held`]: par_loop's dispatch slots (`exec/dispatch.rs`) remember them weakly
//! and re-hit them with [`touch`] (an atomic flag, the LRU clock and the hit counter, no lock),
//! which behaves exactly like a [`get`] hit and fails once the entry was evicted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::cache::object::WordHasher;
use crate::cache::stats;
use crate::jit::ffi::LoadedKernel;

/// Name of this cache in reports.
pub const CACHE_NAME: &str = "class";

/// One class-cache entry: the loaded kernel and its LRU bookkeeping. par_loop's dispatch slots
/// remember entries weakly and hit them through [`touch`] without the cache's lock.
pub(crate) struct Held {
    pub(crate) kernel: Arc<LoadedKernel>,
    last_used: AtomicU64,
    /// False once evicted or replaced: a remembered entry is then no longer a hit.
    cached: AtomicBool,
}

struct Slot {
    held: Arc<Held>,
    bytes: u64,
}

struct ClassCache {
    map: HashMap<u128, Slot, std::hash::BuildHasherDefault<WordHasher>>,
}

static CACHE: Mutex<Option<ClassCache>> = Mutex::new(None);
/// The LRU clock: every hit and insert takes the next tick.
static TICK: AtomicU64 = AtomicU64::new(0);

fn tick() -> u64 {
    TICK.fetch_add(1, Ordering::Relaxed) + 1
}

fn with<R>(f: impl FnOnce(&mut ClassCache) -> R) -> R {
    let mut g = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(|| ClassCache {
        map: HashMap::default(),
    }))
}

/// Look up a loaded kernel; counts a hit or a miss.
pub(crate) fn get(key: u128) -> Option<Arc<Held>> {
    let hit = with(|c| {
        c.map.get(&key).map(|s| {
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

/// A hit on an entry found earlier by [`get`] or [`insert`], without the lock: true (and
/// counted, and marked used, exactly as [`get`] would) if it is still in the cache; false if it
/// was evicted since (the caller then looks it up again, which counts the miss).
pub(crate) fn touch(held: &Held) -> bool {
    if !held.cached.load(Ordering::Acquire) {
        return false;
    }
    held.last_used.store(tick(), Ordering::Relaxed);
    static HITS: stats::HitCounter = stats::HitCounter::new(CACHE_NAME);
    HITS.hit();
    true
}

/// Insert a loaded kernel, evicting least-recently-used entries beyond `capacity`.
pub(crate) fn insert(
    key: u128,
    kernel: Arc<LoadedKernel>,
    bytes: u64,
    capacity: usize,
) -> Arc<Held> {
    let held = Arc::new(Held {
        kernel,
        last_used: AtomicU64::new(tick()),
        cached: AtomicBool::new(true),
    });
    let (evicted, len, total) = with(|c| {
        let old = c.map.insert(
            key,
            Slot {
                held: held.clone(),
                bytes,
            },
        );
        if let Some(old) = old {
            old.held.cached.store(false, Ordering::Release);
        }
        let mut n = 0;
        while c.map.len() > capacity.max(1) {
            let (&k, _) = c
                .map
                .iter()
                .min_by_key(|(_, s)| s.held.last_used.load(Ordering::Relaxed))
                .expect("non-empty");
            if let Some(s) = c.map.remove(&k) {
                s.held.cached.store(false, Ordering::Release);
            }
            n += 1;
        }
        (
            n,
            c.map.len() as u64,
            c.map.values().map(|s| s.bytes).sum::<u64>(),
        )
    });
    stats::update(CACHE_NAME, |s| {
        s.evictions += evicted;
        s.entries = len;
        s.bytes = total;
    });
    held
}

/// Number of loaded kernels held.
///
/// ```
/// assert!(op2::cache::memory::len() < usize::MAX);
/// ```
pub fn len() -> usize {
    with(|c| c.map.len())
}

/// The LRU on real loaded libraries (a tiny shared object built with `cc` and loaded from
/// bytes as the runtime loads cache entries). The cache is process-wide and other unit tests
/// run loops (`exec::vecops`): the test first empties it (capacity 1), then evicts with the
/// capacity read just before each insert, so only an insert landing within those microseconds
/// could disturb it.
#[cfg(test)]
mod tests {
    use super::*;

    /// A loaded library exporting the generated entry point.
    fn kernel(dir: &std::path::Path) -> Arc<LoadedKernel> {
        let bytes = crate::cache::layout::verify_tests::entry_library(dir);
        Arc::new(LoadedKernel::load_bytes(&bytes, "k", 0).unwrap().0)
    }

    #[test]
    fn least_recently_used_entries_are_evicted_and_stay_usable_while_held() {
        let dir = tempfile::tempdir().unwrap();
        let k = kernel(dir.path());
        // Keys no loop produces (class keys are hashes).
        let key = |i: u128| (0x0b5e_55ed_u128 << 96) + i;
        let evicted_before = stats::get(CACHE_NAME).evictions;
        let a = insert(key(1), k.clone(), 10, 1); // empties the cache
        assert_eq!(len(), 1);
        let b = insert(key(2), k.clone(), 20, usize::MAX);
        let _c = insert(key(3), k.clone(), 30, usize::MAX);
        assert!(get(key(1)).is_some(), "a hit makes `a` the most recent");
        let _d = insert(key(4), k.clone(), 40, len());
        // `b` was the least recently used: evicted; a, c, d remain.
        assert!(get(key(2)).is_none());
        for i in [1, 3, 4] {
            assert!(get(key(i)).is_some(), "key {i}");
        }
        assert!(stats::get(CACHE_NAME).evictions > evicted_before);
        // A remembered entry: `touch` hits while cached, misses once evicted; the evicted
        // entry's library stays loaded while held.
        assert!(touch(&a));
        assert!(!touch(&b));
        assert_eq!(b.kernel.name(), "k");
        // Touching `a` keeps it: the next insert evicts `c`, the least recent now.
        assert!(touch(&a) && get(key(4)).is_some());
        let _e = insert(key(5), k.clone(), 50, len());
        assert!(get(key(3)).is_none());
        assert!(get(key(1)).is_some() && touch(&a));
        // Replacing an entry under the same key makes the old one a miss for its holders.
        let a2 = insert(key(1), k.clone(), 10, usize::MAX);
        assert!(!touch(&a) && touch(&a2));
        assert!(Arc::ptr_eq(&get(key(1)).unwrap(), &a2));
        // Capacity 0 still keeps the newest entry (the loop about to run needs it).
        let f = insert(key(6), k.clone(), 60, 0);
        assert!(touch(&f) && get(key(6)).is_some());
        assert!(!touch(&a2) && get(key(5)).is_none());
    }
}
