//! The PETSc bridge (feature `petsc`) against op2's own solvers on a distributed mesh.
//! Rank 0 builds a perturbed unit-square triangle mesh, `op2::distribute` spreads it, and every
//! rank runs:
//! * a P1 stiffness + mass matrix with Dirichlet rows and columns on the boundary
//!   (`zero_rows_columns`), solved by op2's classic CG + Jacobi and by PETSc's CG + Jacobi
//!   (`-ksp_type cg -pc_type jacobi -ksp_norm_type unpreconditioned`, the same stopping test):
//!   the solutions must agree to 1e-7 relative and the iteration counts to within 3;
//! * a 2x2-block version of the matrix: it must become MPIBAIJ and PETSc's solution must equal
//!   op2's;
//! * PETSc CG + GAMG on the scalar matrix: it must converge, to the same solution;
//! * a solve stopped by its iteration limit, and CG without preconditioner on a matrix with a
//!   NaN on its diagonal (PETSc: DIVERGED_NANORINF): both must be `Error::Solve` on every rank.
//!
//! Rank 0 prints `ok: R ranks op2_cg I petsc_cg J gamg G` on success. Options: `--n N`
//! (default 12).
use std::process::ExitCode;

use op2::{
    par_loop, Access, CgVariant, DType, Dat, DataSet, Error, GlobalMesh, Kernel, KrylovSolver, Mat,
    PetscKsp, PetscMat, Result, Sparsity,
};

#[path = "solver-check/element.rs"]
mod element;
use element::ELEMENT;

const RTOL: f64 = 1e-10;
const JACOBI: &str = "-ksp_type cg -pc_type jacobi -ksp_norm_type unpreconditioned";

fn arg(name: &str, default: usize) -> usize {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|s| s == name)
        .and_then(|i| a.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bad(detail: String) -> Error {
    Error::invalid("op2-petsc-check", detail)
}

/// Rank 0: `got` equals `want` to `tol` relative to `want`'s largest entry.
fn close(what: &str, got: &Option<Vec<f64>>, want: &Option<Vec<f64>>, tol: f64) -> Result<()> {
    let (Some(got), Some(want)) = (got, want) else {
        return Ok(());
    };
    let scale = want.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if (g - w).abs() > tol * scale || got.len() != want.len() {
            return Err(bad(format!("{what}[{i}] = {g:e}, op2 {w:e}")));
        }
    }
    Ok(())
}

/// An assembled Mat on `ds` from `kernel`, with Dirichlet rows and columns where `flags` is
/// non-zero (values `g`, right-hand side `b` fixed).
fn assemble(
    ds: &DataSet,
    kernel: &str,
    dm: &op2::DistributedMesh,
    coords: &Dat,
    fix: (&Dat, &Dat, &Dat),
) -> Result<Mat> {
    let (cells, c2n) = (dm.set("cells")?, dm.map("c2n")?);
    let sp = Sparsity::new(ds, ds, &[(c2n.clone(), c2n.clone())])?;
    let a = Mat::named(kernel, &sp, DType::F64)?;
    par_loop(
        &Kernel::new(kernel, ELEMENT)?,
        cells,
        &[
            a.arg(Access::Inc, (c2n, c2n)),
            coords.arg_vec(Access::Read, c2n),
        ],
    )?;
    let (flags, g, b) = fix;
    a.zero_rows_columns(&op2::nonzero_entries(flags), 1.0, Some((g, b)))?;
    Ok(a)
}

/// op2's classic CG + Jacobi and PETSc's with `options` on the same system: the two solutions
/// (gathered on rank 0) and iteration counts.
fn both(
    a: &Mat,
    b: &Dat,
    options: &str,
) -> Result<(Option<Vec<f64>>, Option<Vec<f64>>, usize, usize)> {
    let ds = a.sparsity().row_dataset();
    let (u1, u2) = (Dat::zeros(ds, DType::F64), Dat::zeros(ds, DType::F64));
    let info = KrylovSolver::cg()
        .rtol(RTOL)
        .variant(CgVariant::Classic)
        .solve(a, b, &u1)?;
    let pm = PetscMat::from_mat(a)?;
    let pinfo = PetscKsp::new()
        .rtol(RTOL)
        .options(options)
        .solve(&pm, b, &u2)?;
    Ok((
        u1.gather(0)?,
        u2.gather(0)?,
        info.iterations,
        pinfo.iterations,
    ))
}

