//! The build protocol of a class-cache miss: who compiles, who waits, who loads.
//!
//! # Collective protocol (on a class-cache miss, in the loop's communicator)
//! 1. SPMD check (`spmd.rs`): one allreduce of the key hash (and, with `OP2_SPMD_STRICT`, a
//!    comparison of the full key text); divergence is an error on every rank naming each
//!    rank's kernel. A rank whose arguments failed validation takes part with its message
//!    (`refuse`), so that every rank returns that message.
//! 2. Rank 0 alone decides hit or miss, through the disk cache's one transaction
//!    (`cache::disk::publish`: trusted directories, a verified entry under the entry's lock,
//!    else the exclusive lock, a second look, damage moved aside); on a miss it compiles
//!    (`produce.rs`: killed after `OP2_COMPILE_TIMEOUT`; a compile over a second prints
//!    progress lines unless `OP2_PROGRESS=0`), and keeps the lock until every rank has loaded
//!    the entry.
//! 3. Rank 0 broadcasts the outcome: ready (path + checksum) or the compile error (the other
//!    ranks wait for it in a sleeping barrier, leaving the CPU to the compiler).
//! 4. Rank 0 broadcasts the library's bytes (`share.rs`); every other rank verifies the
//!    checksum and loads them from memory, never touching the cache directory (node leaders in
//!    node mode publish a copy into their node's directory first). They never compile.
//! 5. An allreduce of "loaded ok": if any rank failed (corrupt, truncated, unloadable), rank 0
//!    moves the entry aside and rebuilds it once, collectively; a second failure is an error on
//!    every rank. A corrupt entry is never executed.
//!
//! A loaded entry that was compiled with warnings (its `.log` beside it) prints a one-line
//! reminder each time rank 0 finds it in the cache.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::build::key::{self, Request, Signature};
use crate::build::produce::{self, say, Source};
use crate::build::share::{share_library, Checked};
use crate::build::spmd::{spmd_check, Mine};
use crate::cache::disk::{self, Entry, Published, Txn};
use crate::cache::layout::{Build, DiskCache, EntryPaths, CACHE_NAME};
use crate::cache::stats;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::jit::compile;
use crate::jit::ffi::LoadedKernel;
use crate::mpi::agree::{agree_on, broadcast_outcome, Share, Words};
use crate::mpi::comm::Comm;

/// What rank 0 tells every rank.
#[derive(Debug, Serialize, Deserialize)]
enum Outcome {
    Ready {
        so: PathBuf,
        checksum: u64,
        size: u64,
        /// The measured variant recorded beside the entry (`choice.rs`), if any.
        choice: Option<String>,
    },
    CompileError {
        command: String,
        stderr: String,
        source_path: PathBuf,
    },
    Failed {
        detail: String,
    },
}

/// Collective: return the loaded module for `req`, compiling it on rank 0 if no rank-0-visible
/// entry exists. Every rank of `comm` must call this together (after the same class-cache miss).
pub(crate) fn fetch_or_compile(
    comm: Comm,
    config: &Config,
    req: &Request,
) -> Result<Arc<LoadedKernel>> {
    spmd_check(comm, config, &Mine::Loop(req))?;
    // Cache mode and node directories (`cache/node.rs`): collective once per job.
    let plan = crate::cache::node::plan(comm, config)?;
    let cache = DiskCache::new(&plan.dir);
    let name = req.kernel.name();
    for attempt in 0..2 {
        let t0 = Instant::now();
        // `held`: on rank 0, the entry it verified (the library bytes, which are what it loads
        // and sends) with its lock on the entry, held until every rank has loaded it.
        let (outcome, held) = if comm.is_root() {
            rank0_obtain(&cache, config, req, attempt > 0).unwrap_or_else(|e| {
                let detail = e.to_string();
                (Outcome::Failed { detail }, None)
            })
        } else {
            let detail = String::new();
            (Outcome::Failed { detail }, None)
        };
        // Ranks waiting for rank 0's compile sleep instead of spinning in the broadcast: on a
        // node with fewer cores than ranks, spinning ranks starve the compiler (stampede bench).
        comm.idle_barrier(Duration::from_millis(1))?;
        let bytes = if comm.is_root() {
            serde_json::to_vec(&outcome).expect("outcome serialises")
        } else {
            Vec::new()
        };
        let outcome: Outcome = serde_json::from_slice(&comm.broadcast_bytes(0, bytes)?)
            .map_err(|e| Error::Mpi(format!("garbled compile outcome from rank 0: {e}")))?;
        let (so, checksum, size, choice) = match outcome {
            Outcome::Ready {
                so,
                checksum,
                size,
                choice,
            } => (so, checksum, size, choice),
            Outcome::CompileError {
                command,
                stderr,
                source_path,
            } => {
                let (k, sh) = (req.kernel, req.shapes);
                // Rank 0's broadcast outcome: every rank returns this error.
                let e = crate::jit::check::explain(k, sh, command, stderr, source_path);
                return Err(broadcast_outcome(comm, e));
            }
            Outcome::Failed { detail } => {
                let e = Error::Remote {
                    rank: 0,
                    detail: format!("disk cache for kernel `{name}`: {detail}"),
                };
                return Err(broadcast_outcome(comm, e));
            }
        };
        // Rank 0 verified (or just wrote) the file; the others receive its bytes over MPI,
        // verify them and load them from memory; node leaders publish copies (`share.rs`).
        let entry = Checked {
            so: &so,
            checksum,
            size,
            bytes: held.as_ref().map(|e| e.bytes.as_slice()),
        };
        let loaded = share_library(comm, config, &plan, &entry, name)?;
        let words = Words {
            any: &[loaded.is_err() as u64],
            ..Words::default()
        };
        let ok = agree_on(comm, Share::Status, words, Ok::<(), Error>(()))?
            .1
            .any[0]
            == 0;
        if ok {
            let secs = t0.elapsed().as_secs_f64();
            if !comm.is_root() {
                stats::update(CACHE_NAME, |s| {
                    s.loaded_from_disk += 1;
                    s.wait_seconds += secs;
                });
            }
            let mut loaded = loaded.expect("checked ok");
            adopt_choice(&mut loaded, comm, config, &so, choice.as_deref());
            return Ok(Arc::new(loaded));
        }
        if let Err(e) = &loaded {
            eprintln!("op2: rank {}: {e}; the entry will be rebuilt", comm.rank());
        }
        if attempt == 1 {
            let detail = match loaded {
                Err(e) => e.to_string(),
                Ok(_) => "another rank could not verify or load the rebuilt entry".into(),
            };
            let e = Error::Remote {
                rank: comm.rank(),
                detail: format!("kernel `{name}` unusable after a rebuild: {detail}"),
            };
            return Err(broadcast_outcome(comm, e));
        }
    }
    unreachable!("the loop returns on its second attempt")
}

