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
//! written that a job would then refuse. Entries are then published with the disk cache's own
//! protocol (`node::publish`: locked, verified, atomic), so a pack can be unpacked into a cache
//! that running jobs are using.
//!
//! # Trust
//! A pack is code from its author: checksums prove it is intact, not who made it or what the
//! libraries do (anyone can forge a pack whose checksums match). `unpack --rebuild`
//! ([`unpack_rebuilt`]) narrows that to the source: every entry carries the generated C source
//! and how it was built (`layout::Build`), builds are reproducible (`jit::compile`), and each
//! entry is compiled again here and refused unless the result is byte-for-byte the packed
//! library; the source itself is still its author's.

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::layout::{self, Build, DiskCache, Meta};
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
        let (meta, bytes) = match DiskCache::verify_bytes(&paths, None) {
            Ok(checked) => checked,
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
    unpack_checked(file, cache, lock_timeout, None)
}

/// How [`unpack_rebuilt`] compiles: your compiler command and flags (`OP2_CC`, `OP2_CFLAGS`),
/// never ones a pack names (a pack must not choose a program to run), and a time limit per
/// compile (zero: none).
#[derive(Debug, Clone)]
pub struct Rebuild {
    pub cc: String,
    pub cflags: String,
    pub timeout: Duration,
}

/// [`unpack`], and before publishing anything compile every entry again from the source it
/// carries, with your compiler, which must be the one it records (same command, flags and
/// identity), and refuse the pack unless each result is byte-for-byte the packed library.
pub fn unpack_rebuilt(
    file: &Path,
    cache: &DiskCache,
    lock_timeout: Duration,
    rebuild: &Rebuild,
) -> Result<Unpacked> {
    unpack_checked(file, cache, lock_timeout, Some(rebuild))
}

fn unpack_checked(
    file: &Path,
    cache: &DiskCache,
    lock_timeout: Duration,
    rebuild: Option<&Rebuild>,
) -> Result<Unpacked> {
    let buf = read_pack(file)?;
    let plan = check_pack(file, &buf)?;
    if let Some(how) = rebuild {
        for (_, meta, bytes) in &plan {
            rebuilds_to(meta, bytes, how).map_err(|why| {
                refuse(file, format!("entry {} ({}): {why}", meta.key, meta.kernel))
            })?;
        }
    }
    let mut out = Unpacked::default();
    for (key, meta, bytes) in plan {
        match node::publish(cache, key, &meta, bytes, lock_timeout)? {
            Published::Present => out.present += 1,
            Published::Written | Published::Repaired => out.written += 1,
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

/// A kernel flag from a pack that `--rebuild` may give the compiler: it changes the code, never
/// which programs or plugins run (`-fplugin`, `-B`, `-wrapper`, `-specs`, `-Wl,`/`-Wa,`/`-Wp,`,
/// `-Xlinker`, `-fuse-ld`, `@file` are refused).
fn safe_kernel_flag(f: &str) -> bool {
    let refused = [
        "-fplugin", "-fuse-ld", "-Wl,", "-Wa,", "-Wp,", "-B", "-wrapper", "-specs", "-X", "@",
    ];
    let allowed = ["-D", "-U", "-I", "-O", "-std=", "-g", "-m", "-f", "-W"];
    !refused.iter().any(|p| f.starts_with(p)) && allowed.iter().any(|p| f.starts_with(p))
}

/// Compile `meta`'s recorded source again with your compiler (which must be the recorded
/// one), in a private scratch folder, and compare the result with `bytes`.
fn rebuilds_to(meta: &Meta, bytes: &[u8], how: &Rebuild) -> std::result::Result<(), String> {
    use crate::jit::compile;
    let b: &Build = meta.build.as_ref().ok_or(
        "it carries no source (packed by an op2 without reproducible builds): cannot rebuild it",
    )?;
    if (b.cc.as_str(), b.cflags.as_str()) != (how.cc.as_str(), how.cflags.as_str()) {
        return Err(format!(
            "it was built with OP2_CC={:?} OP2_CFLAGS={:?}; set the same to rebuild it (here: {:?} {:?})",
            b.cc, b.cflags, how.cc, how.cflags
        ));
    }
    if let Some(f) = b.kernel_flags.iter().find(|f| !safe_kernel_flag(f)) {
        return Err(format!(
            "its kernel flag {f:?} is not passed to a compiler by --rebuild (only -D, -U, -I, -O, -std=, -g, -m, -f and -W options that run no other program)"
        ));
    }
    let here = compile::compiler_id(&how.cc, &how.cflags).map_err(|e| e.to_string())?;
    if here != b.compiler_id {
        return Err(format!(
            "it was built by `{}`; here the compiler is `{here}`: the same compiler is needed to rebuild it",
            b.compiler_id.escape_debug()
        ));
    }
    let timeout = how.timeout;
    let scratch = std::env::temp_dir().join(format!(
        "op2-rebuild-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let made = {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new().mode(0o700).create(&scratch)
    };
    made.map_err(|e| format!("cannot make {}: {e}", scratch.display()))?;
    let result = (|| {
        let src = crate::cache::disk::source_temp(&scratch, &meta.key);
        crate::cache::disk::write_source(&src, &b.source)
            .map_err(|e| format!("cannot write {}: {e}", src.display()))?;
        let out = scratch.join("rebuilt.so");
        compile::compile(&how.cc, &how.cflags, &b.kernel_flags, &src, &out, timeout).map_err(
            |f| {
                format!(
                    "its source does not compile here: {}\n{}",
                    f.command, f.stderr
                )
            },
        )?;
        let rebuilt = fs::read(&out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
        if rebuilt != bytes {
            return Err(format!(
                "the packed library ({} bytes, xxh3 {:016x}) is not what its source compiles to ({} bytes, xxh3 {:016x}): refused",
                bytes.len(),
                xxhash_rust::xxh3::xxh3_64(bytes),
                rebuilt.len(),
                xxhash_rust::xxh3::xxh3_64(&rebuilt)
            ));
        }
        Ok(())
    })();
    let _ = fs::remove_dir_all(&scratch);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuild_passes_no_kernel_flag_that_runs_a_program() {
        for ok in [
            "-DN=3",
            "-I/opt/inc",
            "-O3",
            "-std=c99",
            "-g",
            "-mavx2",
            "-ffast-math",
        ] {
            assert!(safe_kernel_flag(ok), "{ok}");
        }
        for bad in [
            "-fplugin=/tmp/p.so",
            "-Wl,-plugin=/tmp/p.so",
            "-B/tmp/evil",
            "-wrapper",
            "-specs=/tmp/s",
            "-Xlinker",
            "@/tmp/args",
            "-fuse-ld=/tmp/ld",
            "/tmp/x.o",
        ] {
            assert!(!safe_kernel_flag(bad), "{bad}");
        }
    }
}
