//! Bounded disk cache: least-recently-used pruning.
//!
//! Owns the decision of which entries to delete when the cache exceeds `OP2_CACHE_MAX_SIZE`.
//! Recency is the mtime of an entry's `.meta` (touched on every disk hit). Only one process
//! prunes at a time (`prune.lock`, non-blocking: others skip); each victim is taken under its
//! own entry lock with a non-blocking try (an entry being written is skipped). Victims are
//! unlinked `.meta` first (the entry vanishes atomically for readers), then `.so`; never
//! truncated, so a process that has the library loaded keeps a valid mapping, and one that
//! was about to load it sees a load failure that the collective protocol turns into a rebuild.
//! Lock files are kept (0 bytes): deleting a lock file another process holds would let two
//! writers "hold" the same lock.

use std::fs;

use serde::Serialize;

use crate::cache::layout::{list, DiskCache};
use crate::cache::{fsutil, trust};
use crate::error::Result;

/// What a prune did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PruneReport {
    pub entries_before: u64,
    pub bytes_before: u64,
    pub removed: u64,
    pub freed: u64,
    pub bytes_after: u64,
    /// Entries skipped because another process held their lock.
    pub skipped_busy: u64,
    /// True if another process was already pruning.
    pub skipped_concurrent: bool,
}

/// Prune least-recently-used entries until the cache holds at most `target` bytes. Stale
/// temporaries (older than an hour) are removed too.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let cache = op2::cache::DiskCache::new(dir.path());
/// let r = op2::cache::prune::prune_to(&cache, 0).unwrap();
/// assert_eq!(r.removed, 0);
/// ```
pub fn prune_to(cache: &DiskCache, target: u64) -> Result<PruneReport> {
    fsutil::create_private_dir(cache.dir())?;
    // Never delete through a directory someone untrusted could redirect or fill with links.
    trust::check_root(cache.dir())?;
    let Some(_guard) = fsutil::try_lock_exclusive(&cache.dir().join("prune.lock"))? else {
        return Ok(PruneReport {
            skipped_concurrent: true,
            ..Default::default()
        });
    };
    let entries = list(cache)?;
    let mut r = PruneReport {
        entries_before: entries.len() as u64,
        bytes_before: entries.iter().map(|e| e.bytes).sum(),
        ..Default::default()
    };
    let mut total = r.bytes_before;
    for e in entries {
        if total <= target {
            break;
        }
        let paths = e.paths();
        let Some(_lock) = fsutil::try_lock_exclusive(&paths.lock)? else {
            r.skipped_busy += 1;
            continue;
        };
        let _ = fs::remove_file(&paths.meta);
        let _ = fs::remove_file(&paths.so);
        let _ = fs::remove_file(paths.so.with_extension("log")); // compiler warnings, if any
        let _ = fs::remove_file(paths.so.with_extension("choice")); // measured variant, if any
        total = total.saturating_sub(e.bytes);
        r.removed += 1;
        r.freed += e.bytes;
    }
    crate::cache::admin::remove_stale_temporaries(cache);
    r.bytes_after = total;
    Ok(r)
}

/// After an insert: if the cache exceeds `max_bytes` (0 = unbounded), prune to ~90% of it.
/// Best effort: a failure to prune never fails the loop that inserted.
pub(crate) fn after_insert(cache: &DiskCache, max_bytes: u64) {
    if max_bytes == 0 {
        return;
    }
    let total: u64 = match list(cache) {
        Ok(l) => l.iter().map(|e| e.bytes).sum(),
        Err(_) => return,
    };
    if total > max_bytes {
        if let Err(e) = prune_to(cache, max_bytes / 10 * 9) {
            eprintln!(
                "op2: pruning the disk cache {} failed: {e}",
                cache.dir().display()
            );
        }
    }
}
