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
    /// How the library was built, so that `op2 cache unpack --rebuild` can compile it again and
    /// compare (absent in entries written by an op2 older than reproducible builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
}

/// What a library was compiled from: with the same compiler (identity) its bytes are
/// reproducible (the compiler call maps build paths away, the source has a fixed name).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Build {
    /// The generated C source.
    pub source: String,
    /// The compiler command (`OP2_CC`) and flags (`OP2_CFLAGS`), and the kernel's own flags.
    pub cc: String,
    pub cflags: String,
    pub kernel_flags: Vec<String>,
    /// The compiler's identity (resolved path, version, target CPU): a rebuild needs the same.
    pub compiler_id: String,
}

/// Version of an entry's layout (its files and the meaning of its key and `.meta`), checked at
/// every load. Not a code-generation version: entries are keyed by the hash of their generated
/// source and how it is built (`build::key`), so a codegen change is a new key by itself.
/// (8: keys are content hashes; entries of format 7 and older were keyed by loop metadata.)
pub const ENTRY_FORMAT: u64 = 8;

/// Most entries a cache pack may hold (a pack is read whole into memory).
pub const MAX_ENTRIES: usize = 100_000;

/// Largest `.meta` read (it carries the generated source).
const MAX_META_BYTES: u64 = 16 << 20;

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

/// What verifying an entry found. Callers decide by the variant: a hit uses `Ok`, a miss
/// writes the entry, damage is moved aside and rebuilt, and a file someone untrusted could
/// have written is refused (never rebuilt over, never loaded).
#[derive(Debug)]
pub enum Verify<T> {
    /// Usable: what was checked (the metadata, and the library bytes where read).
    Ok(T),
    /// No `.meta`: the entry does not exist.
    Missing,
    /// The entry exists but is damaged (why).
    Damaged(String),
    /// An entry file could have been written by someone untrusted (why, with the fix).
    Untrusted(String),
}

/// A failed verification (a [`Verify`] that cannot be `Ok`), for `?` inside the checks.
type Fault = Verify<std::convert::Infallible>;

impl<T> Verify<T> {
    fn from_result(r: std::result::Result<T, Fault>) -> Verify<T> {
        match r {
            Ok(t) => Verify::Ok(t),
            Err(Verify::Missing) => Verify::Missing,
            Err(Verify::Damaged(why)) => Verify::Damaged(why),
            Err(Verify::Untrusted(why)) => Verify::Untrusted(why),
        }
    }

    /// Why it is not usable (`None` if it is): a sentence for reports.
    pub fn why(&self) -> Option<String> {
        match self {
            Verify::Ok(_) => None,
            Verify::Missing => Some("missing".into()),
            Verify::Damaged(why) | Verify::Untrusted(why) => Some(why.clone()),
        }
    }

    /// The checked value, if usable.
    pub fn ok(self) -> Option<T> {
        match self {
            Verify::Ok(t) => Some(t),
            _ => None,
        }
    }
}

