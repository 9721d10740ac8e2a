//! Inspecting and maintaining a disk cache: listing, statistics, verification, clearing.
//!
//! Owns the read-side view used by the `op2 cache` command and the finalize report. It uses
//! the same layout, verification and locking rules as the runtime (`cache::disk`, `fsutil`),
//! never a second copy of them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cache::layout::{self, list, DiskCache, EntryPaths, Verify};
use crate::cache::{fsutil, trust};
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
    /// Leftover temporaries (`.tmp-*`): all of them, and those past the staleness bound.
    pub temporaries: u64,
    pub stale_temporaries: u64,
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
    for (_, age) in cache.temporaries() {
        s.temporaries += 1;
        s.stale_temporaries += (age >= fsutil::STALE_TEMP_SECS) as u64;
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

/// Checksum every entry and check it is bound to its place (recorded key, format); with
/// `fix`, move damaged ones aside (under their lock, so an entry being rewritten by a compile
/// is not touched) and remove stale temporaries. Returns the damaged entries and how many were
/// checked.
pub fn verify(
    cache: &DiskCache,
    fix: bool,
    lock_timeout: std::time::Duration,
) -> Result<(Vec<Damage>, usize)> {
    if fix {
        // Moving and deleting files: only in a cache nobody untrusted can redirect or fill.
        trust::check_root(cache.dir())?;
    }
    let entries = list(cache)?;
    let mut bad = Vec::new();
    for e in &entries {
        let paths = e.paths();
        // Damaged or untrusted entries are reported (and moved aside with --fix, in a cache
        // whose root is trusted); an entry that vanished meanwhile is not.
        let bad_now = |v: Verify<_>| match v {
            Verify::Damaged(why) | Verify::Untrusted(why) => Some(why),
            Verify::Ok(_) | Verify::Missing => None,
        };
        if let Some(reason) = bad_now(DiskCache::verify(&paths, None)) {
            if fix {
                let _lock = fsutil::lock_exclusive(&paths.lock, lock_timeout)?;
                if bad_now(DiskCache::verify(&paths, None)).is_some() {
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
    if fix {
        remove_stale_temporaries(cache);
    }
    Ok((bad, entries.len()))
}

/// Remove leftover temporaries older than [`fsutil::STALE_TEMP_SECS`] (younger ones may
/// belong to a live compile). Returns how many were removed.
pub fn remove_stale_temporaries(cache: &DiskCache) -> usize {
    let mut n = 0;
    for (p, _) in cache.temporaries() {
        if fsutil::is_stale_temp(&p) && fs::remove_file(&p).is_ok() {
            n += 1;
        }
    }
    n
}

/// What `clear` did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ClearReport {
    pub files: u64,
    pub bytes: u64,
    /// Entries skipped because a live process held their lock (compiling or loading them).
    pub busy: u64,
    /// Temporaries kept because they are younger than the staleness bound (a live compile's).
    pub live_temporaries: u64,
}

/// Remove every entry, failed source, quarantined file and stale temporary, never what a live
/// process writes or holds: each entry is removed under its own lock taken without waiting
/// (a held entry is skipped and counted), young temporaries are kept. Entries are unlinked
/// (never truncated), so processes that loaded one keep working.
///
/// Only what is inside the cache is touched: the root must pass the runtime's trust check
/// (`trust::check_root`: no link on its path owned by someone else, not writable by others,
/// so nobody untrusted can swap what is walked), folders are entered only if they are real
/// directories (a link is never followed), and only regular files are removed (a stray link is
/// unlinked itself, never what it points to).
pub fn clear(cache: &DiskCache) -> Result<ClearReport> {
    trust::check_root(cache.dir())?;
    let mut r = ClearReport::default();
    let rd = match fs::read_dir(cache.dir()) {
        Ok(rd) => rd,
        Err(e) => return Err(Error::io("open cache directory", cache.dir(), e)),
    };
    for sub in rd {
        let sub = sub.ctx("read cache directory", cache.dir())?;
        let name = sub.file_name().to_string_lossy().into_owned();
        let entry_dir = layout::is_entry_dir_name(&name);
        if !layout::real_dir(&sub) || !(entry_dir || name == "failed" || name == "corrupt") {
            continue;
        }
        clear_folder(&sub.path(), entry_dir, &mut r)?;
    }
    Ok(r)
}

/// Remove `p` if it is a regular file or a link (unlinked itself), counting it.
fn remove_plain(p: &Path, r: &mut ClearReport) {
    let Ok(m) = fs::symlink_metadata(p) else {
        return;
    };
    if !(m.file_type().is_file() || m.file_type().is_symlink()) {
        return;
    }
    if fs::remove_file(p).is_ok() {
        r.files += 1;
        r.bytes += m.len();
    }
}

/// One folder of the cache: an entry folder (entries under their locks) or `failed/`/`corrupt/`.
fn clear_folder(sub: &Path, entry_dir: bool, r: &mut ClearReport) -> Result<()> {
    let mut stems = std::collections::BTreeSet::new();
    let files = match fs::read_dir(sub) {
        Ok(files) => files,
        // Removed since the listing (a concurrent prune or clear): nothing left to clear.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read cache directory", sub, e)),
    };
    for f in files {
        let f = f.ctx("read cache directory", sub)?;
        let p = f.path();
        if f.file_type().is_ok_and(|t| t.is_dir()) {
            continue; // never descend: nothing op2 writes is nested deeper
        }
        let fname = f.file_name().to_string_lossy().into_owned();
        if fsutil::is_temp_name(&fname) {
            if fsutil::is_stale_temp(&p) {
                remove_plain(&p, r);
            } else {
                r.live_temporaries += 1;
            }
        } else if entry_dir {
            if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                stems.insert(stem.to_string());
            }
        } else {
            remove_plain(&p, r);
        }
    }
    for stem in stems {
        let paths = EntryPaths {
            so: sub.join(format!("{stem}.so")),
            meta: sub.join(format!("{stem}.meta")),
            lock: sub.join(format!("{stem}.lock")),
        };
        match fsutil::try_lock_exclusive(&paths.lock) {
            Ok(Some(_held)) => {
                remove_plain(&paths.meta, r);
                remove_plain(&paths.so, r);
                // Compiler warnings and the measured variant (`build::choice`), if any.
                remove_plain(&paths.so.with_extension("log"), r);
                remove_plain(&paths.so.with_extension("choice"), r);
                // Safe while we hold it: lockers check that the file they locked is
                // still the one at this path (fsutil), and start again if not.
                let _ = fs::remove_file(&paths.lock);
            }
            Ok(None) => r.busy += 1,
            // An unusable lock file (a directory, a dangling symlink): not ours to keep.
            Err(_) => {
                for p in [&paths.meta, &paths.so] {
                    remove_plain(p, r);
                }
            }
        }
    }
    let _ = fs::remove_dir(sub);
    Ok(())
}
