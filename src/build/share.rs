//! How rank 0's library reaches every rank (collective, per kernel, after rank 0's outcome).
//!
//! Rank 0 sends the bytes it verified (never a second read) in one broadcast frame: a small
//! JSON header (key, metadata) and the bytes. Every other rank checks size and xxh3-64 of what
//! it received against the checksum rank 0 verified, and loads it from memory
//! (`LoadedKernel::load_bytes`): it never opens the cache directory. In `node` mode each other
//! node's leader first publishes the bytes into its node's directory with the disk cache's one
//! transaction (`cache::disk::publish`); a failed publish is agreed (one allreduce) and becomes
//! the same error, naming the leader and its directory, on every rank.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::disk::{self, Candidate, Published, Txn};
use crate::cache::layout::{key_of, DiskCache, Meta, Verify, CACHE_NAME};
use crate::cache::node::{record_used, NodePlan, Resolved};
use crate::cache::{stats, trust};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::jit::ffi::LoadedKernel;
use crate::mpi::agree::{agree, Message, Share};
use crate::mpi::comm::Comm;

/// The header of rank 0's frame.
#[derive(Serialize, Deserialize)]
struct Header {
    /// Empty if rank 0 could not read back a verified library (then `detail` says why).
    key: String,
    detail: String,
    /// Rank 0's metadata, sent in node mode only (leaders publish it).
    meta: Option<Meta>,
}

/// The entry rank 0 handed out: its path, checksum and size (from the broadcast outcome), and on
/// rank 0 the library bytes it verified.
pub(crate) struct Checked<'a> {
    pub so: &'a Path,
    pub checksum: u64,
    pub size: u64,
    pub bytes: Option<&'a [u8]>,
}

/// Collective, after rank 0 broadcast `Ready { so, checksum, size }`: move the library to every
/// rank and load it (rank 0 loads and sends the bytes it verified, never a second read). The outer error is a failure every rank agreed on (a node directory that
/// cannot take the entry); the inner result is this rank's load, for the caller's "loaded ok"
/// agreement (a corrupt transfer or an unloadable library triggers its rebuild).
pub(crate) fn share_library(
    comm: Comm,
    config: &Config,
    plan: &NodePlan,
    entry: &Checked,
    kernel: &str,
) -> Result<Result<LoadedKernel>> {
    let (so, checksum, size) = (entry.so, entry.checksum, entry.size);
    if comm.size() == 1 {
        record_used(so);
        let bytes = match entry.bytes {
            Some(b) => Ok(b.to_vec()),
            None => read_verified(so, checksum, size),
        };
        let bytes = bytes.map_err(|detail| Error::CorruptEntry {
            path: so.to_path_buf(),
            detail,
        });
        return Ok(bytes.and_then(|b| load_verified(&b, so, kernel, 0)));
    }
    let frame = if comm.is_root() {
        record_used(so);
        root_frame(plan, entry)
    } else {
        Vec::new()
    };
    let frame = comm.broadcast_bytes(0, frame)?;
    let corrupt = |detail: String| Error::CorruptEntry {
        path: so.to_path_buf(),
        detail,
    };
    let (header, bytes) = split_frame(&frame).map_err(Error::Mpi)?;
    let received = if header.key.is_empty() {
        Err(corrupt(format!(
            "rank 0 could not read it back: {}",
            header.detail
        )))
    } else if bytes.len() as u64 != size || xxhash_rust::xxh3::xxh3_64(bytes) != checksum {
        Err(corrupt(format!(
            "rank {} received {} bytes whose checksum does not match rank 0's",
            comm.rank(),
            bytes.len()
        )))
    } else {
        Ok(())
    };
    if !comm.is_root() {
        stats::update(CACHE_NAME, |s| s.bytes_broadcast += frame.len() as u64);
    }
    if plan.mode == Resolved::Node && plan.layout.nodes > 1 {
        let mine = if plan.publishes() && received.is_ok() {
            publish_received(config, plan, &header, bytes, checksum, size)
        } else {
            Ok(())
        };
        let mine = mine.map_err(|e| {
            Message(format!(
                "node leader could not publish kernel `{kernel}` into its node's cache directory: {e}"
            ))
        });
        agree(comm, Share::Detail, mine)?;
    }
    Ok(received.and_then(|()| load_verified(bytes, so, kernel, comm.rank())))
}

/// The entry's library bytes, read through the handle [`trust::open_entry`] checked (no link
/// followed, regular file, trusted owner) and compared with the checksum the entry was
/// verified with: what is loaded is what was verified, never a file swapped in by path since.
fn read_verified(so: &Path, checksum: u64, size: u64) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let mut f = trust::open_entry(so)
        .map_err(|r| match r {
            trust::Refusal::Damaged(why) | trust::Refusal::Untrusted(why) => why,
        })?
        .ok_or_else(|| format!("{} vanished", so.display()))?;
    let mut bytes = Vec::with_capacity(size as usize);
    f.read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", so.display()))?;
    if bytes.len() as u64 != size || xxhash_rust::xxh3::xxh3_64(&bytes) != checksum {
        return Err(format!("{} changed after it was verified", so.display()));
    }
    Ok(bytes)
}

