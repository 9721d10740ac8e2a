//! The layout of a disk cache directory: where an entry's files live, its metadata, checking
//! a file against its recorded size and checksum, and listing the entries.
//!
//! The lowest file of the disk cache: the compile protocol (`disk.rs`), pruning (`prune.rs`)
//! and the maintenance commands (`admin.rs`) all read the directory through it, so the layout
//! is written down once. It never locks, compiles or deletes.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::cache::{fsutil, trust};
use crate::error::{Error, IoContext, Result};

/// Name of this cache in reports.
pub const CACHE_NAME: &str = "disk";

/// Metadata stored beside each entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// Entry format version.
    pub format: u64,
    /// xxh3-64 of the `.so` bytes.
    pub checksum: u64,
    /// Size of the `.so` in bytes.
    pub size: u64,
    /// Kernel name.
    pub kernel: String,
    /// Creation time (seconds since the epoch).
    pub created: u64,
    /// Host that compiled it.
    pub host: String,
    /// Seconds the compilation took.
    pub compile_seconds: f64,
    /// The key in hex.
    pub key: String,
    /// Human-readable key text.
    pub key_text: String,
}

/// Paths of one entry.
#[derive(Debug, Clone)]
pub struct EntryPaths {
    pub so: PathBuf,
    pub meta: PathBuf,
    pub lock: PathBuf,
}

/// A disk-cache directory.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let cache = op2::cache::DiskCache::new(dir.path());
/// assert!(cache.entry(0xabcdef).so.to_string_lossy().ends_with(".so"));
/// assert!(cache.entries().unwrap().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

/// Why an entry failed verification.
#[derive(Debug)]
pub enum Verify {
    /// No `.meta`: the entry does not exist.
    Missing,
    /// The entry exists but is damaged (reason).
    Corrupt(String),
}

