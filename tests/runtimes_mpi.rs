//! Several runtimes in one MPI job (`examples/op2-runtimes-check.rs`, self-checking): on 4
//! ranks the world splits into two halves, each half's runtime runs its own loops on its
//! sub-communicator with its own class cache and a report of its own ranks; beside the world
//! runtime a duplicate's and a raw communicator's runtimes keep separate caches, and a loop
//! mixing runtimes fails on every rank with a message (the timeout turns a hang into a failure).
mod common;
use std::time::Duration;

fn check(np: usize) {
    let cache = common::cache_dir();
    let reports = tempfile::tempdir().unwrap();
    let dir = reports.path().to_str().unwrap();
    let cmd = common::mpiexec(
        np,
        "op2-runtimes-check",
        &["--report-dir", dir],
        cache.path(),
    );
    let out = common::run(cmd, Duration::from_secs(240));
    out.assert_ok();
    for line in [
        "ok: halves ran their own loops, caches and reports",
        "ok: coexisting runtimes kept separate caches",
        "the objects of one loop must share a runtime",
    ] {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
    for r in 0..np {
        let line = format!("rank {r} of {np}: runtimes ok");
        assert!(out.stdout.contains(&line), "{line}\n{}", out.stdout);
    }
    // Every half wrote its report, counting its own ranks only.
    for (c, ranks) in [(0, np.div_ceil(2)), (1, np / 2)] {
        let path = reports.path().join(format!("half{c}.json"));
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(report["ranks"], ranks, "{}", path.display());
        assert_eq!(report["per_rank"].as_array().unwrap().len(), ranks);
    }
}

#[test]
fn split_halves_and_coexisting_runtimes_on_four_ranks() {
    check(4);
}

#[test]
fn split_halves_and_coexisting_runtimes_on_three_ranks() {
    check(3);
}
