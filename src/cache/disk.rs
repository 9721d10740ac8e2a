//! The disk cache of compiled kernels, shared by every rank and every job, and the collective
//! compile protocol.
//!
//! # Layout (`OP2_CACHE_DIR`, mode 0700)
//! ```text
//! <k0k1>/<k2..k31>.so     the shared object exactly as the compiler wrote it (dlopen-able)
//! <k0k1>/<k2..k31>.meta   JSON: checksum (xxh3-64 of the .so), size, kernel, created, key text
//! <k0k1>/<k2..k31>.lock   lock file (flock) serialising writers of this entry
//! <k0k1>/<k2..k31>.log    the compiler's warnings, if it printed any (printed in full at the
//!                         compile; each later load from the cache prints a one-line reminder)
//! failed/<key>.c, .log    source and compiler output of a failed compile, kept for inspection
//! corrupt/                entries that failed verification, moved aside
//! ```
//! An entry exists iff its `.meta` exists: the `.so` is renamed into place first, then the
//! `.meta`, both written to temporaries, fsynced and renamed (see `fsutil`). Files are write-once:
//! never modified in place, so a library loaded by some process never changes under it.
//! A hit touches the `.meta` mtime: that is the LRU recency used by pruning.
//!
//! # Collective protocol (on a class-cache miss, in the loop's communicator)
//! 1. SPMD check: one allreduce of the key hash (and, with `OP2_SPMD_STRICT`, a comparison of
//!    the full key text); divergence is an error on every rank naming each rank's kernel. A
//!    rank whose arguments failed validation takes part with its message (`refuse`), so that
//!    every rank returns that message.
//! 2. Rank 0 alone decides hit or miss: it checks that the directories are trusted
//!    (`trust.rs`), verifies an existing entry (its `.meta` names this key, format and kernel;
//!    the `.so` matches its checksum), or takes the entry's lock, looks again (another job may
//!    have just written it), compiles into a temporary (killed after `OP2_COMPILE_TIMEOUT`;
//!    a compile over a second prints progress lines unless `OP2_PROGRESS=0`), checksums,
//!    renames into place and keeps the lock until every rank has loaded it.
//! 3. Rank 0 broadcasts the outcome: ready (path + checksum) or the compile error (the other
//!    ranks wait for it in a sleeping barrier, leaving the CPU to the compiler).
//! 4. Rank 0 broadcasts the library's bytes; every other rank verifies the checksum and loads
//!    them from memory, never touching the cache directory (node leaders in node mode publish
//!    a copy into their node's directory first: `node.rs`). They never compile.
//! 5. An allreduce of "loaded ok": if any rank failed (corrupt, truncated, unloadable), rank 0
//!    moves the entry aside and rebuilds it once, collectively; a second failure is an error on
//!    every rank. A corrupt entry is never executed.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::cache::key::{ArgShape, Signature};
use crate::cache::layout::{now_secs, DiskCache, EntryPaths, Meta, Verify, CACHE_NAME};
use crate::cache::stats;
use crate::cache::{fsutil, trust};
use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::jit::compile;
use crate::jit::ffi::LoadedKernel;
use crate::jit::kernel::Kernel;
use crate::mpi::agree::{agree_on, broadcast_outcome, Message, Share, Words};
use crate::mpi::comm::Comm;

