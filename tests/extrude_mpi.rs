//! Extruded meshes on a distributed mesh, on 1, 2 and 3 ranks and with 2 threads per rank:
//! `op2-extrude-check` extrudes a distributed triangle mesh into prisms and compares, on rank
//! 0, with a plain serial computation and with the same prisms built and distributed
//! unextruded: a field integrated layer by layer, INC through the prism map into vertex Dats,
//! every iteration region (the layer passed to the kernel), variable layers, and an extruded
//! Mat assembled by par_loop and multiplied (1e-12 relative).
mod common;
use std::time::Duration;

/// The values compared per run (`--n 8`, 5 layers): see the example's checks.
const VALUES: usize = 3350;

fn check(np: usize, threads: Option<&str>) {
    let cache = common::cache_dir();
    let mut cmd = common::mpiexec(np, "op2-extrude-check", &[], cache.path());
    if let Some(t) = threads {
        // Small blocks so that columns are coloured into many blocks per thread.
        cmd.env("OP2_THREADS", t).env("OP2_BLOCK_SIZE", "4");
    }
    let out = common::run(cmd, Duration::from_secs(240));
    out.assert_ok();
    common::assert_every_rank_checked(&out.stdout, np, VALUES);
}

#[test]
fn extruded_on_one_rank() {
    check(1, None);
}

#[test]
fn extruded_on_two_ranks() {
    check(2, None);
}

#[test]
fn extruded_on_three_ranks() {
    check(3, None);
}

#[test]
fn extruded_on_one_rank_two_threads() {
    check(1, Some("2"));
}

#[test]
fn extruded_on_three_ranks_two_threads() {
    check(3, Some("2"));
}

#[test]
fn a_perturbed_reference_fails() {
    // The comparison can fail: a reference integral off by one part in 1e9 is caught.
    let cache = common::cache_dir();
    let cmd = common::mpiexec(
        2,
        "op2-extrude-check",
        &["--layers", "4", "--wrong-reference"],
        cache.path(),
    );
    let out = common::run(cmd, Duration::from_secs(240));
    assert!(!out.success(), "{}", out.stdout);
    assert!(
        out.stderr.contains("check 0") || out.stdout.contains("check 0"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}
