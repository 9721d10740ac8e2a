//! Shared helpers of the integration tests: launch real `mpiexec` on the built binaries with a
//! hard timeout (a hang fails the test instead of stalling CI) and a fresh cache directory.
#![allow(dead_code)]
// The harness sets up the environment of the op2 programs it runs (clippy.toml's rule is for
// the library).
#![allow(clippy::disallowed_methods)]

pub mod airfoil;
pub mod users;

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
    op2_env(&mut c, cache);
    c
}

/// OP2_CACHE_DIR = `cache`, and no other op2 setting inherited from the caller (every variable
/// of op2's settings table, `CC` included).
fn op2_env(c: &mut Command, cache: &Path) {
    for v in op2::settings::setting_names() {
        c.env_remove(v);
    }
    c.env("OP2_CACHE_DIR", cache);
}

/// A test that needs what this machine lacks (root, strace, a bind mount) says so loudly and
/// returns without running; with the environment variable `CI` set it FAILS instead, so that a
/// CI machine missing the capability can never report such a test as passed.
pub fn skip_or_fail(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("cannot run this test here and CI is set (a skip would pass silently): {why}");
    }
    eprintln!("\n*** SKIPPED (not run, NOT passed): {why} ***\n");
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
        for task in std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(
                kids.split_whitespace()
                    .filter_map(|k| k.parse::<u32>().ok()),
            );
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

/// A `cc` wrapper in `dir` that logs each invocation to `dir/cc.log`: (wrapper, log).
pub fn logging_cc(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("cc.log");
    let script = dir.join("cc-logged");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$$ $*\" >> '{}'\nexec cc \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

/// Compiler invocations logged by [`logging_cc`] with `-o` (compilations, not `--version`).
pub fn compile_count(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == "-o"))
        .count()
}

/// Every file under `d` (recursively), sorted.
pub fn files_under(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(d) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// True if `strace` can trace here (installed, ptrace allowed).
pub fn strace_works() -> bool {
    Command::new("strace")
        .args(["-qq", "-e", "trace=%file", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// `mpiexec -n np strace -ff ... <bin> args`: every process's file system calls (`%file`)
/// traced into `trace_dir/t.<pid>` (threads and child processes get their own files).
pub fn mpiexec_traced(
    np: usize,
    binary: &str,
    args: &[&str],
    cache: &Path,
    trace_dir: &Path,
) -> Command {
    let mut c = Command::new("mpiexec");
    c.arg("-n").arg(np.to_string()).arg("strace");
    c.args(["-ff", "-qq", "-s", "4096", "-e", "trace=%file", "-o"]);
    c.arg(trace_dir.join("t")).arg(bin(binary)).args(args);
    op2_env(&mut c, cache);
    c
}

/// File system calls naming a path under `needle`, per rank (from the `rank R pid P` lines a
/// program printed with `--pids`), and the sum over every other traced process or thread
/// (the compiler rank 0 runs, helper threads).
pub fn file_ops_per_rank(stdout: &str, trace_dir: &Path, needle: &str) -> (Vec<usize>, usize) {
    let mut pid_rank = std::collections::BTreeMap::new();
    for l in stdout.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() == 4 && w[0] == "rank" && w[2] == "pid" {
            pid_rank.insert(w[3].to_string(), w[1].parse::<usize>().unwrap());
        }
    }
    let mut per_rank = vec![0; pid_rank.len()];
    let mut other = 0;
    for f in files_under(trace_dir) {
        let pid = f
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_string();
        let n = std::fs::read_to_string(&f)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .count();
        match pid_rank.get(&pid) {
            Some(&r) => per_rank[r] += n,
            None => other += n,
        }
    }
    (per_rank, other)
}

/// Damage two files: flip a byte in the middle of the first (same size), truncate the second
/// to a third.
pub fn flip_and_truncate(files: &[PathBuf]) {
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&files[0], &bytes).unwrap();
    let b1 = std::fs::read(&files[1]).unwrap();
    std::fs::write(&files[1], &b1[..b1.len() / 3]).unwrap();
}

/// Seconds to rank 0's first loop result, from `op2-selftest`'s output.
pub fn first_result(stdout: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("first loop result after "))
        .and_then(|l| l.trim_end_matches(" s").parse().ok())
        .expect("timing line")
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

/// `op2 cache <args> --cache-dir <cache>`.
pub fn op2_cache(cache: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin("op2"));
    c.arg("cache").args(args).arg("--cache-dir").arg(cache);
    c
}

/// The word after `name` in a program's report (`... name value ...`); panics with the output
/// when there is none.
pub fn field(stdout: &str, name: &str) -> String {
    stdout
        .split_whitespace()
        .skip_while(|w| *w != name)
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in the output:\n{stdout}"))
        .to_string()
}

/// Each rank's `rank R of NP: <ok> ...` line in `stdout` (panics with the output when one is
/// missing), and the number after `label` on it (e.g. a count of extra columns).
pub fn per_rank_count(stdout: &str, np: usize, ok: &str, label: &str) -> Vec<usize> {
    (0..np)
        .map(|r| {
            let line = stdout
                .lines()
                .find(|l| l.starts_with(&format!("rank {r} of {np}: {ok}")))
                .unwrap_or_else(|| panic!("rank {r}\n{stdout}"));
            line.split(label)
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no number after {label} in {line}"))
        })
        .collect()
}

/// For tests that run op2 in their own process: once per process, a fresh cache directory,
/// 2 threads and blocks of 4 elements (so small loops are cut into coloured blocks).
pub fn two_threads_small_blocks() {
    static ONCE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let d = ONCE.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        std::env::set_var("OP2_CACHE_DIR", d.path());
        std::env::set_var("OP2_THREADS", "2");
        std::env::set_var("OP2_BLOCK_SIZE", "4");
        d
    });
    assert!(d.path().exists());
}

/// Asserts that every rank of `np` printed the self-checking examples' line
/// `rank R of NP: ok: VALUES values checked` (rank 0's comparison, broadcast).
pub fn assert_every_rank_checked(stdout: &str, np: usize, values: usize) {
    for r in 0..np {
        let want = format!("rank {r} of {np}: ok: {values} values checked");
        assert!(stdout.lines().any(|l| l == want), "{want}\n{stdout}");
    }
}
