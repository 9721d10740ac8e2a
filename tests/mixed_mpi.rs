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
fn check(np: usize, threads: usize) -> Vec<usize> {
    let cache = common::cache_dir();
    let mut cmd = common::mpiexec(np, "op2-mixed-check", &[], cache.path());
    cmd.env("OP2_THREADS", threads.to_string())
        .env("OP2_BLOCK_SIZE", "16");
    let out = common::run(cmd, Duration::from_secs(240));
    out.assert_ok();
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
