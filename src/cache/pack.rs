//! Cache packs: many disk-cache entries in one file, to warm caches where no filesystem is
//! shared (copy the pack to each node's local disk, or into CI) — `op2 cache pack` / `unpack`.
//!
//! # Format (version 1, little-endian)
//! ```text
//! b"OP2PACK\n"        magic (8 bytes)
//! u32                 format version
//! u64                 header length H
//! H bytes             JSON header: {"entries": [{"meta": <the entry's .meta>, "len": n}, ...]}
//! n bytes per entry   the libraries, in header order
//! u64                 xxh3-64 of everything before it
//! ```
//! Unpacking checks, before writing anything: the pack file itself (a regular file that only
//! you, root or your trusted group could have written: `trust::open_pack`; read no further than
//! its size), magic, version, the trailing checksum (so a truncated or damaged pack is refused
//! as a whole), the header (at most [`layout::MAX_ENTRIES`] entries), and for every entry
//! exactly what the runtime checks before it loads one (`layout::check_meta`,
//! `layout::check_library`: a lower-case key, this op2's format, a C identifier as kernel name,
//! the recorded size and xxh3-64, an ELF library exporting the entry point), so nothing is
//! written that a job would then refuse. Entries are then published with the disk cache's one
//! transaction (`disk::publish`: locked, verified, atomic; an untrusted file already there is
//! refused, as a job refuses it), so a pack can be unpacked into a cache that running jobs are
//! using.
//!
//! # Trust
//! A pack is code from its author: checksums prove it is intact, not who made it or what the
//! libraries do (anyone can forge a pack whose checksums match). `unpack --rebuild` narrows
//! that to the source: every entry carries the generated C source
//! and how it was built (`layout::Build`), builds are reproducible, and each entry is compiled
//! again (`build/rebuild.rs`, which calls the compiler through `unpack_with`) and refused
//! unless the result is byte-for-byte the packed library; the source itself is still its
//! author's. This file never compiles.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::disk::{self, Candidate, Published, Txn};
use crate::cache::layout::{self, DiskCache, Meta, CACHE_NAME};
use crate::cache::stats;
use crate::error::{Error, IoContext, Result};

const MAGIC: &[u8; 8] = b"OP2PACK\n";
/// Pack format version written and accepted.
pub const PACK_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    entries: Vec<PackEntry>,
}

#[derive(Serialize, Deserialize)]
struct PackEntry {
    meta: Meta,
    len: u64,
}

fn refuse(path: &Path, detail: impl Into<String>) -> Error {
    Error::CorruptEntry {
        path: path.to_path_buf(),
        detail: format!("not a usable op2 cache pack: {}", detail.into()),
    }
}

/// Write the verified entries of `cache` (all of them, or only the keys in `only`) into one
/// pack at `out` (atomically). Returns the number of entries written. A key in `only` with no
/// verified entry is an error naming it; damaged entries are never packed.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let cache = op2::cache::DiskCache::new(dir.path().join("cache"));
/// let pack = dir.path().join("empty.op2pack");
/// assert_eq!(op2::cache::pack::pack(&cache, &pack, None).unwrap(), 0);
/// let other = op2::cache::DiskCache::new(dir.path().join("other"));
/// let r = op2::cache::pack::unpack(&pack, &other, std::time::Duration::from_secs(5)).unwrap();
/// assert_eq!(r.written + r.present, 0);
/// ```
pub fn pack(cache: &DiskCache, out: &Path, only: Option<&[String]>) -> Result<usize> {
    let metas: Vec<std::path::PathBuf> = match only {
        None => cache.entries()?,
        Some(keys) => keys
            .iter()
            .map(|k| {
                let key = parse_key(k).ok_or_else(|| {
                    Error::invalid("op2 cache pack", format!("{k:?} is not a cache key"))
                })?;
                Ok(cache.entry(key).meta)
            })
            .collect::<Result<_>>()?,
    };
    let mut entries = Vec::new();
    let mut blobs = Vec::new();
    for m in metas {
        let paths = layout::EntryPaths {
            so: m.with_extension("so"),
            lock: m.with_extension("lock"),
            meta: m.clone(),
        };
        let verified = DiskCache::verify_bytes(&paths, None);
        let why = verified.why();
        let (meta, bytes) = match (verified.ok(), why) {
            (Some(checked), _) => checked,
            (None, why) => {
                let why = why.unwrap_or_default();
                if only.is_some() {
                    return Err(Error::invalid(
                        "op2 cache pack",
                        format!("entry {} is not usable: {why}", m.display()),
                    ));
                }
                eprintln!("op2 cache pack: skipping {}: {why}", m.display());
                continue;
            }
        };
        entries.push(PackEntry {
            meta,
            len: bytes.len() as u64,
        });
        blobs.push(bytes);
    }
    let header = serde_json::to_vec(&Header { entries }).expect("header serialises");
    let mut buf = Vec::new();
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&PACK_VERSION.to_le_bytes());
    buf.extend_from_slice(&(header.len() as u64).to_le_bytes());
    buf.extend_from_slice(&header);
    for b in &blobs {
        buf.extend_from_slice(b);
    }
    let sum = xxhash_rust::xxh3::xxh3_64(&buf);
    buf.extend_from_slice(&sum.to_le_bytes());
    crate::cache::fsutil::atomic_write(out, &buf)?;
    Ok(blobs.len())
}