/// A vectorised module's variant on every rank: the vectorised one under `OP2_SIMD=on`, else
/// the one recorded beside the entry (rank 0 read it and broadcast it with the outcome),
/// adopted at the first run unless that loop is much larger than the record's
/// (`exec/choose.rs`), else still to be measured at its first run; rank 0 records a
/// measurement at `so`.
fn adopt_choice(
    loaded: &mut LoadedKernel,
    comm: Comm,
    config: &Config,
    so: &std::path::Path,
    choice: Option<&str>,
) {
    use crate::build::choice;
    use crate::jit::simd::Variant;
    if !config.simd_measure {
        loaded.choose(Variant::Simd);
        return;
    }
    match choice.and_then(|c| Some((choice::parse(c)?, choice::elements(c)))) {
        Some((v, None)) => {
            loaded.choose(v);
            return;
        }
        Some((v, Some(n))) => loaded.set_recorded(v, n),
        None => {}
    }
    if comm.is_root() {
        loaded.set_record(choice::path_of(so));
    }
}

/// Rank 0: find a verified entry or compile one (the disk cache's publish transaction), and
/// return it with its lock on the entry (shared for a hit, the writer's exclusive lock after a
/// compile), to be held until every rank has loaded it: a concurrent prune or `op2 cache
/// clear` skips a locked entry instead of unlinking it under the other ranks. `replace`:
/// another rank failed to use the current entry, so move it aside first.
fn rank0_obtain(
    cache: &DiskCache,
    config: &Config,
    req: &Request,
    replace: bool,
) -> Result<(Outcome, Option<Entry>)> {
    let compiler_id = compile::compiler_id(&config.cc, &config.cflags)?;
    let sig = Signature {
        kernel: req.kernel,
        args: req.shapes,
        indexed: req.indexed,
    };
    // Content-addressed: the key is the hash of what the library is built from, so the source
    // is generated first (on rank 0, on a class-cache miss only).
    let opts = crate::jit::simd::Options::of(config);
    let (source, path, path_flags) =
        crate::jit::simd::generate_module(req.kernel, req.shapes, req.indexed, &opts);
    let mut kernel_flags = req.kernel.flags().to_vec();
    kernel_flags.extend(path_flags.iter().map(|f| f.to_string()));
    let build = Build {
        source,
        cc: config.cc.clone(),
        cflags: config.cflags.clone(),
        kernel_flags,
        compiler_id,
    };
    let key = key::disk_key(&build);
    let name = req.kernel.name();
    let txn = Txn {
        kernel: name,
        timeout: Duration::from_secs(config.lock_timeout_s),
        replace,
    };
    let compile = |paths: &EntryPaths| {
        let src = Source {
            kernel: req.kernel,
            key,
            key_text: format!("{}path {}\n", key::disk_text(&build, &sig), path.describe()),
            build,
        };
        produce::compile_entry(cache, config, src, paths)
    };
    let entry = match disk::publish(cache, key, &txn, compile)? {
        Ok(entry) => entry,
        Err(fail) => {
            let outcome = Outcome::CompileError {
                command: fail.command,
                stderr: fail.stderr,
                source_path: fail.source_path,
            };
            return Ok((outcome, None));
        }
    };
    match entry.published {
        Published::Present => {
            stats::update(CACHE_NAME, |s| s.hits += 1);
            remind_warnings(&entry.paths, name);
        }
        // Another job wrote it while we waited for the lock.
        Published::Concurrent => remind_warnings(&entry.paths, name),
        Published::Written | Published::Repaired => {
            crate::cache::prune::after_insert(cache, config.cache_max_size)
        }
    }
    let outcome = Outcome::Ready {
        so: entry.paths.so.clone(),
        checksum: entry.meta.checksum,
        size: entry.meta.size,
        choice: crate::build::choice::read(&entry.paths.so),
    };
    Ok((outcome, Some(entry)))
}

/// Rank 0 found kernel `name`'s entry in the cache: if its compile printed warnings (kept in
/// the `.log` beside the entry), say so again in one line, so they are not forgotten after the
/// first run. The log is not read (it is cache content: only its path is shown).
fn remind_warnings(paths: &EntryPaths, name: &str) {
    let log = paths.so.with_extension("log");
    if log.symlink_metadata().is_ok_and(|m| m.is_file()) {
        say(format!(
            "op2: kernel `{name}` was compiled with warnings (loaded from the cache; see {})",
            log.display()
        ));
    }
}
