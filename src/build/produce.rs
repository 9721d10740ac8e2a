//! Rank 0's compile of one entry, under the entry's exclusive lock: write the generated
//! source, call the compiler (with progress lines for slow compiles), keep a failed compile's
//! source and messages in `failed/`, and hand the library with its metadata to the disk
//! cache's publish transaction (`cache::disk::publish`), which writes and verifies it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cache::disk::Candidate;
use crate::cache::layout::{
    now_secs, Build, DiskCache, EntryPaths, Meta, CACHE_NAME, ENTRY_FORMAT,
};
use crate::cache::{fsutil, stats, trust};
use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::jit::compile;
use crate::jit::kernel::Kernel;

/// A compile that failed: the command, the compiler's messages and where the source is kept
/// (both pointing at `failed/<key>.c`).
pub(crate) struct CompileError {
    pub command: String,
    pub stderr: String,
    pub source_path: PathBuf,
}

/// What one entry is built from (the generated source, the compiler and its flags) and how
/// the entry is keyed and described.
pub(crate) struct Source<'a> {
    pub kernel: &'a Kernel,
    pub build: Build,
    pub key: u128,
    pub key_text: String,
}

/// Under the entry's exclusive lock: write the source, compile it once and return the library
/// with its metadata; a compile error is `Ok(Err(..))`, to be broadcast.
pub(crate) fn compile_entry(
    cache: &DiskCache,
    config: &Config,
    src: Source,
    paths: &EntryPaths,
) -> Result<std::result::Result<Candidate, CompileError>> {
    stats::update(CACHE_NAME, |s| s.misses += 1);
    let dir = paths.so.parent().expect("entry has a directory");
    let hex = format!("{:032x}", src.key);
    let kernel = src.kernel;
    // A fixed name (the entry's exclusive lock makes it ours): the name is in the library,
    // whose bytes must not depend on who built it (`op2 cache unpack --rebuild`).
    let src_tmp = source_temp(dir, &hex);
    let so_tmp = fsutil::temp_path(dir, &format!("{hex}.so"));
    let b = &src.build;
    if let Err(e) = write_source(&src_tmp, &b.source) {
        // Its folder was removed by a concurrent `op2 cache clear`: make it again, once.
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(Error::io("write generated source", &src_tmp, e));
        }
        fsutil::create_private_dir(dir)?;
        write_source(&src_tmp, &b.source).ctx("write generated source", &src_tmp)?;
    }
    let t0 = Instant::now();
    let result = with_progress(config, kernel.name(), || {
        compile::compile(
            &b.cc,
            &b.cflags,
            &b.kernel_flags,
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
    let printed = match result {
        Ok(printed) => printed,
        Err(fail) => {
            let _ = fs::remove_file(&so_tmp);
            return keep_failed(cache, &hex, &src_tmp, fail).map(Err);
        }
    };
    let _ = fs::remove_file(&src_tmp);
    let bytes = fs::read(&so_tmp).ctx("read compiled module", &so_tmp);
    let _ = fs::remove_file(&so_tmp);
    let bytes = bytes?;
    if let Some(w) = crate::jit::check::show_warnings(kernel.name(), &printed) {
        // Beside the entry.
        fsutil::atomic_write(&paths.so.with_extension("log"), w.as_bytes())?;
    }
    let meta = Meta {
        format: ENTRY_FORMAT,
        checksum: xxhash_rust::xxh3::xxh3_64(&bytes),
        size: bytes.len() as u64,
        kernel: kernel.name().to_string(),
        created: now_secs(),
        host: fsutil::hostname(),
        compile_seconds: secs,
        key: hex,
        key_text: src.key_text,
        build: Some(src.build),
    };
    Ok(Ok(Candidate { meta, bytes }))
}

/// Keep a failed compile's source as `failed/<key>.c` and its messages as `failed/<key>.log`,
/// and point the compiler's messages at the kept file.
fn keep_failed(
    cache: &DiskCache,
    hex: &str,
    src_tmp: &Path,
    fail: compile::CompileFailure,
) -> Result<CompileError> {
    let failed = cache.dir().join("failed");
    let kept = failed.join(format!("{hex}.c"));
    // `failed/` may be removed by a concurrent `op2 cache clear` between the two steps.
    let keep = || {
        fsutil::create_private_dir(&failed)?;
        trust::check_dir(&failed)?;
        fs::rename(src_tmp, &kept).ctx("keep failed source", &kept)
    };
    keep().or_else(|_| keep()).inspect_err(|_| {
        let _ = fs::remove_file(src_tmp);
    })?;
    let (tmp, keep) = (src_tmp.display().to_string(), kept.display().to_string());
    let command = fail.command.replace(&tmp, &keep);
    let stderr = fail.stderr.replace(&tmp, &keep);
    let _ = fs::write(
        failed.join(format!("{hex}.log")),
        format!("{command}\n{stderr}\n"),
    );
    Ok(CompileError {
        command,
        stderr,
        source_path: kept,
    })
}

/// One line on stderr in one `write` (lines of ranks sharing a terminal never interleave).
pub(crate) fn say(mut line: String) {
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
