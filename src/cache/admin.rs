//! Inspecting and maintaining a disk cache: listing, statistics, verification, clearing.
//!
//! Owns the read-side view used by the `op2 cache` command and the finalize report. It uses
//! the same layout, verification and locking rules as the runtime (`cache::disk`, `fsutil`),
//! never a second copy of them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cache::fsutil;
use crate::cache::layout::{list, size, DiskCache, Verify};
use crate::error::{Error, IoContext, Result};

/// Fail clearly if the directory is missing or unreadable.
pub fn require_dir(dir: &Path) -> Result<()> {
    match fs::read_dir(dir) {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::io("open cache directory", dir, e)),
    }
}

/// Totals of a cache directory.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub dir: PathBuf,
    pub entries: u64,
    pub bytes: u64,
    /// Oldest and newest creation times (seconds since the epoch).
    pub oldest: Option<u64>,
    pub newest: Option<u64>,
    /// Per kernel name: (entries, bytes).
    pub per_kernel: BTreeMap<String, (u64, u64)>,
}

/// Entries, bytes, age range and per-kernel totals.
pub fn summary(cache: &DiskCache) -> Result<Summary> {
    let mut s = Summary {
        dir: cache.dir().to_path_buf(),
        ..Default::default()
    };
    for e in list(cache)? {
        s.entries += 1;
        s.bytes += e.bytes;
        let (name, created) = e
            .meta
            .as_ref()
            .map(|m| (m.kernel.clone(), m.created))
            .unwrap_or(("<unreadable>".into(), e.last_used));
        s.oldest = Some(s.oldest.map_or(created, |o| o.min(created)));
        s.newest = Some(s.newest.map_or(created, |o| o.max(created)));
        let k = s.per_kernel.entry(name).or_default();
        k.0 += 1;
        k.1 += e.bytes;
    }
    Ok(s)
}

/// Result of verifying one entry.
#[derive(Debug, Clone, Serialize)]
pub struct Damage {
    pub meta_path: PathBuf,
    pub kernel: Option<String>,
    pub reason: String,
}

/// Checksum every entry; with `fix`, move damaged ones aside (under their lock, so an entry
/// being rewritten by a compile is not touched). Returns the damaged entries and how many were
/// checked.
pub fn verify(
    cache: &DiskCache,
    fix: bool,
    lock_timeout: std::time::Duration,
) -> Result<(Vec<Damage>, usize)> {
    let entries = list(cache)?;
    let mut bad = Vec::new();
    for e in &entries {
        let paths = e.paths();
        if let Err(Verify::Corrupt(reason)) = DiskCache::verify(&paths) {
            if fix {
                let _lock = fsutil::lock_exclusive(&paths.lock, lock_timeout)?;
                if let Err(Verify::Corrupt(_)) = DiskCache::verify(&paths) {
                    cache.quarantine(&paths)?;
                }
            }
            bad.push(Damage {
                meta_path: e.meta_path.clone(),
                kernel: e.meta.as_ref().map(|m| m.kernel.clone()),
                reason,
            });
        }
    }
    Ok((bad, entries.len()))
}

/// Remove every entry, failed source, quarantined file and stale temporary. Entries are unlinked
/// (never truncated), so processes that loaded one keep working.
pub fn clear(cache: &DiskCache) -> Result<(u64, u64)> {
    let (mut files, mut bytes) = (0u64, 0u64);
    let rd = match fs::read_dir(cache.dir()) {
        Ok(rd) => rd,
        Err(e) => return Err(Error::io("open cache directory", cache.dir(), e)),
    };
    for sub in rd {
        let sub = sub.ctx("read cache directory", cache.dir())?.path();
        let name = sub
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let ours = (name.len() == 2 && name.chars().all(|c| c.is_ascii_hexdigit()))
            || name == "failed"
            || name == "corrupt";
        if !sub.is_dir() || !ours {
            continue;
        }
        for f in fs::read_dir(&sub).ctx("read cache directory", &sub)? {
            let p = f.ctx("read cache directory", &sub)?.path();
            bytes += size(&p);
            fs::remove_file(&p).ctx("remove", &p)?;
            files += 1;
        }
        let _ = fs::remove_dir(&sub);
    }
    Ok((files, bytes))
}
