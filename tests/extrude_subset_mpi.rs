//! Extruded loops over a subset of the columns (`ExtrudedSet::subset`), on 1 and 4 ranks and
//! with 2 threads per rank: `op2-xsubset-check` runs every iteration region over a
//! pseudo-random subset of a distributed mesh's columns (constant and variable layers; INC
//! through the prism map, WRITE to a layer Dat, INC of a Global; halo columns in the subset
//! are not visited) and compares exactly, on rank 0, with a plain serial computation.
mod common;
use std::time::Duration;

/// The values compared per run (`--n 6`, 5 layers): see the example's checks.
const VALUES: usize = 3694;

fn check(np: usize, threads: bool) {
    let cache = common::cache_dir();
    let mut cmd = common::mpiexec(np, "op2-xsubset-check", &[], cache.path());
    if threads {
        // Small blocks so that the chosen columns are coloured into many blocks per thread.
        cmd.env("OP2_THREADS", "2").env("OP2_BLOCK_SIZE", "4");
    }
    let out = common::run(cmd, Duration::from_secs(240));
    out.assert_ok();
    common::assert_every_rank_checked(&out.stdout, np, VALUES);
}

#[test]
fn extruded_subset_on_one_rank() {
    check(1, false);
}

#[test]
fn extruded_subset_on_four_ranks() {
    check(4, false);
}

#[test]
fn extruded_subset_on_four_ranks_two_threads() {
    check(4, true);
}

#[test]
fn a_perturbed_reference_fails() {
    // The exact comparison can fail: one vertex value off by 0.25 is caught.
    let cache = common::cache_dir();
    let cmd = common::mpiexec(2, "op2-xsubset-check", &["--wrong-reference"], cache.path());
    let out = common::run(cmd, Duration::from_secs(240));
    assert!(!out.success(), "{}", out.stdout);
    assert!(
        out.stderr.contains("check 0") || out.stdout.contains("check 0"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}
