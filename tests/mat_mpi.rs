//! Mats on a distributed mesh, on 1, 2, 3 and 4 ranks: `op2-mat-check` assembles four Mats
//! (2x2 blocks with two map pairs and a WRITE loop; a scalar WRITE into halo rows; a
//! rectangular nodes x cells matrix whose merged rows reach extra columns; a square matrix
//! through maps with negative entries, which are skipped, with every diagonal reserved, after
//! a refused Dat loop through such a map), gathers them to
//! rank 0 and compares them with a serial assembly (exact structure, values 1e-12 relative),
//! together with `mult` (before and after `x`'s halo goes stale), `diagonal` and every owned
//! row's diagonal/off-diagonal block counts.
mod common;
use std::time::Duration;

/// Run the check on `np` ranks; return each rank's count of extra columns of B.
fn check(np: usize) -> Vec<usize> {
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(np, "op2-mat-check", &[], cache.path()),
        Duration::from_secs(180),
    );
    out.assert_ok();
    common::per_rank_count(&out.stdout, np, "ok: 13968 values checked", "B: ")
}

#[test]
fn mats_on_one_rank() {
    assert_eq!(check(1), vec![0]);
}

#[test]
fn mats_on_two_ranks() {
    // Merged rows really reached columns the receiving rank had never seen.
    assert!(check(2).iter().all(|&e| e > 0));
}

#[test]
fn mats_on_three_ranks() {
    assert!(check(3).iter().all(|&e| e > 0));
}

#[test]
fn mats_on_four_ranks() {
    assert!(check(4).iter().all(|&e| e > 0));
}
