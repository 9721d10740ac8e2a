//! Bounded disk cache: least-recently-used pruning (filled in by the reports/CLI issue).
use crate::cache::disk::DiskCache;

/// After an insert: prune if the cache exceeds `max_bytes` (0 = unbounded).
pub(crate) fn after_insert(_cache: &DiskCache, _max_bytes: u64) {}
