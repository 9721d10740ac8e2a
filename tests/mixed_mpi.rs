//! Mixed (2x2 block) Mats and MixedDats on a distributed mesh, on 1, 2 and 3 ranks and with 2
//! threads per rank: `op2-mixed-check` assembles a mixed-Poisson-like system (P1 scalar on
//! nodes x a dim-2 vector per cell) through `MixedMat::arg` and a MixedMap, a right-hand side
//! through a MixedDat argument, multiplies mixed vectors, gathers every block and vector to
//! rank 0 and compares them with a serial assembly of the whole mesh (exact structure, values
//! 1e-12 relative).
mod common;
use std::time::Duration;

/// Run the check on `np` ranks with `threads` threads each (small blocks, so the loops really
/// run coloured blocks on both threads); return each rank's count of extra columns of A01.
/// The gathered cache report (`OP2_CACHE_REPORT`) is checked too: every mixed object cache was
/// built once per rank, hit when built again, and is empty at finalize (freed with its owners).
fn check(np: usize, threads: usize) -> Vec<usize> {
    let cache = common::cache_dir();
    let report = cache.path().join("report.json");
    let mut cmd = common::mpiexec(np, "op2-mixed-check", &[], cache.path());
    cmd.env("OP2_THREADS", threads.to_string())
        .env("OP2_BLOCK_SIZE", "16")
        .env("OP2_CACHE_REPORT", &report);
    let out = common::run(cmd, Duration::from_secs(240));
    out.assert_ok();
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    for name in [
        "object:MixedSet",
        "object:MixedDataSet",
        "object:MixedMap",
        "object:MixedSparsity",
    ] {
        let c = &r["caches"][name];
        assert!(c["misses"]["min"].as_f64() >= Some(1.0), "{name}: {c}");
        assert!(c["hits"]["min"].as_f64() >= Some(1.0), "{name}: {c}");
        assert_eq!(
            c["entries"]["max"].as_f64().unwrap_or(0.0),
            0.0,
            "{name} leaked: {c}"
        );
    }
    // One mixed Sparsity per rank: built once, found again once.
    let sp = &r["caches"]["object:MixedSparsity"];
    assert_eq!(sp["misses"]["sum"].as_f64(), Some(np as f64), "{sp}");
    common::per_rank_count(&out.stdout, np, "ok: 7924 values checked", "A01: ")
}

#[test]
fn mixed_system_on_one_rank() {
    assert_eq!(check(1, 1), vec![0]);
}

#[test]
fn mixed_system_on_two_ranks() {
    // The node x cell block's merged rows reached columns the rank had never seen.
    assert!(check(2, 1).iter().all(|&e| e > 0));
}

#[test]
fn mixed_system_on_three_ranks() {
    assert!(check(3, 1).iter().all(|&e| e > 0));
}

#[test]
fn mixed_system_on_one_and_three_ranks_with_two_threads() {
    assert_eq!(check(1, 2), vec![0]);
    assert!(check(3, 2).iter().all(|&e| e > 0));
}
