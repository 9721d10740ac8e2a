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
//! Unpacking checks, before writing anything: magic, version, the trailing checksum (so a
//! truncated or altered pack is refused as a whole), the header, and for every entry its key
//! (32 hex digits), its length and its recorded xxh3-64. Entries are then published with the
//! disk cache's own protocol (`node::publish`: locked, verified, atomic), so a pack can be
//! unpacked into a cache that running jobs are using.

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::layout::{self, DiskCache, Meta};
use crate::cache::node::{self, Published};
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
        let meta = match DiskCache::verify(&paths, None) {
            Ok(meta) => meta,
            Err(why) => {
                let why = match why {
                    layout::Verify::Missing => "missing".to_string(),
                    layout::Verify::Corrupt(w) => w,
                };
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
        let bytes = fs::read(&paths.so).ctx("read", &paths.so)?;
        // Verified above through a map; check what we read is that same content.
        if xxhash_rust::xxh3::xxh3_64(&bytes) != meta.checksum {
            return Err(Error::CorruptEntry {
                path: paths.so.clone(),
                detail: "changed while being packed".into(),
            });
        }
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
    (k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()))
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
    let buf = fs::read(file).ctx("read cache pack", file)?;
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
    let hlen = u64::from_le_bytes(body[12..20].try_into().expect("8 bytes")) as usize;
    let hend = 20usize
        .checked_add(hlen)
        .filter(|&e| e <= body.len())
        .ok_or_else(|| refuse(file, "header length past the end"))?;
    let header: Header = serde_json::from_slice(&body[20..hend])
        .map_err(|e| refuse(file, format!("unreadable header: {e}")))?;
    // Check every entry before publishing any.
    let mut at = hend;
    let mut plan = Vec::new();
    for e in &header.entries {
        let key = parse_key(&e.meta.key)
            .ok_or_else(|| refuse(file, format!("bad entry key {:?}", e.meta.key)))?;
        let end = at
            .checked_add(e.len as usize)
            .filter(|&x| x <= body.len())
            .ok_or_else(|| refuse(file, format!("entry {} runs past the end", e.meta.key)))?;
        let bytes = &body[at..end];
        if e.len != e.meta.size || xxhash_rust::xxh3::xxh3_64(bytes) != e.meta.checksum {
            return Err(refuse(
                file,
                format!(
                    "entry {} ({}) does not match its recorded size/checksum",
                    e.meta.key, e.meta.kernel
                ),
            ));
        }
        plan.push((key, &e.meta, bytes));
        at = end;
    }
    if at != body.len() {
        return Err(refuse(
            file,
            format!("{} unexpected bytes after the entries", body.len() - at),
        ));
    }
    let mut out = Unpacked::default();
    for (key, meta, bytes) in plan {
        match node::publish(cache, key, meta, bytes, lock_timeout)? {
            Published::Present => out.present += 1,
            Published::Written | Published::Repaired => out.written += 1,
        }
    }
    Ok(out)
}
