//! Every par_loop kind on a distributed mesh of a few thousand elements, on 1, 2, 3 and 4
//! ranks, compared with the serial loops (exact for integers, 1e-12 relative for floats).
mod common;
use std::time::Duration;

fn check(np: usize, extra: &[&str]) {
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(np, "op2-loops-check", extra, cache.path()),
        Duration::from_secs(240),
    );
    out.assert_ok();
    for r in 0..np {
        assert!(
            out.stdout
                .contains(&format!("rank {r} of {np}: ok: 27448 values checked")),
            "rank {r}\n{}",
            out.stdout
        );
    }
}

#[test]
fn loops_on_one_rank() {
    check(1, &[]);
}
#[test]
fn loops_on_two_ranks() {
    check(2, &[]);
}
#[test]
fn loops_on_three_ranks() {
    check(3, &[]);
}
#[test]
fn loops_on_four_ranks() {
    check(4, &[]);
}
