//! Runtime lifecycle under real MPI: every rank initialises, works and finalises.
mod common;
use std::time::Duration;

#[test]
fn four_ranks_initialise_work_and_finalise() {
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(4, "hello", &[], cache.path()),
        Duration::from_secs(120),
    );
    out.assert_ok();
    // Global sum of 0..2n-1 over n = 1000..1003.
    let want: f64 = (0..4)
        .map(|r| {
            let n = 2 * (1000 + r) as u64;
            (n * (n - 1) / 2) as f64
        })
        .sum();
    for r in 0..4 {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("rank {r} of 4: initialised")))
            .unwrap_or_else(|| panic!("rank {r} did not report\n{}", out.stdout));
        assert!(
            line.contains(&format!("{} cells (global 4006)", 1000 + r)),
            "{line}"
        );
        assert!(line.contains(&format!("global sum {want}")), "{line}");
        assert!(
            out.stdout
                .lines()
                .any(|l| l == format!("rank {r}: finalised")),
            "rank {r} did not finalise\n{}",
            out.stdout
        );
    }
}

#[test]
fn without_a_launcher_the_program_is_a_one_rank_world() {
    let cache = common::cache_dir();
    let mut cmd = std::process::Command::new(common::bin("hello"));
    cmd.env("OP2_CACHE_DIR", cache.path());
    let out = common::run(cmd, Duration::from_secs(60));
    out.assert_ok();
    assert!(
        out.stdout
            .contains("rank 0 of 1: initialised; 1000 cells (global 1000)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("rank 0: finalised"));
}

#[test]
fn a_bad_configuration_is_a_clear_error_not_a_hang() {
    let cache = common::cache_dir();
    let mut cmd = common::mpiexec(4, "hello", &[], cache.path());
    cmd.env("OP2_MEMORY_CACHE_MAX_ENTRIES", "many");
    let out = common::run(cmd, Duration::from_secs(60));
    assert!(!out.success());
    assert!(
        out.stderr.contains("OP2_MEMORY_CACHE_MAX_ENTRIES"),
        "{}",
        out.stderr
    );
}
