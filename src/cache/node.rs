//! Sharing compiled kernels across nodes: the cache mode of a job, node directories, and how
//! rank 0's library reaches every rank.
//!
//! `disk.rs` finds or compiles an entry in *one* directory (rank 0's). This file decides, once
//! per job, where that directory is and whether other nodes see it (`OP2_CACHE_MODE`), and
//! moves the library from rank 0 to every rank over MPI:
//!
//! 1. **Plan** (collective, once per job and communicator): group ranks into nodes
//!    (`Comm::node_layout`: shared-memory split, or fake nodes of `OP2_FAKE_NODE_SIZE` ranks);
//!    each node's directory is `OP2_CACHE_DIR` with `{node}` replaced by its number. In `auto`
//!    mode rank 0 writes a token file and holds a lock on it; every other node's leader looks
//!    for the token in its own directory and tries the lock; one allreduce: if every leader
//!    saw the token and found the lock held, the directory is shared with working locks
//!    (`shared`), else `node`. Only rank 0 and the leaders touch the filesystem.
//! 2. **Distribute** (collective, per kernel after rank 0's outcome): rank 0 reads the verified
//!    library once and broadcasts one frame: a small JSON header (key, metadata) and the bytes.
//!    Every other rank checks size and xxh3-64 of what it received against the checksum rank 0
//!    verified, and loads it from memory (`LoadedKernel::load_bytes`): it never opens the cache
//!    directory. In `node` mode each other node's leader first publishes the bytes into its
//!    node's directory with the disk cache's protocol (shared lock to look, exclusive lock to
//!    write, verify again, move a damaged copy aside, temporary + fsync + rename for the `.so`
//!    then the `.meta`); a failed publish is agreed (one allreduce) and becomes the same error,
//!    naming the leader and its directory, on every rank.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::fsutil;
use crate::cache::layout::{key_of, DiskCache, Meta, Verify, CACHE_NAME};
use crate::cache::stats;
use crate::cache::trust;
use crate::config::{CacheMode, Config};
use crate::error::{Error, IoContext, Result};
use crate::jit::ffi::LoadedKernel;
use crate::mpi::agree::{agree, agree_on, Message, Share, Words};
use crate::mpi::comm::Comm;
use crate::mpi::node::NodeLayout;

/// The cache mode a job runs in, after `auto` detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// One directory for every node; only rank 0 touches it.
    Shared,
    /// A directory per node; rank 0 and one leader per node touch their own.
    Node,
}

/// How this job shares its disk cache (the same on every rank except `dir`).
#[derive(Clone, Debug)]
pub struct Plan {
    pub layout: NodeLayout,
    pub mode: Resolved,
    /// This rank's node's cache directory (rank 0's is the one compiles go to).
    pub dir: PathBuf,
    /// Why this mode, for the report.
    pub why: String,
    /// This rank is a node leader whose directory is rank 0's very directory (it saw rank 0's
    /// probe token there): it never publishes, since rank 0 holds the entry's lock until every
    /// rank has loaded it.
    sees_root_dir: bool,
}

impl Plan {
    /// True on ranks that publish into their node's directory: the leaders of nodes other
    /// than rank 0's, in node mode, whose directory is not rank 0's.
    fn publishes(&self) -> bool {
        self.mode == Resolved::Node
            && self.layout.leader
            && self.layout.node != 0
            && !self.sees_root_dir
    }

    /// One line for the report: `node (auto: ...)`.
    pub fn describe(&self) -> String {
        let m = match self.mode {
            Resolved::Shared => "shared",
            Resolved::Node => "node",
        };
        format!(
            "{m} ({}; {} {}node{})",
            self.why,
            self.layout.nodes,
            if self.layout.fake { "fake " } else { "" },
            if self.layout.nodes == 1 { "" } else { "s" }
        )
    }
}

type PlanKey = (u64, i32, PathBuf, CacheMode, usize);
static PLAN: Mutex<Option<(PlanKey, Arc<Plan>)>> = Mutex::new(None);
/// Keys (hex) of the entries rank 0 handed out in this process, for the report and packs.
static USED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// The plan of the most recent job in this process, if any.
pub fn current_plan() -> Option<Arc<Plan>> {
    PLAN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|(_, p)| p.clone())
}

/// Keys (32 hex digits) of every disk entry this process obtained as rank 0.
pub fn used_entries() -> Vec<String> {
    USED.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect()
}