/// Load checked library bytes (every rank, rank 0 included: no cache path is ever opened
/// again by `dlopen`); a load error names the cache entry, not the memory file.
fn load_verified(bytes: &[u8], so: &Path, kernel: &str, rank: i32) -> Result<LoadedKernel> {
    LoadedKernel::load_bytes(bytes, kernel, rank)
        .map(|(k, _)| k)
        .map_err(|e| match e {
            Error::Load {
                kernel,
                rank,
                detail,
                ..
            } => Error::Load {
                kernel,
                path: so.to_path_buf(),
                rank,
                detail,
            },
            e => e,
        })
}

/// Rank 0: `[u64 header length][header JSON][library bytes]`: the bytes it verified (or, when
/// it has none, read back once from the entry and checked again), so what travels is what was
/// verified.
fn root_frame(plan: &NodePlan, entry: &Checked) -> Vec<u8> {
    let (so, checksum, size) = (entry.so, entry.checksum, entry.size);
    let read = (|| -> std::result::Result<(String, Option<Meta>, Vec<u8>), String> {
        let key =
            key_of(so).ok_or_else(|| format!("{} is not a cache entry path", so.display()))?;
        let bytes = match entry.bytes {
            Some(b) => b.to_vec(),
            None => read_verified(so, checksum, size)?,
        };
        let meta = if plan.mode == Resolved::Node && plan.layout.nodes > 1 {
            Some(match DiskCache::read_meta(&so.with_extension("meta")) {
                Verify::Ok(meta) => meta,
                Verify::Missing => {
                    return Err(format!("{} vanished", so.with_extension("meta").display()))
                }
                Verify::Damaged(why) | Verify::Untrusted(why) => return Err(why),
            })
        } else {
            None
        };
        Ok((key, meta, bytes))
    })();
    let (header, bytes) = match read {
        Ok((key, meta, bytes)) => (
            Header {
                key,
                detail: String::new(),
                meta,
            },
            bytes,
        ),
        Err(detail) => (
            Header {
                key: String::new(),
                detail,
                meta: None,
            },
            Vec::new(),
        ),
    };
    let h = serde_json::to_vec(&header).expect("header serialises");
    let mut frame = Vec::with_capacity(8 + h.len() + bytes.len());
    frame.extend_from_slice(&(h.len() as u64).to_le_bytes());
    frame.extend_from_slice(&h);
    frame.extend_from_slice(&bytes);
    frame
}

fn split_frame(frame: &[u8]) -> std::result::Result<(Header, &[u8]), String> {
    let bad = || "garbled kernel broadcast from rank 0".to_string();
    let n = u64::from_le_bytes(
        frame
            .get(..8)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let end = 8usize
        .checked_add(n as usize)
        .filter(|&e| e <= frame.len())
        .ok_or_else(bad)?;
    let header: Header =
        serde_json::from_slice(&frame[8..end]).map_err(|e| format!("{}: {e}", bad()))?;
    Ok((header, &frame[end..]))
}

/// A leader: publish what rank 0 sent into this node's directory.
fn publish_received(
    config: &Config,
    plan: &NodePlan,
    header: &Header,
    bytes: &[u8],
    checksum: u64,
    size: u64,
) -> Result<()> {
    let meta = header.meta.clone().ok_or_else(|| {
        Error::Mpi("rank 0 sent no metadata with the library in node mode".into())
    })?;
    if meta.checksum != checksum || meta.size != size || meta.key != header.key {
        return Err(Error::Mpi(format!(
            "rank 0's metadata for {} does not match the library it sent",
            header.key
        )));
    }
    let key = u128::from_str_radix(&header.key, 16)
        .map_err(|e| Error::Mpi(format!("bad key {:?} from rank 0: {e}", header.key)))?;
    let cache = DiskCache::new(&plan.dir);
    let txn = Txn {
        kernel: &meta.kernel.clone(),
        timeout: Duration::from_secs(config.lock_timeout_s),
        replace: false,
    };
    let candidate = Candidate {
        meta,
        bytes: bytes.to_vec(),
    };
    let entry = disk::publish_copy(&cache, key, &txn, candidate)?;
    if matches!(entry.published, Published::Written | Published::Repaired) {
        stats::update(CACHE_NAME, |s| s.published += 1);
        drop(entry);
        crate::cache::prune::after_insert(&cache, config.cache_max_size);
    }
    Ok(())
}
