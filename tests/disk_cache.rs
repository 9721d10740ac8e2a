//! The collective, file-locked disk cache under real MPI (mpiexec -n 4), with the real compiler
//! wrapped by a logging script so that every compilation is counted.
mod common;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(180);

/// A `cc` wrapper that logs each invocation to `log`.
fn logging_cc(dir: &Path) -> (PathBuf, PathBuf) {
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

/// Compiler invocations with `-o` (real compilations, not `--version` sniffs).
fn compiles(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == "-o"))
        .count()
}

fn selftest(np: usize, cache: &Path, cc: &Path, args: &[&str]) -> std::process::Command {
    let mut c = common::mpiexec(np, "op2-selftest", args, cache);
    c.env("OP2_CC", cc);
    c
}

#[test]
fn cold_cache_compiles_each_kernel_once_and_warm_cache_never() {
    let cache = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = logging_cc(tools.path());
    let out = common::run(selftest(4, cache.path(), &cc, &["--kernels", "3"]), T);
    common::assert_all_ok(&out, 4, 6);
    assert_eq!(
        compiles(&log),
        3,
        "cold: one compile per distinct kernel, on rank 0 only"
    );
    let out = common::run(selftest(4, cache.path(), &cc, &["--kernels", "3"]), T);
    common::assert_all_ok(&out, 4, 6);
    assert_eq!(compiles(&log), 3, "warm rerun must not compile");
    // The directory is private to the user.
    use std::os::unix::fs::PermissionsExt;
    let sub = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

#[test]
fn two_jobs_started_together_on_a_cold_directory_compile_once() {
    let cache = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = logging_cc(tools.path());
    let a = selftest(4, cache.path(), &cc, &["--kernels", "4"]);
    let b = selftest(4, cache.path(), &cc, &["--kernels", "4"]);
    let ja = std::thread::spawn(move || common::run(a, T));
    let jb = std::thread::spawn(move || common::run(b, T));
    let (oa, ob) = (ja.join().unwrap(), jb.join().unwrap());
    common::assert_all_ok(&oa, 4, 8);
    common::assert_all_ok(&ob, 4, 8);
    assert_eq!(
        compiles(&log),
        4,
        "the lock + re-check must prevent a second compile"
    );
}

#[test]
fn a_syntax_error_fails_every_rank_with_the_compiler_message() {
    let cache = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = logging_cc(tools.path());
    let out = common::run(
        selftest(4, cache.path(), &cc, &["--kernels", "2", "--bad"]),
        Duration::from_secs(60),
    );
    assert!(!out.success(), "must exit non-zero\n{}", out.stderr);
    assert!(
        out.stderr.contains("expected expression"),
        "compiler message missing\n{}",
        out.stderr
    );
    for r in 0..4 {
        assert!(
            out.stderr.contains(&format!(
                "op2: rank {r}: error: compiling kernel `scale1` failed"
            )),
            "rank {r}\n{}",
            out.stderr
        );
    }
    assert_eq!(
        compiles(&log),
        2,
        "the bad kernel is compiled once, by rank 0"
    );
    let kept: Vec<_> = std::fs::read_dir(cache.path().join("failed"))
        .unwrap()
        .collect();
    assert_eq!(
        kept.len(),
        2,
        "source and log of the failed compile are kept"
    );
    assert!(
        out.stderr
            .contains(&cache.path().join("failed").display().to_string()),
        "{}",
        out.stderr
    );
}

#[test]
fn corrupt_or_truncated_entries_are_detected_and_rebuilt() {
    let cache = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = logging_cc(tools.path());
    common::assert_all_ok(
        &common::run(selftest(4, cache.path(), &cc, &["--kernels", "2"]), T),
        4,
        4,
    );
    let sos: Vec<PathBuf> = common::walk(cache.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "so"))
        .collect();
    assert_eq!(sos.len(), 2);
    // One flipped in the middle (same size), one truncated.
    let mut bytes = std::fs::read(&sos[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&sos[0], &bytes).unwrap();
    let b1 = std::fs::read(&sos[1]).unwrap();
    std::fs::write(&sos[1], &b1[..b1.len() / 3]).unwrap();
    let out = common::run(selftest(4, cache.path(), &cc, &["--kernels", "2"]), T);
    common::assert_all_ok(&out, 4, 4);
    assert!(out.stderr.contains("corrupt cache entry"), "{}", out.stderr);
    assert_eq!(compiles(&log), 4, "both damaged entries rebuilt once each");
    assert_eq!(
        std::fs::read_dir(cache.path().join("corrupt"))
            .unwrap()
            .count(),
        4,
        "damaged .so and .meta moved aside"
    );
}

#[test]
fn ranks_running_different_loops_get_an_error_not_a_deadlock() {
    let cache = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, _log) = logging_cc(tools.path());
    let out = common::run(
        selftest(4, cache.path(), &cc, &["--kernels", "1", "--diverge"]),
        Duration::from_secs(60),
    );
    assert!(!out.success());
    assert!(out.stderr.contains("ranks disagree"), "{}", out.stderr);
    assert!(
        out.stderr.contains("rank 1: kernel `other`")
            && out.stderr.contains("rank 0: kernel `scale0`"),
        "{}",
        out.stderr
    );
}