/// Collective on first use per communicator and configuration: the job's plan.
pub(crate) fn plan(comm: Comm, config: &Config) -> Result<Arc<Plan>> {
    let key: PlanKey = (
        comm.id(),
        comm.size(),
        config.cache_dir.clone(),
        config.cache_mode,
        config.fake_node_size,
    );
    if let Some((k, p)) = PLAN.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if *k == key {
            return Ok(p.clone());
        }
    }
    let layout = comm.node_layout(config.fake_node_size)?;
    let dir = config.node_cache_dir(layout.node);
    let (mode, why, sees_root_dir) = match config.cache_mode {
        CacheMode::Shared => (Resolved::Shared, "OP2_CACHE_MODE=shared".to_string(), false),
        CacheMode::Node => node_mode(comm, &layout, &dir)?,
        CacheMode::Auto => detect(comm, &layout, &dir)?,
    };
    let plan = Arc::new(Plan {
        layout,
        mode,
        dir,
        why,
        sees_root_dir,
    });
    *PLAN.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, plan.clone()));
    Ok(plan)
}

/// `OP2_CACHE_MODE=node`: a directory per node, unless every node's directory is rank 0's
/// (no `{node}` in `OP2_CACHE_DIR` on a shared home): then shared mode, since a leader
/// publishing into rank 0's directory would wait for the lock rank 0 holds until every rank
/// (that leader too) has loaded the entry. A leader that alone sees rank 0's directory does
/// not publish. Returns (mode, why, this rank sees rank 0's directory).
fn node_mode(comm: Comm, layout: &NodeLayout, dir: &Path) -> Result<(Resolved, String, bool)> {
    if layout.nodes == 1 {
        return Ok((Resolved::Node, "OP2_CACHE_MODE=node".into(), false));
    }
    let (mine, agreed) = probe(comm, layout, dir)?;
    Ok(if agreed >= 1 {
        (
            Resolved::Shared,
            "OP2_CACHE_MODE=node, but every node's directory is rank 0's: no {node} in OP2_CACHE_DIR".into(),
            false,
        )
    } else {
        (Resolved::Node, "OP2_CACHE_MODE=node".into(), mine >= 1)
    })
}

/// `auto`: is rank 0's directory the very directory every other node's leader sees, with
/// locks that exclude across nodes? Returns (mode, why, this rank sees rank 0's directory).
fn detect(comm: Comm, layout: &NodeLayout, dir: &Path) -> Result<(Resolved, String, bool)> {
    if layout.nodes == 1 {
        return Ok((Resolved::Shared, "auto: one node".into(), false));
    }
    let (mine, agreed) = probe(comm, layout, dir)?;
    let (mode, why) = match agreed {
        2 => (
            Resolved::Shared,
            "auto: every node sees rank 0's directory and its locks",
        ),
        1 => (
            Resolved::Node,
            "auto: the directory is shared but its locks do not exclude across nodes",
        ),
        _ => (
            Resolved::Node,
            "auto: OP2_CACHE_DIR is not the same directory on every node",
        ),
    };
    Ok((mode, why.into(), mine >= 1))
}

