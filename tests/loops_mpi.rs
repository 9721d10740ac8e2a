//! Every par_loop kind on a distributed mesh of a few thousand elements, on 1, 2, 3 and 4
//! ranks, compared with the serial loops (exact for integers, 1e-12 relative for floats); and
//! with 1, 2 and 4 threads per rank (small blocks, so loops are cut into many coloured blocks),
//! alone and on 2 ranks.
mod common;
use std::time::Duration;

fn check(np: usize, extra: &[&str]) {
    check_threads(np, extra, None)
}

fn check_threads(np: usize, extra: &[&str], threads: Option<usize>) {
    let cache = common::cache_dir();
    let mut cmd = common::mpiexec(np, "op2-loops-check", extra, cache.path());
    match threads {
        Some(t) => {
            cmd.env("OP2_THREADS", t.to_string())
                .env("OP2_BLOCK_SIZE", "64");
        }
        None => {
            cmd.env_remove("OP2_THREADS").env_remove("OP2_BLOCK_SIZE");
        }
    }
    let out = common::run(cmd, Duration::from_secs(240));
    out.assert_ok();
    for r in 0..np {
        if let Some(t) = threads {
            assert!(
                out.stdout
                    .contains(&format!("rank {r}: {t} thread(s) per rank")),
                "{}",
                out.stdout
            );
        }
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

#[test]
fn loops_with_1_2_and_4_threads_on_one_rank() {
    for t in [1, 2, 4] {
        check_threads(1, &[], Some(t));
    }
}
#[test]
fn loops_with_2_and_4_threads_on_two_ranks() {
    for t in [2, 4] {
        check_threads(2, &[], Some(t));
    }
}

/// The minimal cases of issue #20 (indirect WRITE/RW through one map entry, unsigned Global
/// MIN/MAX, kernels named like the wrapper's locals) on 1, 2 and 3 ranks.
#[test]
fn regressions_of_single_entry_writes_unsigned_reductions_and_wrapper_names() {
    for np in [1, 2, 3] {
        let cache = common::cache_dir();
        let out = common::run(
            common::mpiexec(np, "op2-regress-check", &[], cache.path()),
            Duration::from_secs(180),
        );
        out.assert_ok();
        for r in 0..np {
            assert!(
                out.stdout
                    .contains(&format!("rank {r} of {np}: ok: regressions checked")),
                "{}",
                out.stdout
            );
        }
    }
}
