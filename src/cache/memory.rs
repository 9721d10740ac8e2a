//! The class cache: loaded kernels per process, keyed on metadata (PyOP2's `Cached`).
//!
//! Owns the map `class key -> Arc<LoadedKernel>`, bounded by `OP2_MEMORY_CACHE_MAX_ENTRIES`
//! with least-recently-used eviction (PyOP2 has no eviction and can run out of memory). An
//! evicted entry stays valid while any loop still holds its `Arc`; the library is unloaded when
//! the last holder drops it. It never compiles or touches the disk.
//!
//! Entries are `Held`: par_loop's dispatch slots (`exec/dispatch.rs`) remember them weakly
//! and re-hit them with `touch` (an atomic flag, the LRU clock and the hit counter, no lock),
//! which behaves exactly like a `get` hit and fails once the entry was evicted.

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
