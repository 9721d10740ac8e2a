//! The PETSc bridge (feature `petsc`; run by `scripts/test.sh` when OP2_TEST_PETSC=1 or CI is
//! set): `op2-petsc-check` compares PETSc's CG + Jacobi with op2's on the same distributed Mat
//! (solution to 1e-7, iterations within 3), a 2x2-block Mat through MPIBAIJ, GAMG, and typed
//! errors for non-convergence and divergence, at 1, 2 and 3 ranks and with threads; `poisson
//! --petsc` keeps the O(h²) convergence and op2's CG's errors at 1, 2 and 3 ranks, with
//! threads, and PETSc options from PETSC_OPTIONS and `--petsc-options` reach the solver.
mod common;

use std::time::Duration;

fn petsc_check(np: usize, threads: Option<&str>) {
    let cache = common::cache_dir();
    let mut cmd = common::mpiexec(np, "op2-petsc-check", &[], cache.path());
    if let Some(t) = threads {
        cmd.env("OP2_THREADS", t);
    }
    cmd.env_remove("PETSC_OPTIONS");
    let out = common::run(cmd, Duration::from_secs(300));
    out.assert_ok();
    let want = format!("ok: {np} ranks");
    assert!(
        out.stdout.contains(&want),
        "want {want:?} in\n{}",
        out.stdout
    );
}

#[test]
fn petsc_cg_jacobi_equals_op2_cg_and_gamg_converges_on_one_rank() {
    petsc_check(1, None);
}

#[test]
fn petsc_cg_jacobi_equals_op2_cg_and_gamg_converges_on_two_ranks() {
    petsc_check(2, None);
}

#[test]
fn petsc_cg_jacobi_equals_op2_cg_and_gamg_converges_on_three_ranks_with_threads() {
    petsc_check(3, Some("2"));
}

/// One poisson run: (L2 error, iterations, stdout).
fn poisson(
    np: usize,
    n: usize,
    extra: &[&str],
    env: &[(&str, &str)],
    threads: Option<&str>,
) -> (f64, usize, String) {
    let cache = common::cache_dir();
    let mut args = vec![
        "--n".to_string(),
        n.to_string(),
        "--solution".into(),
        "exp".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let mut cmd = common::mpiexec(np, "poisson", &args, cache.path());
    cmd.env_remove("PETSC_OPTIONS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(t) = threads {
        cmd.env("OP2_THREADS", t);
    }
    let out = common::run(cmd, Duration::from_secs(240));
    out.assert_ok();
    let field = |name: &str| common::field(&out.stdout, name);
    (
        field("l2_error").parse().unwrap(),
        field("cg_iterations").parse().unwrap(),
        out.stdout.clone(),
    )
}

/// `poisson --petsc` at n = 16, 32, 64 on 1, 2 and 3 ranks (3 with 2 threads each): L2 error
/// ratios near 4, and each error equal to op2's CG's on 1 rank (1e-8 relative).
#[test]
fn poisson_with_petsc_is_second_order_on_1_2_3_ranks_and_equals_op2_cg() {
    let op2: Vec<f64> = [16, 32, 64]
        .iter()
        .map(|&n| poisson(1, n, &[], &[], None).0)
        .collect();
    for (np, threads) in [(1, None), (2, None), (3, Some("2"))] {
        let runs: Vec<(f64, usize, String)> = [16, 32, 64]
            .iter()
            .map(|&n| poisson(np, n, &["--petsc"], &[], threads))
            .collect();
        assert!(
            runs[0].2.contains("petsc ksp cg pc jacobi"),
            "{}",
            runs[0].2
        );
        for w in runs.windows(2) {
            let ratio = w[0].0 / w[1].0;
            assert!(
                ratio > 3.5 && ratio < 4.5,
                "{np} ranks: PETSc error ratio {ratio}"
            );
        }
        for (r, e1) in runs.iter().zip(&op2) {
            let rel = (r.0 - e1).abs() / e1;
            assert!(
                rel < 1e-8,
                "{np} ranks: PETSc L2 error {} vs op2 CG {e1} ({rel:.1e})",
                r.0
            );
        }
    }
}

/// PETSC_OPTIONS reaches the solver, `--petsc-options` overrides it, and GAMG needs fewer
/// iterations than Jacobi.
#[test]
fn petsc_options_from_the_environment_and_the_command_line() {
    let (_, jacobi, _) = poisson(2, 64, &["--petsc"], &[], None);
    let (_, gamg, out) = poisson(
        2,
        64,
        &["--petsc"],
        &[("PETSC_OPTIONS", "-pc_type gamg")],
        None,
    );
    assert!(out.contains("pc gamg"), "{out}");
    assert!(gamg < jacobi, "GAMG {gamg} iterations, Jacobi {jacobi}");
    let (_, _, out) = poisson(
        2,
        16,
        &["--petsc", "--petsc-options", "-pc_type none"],
        &[("PETSC_OPTIONS", "-pc_type gamg")],
        None,
    );
    assert!(out.contains("pc none"), "{out}");
}

/// A PETSc solve that stops at its iteration limit fails every rank with the solver error.
#[test]
fn an_unconverged_petsc_solve_is_an_error_on_every_rank() {
    let cache = common::cache_dir();
    let cmd = common::mpiexec(
        2,
        "poisson",
        &["--n", "32", "--petsc", "--max-it", "3"],
        cache.path(),
    );
    let out = common::run(cmd, Duration::from_secs(240));
    assert!(!out.success(), "{}", out.stdout);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("DIVERGED_ITS"), "{text}");
    assert!(!out.stdout.contains("l2_error"), "{text}");
}