/// What rank 0 tells every rank.
#[derive(Debug, Serialize, Deserialize)]
enum Outcome {
    Ready {
        so: PathBuf,
        checksum: u64,
        size: u64,
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

/// Everything the protocol needs about one loop.
pub(crate) struct Request<'a> {
    pub kernel: &'a Kernel,
    pub shapes: &'a [ArgShape],
    pub class_key: u128,
    pub toolchain: [u64; 2],
}

/// Collective: return the loaded module for `req`, compiling it on rank 0 if no rank-0-visible
/// entry exists. Every rank of `comm` must call this together (after the same class-cache miss).
pub(crate) fn fetch_or_compile(
    comm: Comm,
    config: &Config,
    req: &Request,
) -> Result<Arc<LoadedKernel>> {
    spmd_check(comm, config, &Mine::Loop(req))?;
    // Cache mode and node directories (`node.rs`): collective once per job.
    let plan = crate::cache::node::plan(comm, config)?;
    let cache = DiskCache::new(&plan.dir);
    let name = req.kernel.name();
    for attempt in 0..2 {
        let t0 = Instant::now();
        // `_in_use`: rank 0's shared lock on the entry, held until every rank has loaded it;
        // `verified`: the library bytes rank 0 checked, which are what it loads and sends.
        let (outcome, _in_use, verified) = if comm.is_root() {
            rank0_obtain(&cache, config, req, attempt > 0).unwrap_or_else(|e| {
                (
                    Outcome::Failed {
                        detail: e.to_string(),
                    },
                    None,
                    None,
                )
            })
        } else {
            (
                Outcome::Failed {
                    detail: String::new(),
                },
                None,
                None,
            )
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
        let (so, checksum, size) = match outcome {
            Ready { so, checksum, size } => (so, checksum, size),
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
        // verify them and load them from memory; node leaders publish copies (`node.rs`).
        let entry = crate::cache::node::Checked {
            so: &so,
            checksum,
            size,
            bytes: verified.as_deref(),
        };
        let loaded = crate::cache::node::distribute(comm, config, &plan, &entry, name)?;
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
            return Ok(Arc::new(loaded.expect("checked ok")));
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

use Outcome::Ready;

/// What one rank brings to the SPMD check: the loop it is about to build, or the message of
/// the argument validation that failed here (it has no loop to build).
enum Mine<'a> {
    Loop(&'a Request<'a>),
    Invalid(String),
}

/// Collective, on a rank whose par_loop arguments failed validation while the other ranks may
/// be about to build the loop (the kernel's first loop on this rank, so no rank can hit the
/// class cache): take part in their SPMD check with the message, so that every rank returns
/// the same error naming this rank and its message instead of this rank aborting alone.
pub(crate) fn refuse(comm: Comm, config: &Config, error: Error) -> Error {
    let mine = Mine::Invalid(error.to_string());
    spmd_check(comm, config, &mine).err().unwrap_or(error)
}

/// Verify that every rank is about to build the same loop (turns a deadlock into an error).
/// One allreduce (MAX of the key hash, of its complement and of "invalid here").
fn spmd_check(comm: Comm, config: &Config, me: &Mine) -> Result<()> {
    let (h, mine) = match me {
        Mine::Loop(req) => (req.class_key as u64, Ok(())),
        Mine::Invalid(error) => (0, Err(Message(error.clone()))),
    };
    let describe = || match me {
        Mine::Loop(req) => format!("kernel `{}` key {:032x}", req.kernel.name(), req.class_key),
        Mine::Invalid(_) => String::new(),
    };
    let words = Words {
        same: &[h],
        any: &[],
        describe: Some(&describe),
    };
    // Some rank's arguments are invalid: every rank returns that rank's message.
    let invalid = |failed: Vec<(usize, String)>| invalid_args(failed);
    let ((), mut seen) = agree_on(comm, Share::Every(&invalid), words, mine)?;
    if seen.same && config.spmd_strict && comm.size() > 1 {
        let Mine::Loop(req) = me else {
            unreachable!("no rank is invalid here")
        };
        let text = Signature {
            kernel: req.kernel,
            args: req.shapes,
        }
        .text(&config.cc, &config.cflags, "")
            + req.kernel.code();
        let root_text = comm.broadcast_bytes(0, text.clone().into_bytes())?;
        // Rank 0's word is 1: equal everywhere only if every rank's text is rank 0's.
        let words = Words {
            same: &[(root_text == text.as_bytes()) as u64],
            any: &[],
            describe: Some(&describe),
        };
        seen = agree_on(comm, Share::Status, words, Ok::<(), Error>(()))?.1;
    }
    if seen.same {
        return Ok(());
    }
    Err(seen.differ(|all| kernels_differ(&all)))
}

/// The error of an SPMD check in which some ranks' arguments were invalid (`failed`: their
/// ranks and messages): the first one's message, naming the others.
fn invalid_args(failed: Vec<(usize, String)>) -> Error {
    let (first, msg) = failed.first().cloned().unwrap_or_default();
    let others: Vec<String> = failed[1..].iter().map(|(r, _)| r.to_string()).collect();
    let also = if others.is_empty() {
        String::new()
    } else {
        format!(" (ranks {} too)", others.join(", "))
    };
    Error::Remote {
        rank: first as i32,
        detail: format!("{msg}{also}"),
    }
}

/// The error of an SPMD check whose ranks build different loops (`all`: what each builds).
fn kernels_differ(all: &[String]) -> Error {
    let name_of = |s: &str| s.split('`').nth(1).unwrap_or("").to_string();
    let names: std::collections::BTreeSet<String> = all.iter().map(|s| name_of(s)).collect();
    let hint = if names.len() > 1 {
        "the ranks are running different kernels: a par_loop is inside a rank-dependent branch, or the ranks' loops are in a different order; every rank must run the same par_loops in the same order"
    } else {
        "same kernel, different loop: an argument differs between ranks (a Dat's dim or type, an access mode, a map's arity) or the kernel's source or flags do"
    };
    let detail = all
        .iter()
        .enumerate()
        .map(|(r, s)| format!("rank {r}: {s}"))
        .collect::<Vec<_>>()
        .join("; ");
    Error::SpmdMismatch {
        what: "the next generated-code loop (SPMD violation: ranks ran different par_loops)".into(),
        detail: format!("{hint}. {detail}"),
    }
}

/// Rank 0: find a verified entry or compile one, and return it with a lock on the entry
/// (shared for a hit, the writer's exclusive lock after a compile), to be held until every
/// rank has loaded it: a concurrent prune or `op2 cache clear` skips a locked entry instead of
/// unlinking it under the other ranks. `rebuild`: another rank failed to use the current
/// entry, so move it aside first.
fn rank0_obtain(
    cache: &DiskCache,
    config: &Config,
    req: &Request,
    rebuild: bool,
) -> Result<Obtained> {
    let compiler_id = compile::compiler_id(&config.cc, &config.cflags)?;
    let sig = Signature {
        kernel: req.kernel,
        args: req.shapes,
    };
    let key = sig.disk_key(req.toolchain, &compiler_id);
    let paths = cache.entry(key);
    let sub = paths.so.parent().expect("entry has a directory");
    fsutil::create_private_dir(cache.dir())?;
    trust::check_root(cache.dir())?;
    if !writable(cache.dir()) {
        return read_only_hit(cache, req, &paths);
    }
    fsutil::create_private_dir(sub)?;
    trust::check_dir(sub)?;
    let timeout = Duration::from_secs(config.lock_timeout_s);
    let name = req.kernel.name();
    let mut corrupt = rebuild;
    if !rebuild {
        let shared = fsutil::lock_shared(&paths.lock, timeout)?;
        match checked(&paths, name)? {
            Some(found) => {
                touch(&paths.meta);
                stats::update(CACHE_NAME, |s| s.hits += 1);
                remind_warnings(&paths, name);
                return Ok(ready(&paths, found, Some(shared)));
            }
            None => corrupt = paths.meta.exists() || paths.so.exists(),
        }
    }
    let exclusive = fsutil::lock_exclusive(&paths.lock, timeout)?;
    if corrupt {
        // Another process may have rebuilt it meanwhile: only move aside what is still bad.
        let still_bad = match DiskCache::verify(&paths, Some(name)) {
            Ok(_) => false,
            Err(Verify::Missing) => paths.so.symlink_metadata().is_ok(),
            Err(Verify::Corrupt(_)) => true,
        };
        if rebuild || still_bad {
            stats::update(CACHE_NAME, |s| s.corrupt += 1);
            cache.quarantine(&paths)?;
        }
    }
    if let Some(found) = checked(&paths, name)? {
        // Another job wrote it while we waited for the lock.
        remind_warnings(&paths, name);
        return Ok(ready(&paths, found, Some(exclusive)));
    }
    if let Some(failure) = compile_entry(cache, config, req, &sig, &compiler_id, key, &paths)? {
        return Ok((failure, None, None));
    }
    // Still under our exclusive lock: nobody can have removed or replaced it.
    let found = DiskCache::verify_bytes(&paths, Some(name)).map_err(|v| Error::CorruptEntry {
        path: paths.so.clone(),
        detail: match v {
            Verify::Missing => "missing right after it was written".into(),
            Verify::Corrupt(why) => why,
        },
    })?;
    Ok(ready(&paths, found, Some(exclusive)))
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

/// One line on stderr in one `write` (lines of ranks sharing a terminal never interleave).
fn say(mut line: String) {
    use std::io::Write;
    line.push('\n');
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Run rank 0's compile of kernel `name`. With `OP2_PROGRESS` on (the default), a compile still
/// running after a second prints `op2: compiling kernel ...` and, when it ends, its time and
/// how many kernels this process compiled so far: a cold start with many kernels shows progress
/// instead of tens of silent seconds. Quick compiles print nothing.
fn with_progress(
    config: &Config,
    name: &str,
    compile: impl FnOnce() -> std::result::Result<String, compile::CompileFailure>,
) -> std::result::Result<String, compile::CompileFailure> {
    use std::sync::mpsc::{channel, RecvTimeoutError};
    const AFTER: Duration = Duration::from_secs(1);
    if !config.progress {
        return compile();
    }
    // This compile's miss is counted already, the compile itself not yet.
    let before = stats::get(CACHE_NAME);
    let (kernels, compiled) = (before.hits + before.misses, before.compiles);
    let t0 = Instant::now();
    let (done, finished) = channel::<()>();
    let (out, announced) = std::thread::scope(|s| {
        let watcher = s.spawn(move || {
            let late = matches!(finished.recv_timeout(AFTER), Err(RecvTimeoutError::Timeout));
            if late {
                let earlier = match compiled {
                    0 => String::new(),
                    n => format!("; {n} compiled so far, {:.1} s", before.compile_seconds),
                };
                say(format!(
                    "op2: compiling kernel `{name}`... (kernel {kernels} of this run{earlier})"
                ));
            }
            late
        });
        let out = compile();
        let _ = done.send(());
        (out, watcher.join().unwrap_or(false))
    });
    let secs = t0.elapsed().as_secs_f64();
    if out.is_err() && (announced || t0.elapsed() > AFTER) {
        say(format!(
            "op2: compiling kernel `{name}` failed after {secs:.1} s"
        ));
    } else if announced || t0.elapsed() > AFTER {
        say(format!(
            "op2: compiled kernel `{name}` in {secs:.1} s ({} of this run's {kernels} kernels compiled so far, {:.1} s in all)",
            compiled + 1,
            before.compile_seconds + secs
        ));
    }
    out
}

/// What rank 0 obtained: the outcome it broadcasts, its lock on the entry (held until every
/// rank has loaded it) and the library bytes it verified (loaded and sent as they are).
type Obtained = (Outcome, Option<fsutil::LockGuard>, Option<Vec<u8>>);

fn ready(
    paths: &EntryPaths,
    (meta, bytes): (Meta, Vec<u8>),
    lock: Option<fsutil::LockGuard>,
) -> Obtained {
    let outcome = Ready {
        so: paths.so.clone(),
        checksum: meta.checksum,
        size: meta.size,
    };
    (outcome, lock, Some(bytes))
}

/// Verify the entry for kernel `name`: `Some` (its metadata and the library bytes checked) if
/// usable, `None` if missing or damaged (damage is reported once); an entry someone untrusted
/// could have written is an error, never rebuilt silently.
fn checked(paths: &EntryPaths, name: &str) -> Result<Option<(Meta, Vec<u8>)>> {
    match DiskCache::verify_bytes(paths, Some(name)) {
        Ok(found) => Ok(Some(found)),
        Err(Verify::Missing) => Ok(None),
        Err(Verify::Corrupt(why)) if trust::is_refusal(&why) => Err(Error::Untrusted {
            path: paths.meta.clone(),
            detail: why,
        }),
        Err(Verify::Corrupt(why)) => {
            eprintln!("op2: corrupt cache entry for kernel `{name}`: {why}; rebuilding");
            Ok(None)
        }
    }
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

/// A cache this process cannot write: serve hits (under a shared lock where a lock file
/// exists), fail a miss with a message; warn once that nothing new can be stored.
fn read_only_hit(cache: &DiskCache, req: &Request, paths: &EntryPaths) -> Result<Obtained> {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        eprintln!(
            "op2: warning: the disk cache {} is read-only: kernels found there are used, nothing new can be stored",
            cache.dir().display()
        )
    });
    let name = req.kernel.name();
    let shared = fsutil::try_lock_shared(&paths.lock);
    match checked(paths, name)? {
        Some(found) => {
            stats::update(CACHE_NAME, |s| s.hits += 1);
            remind_warnings(paths, name);
            Ok(ready(paths, found, shared))
        }
        None => Err(Error::io(
            "kernel not in the read-only disk cache, and nothing new can be stored (make it writable or set OP2_CACHE_DIR to a writable directory)",
            cache.dir(),
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        )),
    }
}

/// Under the entry's exclusive lock: generate, compile once, checksum, and rename the `.so` then
/// the `.meta` into place. `Ok(Some(outcome))` carries a compile error to broadcast.
fn compile_entry(
    cache: &DiskCache,
    config: &Config,
    req: &Request,
    sig: &Signature,
    compiler_id: &str,
    key: u128,
    paths: &EntryPaths,
) -> Result<Option<Outcome>> {
    stats::update(CACHE_NAME, |s| s.misses += 1);
    let dir = paths.so.parent().expect("entry has a directory");
    let hex = format!("{key:032x}");
    let source = crate::jit::codegen::generate(req.kernel, req.shapes);
    // A fixed name (the entry's exclusive lock makes it ours): the name is in the library,
    // whose bytes must not depend on who built it (`op2 cache unpack --rebuild`).
    let src_tmp = source_temp(dir, &hex);
    let so_tmp = fsutil::temp_path(dir, &format!("{hex}.so"));
    if let Err(e) = write_source(&src_tmp, &source) {
        // Its folder was removed by a concurrent `op2 cache clear`: make it again, once.
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(Error::io("write generated source", &src_tmp, e));
        }
        fsutil::create_private_dir(dir)?;
        write_source(&src_tmp, &source).ctx("write generated source", &src_tmp)?;
    }
    let t0 = Instant::now();
    let result = with_progress(config, req.kernel.name(), || {
        compile::compile(
            &config.cc,
            &config.cflags,
            req.kernel.flags(),
            &src_tmp,
            &so_tmp,
            Duration::from_secs(config.compile_timeout_s),
        )
    });
    let secs = t0.elapsed().as_secs_f64();
    stats::update(CACHE_NAME, |s| {
        s.compiles += 1;
        s.compile_seconds += secs;
    });
    if let Err(fail) = &result {
        let _ = fs::remove_file(&so_tmp);
        let failed = cache.dir().join("failed");
        let kept = failed.join(format!("{hex}.c"));
        // `failed/` may be removed by a concurrent `op2 cache clear` between the two steps.
        let keep = || {
            fsutil::create_private_dir(&failed)?;
            trust::check_dir(&failed)?;
            fs::rename(&src_tmp, &kept).ctx("keep failed source", &kept)
        };
        keep().or_else(|_| keep()).inspect_err(|_| {
            let _ = fs::remove_file(&src_tmp);
        })?;
        // Point the compiler's messages at the file that still exists.
        let (tmp, keep) = (src_tmp.display().to_string(), kept.display().to_string());
        let command = fail.command.replace(&tmp, &keep);
        let stderr = fail.stderr.replace(&tmp, &keep);
        let _ = fs::write(
            failed.join(format!("{hex}.log")),
            format!("{command}\n{stderr}\n"),
        );
        return Ok(Some(Outcome::CompileError {
            command,
            stderr,
            source_path: kept,
        }));
    }
    let _ = fs::remove_file(&src_tmp);
    if let Some(w) =
        crate::jit::check::show_warnings(req.kernel.name(), result.as_deref().unwrap_or(""))
    {
        // Beside the entry.
        let logged = fsutil::atomic_write(&paths.so.with_extension("log"), w.as_bytes());
        logged.inspect_err(|_| {
            let _ = fs::remove_file(&so_tmp);
        })?;
    }
    let bytes = fs::read(&so_tmp).ctx("read compiled module", &so_tmp);
    let bytes = bytes.inspect_err(|_| {
        let _ = fs::remove_file(&so_tmp);
    })?;
    let meta = Meta {
        format: crate::cache::key::FORMAT_VERSION,
        checksum: xxhash_rust::xxh3::xxh3_64(&bytes),
        size: bytes.len() as u64,
        kernel: req.kernel.name().to_string(),
        created: now_secs(),
        host: fsutil::hostname(),
        compile_seconds: secs,
        key: hex,
        key_text: sig.text(&config.cc, &config.cflags, compiler_id),
        build: Some(crate::cache::layout::Build {
            source,
            cc: config.cc.clone(),
            cflags: config.cflags.clone(),
            kernel_flags: req.kernel.flags().to_vec(),
            compiler_id: compiler_id.to_string(),
        }),
    };
    if let Err(e) = fsutil::atomic_rename(&so_tmp, &paths.so) {
        let _ = fs::remove_file(&so_tmp);
        return Err(e);
    }
    fsutil::atomic_write(
        &paths.meta,
        &serde_json::to_vec_pretty(&meta).expect("meta serialises"),
    )?;
    crate::cache::prune::after_insert(cache, config.cache_max_size);
    Ok(None)
}

/// The fixed name of the generated source of entry `hex` while it compiles (a temporary:
/// `.tmp-` names are never entries, and stale ones are removed by `clear`/`prune`).
pub(crate) fn source_temp(dir: &Path, hex: &str) -> PathBuf {
    dir.join(format!(".tmp-{hex}.c"))
}

/// Write the generated source to `path`: a leftover of a crashed writer is replaced, a link is
/// never followed, and a failed write (disk full) leaves no partial file behind.
pub(crate) fn write_source(path: &Path, source: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let written = f.write_all(source.as_bytes()).and_then(|()| f.flush());
    if written.is_err() {
        let _ = fs::remove_file(path);
    }
    written
}

/// Refresh an entry's recency (its `.meta` mtime) for LRU pruning; best effort.
fn touch(meta: &Path) {
    if let Ok(f) = fs::File::options().append(true).open(meta) {
        let _ = f.set_modified(SystemTime::now());
    }
}
