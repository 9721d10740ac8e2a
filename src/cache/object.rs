//! Object caches: expensive objects built on top of Sets and Maps, built once per identity.
//!
//! This module owns the one mechanism behind PyOP2's `ObjectCached` (DataSets, Sparsities,
//! loop plans all use it). It never knows what it stores.
//!
//! # Lifetime without reference cycles
//! PyOP2 has the cycle "set caches dataset, dataset refers to set" and lets Python's
//! collector break it. Here the heap edges only point one way:
//!
//! ```text
//!   user handle (e.g. DataSet) --strong--> owner (Set)  --strong--> ObjectCache --strong--> Entry<T>
//!                              --strong--------------------------------------------------> Entry<T>
//! ```
//!
//! A cached entry never points back at its owner; the *handle* the user holds carries both
//! the entry and its owner. So while the user holds any of `s`, `ds`, `ds2`, all stay alive;
//! once every handle is gone the owner drops, its cache drops, and the entry drops with it.
//! No `Arc` cycle exists, so nothing can leak.
//!
//! Keys are exact `Vec<u64>` words made of identities (object ids, never reused) and
//! metadata, never data contents.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use crate::cache::stats;
use crate::error::Result;

/// One cached value plus the bookkeeping that keeps the live counters honest.
pub struct Entry<T> {
    value: T,
    kind: &'static str,
    bytes: u64,
}

impl<T> Deref for Entry<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Drop for Entry<T> {
    fn drop(&mut self) {
        let bytes = self.bytes;
        stats::update(self.kind, |c| {
            c.entries -= 1;
            c.bytes -= bytes;
        });
    }
}

type Erased = Arc<dyn Any + Send + Sync>;

/// Hasher for keys made of identities and small metadata words (never attacker-chosen), cheaper
/// than SipHash on the par_loop hot path: a multiply-rotate mix per word.
#[derive(Default, Clone, Copy)]
pub(crate) struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u128(&mut self, w: u128) {
        self.write_u64(w as u64);
        self.write_u64((w >> 64) as u64);
    }
    fn write_usize(&mut self, w: usize) {
        self.write_u64(w as u64)
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Map = HashMap<(TypeId, Vec<u64>), Erased, std::hash::BuildHasherDefault<WordHasher>>;

/// A cache that lives on an owner object (a Set, a Map) and dies with it.
///
/// ```
/// use op2::cache::object::ObjectCache;
/// let cache = ObjectCache::default();
/// let a = cache.get_or_try_insert("doc-example", vec![1, 2], |_| Ok::<_, op2::Error>((String::from("built"), 5))).unwrap();
/// let b = cache.get_or_try_insert("doc-example", vec![1, 2], |_| -> op2::Result<(String, u64)> { unreachable!() }).unwrap();
/// assert!(std::sync::Arc::ptr_eq(&a, &b));
/// ```
#[derive(Default)]
pub struct ObjectCache {
    map: Mutex<Map>,
}

impl ObjectCache {
    /// Return the entry for `key`, building it with `build` on a miss. `build` returns the
    /// value and its size in bytes (for the report). The lock is not held while building, so
    /// a builder may itself use object caches; if two builders race, the first insert wins.
    pub fn get_or_try_insert<T: Any + Send + Sync>(
        &self,
        kind: &'static str,
        key: Vec<u64>,
        build: impl FnOnce(&[u64]) -> Result<(T, u64)>,
    ) -> Result<Arc<Entry<T>>> {
        let k = (TypeId::of::<T>(), key);
        if let Some(hit) = self.lock().get(&k) {
            stats::hit(kind);
            return Ok(hit
                .clone()
                .downcast::<Entry<T>>()
                .expect("TypeId is part of the key"));
        }
        let (value, bytes) = build(&k.1)?;
        stats::update(kind, |c| {
            c.misses += 1;
            c.entries += 1;
            c.bytes += bytes;
        });
        let fresh: Erased = Arc::new(Entry { value, kind, bytes });
        let slot = self.lock().entry(k).or_insert(fresh).clone();
        Ok(slot
            .downcast::<Entry<T>>()
            .expect("TypeId is part of the key"))
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True if nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for ObjectCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectCache({} entries)", self.len())
    }
}

/// A fresh identity for a Set, Map, Dat, ...: unique for the life of the process, never reused,
/// and equal across ranks when objects are created in the same order (SPMD).
pub(crate) fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
