//! Subsets, DatViews and data slices under real `mpiexec` (issue #23): `op2-subset-check` on
//! 1, 2 and 3 ranks, with 1 and with 2 threads per rank (small blocks, so the loops over
//! subsets are cut into coloured blocks), each compared in the program with a serial
//! computation over the whole mesh.
mod common;
use std::time::Duration;

fn check(np: usize, threads: usize) {
    let cache = common::cache_dir();
    let mut cmd = common::mpiexec(np, "op2-subset-check", &[], cache.path());
    cmd.env("OP2_THREADS", threads.to_string())
        .env("OP2_BLOCK_SIZE", "16");
    let out = common::run(cmd, Duration::from_secs(240));
    out.assert_ok();
    for r in 0..np {
        let line = format!("rank {r}: {threads} thread(s) per rank");
        assert!(out.stdout.contains(&line), "{}", out.stdout);
        // 4 Dats (u, w: 1271 nodes; v: 2 x 1271; s: 1200 cells) and 2 Globals.
        let ok = format!("rank {r} of {np}: ok: 6286 values checked");
        assert!(out.stdout.contains(&ok), "rank {r}\n{}", out.stdout);
    }
}

#[test]
fn subsets_views_and_slices_on_one_rank() {
    check(1, 1);
}
#[test]
fn subsets_views_and_slices_on_two_ranks() {
    check(2, 1);
}
#[test]
fn subsets_views_and_slices_on_three_ranks() {
    check(3, 1);
}
#[test]
fn subsets_views_and_slices_on_one_rank_two_threads() {
    check(1, 2);
}
#[test]
fn subsets_views_and_slices_on_two_ranks_two_threads() {
    check(2, 2);
}
#[test]
fn subsets_views_and_slices_on_three_ranks_two_threads() {
    check(3, 2);
}
