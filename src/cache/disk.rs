//! The disk cache's one write path: the publish transaction of an entry.
//!
//! # Layout (`OP2_CACHE_DIR`, mode 0700)
//! ```text
//! <k0k1>/<k2..k31>.so     the shared object exactly as the compiler wrote it (dlopen-able)
//! <k0k1>/<k2..k31>.meta   JSON: checksum (xxh3-64 of the .so), size, kernel, created, key text
//! <k0k1>/<k2..k31>.lock   lock file (flock) serialising writers of this entry
//! <k0k1>/<k2..k31>.log    the compiler's warnings, if it printed any
//! failed/<key>.c, .log    source and compiler output of a failed compile, kept for inspection
//! corrupt/                entries that failed verification, moved aside
//! ```
//! An entry exists iff its `.meta` exists: the `.so` is renamed into place first, then the
//! `.meta`, both written to temporaries, fsynced and renamed (see `fsutil`). Files are write-once:
//! never modified in place, so a library loaded by some process never changes under it.
//! A hit touches the `.meta` mtime: that is the LRU recency used by pruning.
//!
//! # The transaction ([`publish`])
//! Every writer of an entry goes through it: rank 0 compiling a kernel (`build/fetch.rs`), a
//! node leader copying rank 0's library into its node's directory (`build/distribute.rs`), and
//! `op2 cache unpack` (`pack.rs`). It
//! 1. checks that the directories are trusted (`trust.rs`); in a cache this process cannot
//!    write, serves a verified entry under a shared lock (where a lock file exists) and fails
//!    a miss with a message;
//! 2. looks under the entry's shared lock: a verified entry is the answer;
//! 3. otherwise takes the exclusive lock, looks again (another process may have just written
//!    it), moves a damaged copy to `corrupt/`, asks the writer for the bytes and metadata (the
//!    writer's own failure, a compile error, is returned as it is), writes the `.so` then the
//!    `.meta` atomically and verifies what it wrote;
//! 4. returns the verified bytes with the lock still held: the caller keeps it until the
//!    library is loaded everywhere, so a concurrent prune or `op2 cache clear` skips the entry.
//!
//! A file someone untrusted could have written ([`Verify::Untrusted`]) is refused at every
//! step, with the fix in the message: never moved aside, rebuilt over or loaded.
//!
//! Knows nothing of kernels, compilers or MPI: keys, bytes and metadata only.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cache::layout::{DiskCache, EntryPaths, Meta, Verify, CACHE_NAME};
use crate::cache::{fsutil, stats, trust};
use crate::error::{Error, Result};

/// How a [`publish`] runs.
#[derive(Clone, Copy, Debug)]
pub struct Txn<'a> {
    /// The kernel the entry must be for (its `.meta` names it).
    pub kernel: &'a str,
    /// Longest wait for the entry's lock.
    pub timeout: Duration,
    /// A user of the current entry could not use it: move it aside even if it verifies.
    pub replace: bool,
}

/// What a writer hands the transaction: the library and its metadata (whose size and checksum
/// are those of `bytes`).
pub struct Candidate {
    pub meta: Meta,
    pub bytes: Vec<u8>,
}

/// How the entry came to be there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// A verified copy was already there.
    Present,
    /// Another process wrote it while this one waited for the lock.
    Concurrent,
    /// Written.
    Written,
    /// A damaged copy was moved aside and replaced.
    Repaired,
}

/// A verified entry, with the lock it was verified under (shared for a hit, exclusive after a
/// write; none in a read-only cache without a lock file): hold it until the library is loaded.
pub struct Entry {
    pub paths: EntryPaths,
    pub meta: Meta,
    /// The library bytes as they were verified: what is loaded and sent, never read again.
    pub bytes: Vec<u8>,
    pub published: Published,
    pub lock: Option<fsutil::LockGuard>,
}

