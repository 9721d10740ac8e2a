//! MIN/MAX on Dats through maps and directly equal the serial loop on a distributed graph, on
//! 1 and 4 ranks, and with 2 threads per rank (coloured blocks) on 2 ranks
//! (`examples/op2-minmax-check.rs`).
mod common;
use std::time::Duration;

fn check(np: usize, threads: usize) {
    let cache = common::cache_dir();
    let mut cmd = common::mpiexec(np, "op2-minmax-check", &[], cache.path());
    cmd.env("OP2_THREADS", threads.to_string())
        .env("OP2_BLOCK_SIZE", "64");
    let out = common::run(cmd, Duration::from_secs(240));
    out.assert_ok();
    for r in 0..np {
        assert!(
            out.stdout
                .contains(&format!("rank {r} of {np}: ok: 3500 values checked")),
            "rank {r}\n{}",
            out.stdout
        );
    }
}

#[test]
fn min_max_dats_on_one_rank() {
    check(1, 1);
}

#[test]
fn min_max_dats_on_four_ranks() {
    check(4, 1);
}

#[test]
fn min_max_dats_with_two_threads_on_two_ranks() {
    check(2, 2);
}