impl DiskCache {
    /// The cache in `dir` (not created until something is written).
    pub fn new(dir: impl Into<PathBuf>) -> DiskCache {
        DiskCache { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Paths of the entry for `key`.
    pub fn entry(&self, key: u128) -> EntryPaths {
        let hex = format!("{key:032x}");
        let d = self.dir.join(&hex[..2]);
        EntryPaths {
            so: d.join(format!("{}.so", &hex[2..])),
            meta: d.join(format!("{}.meta", &hex[2..])),
            lock: d.join(format!("{}.lock", &hex[2..])),
        }
    }

    /// Every entry's `.meta` path (entries being written or damaged included).
    pub fn entries(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("read cache directory", &self.dir, e)),
        };
        for sub in rd {
            let sub = sub.ctx("read cache directory", &self.dir)?.path();
            let name = sub.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.len() != 2 || !sub.is_dir() {
                continue;
            }
            for f in fs::read_dir(&sub).ctx("read cache directory", &sub)? {
                let p = f.ctx("read cache directory", &sub)?.path();
                // In-flight temporaries (`.tmp-…-<key>.meta`) are not entries.
                let temp = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(fsutil::is_temp_name);
                if p.extension().is_some_and(|e| e == "meta") && !temp {
                    out.push(p);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Read and parse an entry's metadata (refusing symlinks, FIFOs, untrusted files).
    pub fn read_meta(meta: &Path) -> std::result::Result<Meta, Verify> {
        use std::io::Read;
        let mut f = match trust::open_entry(meta) {
            Ok(Some(f)) => f,
            Ok(None) => return Err(Verify::Missing),
            Err(why) => return Err(Verify::Corrupt(why)),
        };
        let mut text = Vec::new();
        // A .meta is a few hundred bytes: anything huge is not ours.
        (&mut f)
            .take(1 << 20)
            .read_to_end(&mut text)
            .map_err(|e| Verify::Corrupt(format!("cannot read {}: {e}", meta.display())))?;
        serde_json::from_slice(&text)
            .map_err(|e| Verify::Corrupt(format!("unreadable metadata {}: {e}", meta.display())))
    }

    /// Verify an entry: metadata parses, is bound to this entry (its recorded key is the one
    /// the entry's path encodes, its format is this op2's), the `.so` has the recorded size and
    /// checksum and exports the entry point. `kernel`: the kernel name the caller asked for, if
    /// known.
    pub fn verify(paths: &EntryPaths, kernel: Option<&str>) -> std::result::Result<Meta, Verify> {
        let meta = Self::read_meta(&paths.meta)?;
        let want = key_of(&paths.meta);
        if want.as_deref() != Some(meta.key.as_str()) {
            return Err(Verify::Corrupt(format!(
                "{} records key {} but sits at the place of key {} (another entry's files copied over it?)",
                paths.meta.display(),
                meta.key,
                want.unwrap_or_else(|| "?".into())
            )));
        }
        if meta.format != crate::cache::key::FORMAT_VERSION {
            return Err(Verify::Corrupt(format!(
                "{} has entry format {}, this op2 writes format {}",
                paths.meta.display(),
                meta.format,
                crate::cache::key::FORMAT_VERSION
            )));
        }
        if let Some(k) = kernel {
            if meta.kernel != k {
                return Err(Verify::Corrupt(format!(
                    "{} is for kernel `{}`, not `{k}`",
                    paths.meta.display(),
                    meta.kernel
                )));
            }
        }
        check_file(&paths.so, meta.size, meta.checksum).map_err(Verify::Corrupt)?;
        crate::jit::compile::check_exports(&paths.so).map_err(Verify::Corrupt)?; // usable, too
        Ok(meta)
    }

    /// Leftover temporaries (`.tmp-*` in the entry folders), with their age in seconds.
    pub fn temporaries(&self) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return out;
        };
        for sub in rd.flatten() {
            let Ok(files) = fs::read_dir(sub.path()) else {
                continue;
            };
            for f in files.flatten() {
                if fsutil::is_temp_name(&f.file_name().to_string_lossy()) {
                    let age = f
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    out.push((f.path(), age));
                }
            }
        }
        out.sort();
        out
    }

    /// Move a damaged entry aside (rename, never truncate: processes that loaded it keep it).
    pub fn quarantine(&self, paths: &EntryPaths) -> Result<()> {
        let dir = self.dir.join("corrupt");
        fsutil::create_private_dir(&dir)?;
        let stamp = format!("{}-{}", now_secs(), std::process::id());
        for p in [&paths.so, &paths.meta] {
            if p.exists() {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
                let parent = p
                    .parent()
                    .and_then(|d| d.file_name())
                    .and_then(|n| n.to_str())
                    .unwrap_or("");
                fs::rename(p, dir.join(format!("{parent}{name}.{stamp}")))
                    .ctx("move corrupt entry aside", p)?;
            }
        }
        Ok(())
    }
}

/// The key (32 hex digits) an entry's path encodes: `<k0k1>/<k2..k31>.meta`.
pub(crate) fn key_of(meta: &Path) -> Option<String> {
    let stem = meta.file_stem()?.to_str()?;
    let sub = meta.parent()?.file_name()?.to_str()?;
    let key = format!("{sub}{stem}");
    (key.len() == 32 && key.chars().all(|c| c.is_ascii_hexdigit())).then_some(key)
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Check size and xxh3-64 of a file through a memory map.
pub(crate) fn check_file(path: &Path, size: u64, checksum: u64) -> std::result::Result<(), String> {
    let f = trust::open_entry(path)?.ok_or_else(|| format!("{} is missing", path.display()))?;
    let len = f
        .metadata()
        .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
        .len();
    if len != size {
        return Err(format!(
            "{} is {len} bytes, expected {size} (truncated or replaced)",
            path.display()
        ));
    }
    if len == 0 {
        return Err(format!("{} is empty", path.display()));
    }
    // SAFETY: cache files are write-once (written to a temporary and renamed into place, never
    // modified in place; pruning unlinks, which keeps our mapping valid), and we checked the
    // length above, so the mapping covers valid bytes that nobody mutates while we hash them.
    let map = unsafe { memmap2::Mmap::map(&f) }
        .map_err(|e| format!("cannot map {}: {e}", path.display()))?;
    let sum = xxhash_rust::xxh3::xxh3_64(&map);
    if sum != checksum {
        return Err(format!(
            "{} checksum {sum:016x} does not match the recorded {checksum:016x}",
            path.display()
        ));
    }
    Ok(())
}

/// One entry as found on disk.
#[derive(Debug, Clone, Serialize)]
pub struct EntryInfo {
    /// Metadata path (the entry's identity on disk).
    pub meta_path: PathBuf,
    /// Parsed metadata, if readable.
    pub meta: Option<Meta>,
    /// Bytes of `.so` + `.meta`.
    pub bytes: u64,
    /// Last use (mtime of `.meta`, seconds since the epoch).
    pub last_used: u64,
}

impl EntryInfo {
    /// Paths of the entry's files.
    pub fn paths(&self) -> EntryPaths {
        EntryPaths {
            so: self.meta_path.with_extension("so"),
            meta: self.meta_path.clone(),
            lock: self.meta_path.with_extension("lock"),
        }
    }
}

pub(crate) fn mtime(p: &Path) -> u64 {
    fs::metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn size(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Every entry of the cache, oldest use first.
pub fn list(cache: &DiskCache) -> Result<Vec<EntryInfo>> {
    let mut out: Vec<EntryInfo> = cache
        .entries()?
        .into_iter()
        .map(|m| {
            let meta = DiskCache::read_meta(&m).ok();
            let bytes = size(&m) + size(&m.with_extension("so"));
            EntryInfo {
                last_used: mtime(&m),
                meta,
                bytes,
                meta_path: m,
            }
        })
        .collect();
    out.sort_by_key(|e| (e.last_used, e.meta_path.clone()));
    Ok(out)
}
