//! op2-solver-check's solves with every preconditioner and with GMRES, the re-use of a kept
//! ILU(0) and a set-up failure on one rank (a module of the example, kept apart to keep its
//! file short).
use op2::{DType, Dat, KrylovSolver, Mat, Result};

use super::bad;

/// Solve with `solver`, requiring the relative residual `rtol` and one history entry and
/// allreduce count per iteration; returns the iterations, the steady allreduces per
/// iteration (the largest after the first, leaving out GMRES's restarts) and the gathered
/// solution.
fn solve_with(
    name: &str,
    solver: KrylovSolver,
    a: &Mat,
    b: &Dat,
) -> Result<(usize, u64, (String, Option<Vec<f64>>))> {
    let x = Dat::zeros(b.dataset(), DType::F64);
    let info = solver
        .rtol(1e-12)
        .solve(a, b, &x)
        .map_err(|e| bad(format!("{name}: {e}")))?;
    let n = info.iterations;
    if info.relative_residual() > 1e-12
        || info.residual_norms.len() != n + 1
        || info.allreduces.len() != n
    {
        return Err(bad(format!(
            "{name}: {n} iterations, history {:?}, allreduces {:?}",
            info.residual_norms, info.allreduces
        )));
    }
    let steady = info
        .allreduces
        .iter()
        .enumerate()
        .skip(1)
        .take(n.saturating_sub(2));
    let most = steady
        .filter(|(i, _)| (i + 1) % 30 != 0)
        .map(|(_, c)| *c)
        .max()
        .unwrap_or(0);
    Ok((n, most, (name.to_string(), x.gather::<f64>(0)?)))
}

/// Every preconditioner with CG on the SPD `a` and the block Mat `a2`, GMRES and BiCGStab
/// with them on the non-symmetric `c`; ILU(0) and SSOR must take fewer CG iterations than
/// Jacobi. Returns the solutions and GMRES's allreduces per Arnoldi step.
pub fn preconditioned(
    mats: [(&Mat, &Dat); 3],
) -> Result<([Vec<(String, Option<Vec<f64>>)>; 3], u64)> {
    use op2::{Orthogonalization as O, PcSide, Preconditioner as P};
    let pcs = [
        P::Jacobi,
        P::BlockJacobi,
        P::Ssor { omega: 1.0 },
        P::Ssor { omega: 1.4 },
        P::Ilu0,
    ];
    let mut out: [Vec<_>; 3] = Default::default();
    let mut its = Vec::new();
    for (k, (a, b)) in mats.iter().take(2).enumerate() {
        for pc in pcs {
            let (n, _, x) = solve_with(
                &format!("CG {pc:?}"),
                KrylovSolver::cg().preconditioner(pc),
                a,
                b,
            )?;
            its.push(n);
            out[k].push(x);
        }
    }
    if !(its[4] < its[0] && its[2] < its[0]) {
        return Err(bad(format!(
            "CG iterations with Jacobi, BlockJacobi, SSOR(1), SSOR(1.4), ILU(0): {:?}",
            &its[..5]
        )));
    }
    let (c, s) = mats[2];
    let g = KrylovSolver::gmres;
    let solvers = [
        ("GMRES right CGS ILU(0)", g().preconditioner(P::Ilu0)),
        (
            "GMRES left MGS SSOR",
            g().preconditioner(P::Ssor { omega: 1.0 })
                .side(PcSide::Left)
                .orthogonalization(O::Modified),
        ),
        (
            "GMRES(10) MGS ILU(0)",
            g().restart(10)
                .orthogonalization(O::Modified)
                .preconditioner(P::Ilu0),
        ),
        (
            "GMRES(10) left ILU(0)",
            g().restart(10).side(PcSide::Left).preconditioner(P::Ilu0),
        ),
        ("GMRES block Jacobi", g().preconditioner(P::BlockJacobi)),
        (
            "BiCGStab ILU(0)",
            KrylovSolver::bicgstab().preconditioner(P::Ilu0),
        ),
    ];
    for (name, solver) in solvers {
        out[2].push(solve_with(name, solver, c, s)?.2);
    }
    // Again, now that the loops of every Arnoldi step are compiled (the first solve also
    // agreed on those compiles): one reduction per step, two where it orthogonalized twice.
    let (_, per_it, _) = solve_with("GMRES again", g().preconditioner(P::Ilu0), c, s)?;
    kept_and_failed(c, s)?;
    Ok((out, per_it))
}

/// A solver's kept ILU(0) is made again when the matrix changes (the same iterations as a
/// fresh solver's), and a zero pivot on rank 0 alone is an error on every rank. Changes `c`.
fn kept_and_failed(c: &Mat, s: &Dat) -> Result<()> {
    let ilu = || KrylovSolver::gmres().preconditioner(op2::Preconditioner::Ilu0);
    let kept = ilu();
    solve_with("kept ILU(0)", kept.clone(), c, s)?;
    c.add_diagonal(0.5)?;
    let (n1, _, _) = solve_with("kept ILU(0), matrix changed", kept, c, s)?;
    let (n2, _, _) = solve_with("fresh ILU(0)", ilu(), c, s)?;
    if n1 != n2 {
        return Err(bad(format!("kept ILU(0): {n1} iterations, fresh: {n2}")));
    }
    let set = c.sparsity().row_dataset().set();
    let rows: Vec<usize> = if set.comm().is_root() && set.size() > 0 {
        vec![0]
    } else {
        vec![]
    };
    c.zero_rows(&rows, 0.0, None)?;
    let x = Dat::zeros(s.dataset(), DType::F64);
    match ilu().solve(c, s, &x) {
        Err(op2::Error::InvalidArgument { detail, .. })
            if detail.contains("ILU") || detail.contains("Ilu0") =>
        {
            Ok(())
        }
        other => Err(bad(format!(
            "ILU(0) of a matrix with a zero row on rank 0 gave {other:?}"
        ))),
    }
}