fn check(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    let n = arg("--n", 12);
    let m = comm
        .is_root()
        .then(|| op2::mesh::meshgen::unit_square(n, 0.2))
        .transpose()?;
    let gm = m.as_ref().map(|m| {
        GlobalMesh::new()
            .add_set("nodes", m.nnodes())
            .add_set("cells", m.cells.len() / 3)
            .add_map("c2n", "cells", "nodes", 3, m.cells.clone())
            .coordinates("nodes", 2, m.coords.clone())
    });
    let dm = op2::distribute(comm, gm)?;
    let sc = |name: &str, dim: usize, f: &dyn Fn(&op2::mesh::meshgen::TriMesh) -> Vec<f64>| {
        dm.scatter_dat(name, "nodes", dim, m.as_ref().map(f))
    };
    let onb = |m: &op2::mesh::meshgen::TriMesh| {
        let mut f = vec![0.0; m.nnodes()];
        for &v in &m.boundary {
            f[v as usize] = 1.0;
        }
        f
    };
    let coords = sc("coords", 2, &|m| m.coords.clone())?;
    let flags = sc("onb", 1, &onb)?;
    let g = sc("g", 1, &|m| {
        (0..m.nnodes())
            .map(|k| m.coords[2 * k] + 2.0 * m.coords[2 * k + 1])
            .collect()
    })?;
    let b = sc("b", 1, &|m| {
        (0..m.nnodes())
            .map(|k| ((k % 7) as f64 - 3.0) * 0.1)
            .collect()
    })?;
    let nodes = dm.set("nodes")?;
    let (n1, n2) = (DataSet::new(nodes, 1)?, DataSet::new(nodes, 2)?);

    // Scalar: op2 CG + Jacobi against PETSc CG + Jacobi.
    let a = assemble(&n1, "stiff_mass", &dm, &coords, (&flags, &g, &b))?;
    let (want, got, it_op2, it_petsc) = both(&a, &b, JACOBI)?;
    close("PETSc CG+Jacobi solution", &got, &want, 1e-7)?;
    if it_op2.abs_diff(it_petsc) > 3 {
        return Err(bad(format!(
            "iterations: op2 CG {it_op2}, PETSc CG {it_petsc}"
        )));
    }

    // 2x2 blocks: MPIBAIJ.
    let flags2 = sc("onb2", 2, &|m| {
        onb(m).iter().flat_map(|&f| [f, 0.0]).collect()
    })?;
    let g2 = sc("g2", 2, &|m| {
        (0..m.nnodes())
            .flat_map(|k| [m.coords[2 * k], -m.coords[2 * k + 1]])
            .collect()
    })?;
    let b2 = sc("b2", 2, &|m| {
        (0..2 * m.nnodes())
            .map(|k| ((k % 5) as f64 - 2.0) * 0.1)
            .collect()
    })?;
    let a2 = assemble(&n2, "stiff_mass_blk", &dm, &coords, (&flags2, &g2, &b2))?;
    if !PetscMat::from_mat(&a2)?.is_blocked() {
        return Err(bad("the 2x2-block Mat did not become MPIBAIJ".into()));
    }
    let (want2, got2, _, _) = both(&a2, &b2, JACOBI)?;
    close("PETSc BAIJ CG+Jacobi solution", &got2, &want2, 1e-7)?;

    // GAMG converges to the same solution.
    let pm = PetscMat::from_mat(&a)?;
    let u = Dat::zeros(&n1, DType::F64);
    let gamg = PetscKsp::new()
        .rtol(RTOL)
        .options("-ksp_type cg -pc_type gamg -ksp_norm_type unpreconditioned")
        .solve(&pm, &b, &u)?;
    if gamg.pc_type != "gamg" {
        return Err(bad(format!("PC type {} after -pc_type gamg", gamg.pc_type)));
    }
    close("PETSc CG+GAMG solution", &u.gather(0)?, &want, 1e-7)?;

    // Non-convergence and divergence are typed errors on every rank.
    let stopped = PetscKsp::new()
        .options("-pc_type jacobi")
        .max_it(2)
        .solve(&pm, &b, &u);
    match stopped {
        Err(Error::Solve {
            breakdown: false,
            iterations: 2,
            ..
        }) => {}
        other => return Err(bad(format!("PETSc max_it 2 gave {other:?}"))),
    }
    // A NaN in the matrix: PETSc's CG sees it in p.Ap (DIVERGED_NANORINF on every rank).
    a.add_diagonal(f64::NAN)?;
    pm.copy_values(&a)?;
    let cg = PetscKsp::new().options("-ksp_type cg -pc_type none");
    match cg.solve(&pm, &b, &u) {
        Err(Error::Solve {
            breakdown: true,
            ref detail,
            ..
        }) if detail.contains("NANORINF") => {}
        other => return Err(bad(format!("PETSc CG on a matrix with NaN gave {other:?}"))),
    }
    if comm.is_root() {
        println!(
            "ok: {} ranks op2_cg {it_op2} petsc_cg {it_petsc} gamg {}",
            comm.size(),
            gamg.iterations
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    op2::run(check)
}