/// The publish transaction (see the module notes): the verified entry for `key`, written from
/// `produce` if missing or damaged. `Ok(Err(e))` is the writer's own failure, unchanged.
pub fn publish<E>(
    cache: &DiskCache,
    key: u128,
    txn: &Txn,
    produce: impl FnOnce(&EntryPaths) -> Result<std::result::Result<Candidate, E>>,
) -> Result<std::result::Result<Entry, E>> {
    let paths = cache.entry(key);
    let sub = paths
        .so
        .parent()
        .expect("entry has a directory")
        .to_path_buf();
    fsutil::create_private_dir(cache.dir())?;
    trust::check_root(cache.dir())?;
    if !writable(cache.dir()) {
        return read_only(cache, paths, txn.kernel).map(Ok);
    }
    fsutil::create_private_dir(&sub)?;
    trust::check_dir(&sub)?;
    let mut damaged = txn.replace;
    if !txn.replace {
        let shared = fsutil::lock_shared(&paths.lock, txn.timeout)?;
        match DiskCache::verify_bytes(&paths, Some(txn.kernel)) {
            Verify::Ok(found) => {
                touch(&paths.meta);
                return Ok(Ok(entry(paths, found, Published::Present, Some(shared))));
            }
            Verify::Missing => {}
            Verify::Untrusted(why) => return Err(untrusted(&paths, why)),
            Verify::Damaged(why) => {
                eprintln!(
                    "op2: corrupt cache entry for kernel `{}` in {}: {why}; replacing it",
                    txn.kernel,
                    cache.dir().display()
                );
                damaged = true;
            }
        }
    }
    let exclusive = fsutil::lock_exclusive(&paths.lock, txn.timeout)?;
    let mut repaired = false;
    if damaged {
        // Another process may have repaired it meanwhile: only move aside what is still bad.
        let still_bad = match DiskCache::verify(&paths, Some(txn.kernel)) {
            Verify::Ok(_) => false,
            Verify::Missing => paths.so.symlink_metadata().is_ok(),
            Verify::Damaged(_) => true,
            Verify::Untrusted(why) => return Err(untrusted(&paths, why)),
        };
        if txn.replace || still_bad {
            stats::update(CACHE_NAME, |s| s.corrupt += 1);
            cache.quarantine(&paths)?;
            repaired = true;
        }
    }
    match DiskCache::verify_bytes(&paths, Some(txn.kernel)) {
        Verify::Ok(found) => {
            let e = entry(paths, found, Published::Concurrent, Some(exclusive));
            return Ok(Ok(e));
        }
        Verify::Untrusted(why) => return Err(untrusted(&paths, why)),
        // Damaged after the move aside: written again since, and replaced by the rename below.
        Verify::Missing | Verify::Damaged(_) => {}
    }
    let candidate = match produce(&paths)? {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    write(&paths, &candidate)?;
    // Still under the exclusive lock: nobody can have removed or replaced it.
    let found = match DiskCache::verify_bytes(&paths, Some(txn.kernel)) {
        Verify::Ok(found) => found,
        Verify::Untrusted(why) => return Err(untrusted(&paths, why)),
        Verify::Missing => return Err(corrupt(&paths, "missing right after it was written")),
        Verify::Damaged(why) => return Err(corrupt(&paths, &why)),
    };
    let how = if repaired {
        Published::Repaired
    } else {
        Published::Written
    };
    Ok(Ok(entry(paths, found, how, Some(exclusive))))
}

/// [`publish`] of a library already in memory (a node leader's copy of rank 0's, a pack's).
pub fn publish_copy(cache: &DiskCache, key: u128, txn: &Txn, copy: Candidate) -> Result<Entry> {
    let published = publish(cache, key, txn, |_| {
        Ok(Ok::<_, std::convert::Infallible>(copy))
    })?;
    let Ok(entry) = published;
    Ok(entry)
}

fn entry(
    paths: EntryPaths,
    (meta, bytes): (Meta, Vec<u8>),
    published: Published,
    lock: Option<fsutil::LockGuard>,
) -> Entry {
    Entry {
        paths,
        meta,
        bytes,
        published,
        lock,
    }
}

/// The runtime's refusal of an entry file someone untrusted could have written.
fn untrusted(paths: &EntryPaths, why: String) -> Error {
    Error::Untrusted {
        path: paths.meta.clone(),
        detail: why,
    }
}

fn corrupt(paths: &EntryPaths, why: &str) -> Error {
    Error::CorruptEntry {
        path: paths.so.clone(),
        detail: why.to_string(),
    }
}

/// Write the candidate's `.so` then its `.meta`, each to a temporary, fsynced and renamed.
fn write(paths: &EntryPaths, c: &Candidate) -> Result<()> {
    fsutil::atomic_write(&paths.so, &c.bytes)?;
    fsutil::atomic_write(
        &paths.meta,
        &serde_json::to_vec_pretty(&c.meta).expect("meta serialises"),
    )
}

/// True if this process can create files in `dir`.
fn writable(dir: &Path) -> bool {
    let probe = fsutil::temp_path(dir, "probe");
    match fs::File::create(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            true
        }
        Err(e) => !fsutil::is_read_only(&e),
    }
}

/// A cache this process cannot write: serve a verified entry (under a shared lock where a
/// lock file exists), fail a miss with a message; warn once that nothing new can be stored.
fn read_only(cache: &DiskCache, paths: EntryPaths, kernel: &str) -> Result<Entry> {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        eprintln!(
            "op2: warning: the disk cache {} is read-only: kernels found there are used, nothing new can be stored",
            cache.dir().display()
        )
    });
    let shared = fsutil::try_lock_shared(&paths.lock);
    match DiskCache::verify_bytes(&paths, Some(kernel)) {
        Verify::Ok(found) => Ok(entry(paths, found, Published::Present, shared)),
        Verify::Untrusted(why) => Err(untrusted(&paths, why)),
        Verify::Damaged(why) => {
            eprintln!("op2: corrupt cache entry for kernel `{kernel}`: {why}");
            Err(not_stored(cache))
        }
        Verify::Missing => Err(not_stored(cache)),
    }
}

fn not_stored(cache: &DiskCache) -> Error {
    Error::io(
        "kernel not in the read-only disk cache, and nothing new can be stored (make it writable or set OP2_CACHE_DIR to a writable directory)",
        cache.dir(),
        std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    )
}

/// Refresh an entry's recency (its `.meta` mtime) for LRU pruning; best effort.
fn touch(meta: &Path) {
    if let Ok(f) = fs::File::options().append(true).open(meta) {
        let _ = f.set_modified(SystemTime::now());
    }
}