fn parse_key(k: &str) -> Option<u128> {
    layout::is_key(k)
        .then(|| u128::from_str_radix(k, 16).ok())
        .flatten()
}

/// What [`unpack`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    /// Entries written (new or replacing a damaged copy).
    pub written: usize,
    /// Entries already present and verified.
    pub present: usize,
}

/// Verify the pack at `file` entirely, then publish its entries into `cache`.
pub fn unpack(file: &Path, cache: &DiskCache, lock_timeout: Duration) -> Result<Unpacked> {
    unpack_with(file, cache, lock_timeout, |_, _| Ok(()))
}

/// [`unpack`], with one more check of every entry (its metadata and library bytes) before
/// anything is published: a refusal (why) refuses the whole pack.
pub(crate) fn unpack_with(
    file: &Path,
    cache: &DiskCache,
    lock_timeout: Duration,
    check: impl Fn(&Meta, &[u8]) -> std::result::Result<(), String>,
) -> Result<Unpacked> {
    let buf = read_pack(file)?;
    let plan = check_pack(file, &buf)?;
    for (_, meta, bytes) in &plan {
        check(meta, bytes)
            .map_err(|why| refuse(file, format!("entry {} ({}): {why}", meta.key, meta.kernel)))?;
    }
    let mut out = Unpacked::default();
    for (key, meta, bytes) in plan {
        // The disk cache's one transaction, as a job's: an untrusted file there is refused.
        let txn = Txn {
            kernel: &meta.kernel.clone(),
            timeout: lock_timeout,
            replace: false,
        };
        let candidate = Candidate {
            meta,
            bytes: bytes.to_vec(),
        };
        match disk::publish_copy(cache, key, &txn, candidate)?.published {
            Published::Present | Published::Concurrent => out.present += 1,
            Published::Written | Published::Repaired => {
                stats::update(CACHE_NAME, |s| s.published += 1);
                out.written += 1
            }
        }
    }
    Ok(out)
}

/// The pack's bytes: a trusted regular file (`trust::open_pack`), read up to its size.
fn read_pack(file: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let (f, len) = crate::cache::trust::open_pack(file)?;
    let mut buf = Vec::with_capacity(len.min(1 << 30) as usize);
    f.take(len)
        .read_to_end(&mut buf)
        .ctx("read cache pack", file)?;
    Ok(buf)
}

/// Check the whole pack; its entries as (key, metadata, library bytes).
fn check_pack<'a>(file: &Path, buf: &'a [u8]) -> Result<Vec<(u128, Meta, &'a [u8])>> {
    if buf.len() < 8 || &buf[..8] != MAGIC {
        return Err(refuse(file, "bad magic (not an op2 cache pack)"));
    }
    if buf.len() < 8 + 4 + 8 + 8 {
        return Err(refuse(file, format!("truncated ({} bytes)", buf.len())));
    }
    let version = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    if version != PACK_VERSION {
        return Err(refuse(
            file,
            format!("format version {version}; this op2 reads version {PACK_VERSION}"),
        ));
    }
    let (body, tail) = buf.split_at(buf.len() - 8);
    let want = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
    if xxhash_rust::xxh3::xxh3_64(body) != want {
        return Err(refuse(
            file,
            "checksum mismatch (truncated, damaged or altered)",
        ));
    }
    let hlen = u64::from_le_bytes(body[12..20].try_into().expect("8 bytes"));
    let hend = usize::try_from(hlen)
        .ok()
        .and_then(|h| h.checked_add(20))
        .filter(|&e| e <= body.len())
        .ok_or_else(|| refuse(file, "header length past the end"))?;
    let header: Header = serde_json::from_slice(&body[20..hend])
        .map_err(|e| refuse(file, format!("unreadable header: {e}")))?;
    if header.entries.len() > layout::MAX_ENTRIES {
        return Err(refuse(
            file,
            format!(
                "{} entries (at most {} are accepted)",
                header.entries.len(),
                layout::MAX_ENTRIES
            ),
        ));
    }
    let mut at = hend;
    let mut plan = Vec::with_capacity(header.entries.len());
    for e in header.entries {
        let m = &e.meta;
        let name = format!("{} ({})", m.key.escape_debug(), m.kernel.escape_debug());
        let shown = std::path::PathBuf::from(format!("{}: entry {name}", file.display()));
        let key = parse_key(&m.key).ok_or_else(|| {
            refuse(
                file,
                format!("bad entry key {:?} (32 lower-case hex digits)", m.key),
            )
        })?;
        layout::check_meta(m, &m.key, &shown).map_err(|why| refuse(file, why))?;
        let end = usize::try_from(e.len)
            .ok()
            .and_then(|n| at.checked_add(n))
            .filter(|&x| x <= body.len())
            .ok_or_else(|| refuse(file, format!("entry {name} runs past the end")))?;
        let bytes = &body[at..end];
        if e.len != m.size || xxhash_rust::xxh3::xxh3_64(bytes) != m.checksum {
            return Err(refuse(
                file,
                format!("entry {name} does not match its recorded size/checksum"),
            ));
        }
        layout::check_library(m, bytes, &shown).map_err(|why| refuse(file, why))?;
        plan.push((key, e.meta, bytes));
        at = end;
    }
    if at != body.len() {
        return Err(refuse(
            file,
            format!("{} unexpected bytes after the entries", body.len() - at),
        ));
    }
    Ok(plan)
}
