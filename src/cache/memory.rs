//! The class cache: loaded kernels per process, keyed on metadata (PyOP2's `Cached`).
//!
//! Owns the map `class key -> Arc<LoadedKernel>`, bounded by `OP2_MEMORY_CACHE_MAX_ENTRIES`
//! with least-recently-used eviction (PyOP2 has no eviction and can run out of memory). An
//! evicted entry stays valid while any loop still holds its `Arc`; the library is unloaded when
//! the last holder drops it. It never compiles or touches the disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cache::object::WordHasher;
use crate::cache::stats;
use crate::jit::ffi::LoadedKernel;

/// Name of this cache in reports.
pub const CACHE_NAME: &str = "class";

struct Slot {
    kernel: Arc<LoadedKernel>,
    bytes: u64,
    last_used: u64,
}

struct ClassCache {
    map: HashMap<u128, Slot, std::hash::BuildHasherDefault<WordHasher>>,
    tick: u64,
}

static CACHE: Mutex<Option<ClassCache>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut ClassCache) -> R) -> R {
    let mut g = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(|| ClassCache {
        map: HashMap::default(),
        tick: 0,
    }))
}

/// Look up a loaded kernel; counts a hit or a miss.
pub(crate) fn get(key: u128) -> Option<Arc<LoadedKernel>> {
    let hit = with(|c| {
        c.tick += 1;
        let t = c.tick;
        c.map.get_mut(&key).map(|s| {
            s.last_used = t;
            s.kernel.clone()
        })
    });
    if hit.is_some() {
        stats::hit(CACHE_NAME)
    } else {
        stats::update(CACHE_NAME, |s| s.misses += 1)
    }
    hit
}

/// Insert a loaded kernel, evicting least-recently-used entries beyond `capacity`.
pub(crate) fn insert(key: u128, kernel: Arc<LoadedKernel>, bytes: u64, capacity: usize) {
    let (evicted, evicted_bytes, len, total) = with(|c| {
        c.tick += 1;
        let t = c.tick;
        c.map.insert(
            key,
            Slot {
                kernel,
                bytes,
                last_used: t,
            },
        );
        let (mut n, mut b) = (0, 0);
        while c.map.len() > capacity.max(1) {
            let (&k, _) = c
                .map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .expect("non-empty");
            b += c.map.remove(&k).map(|s| s.bytes).unwrap_or(0);
            n += 1;
        }
        (
            n,
            b,
            c.map.len() as u64,
            c.map.values().map(|s| s.bytes).sum::<u64>(),
        )
    });
    let _ = evicted_bytes;
    stats::update(CACHE_NAME, |s| {
        s.evictions += evicted;
        s.entries = len;
        s.bytes = total;
    });
}

/// Number of loaded kernels held.
///
/// ```
/// assert!(op2::cache::memory::len() < usize::MAX);
/// ```
pub fn len() -> usize {
    with(|c| c.map.len())
}
