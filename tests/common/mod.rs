//! Shared helpers of the integration tests: launch real `mpiexec` on the built binaries with a
//! hard timeout (a hang fails the test instead of stalling CI) and a fresh cache directory.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a launched job did.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// Panic with the whole output unless the job exited 0.
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.success(),
            "job failed ({:?})\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Path of a program of this package built by cargo for the integration tests: a binary from
/// `src/bin/` (what users run) or a test program from `examples/` (never installed).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>/deps -> target/<profile>
    // The newer of the two: a program that moved from src/bin/ to examples/ leaves a stale
    // copy in target/<profile>/ that must not shadow the fresh one.
    let found = [dir.join(name), dir.join("examples").join(name)]
        .into_iter()
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max();
    if let Some((_, p)) = found {
        return p;
    }
    panic!(
        "program {name} not built in {} or its examples/ (run cargo build --bins --examples)",
        dir.display()
    )
}

/// A command `mpiexec -n np <bin> args...` with OP2_CACHE_DIR set to `cache`.
pub fn mpiexec(np: usize, binary: &str, args: &[&str], cache: &Path) -> Command {
    let mut c = Command::new("mpiexec");
    c.arg("-n").arg(np.to_string()).arg(bin(binary)).args(args);
    c.env("OP2_CACHE_DIR", cache);
    for v in [
        "OP2_CC",
        "OP2_CFLAGS",
        "OP2_PRINT_CACHE_SIZE",
        "PYOP2_PRINT_CACHE_SIZE",
        "OP2_CACHE_REPORT",
        "PYOP2_CACHE_DIR",
        "OP2_CACHE_MAX_SIZE",
    ] {
        c.env_remove(v);
    }
    c
}

/// Run `cmd` to completion, killing it (and failing the test) after `timeout`.
pub fn run(mut cmd: Command, timeout: Duration) -> Outcome {
    let t0 = Instant::now();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Own process group, so a timeout kills mpiexec and every rank it started.
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let mut child = cmd.spawn().expect("spawn mpiexec");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let te = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).ok();
        s
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Outcome {
                code: status.code(),
                stdout: to.join().unwrap(),
                stderr: te.join().unwrap(),
                elapsed: t0.elapsed(),
            };
        }
        if t0.elapsed() > timeout {
            unsafe_kill_group(child.id());
            let _ = child.wait();
            panic!(
                "job timed out after {:?} (hang?)\n--- stdout\n{}\n--- stderr\n{}",
                timeout,
                to.join().unwrap(),
                te.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kill `pid`'s process group and every descendant of `pid`: MPICH's launcher starts each
/// proxy and rank in a session of its own, so killing the launcher's group alone leaves ranks
/// blocked (and holding the output pipes this harness reads to the end).
fn unsafe_kill_group(pid: u32) {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        for task in std::fs::read_dir(format!("/proc/{p}/task")).into_iter().flatten().flatten() {
            let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(kids.split_whitespace().filter_map(|k| k.parse::<u32>().ok()));
        }
        i += 1;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(format!("-{pid}"))
        .args(all.iter().map(|p| p.to_string()))
        .status();
}

/// A fresh temporary directory for one test's disk cache (removed when dropped).
pub fn cache_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("op2-test-cache-")
        .tempdir()
        .unwrap()
}

/// Panic unless the job exited 0 and every rank of `np` printed `rank r: ok <loops> loops`
/// (op2-selftest's line after checking every loop's answer against a Rust reference).
pub fn assert_all_ok(out: &Outcome, np: usize, loops: usize) {
    out.assert_ok();
    for r in 0..np {
        assert!(
            out.stdout.contains(&format!("rank {r}: ok {loops} loops")),
            "rank {r} missing\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}

/// Every file under `d`, recursively, sorted.
pub fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// `op2 cache <args> --cache-dir <cache>`.
pub fn op2_cache(cache: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin("op2"));
    c.arg("cache").args(args).arg("--cache-dir").arg(cache);
    c
}
