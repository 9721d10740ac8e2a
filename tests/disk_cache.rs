//! The collective, file-locked disk cache under real MPI (mpiexec -n 4), with the real compiler
//! wrapped by a logging script so that every compilation is counted.
mod common;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(180);

use common::{compile_count as compiles, logging_cc};

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
fn a_kernel_not_matching_its_arguments_fails_every_rank_naming_the_argument() {
    for (flag, want) in [
        (
            "--bad-signature",
            "argument 0: op2 passes `const double *` (1 value(s) of a direct READ Dat argument), but the kernel declares `double **x`",
        ),
        (
            "--bad-name",
            "the code defines no C function named `scale1` (the name given to Kernel::new(name, code)); it defines: scale1_",
        ),
    ] {
        let cache = common::cache_dir();
        let tools = tempfile::tempdir().unwrap();
        let (cc, log) = logging_cc(tools.path());
        let out = common::run(
            selftest(3, cache.path(), &cc, &["--kernels", "2", flag]),
            Duration::from_secs(60),
        );
        assert!(!out.success(), "{flag}: must exit non-zero\n{}", out.stderr);
        assert!(out.stderr.contains(want), "{flag}: diagnosis missing\n{}", out.stderr);
        assert!(!out.stderr.contains("symbol lookup error"), "{}", out.stderr);
        for r in 0..3 {
            assert!(
                out.stderr.contains(&format!(
                    "op2: rank {r}: error: kernel `scale1` does not match its par_loop arguments"
                )),
                "{flag}: rank {r}\n{}",
                out.stderr
            );
        }
        assert_eq!(compiles(&log), 2, "{flag}: compiled once, by rank 0");
        // Nothing unusable is cached: only the good kernel has an entry.
        let metas = common::files_under(cache.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "meta"))
            .count();
        assert_eq!(metas, 1, "{flag}");
    }
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
    let sos: Vec<PathBuf> = common::files_under(cache.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "so"))
        .collect();
    assert_eq!(sos.len(), 2);
    common::flip_and_truncate(&sos);
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

/// Lines of `text` that start with `prefix`.
fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn warnings_are_printed_at_the_compile_and_recalled_in_one_line_on_each_load_from_the_cache() {
    let cache = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = logging_cc(tools.path());
    let args = ["--kernels", "2", "--warn", "--repeat", "1"];
    // Cold: rank 0 compiles and prints the compiler's warnings in full, once.
    let out = common::run(selftest(2, cache.path(), &cc, &args), T);
    common::assert_all_ok(&out, 2, 2);
    let full = lines_with(&out.stderr, "op2: compiler warnings for kernel `scale0`:");
    assert_eq!(full.len(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("discards 'const'"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("was compiled with warnings"),
        "{}",
        out.stderr
    );
    // Warm, in another job: nothing compiled, one line per load naming the kept log.
    let out = common::run(selftest(2, cache.path(), &cc, &args), T);
    common::assert_all_ok(&out, 2, 2);
    assert_eq!(compiles(&log), 2, "the second job loads from the cache");
    assert!(
        !out.stderr.contains("compiler warnings for"),
        "{}",
        out.stderr
    );
    let recall = lines_with(
        &out.stderr,
        "op2: kernel `scale0` was compiled with warnings",
    );
    assert_eq!(recall.len(), 1, "one line, by rank 0\n{}", out.stderr);
    let path = recall[0]
        .split("see ")
        .nth(1)
        .and_then(|p| p.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no path in {:?}", recall[0]));
    assert!(path.ends_with(".log"), "{path}");
    let kept = std::fs::read_to_string(path).unwrap();
    assert!(
        kept.starts_with("kernel scale0\n") && kept.contains("discards 'const'"),
        "{kept}"
    );
    // The kernel without warnings is loaded silently.
    assert!(
        !out.stderr.contains("`scale1` was compiled with warnings"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_slow_compile_prints_progress_once_from_rank_0_unless_op2_progress_is_0() {
    let tools = tempfile::tempdir().unwrap();
    // A compiler taking 1.5 s per compilation (`--version` stays quick).
    let slow = tools.path().join("cc-slow");
    std::fs::write(
        &slow,
        "#!/bin/sh\ncase \"$*\" in *-o*) sleep 1.5 ;; esac\nexec cc \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cache = common::cache_dir();
    let args = ["--kernels", "2", "--repeat", "1"];
    let out = common::run(selftest(2, cache.path(), &slow, &args), T);
    common::assert_all_ok(&out, 2, 2);
    // One "compiling" line while each compile runs and one with its time when it ends: two
    // kernels, two ranks, and only rank 0 (the one compiling) prints.
    let started = lines_with(&out.stderr, "op2: compiling kernel `");
    let ended = lines_with(&out.stderr, "op2: compiled kernel `");
    assert_eq!((started.len(), ended.len()), (2, 2), "{}", out.stderr);
    assert!(
        started[1].starts_with(
            "op2: compiling kernel `scale1`... (kernel 2 of this run; 1 compiled so far"
        ),
        "{}",
        started[1]
    );
    assert!(
        ended[1].starts_with("op2: compiled kernel `scale1` in ")
            && ended[1].contains("(2 of this run's 2 kernels compiled so far"),
        "{}",
        ended[1]
    );
    // Silenced: the same cold start prints none of them.
    let cache = common::cache_dir();
    let mut c = selftest(2, cache.path(), &slow, &["--kernels", "1", "--repeat", "1"]);
    c.env("OP2_PROGRESS", "0");
    let out = common::run(c, T);
    common::assert_all_ok(&out, 2, 1);
    assert!(!out.stderr.contains("op2: compil"), "{}", out.stderr);
}