impl From<trust::Refusal> for Fault {
    fn from(r: trust::Refusal) -> Fault {
        match r {
            trust::Refusal::Damaged(why) => Verify::Damaged(why),
            trust::Refusal::Untrusted(why) => Verify::Untrusted(why),
        }
    }
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
            let sub = sub.ctx("read cache directory", &self.dir)?;
            // Entry folders only: real directories, never a link (followed, it would make
            // pruning or `verify --fix` reach files outside the cache).
            if !is_entry_dir_name(&sub.file_name().to_string_lossy()) || !real_dir(&sub) {
                continue;
            }
            let sub = sub.path();
            let files = match fs::read_dir(&sub) {
                Ok(files) => files,
                // Removed since the listing (a concurrent prune or clear): no entries there.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("read cache directory", &sub, e)),
            };
            for f in files {
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
    pub fn read_meta(meta: &Path) -> Verify<Meta> {
        Verify::from_result(read_meta(meta))
    }

    /// Verify an entry: metadata parses, is bound to this entry (its recorded key is the one
    /// the entry's path encodes, its format is this op2's), the `.so` has the recorded size and
    /// checksum and exports the entry point. `kernel`: the kernel name the caller asked for, if
    /// known.
    pub fn verify(paths: &EntryPaths, kernel: Option<&str>) -> Verify<Meta> {
        Verify::from_result(verify_bytes(paths, kernel).map(|(meta, _)| meta))
    }

    /// [`DiskCache::verify`], returning the library's bytes as they were checked: the `.so` is
    /// read once (never memory-mapped: a file rewritten in place cannot fault the reader) and
    /// those bytes are hashed, checked and returned, so a caller can load exactly them.
    pub(crate) fn verify_bytes(
        paths: &EntryPaths,
        kernel: Option<&str>,
    ) -> Verify<(Meta, Vec<u8>)> {
        Verify::from_result(verify_bytes(paths, kernel))
    }

    /// Leftover temporaries (`.tmp-*` in the entry folders), with their age in seconds.
    pub fn temporaries(&self) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return out;
        };
        for sub in rd.flatten() {
            if !real_dir(&sub) {
                continue;
            }
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
        trust::check_dir(&dir)?; // a real directory: never rename entries through a link
        let stamp = format!("{}-{}", now_secs(), std::process::id());
        for p in [&paths.so, &paths.meta] {
            if p.symlink_metadata().is_ok() {
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

fn read_meta(meta: &Path) -> std::result::Result<Meta, Fault> {
    use std::io::Read;
    let mut f = trust::open_entry(meta)?.ok_or(Verify::Missing)?;
    let mut text = Vec::new();
    // A .meta is the key text and the generated source: anything huge is not ours.
    (&mut f)
        .take(MAX_META_BYTES)
        .read_to_end(&mut text)
        .map_err(|e| Verify::Damaged(format!("cannot read {}: {e}", meta.display())))?;
    serde_json::from_slice(&text)
        .map_err(|e| Verify::Damaged(format!("unreadable metadata {}: {e}", meta.display())))
}

fn verify_bytes(
    paths: &EntryPaths,
    kernel: Option<&str>,
) -> std::result::Result<(Meta, Vec<u8>), Fault> {
    let meta = read_meta(&paths.meta)?;
    let want = key_of(&paths.meta).unwrap_or_else(|| "?".into());
    check_meta(&meta, &want, &paths.meta).map_err(Verify::Damaged)?;
    if let Some(k) = kernel {
        if meta.kernel != k {
            return Err(Verify::Damaged(format!(
                "{} is for kernel `{}`, not `{k}`",
                paths.meta.display(),
                meta.kernel.escape_debug()
            )));
        }
    }
    let bytes = read_entry_file(&paths.so, meta.size)?;
    check_library(&meta, &bytes, &paths.so).map_err(Verify::Damaged)?;
    Ok((meta, bytes))
}

/// The key (32 lower-case hex digits) an entry's path encodes: `<k0k1>/<k2..k31>.meta`.
pub(crate) fn key_of(meta: &Path) -> Option<String> {
    let stem = meta.file_stem()?.to_str()?;
    let sub = meta.parent()?.file_name()?.to_str()?;
    let key = format!("{sub}{stem}");
    is_key(&key).then_some(key)
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What the runtime requires of an entry's metadata before it looks at the library (at load,
/// in `op2 cache verify`, and for every entry of a pack at `unpack`): the recorded key is
/// `key` (32 lower-case hex digits, the place the entry sits at), the format is this op2's,
/// the kernel name is a C identifier. `shown` names the metadata in messages.
pub(crate) fn check_meta(meta: &Meta, key: &str, shown: &Path) -> std::result::Result<(), String> {
    if meta.key != key || !is_key(key) {
        return Err(format!(
            "{} records key {} but sits at the place of key {} (another entry's files copied over it?)",
            shown.display(),
            meta.key.escape_debug(),
            key.escape_debug()
        ));
    }
    if meta.format != ENTRY_FORMAT {
        return Err(format!(
            "{} has entry format {}, this op2 writes format {}",
            shown.display(),
            meta.format,
            ENTRY_FORMAT
        ));
    }
    if !is_identifier(&meta.kernel) {
        return Err(format!(
            "{} names kernel {:?}, which is not a C identifier",
            shown.display(),
            meta.kernel
        ));
    }
    Ok(())
}

/// What the runtime requires of an entry's library bytes: the recorded size (not empty), the
/// recorded xxh3-64, an ELF shared object exporting the generated entry point.
pub(crate) fn check_library(
    meta: &Meta,
    bytes: &[u8],
    shown: &Path,
) -> std::result::Result<(), String> {
    let len = bytes.len() as u64;
    if len != meta.size {
        return Err(format!(
            "{} is {len} bytes, expected {} (truncated or replaced)",
            shown.display(),
            meta.size
        ));
    }
    if len == 0 {
        return Err(format!("{} is empty", shown.display()));
    }
    let sum = xxhash_rust::xxh3::xxh3_64(bytes);
    if sum != meta.checksum {
        return Err(format!(
            "{} checksum {sum:016x} does not match the recorded {:016x}",
            shown.display(),
            meta.checksum
        ));
    }
    crate::cache::elf::check_exports_bytes(bytes, shown) // usable, too
}

/// 32 lower-case hex digits: a key as the runtime writes it (`{:032x}`), hence as its path.
pub(crate) fn is_key(k: &str) -> bool {
    k.len() == 32 && k.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A C identifier (what `Kernel::new` accepts as a name).
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

/// Read an entry file once through [`trust::open_entry`] (no link, a regular file, a trusted
/// owner), at most `size + 1` bytes: a longer file is reported by the size check without
/// reading it all.
fn read_entry_file(path: &Path, size: u64) -> std::result::Result<Vec<u8>, Fault> {
    use std::io::Read;
    let f = trust::open_entry(path)?
        .ok_or_else(|| Verify::Damaged(format!("{} is missing", path.display())))?;
    let mut bytes = Vec::with_capacity(size.min(1 << 30) as usize);
    f.take(size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Verify::Damaged(format!("cannot read {}: {e}", path.display())))?;
    Ok(bytes)
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

/// Last modification time of `p` itself (a link is not followed), seconds since the epoch.
pub(crate) fn mtime(p: &Path) -> u64 {
    fs::symlink_metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Size of `p` itself (a link is not followed).
pub(crate) fn size(p: &Path) -> u64 {
    fs::symlink_metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// True for the name of an entry folder: two lower-case hex digits (the runtime writes keys
/// with `{:032x}`).
pub(crate) fn is_entry_dir_name(name: &str) -> bool {
    name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// True if the directory entry is a real directory: `DirEntry::file_type` does not follow a
/// symbolic link, so a link to a directory is not one.
pub(crate) fn real_dir(e: &fs::DirEntry) -> bool {
    e.file_type().is_ok_and(|t| t.is_dir())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_kernel_names_are_checked_as_the_runtime_writes_them() {
        assert!(is_key("0123456789abcdef0123456789abcdef"));
        assert!(!is_key("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_key("0123456789abcdef0123456789abcde"));
        assert!(is_identifier("_k1") && is_identifier("airfoil_res"));
        for bad in ["", "1k", "k-1", "k\u{1b}[2J", "k\nBAD", "é"] {
            assert!(!is_identifier(bad), "{bad:?}");
        }
        let key = "0123456789abcdef0123456789abcdef";
        let mut m = Meta {
            format: ENTRY_FORMAT,
            checksum: 0,
            size: 0,
            kernel: "k".into(),
            created: 0,
            host: String::new(),
            compile_seconds: 0.0,
            key: key.into(),
            key_text: String::new(),
            build: None,
        };
        let here = Path::new("x.meta");
        check_meta(&m, key, here).unwrap();
        assert!(check_meta(&m, &key.to_uppercase(), here).is_err());
        m.format += 1;
        assert!(check_meta(&m, key, here)
            .unwrap_err()
            .contains("entry format"));
        m.format -= 1;
        m.kernel = "k\u{1b}[2J".into();
        let e = check_meta(&m, key, here).unwrap_err();
        assert!(
            e.contains("not a C identifier") && !e.contains('\u{1b}'),
            "{e}"
        );
        // An empty library, and bytes that are no ELF file, are refused.
        m.kernel = "k".into();
        assert!(check_library(&m, b"", here).unwrap_err().contains("empty"));
        let junk = b"#!/bin/sh\n";
        m.size = junk.len() as u64;
        m.checksum = xxhash_rust::xxh3::xxh3_64(junk);
        assert!(check_library(&m, junk, here)
            .unwrap_err()
            .contains("not a usable shared object"));
    }
}

/// [`DiskCache::verify`] on real entries: a shared object built with `cc`, written where the
/// runtime writes it, then removed, damaged or replaced in each way a cache directory can be.
#[cfg(test)]
mod verify_tests {
    use super::*;

    /// Bytes of a shared object exporting the generated entry point, built in `dir`.
    fn entry_library(dir: &Path) -> Vec<u8> {
        let (c, so) = (dir.join("entry.c"), dir.join("entry.so"));
        let entry = crate::cache::elf::ENTRY;
        fs::write(&c, format!("void {entry}(void) {{}}\n")).unwrap();
        let ok = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&so)
            .arg(&c)
            .status()
            .unwrap()
            .success();
        assert!(ok, "cc failed");
        fs::read(&so).unwrap()
    }

    /// Write a good entry for `key` holding `lib`; its paths and metadata.
    fn write_entry(cache: &DiskCache, key: u128, lib: &[u8]) -> (EntryPaths, Meta) {
        let paths = cache.entry(key);
        fs::create_dir_all(paths.meta.parent().unwrap()).unwrap();
        let meta = Meta {
            format: ENTRY_FORMAT,
            checksum: xxhash_rust::xxh3::xxh3_64(lib),
            size: lib.len() as u64,
            kernel: "k".into(),
            created: now_secs(),
            host: "test".into(),
            compile_seconds: 0.0,
            key: format!("{key:032x}"),
            key_text: String::new(),
            build: None,
        };
        fs::write(&paths.so, lib).unwrap();
        fs::write(&paths.meta, serde_json::to_vec(&meta).unwrap()).unwrap();
        (paths, meta)
    }

    fn corrupt(paths: &EntryPaths, kernel: Option<&str>) -> String {
        match DiskCache::verify(paths, kernel) {
            Verify::Damaged(why) | Verify::Untrusted(why) => why,
            other => panic!("expected a damaged entry, got {other:?}"),
        }
    }

    fn ok<T: std::fmt::Debug>(v: Verify<T>) -> T {
        match v {
            Verify::Ok(t) => t,
            other => panic!("expected a usable entry, got {other:?}"),
        }
    }

    #[test]
    fn verify_tells_ok_from_missing_from_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let lib = entry_library(dir.path());
        let cache = DiskCache::new(dir.path().join("cache"));
        let key = 0x00c0_ffee_u128 << 64 | 0x1234;
        // Missing: no entry at all.
        assert!(matches!(
            DiskCache::verify(&cache.entry(key), None),
            Verify::Missing
        ));
        // Ok: the metadata comes back, bytes as written.
        let (paths, meta) = write_entry(&cache, key, &lib);
        assert_eq!(ok(DiskCache::verify(&paths, Some("k"))), meta);
        let (m, bytes) = ok(DiskCache::verify_bytes(&paths, None));
        assert_eq!((m, bytes), (meta.clone(), lib.clone()));
        assert_eq!(cache.entries().unwrap(), vec![paths.meta.clone()]);
        // Asked for another kernel.
        assert!(corrupt(&paths, Some("other")).contains("is for kernel `k`, not `other`"));
        // The library: gone, one byte flipped, truncated, a symbolic link, writable by all.
        let restore = || fs::write(&paths.so, &lib).unwrap();
        fs::remove_file(&paths.so).unwrap();
        assert!(corrupt(&paths, None).contains("is missing"));
        let mut flipped = lib.clone();
        flipped[lib.len() / 2] ^= 0x40;
        fs::write(&paths.so, &flipped).unwrap();
        assert!(corrupt(&paths, None).contains("does not match the recorded"));
        fs::write(&paths.so, &lib[..lib.len() / 3]).unwrap();
        assert!(corrupt(&paths, None).contains("truncated or replaced"));
        fs::remove_file(&paths.so).unwrap();
        let elsewhere = dir.path().join("entry.so");
        std::os::unix::fs::symlink(&elsewhere, &paths.so).unwrap();
        assert!(corrupt(&paths, None).contains("symbolic link"));
        fs::remove_file(&paths.so).unwrap();
        restore();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&paths.so, fs::Permissions::from_mode(0o646)).unwrap();
        assert!(corrupt(&paths, None).contains("writable by every user"));
        fs::set_permissions(&paths.so, fs::Permissions::from_mode(0o644)).unwrap();
        ok(DiskCache::verify(&paths, None));
        // The metadata: unreadable, from an older format, copied to another key's place.
        let text = fs::read(&paths.meta).unwrap();
        fs::write(&paths.meta, &text[..text.len() / 2]).unwrap();
        assert!(corrupt(&paths, None).contains("unreadable metadata"));
        let mut old = meta.clone();
        old.format -= 1;
        fs::write(&paths.meta, serde_json::to_vec(&old).unwrap()).unwrap();
        assert!(corrupt(&paths, None).contains("entry format"));
        fs::write(&paths.meta, &text).unwrap();
        ok(DiskCache::verify(&paths, None));
        let other = cache.entry(key + 1);
        fs::copy(&paths.meta, &other.meta).unwrap();
        fs::copy(&paths.so, &other.so).unwrap();
        assert!(corrupt(&other, None).contains("sits at the place of key"));
        // Quarantine moves a damaged entry aside: it is then missing, the good one untouched.
        cache.quarantine(&other).unwrap();
        assert!(matches!(DiskCache::verify(&other, None), Verify::Missing));
        ok(DiskCache::verify(&paths, Some("k")));
    }
}
