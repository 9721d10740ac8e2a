//! Vector operations, Mat operations and CG on a distributed mesh, on 1, 2 and 3 ranks and
//! with 2 threads per rank: `op2-solver-check` runs copy/scale/axpy/axpby/pointwise ops, a
//! fused `dots` and `norm` on node Dats, assembles a stiffness + mass matrix and applies
//! `scale`, `axpy`, `add_diagonal(_dat)` and `zero_rows_columns` (with the right-hand side
//! fixed for Dirichlet values), solves with classic and single-reduction Jacobi CG, and
//! compares everything on rank 0 with a serial computation (dense Gaussian elimination for the
//! solution); a solve stopped by `max_it` and one on a negative definite matrix must return
//! typed errors; the same for a 2x2-block Mat with one component of boundary nodes
//! constrained, and `mult_transpose` and a BiCGStab solve of a non-symmetric matrix; every
//! preconditioner (Jacobi, block Jacobi, SSOR, ILU(0)) with CG on both matrices (ILU(0) and
//! SSOR in fewer iterations than Jacobi) and GMRES/BiCGStab with them on the non-symmetric
//! one, against dense elimination. On more than one rank it also asserts one allreduce for a fused `dots` of
//! three pairs and exactly 2 (classic) and 1 (single-reduction) allreduces per iteration (and at most 2 per Arnoldi step of GMRES with classical Gram-Schmidt: 1, or 2 when it
//! orthogonalizes twice).
mod common;
use std::time::Duration;

fn check(np: usize, threads: Option<&str>) {
    let cache = common::cache_dir();
    let mut cmd = common::mpiexec(np, "op2-solver-check", &[], cache.path());
    if let Some(t) = threads {
        cmd.env("OP2_THREADS", t);
    }
    let out = common::run(cmd, Duration::from_secs(300));
    out.assert_ok();
    let want = if np == 1 {
        "ok: 1 ranks".to_string()
    } else {
        format!("ok: {np} ranks, allreduces per dots 1 allreduces/iteration classic 2 single 1 gmres<=2")
    };
    assert!(
        out.stdout.contains(&want),
        "want {want:?} in\n{}",
        out.stdout
    );
}

#[test]
#[ignore = "slow: the two-rank test covers the same operations; scripts/test.sh runs it"]
fn solver_ops_on_one_rank() {
    check(1, None);
}

#[test]
fn solver_ops_on_two_ranks() {
    check(2, None);
}

#[test]
#[ignore = "slow: the two-rank test covers the same operations; scripts/test.sh runs it"]
fn solver_ops_on_three_ranks() {
    check(3, None);
}

#[test]
#[ignore = "slow: the two-rank test covers the same operations; scripts/test.sh runs it"]
fn solver_ops_on_two_ranks_with_two_threads() {
    check(2, Some("2"));
}