/// Collective: rank 0 writes a token into its directory and holds a lock on it; every other
/// node's leader looks for the token in its own directory and tries the lock. A leader's vote:
/// 2 if it saw the token and found the lock held (same directory, locks exclude across nodes),
/// 1 if it saw the token but could take the lock, 0 if it did not see the token; other ranks
/// vote 2 (0 everywhere if rank 0 could not write the token). Returns (this rank's vote, the
/// minimum over every rank).
fn probe(comm: Comm, layout: &NodeLayout, dir: &Path) -> Result<(u64, u64)> {
    let mut held = None;
    let mut token = String::new();
    if comm.is_root() {
        let name = format!(
            ".op2-probe-{}-{}-{:016x}",
            fsutil::hostname(),
            std::process::id(),
            rand::random::<u64>()
        );
        let made = fsutil::create_private_dir(dir)
            .and_then(|()| crate::cache::trust::check_root(dir))
            .and_then(|()| fs::write(dir.join(&name), name.as_bytes()).ctx("write", dir))
            .and_then(|()| {
                fsutil::lock_exclusive(&dir.join(format!("{name}.lock")), Duration::from_secs(5))
            });
        match made {
            Ok(g) => {
                held = Some(g);
                token = name;
            }
            Err(e) => eprintln!("op2: cache mode detection: {e}; assuming node-local directories"),
        }
    }
    let token = String::from_utf8(comm.broadcast_bytes(0, token.into_bytes())?)
        .map_err(|e| Error::Mpi(format!("garbled cache probe name from rank 0: {e}")))?;
    let mut vote = 2u64;
    if layout.leader && layout.node != 0 {
        let path = dir.join(&token);
        let seen = !token.is_empty() && fs::read(&path).is_ok_and(|b| b == token.as_bytes());
        vote = if !seen {
            0
        } else {
            match fsutil::try_lock_exclusive(&dir.join(format!("{token}.lock"))) {
                Ok(None) => 2,
                _ => 1,
            }
        };
    }
    if token.is_empty() {
        vote = 0;
    }
    // The lowest vote of any rank (2 - the highest of 2 - vote).
    let words = Words {
        any: &[2 - vote],
        ..Words::default()
    };
    let agreed = 2 - agree_on(comm, Share::Status, words, Ok::<(), Error>(()))?
        .1
        .any[0];
    if comm.is_root() && !token.is_empty() {
        let _ = fs::remove_file(dir.join(&token));
        let _ = fs::remove_file(dir.join(format!("{token}.lock")));
        drop(held);
    }
    Ok((vote, agreed))
}

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
pub(crate) fn distribute(
    comm: Comm,
    config: &Config,
    plan: &Plan,
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
    let mut f = trust::open_entry(so)?.ok_or_else(|| format!("{} vanished", so.display()))?;
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

fn record_used(so: &Path) {
    if let Some(k) = key_of(so) {
        USED.lock().unwrap_or_else(|e| e.into_inner()).insert(k);
    }
}

/// Rank 0: `[u64 header length][header JSON][library bytes]`: the bytes it verified (or, when
/// it has none, read back once from the entry and checked again), so what travels is what was
/// verified.
fn root_frame(plan: &Plan, entry: &Checked) -> Vec<u8> {
    let (so, checksum, size) = (entry.so, entry.checksum, entry.size);
    let read = (|| -> std::result::Result<(String, Option<Meta>, Vec<u8>), String> {
        let key =
            key_of(so).ok_or_else(|| format!("{} is not a cache entry path", so.display()))?;
        let bytes = match entry.bytes {
            Some(b) => b.to_vec(),
            None => read_verified(so, checksum, size)?,
        };
        let meta = if plan.mode == Resolved::Node && plan.layout.nodes > 1 {
            Some(
                DiskCache::read_meta(&so.with_extension("meta")).map_err(|v| match v {
                    Verify::Missing => format!("{} vanished", so.with_extension("meta").display()),
                    Verify::Corrupt(w) => w,
                })?,
            )
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
    plan: &Plan,
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
    publish(
        &cache,
        key,
        &meta,
        bytes,
        Duration::from_secs(config.lock_timeout_s),
    )?;
    crate::cache::prune::after_insert(&cache, config.cache_max_size);
    Ok(())
}

/// What [`publish`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// A verified copy was already there.
    Present,
    /// Written.
    Written,
    /// A damaged copy was moved aside and replaced.
    Repaired,
}

/// Publish an entry whose bytes and metadata are in memory (checked by the caller: `meta`'s
/// size and checksum are those of `bytes`) into `cache`, with the disk cache's protocol:
/// shared lock to look; exclusive lock, look again, move a damaged copy to `corrupt/`, write
/// the `.so` then the `.meta` atomically. Used by node leaders and by `op2 cache unpack`.
pub fn publish(
    cache: &DiskCache,
    key: u128,
    meta: &Meta,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Published> {
    let paths = cache.entry(key);
    let sub = paths.so.parent().expect("entry has a directory");
    fsutil::create_private_dir(cache.dir())?;
    fsutil::create_private_dir(sub)?;
    // A node's directory is as untrusted as rank 0's: refuse one others could write.
    crate::cache::trust::check_root(cache.dir())?;
    crate::cache::trust::check_dir(sub)?;
    {
        let _look = fsutil::lock_shared(&paths.lock, timeout)?;
        if DiskCache::verify(&paths, Some(&meta.kernel)).is_ok() {
            return Ok(Published::Present);
        }
    }
    let _write = fsutil::lock_exclusive(&paths.lock, timeout)?;
    let mut repaired = false;
    match DiskCache::verify(&paths, Some(&meta.kernel)) {
        Ok(_) => return Ok(Published::Present),
        Err(Verify::Missing) => {}
        Err(Verify::Corrupt(why)) => {
            eprintln!(
                "op2: corrupt cache entry for kernel `{}` in {}: {why}; replacing it",
                meta.kernel,
                cache.dir().display()
            );
            stats::update(CACHE_NAME, |s| s.corrupt += 1);
            cache.quarantine(&paths)?;
            repaired = true;
        }
    }
    let tmp = fsutil::temp_path(sub, &format!("{key:032x}.so"));
    let written = (|| {
        let mut f = fs::File::create(&tmp).ctx("create", &tmp)?;
        f.write_all(bytes).ctx("write", &tmp)?;
        drop(f);
        fsutil::atomic_rename(&tmp, &paths.so)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fsutil::atomic_write(
        &paths.meta,
        &serde_json::to_vec_pretty(meta).expect("meta serialises"),
    )?;
    stats::update(CACHE_NAME, |s| s.published += 1);
    Ok(if repaired {
        Published::Repaired
    } else {
        Published::Written
    })
}
