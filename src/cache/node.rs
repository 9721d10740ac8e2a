//! Sharing the disk cache across nodes: the cache mode of a job and its node directories.
//!
//! Rank 0 finds or writes an entry in *one* directory (`build/fetch.rs`). This file decides,
//! once per job, where that directory is and whether other nodes see it (`OP2_CACHE_MODE`);
//! `build/distribute.rs` moves the library from rank 0 to every rank over MPI:
//!
//! 1. **NodePlan** (collective, once per job and communicator): group ranks into nodes
//!    (`Comm::node_layout`: shared-memory split, or fake nodes of `OP2_FAKE_NODE_SIZE` ranks);
//!    each node's directory is `OP2_CACHE_DIR` with `{node}` replaced by its number. In `auto`
//!    mode rank 0 writes a token file and holds a lock on it; every other node's leader looks
//!    for the token in its own directory and tries the lock; one allreduce: if every leader
//!    saw the token and found the lock held, the directory is shared with working locks
//!    (`shared`), else `node`. Only rank 0 and the leaders touch the filesystem.
//! 2. **Distribute** (`build/distribute.rs`, per kernel): rank 0's verified bytes travel over
//!    MPI; in `node` mode each other node's leader publishes them into its node's directory
//!    with the disk cache's one transaction (`disk::publish`).
//!
//! Never compiles or loads code.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cache::fsutil;
use crate::cache::layout::key_of;
use crate::config::{CacheMode, Config};
use crate::error::{Error, IoContext, Result};
use crate::mpi::agree::{agree_on, Share, Words};
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
pub struct NodePlan {
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

impl NodePlan {
    /// True on ranks that publish into their node's directory: the leaders of nodes other
    /// than rank 0's, in node mode, whose directory is not rank 0's.
    pub(crate) fn publishes(&self) -> bool {
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
/// The plans of the communicators this process ran loops on (most recent last), one per
/// communicator id: runtimes on different communicators keep their own.
static PLAN: Mutex<Vec<(PlanKey, Arc<NodePlan>)>> = Mutex::new(Vec::new());
/// Keys (hex) of the entries rank 0 handed out in this process, for the report and packs.
static USED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// The plan of the most recent job in this process, if any.
pub fn current_plan() -> Option<Arc<NodePlan>> {
    PLAN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .last()
        .map(|(_, p)| p.clone())
}

/// The plan of communicator `comm`, if a loop on it needed one.
pub fn plan_of(comm: Comm) -> Option<Arc<NodePlan>> {
    PLAN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .rfind(|(k, _)| k.0 == comm.id())
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
pub(crate) fn plan(comm: Comm, config: &Config) -> Result<Arc<NodePlan>> {
    let key: PlanKey = (
        comm.id(),
        comm.size(),
        config.cache_dir.clone(),
        config.cache_mode,
        config.fake_node_size,
    );
    if let Some((_, p)) =
        (PLAN.lock().unwrap_or_else(|e| e.into_inner()).iter()).find(|(k, _)| *k == key)
    {
        return Ok(p.clone());
    }
    let layout = comm.node_layout(config.fake_node_size)?;
    let dir = config.node_cache_dir(layout.node);
    let (mode, why, sees_root_dir) = match config.cache_mode {
        CacheMode::Shared => (Resolved::Shared, "OP2_CACHE_MODE=shared".to_string(), false),
        CacheMode::Node => node_mode(comm, &layout, &dir)?,
        CacheMode::Auto => detect(comm, &layout, &dir)?,
    };
    let plan = Arc::new(NodePlan {
        layout,
        mode,
        dir,
        why,
        sees_root_dir,
    });
    let mut plans = PLAN.lock().unwrap_or_else(|e| e.into_inner());
    plans.retain(|(k, _)| k.0 != key.0);
    plans.push((key, plan.clone()));
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

/// Remember that this process handed out the entry at `so` (as rank 0), for the report and
/// packs.
pub(crate) fn record_used(so: &Path) {
    if let Some(k) = key_of(so) {
        USED.lock().unwrap_or_else(|e| e.into_inner()).insert(k);
    }
}
