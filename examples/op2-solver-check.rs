//! Vector operations, Mat operations and CG on a distributed mesh equal a serial computation.
//! Rank 0 builds a perturbed unit-square triangle mesh (`meshgen::unit_square(n, 0.2)`),
//! `op2::distribute` spreads it, and every rank runs:
//! * vector operations on 2-component node Dats (copy, scale, axpy, axpby, pointwise multiply
//!   and divide, a fused `dots` of three pairs, `norm`), counting the allreduces of `dots`;
//! * a P1 stiffness + mass matrix assembled twice (A and B), then `A.scale(2)`,
//!   `A.axpy(-1, B)`, `add_diagonal(0.5)`, `add_diagonal_dat(s)` and `zero_rows_columns` on the
//!   boundary rows with the right-hand side fixed for Dirichlet values `g`; `mult` after an
//!   `axpy` (whose halo copies must then be refreshed);
//! * CG (classic and single-reduction, Jacobi) on the result, counting allreduces per
//!   iteration; a non-converging solve (max_it 2) and a breakdown (of -A) must be typed errors;
//! * a 2x2-block Mat (the element matrix times an SPD 2x2 block): `add_diagonal`,
//!   `zero_rows_columns` on component 0 of boundary nodes (a block half constrained), CG;
//! * `mult_transpose` of a non-symmetric matrix (sums for halo and extra columns move to their
//!   owners) and a BiCGStab solve with it;
//! * CG with every preconditioner (Jacobi, block Jacobi, SSOR, ILU(0)) on the scalar and the
//!   block Mat (ILU(0) and SSOR must take fewer iterations than Jacobi), and GMRES (right and
//!   left, classical and modified Gram-Schmidt, restarted) and BiCGStab with them on the
//!   non-symmetric one, counting GMRES's allreduces per Arnoldi step.
//!
//! Everything is gathered to rank 0 and compared with plain serial Rust (values 1e-12
//! relative, solution against dense Gaussian elimination 1e-8). Rank 0 prints
//! `ok: ... allreduces/iteration classic C single S gmres<=2` on success; any mismatch is an error.
//! Options: `--n N` (default 12).
use std::process::ExitCode;

use op2::{
    par_loop, Access, CgVariant, Comm, DType, Dat, DataSet, Error, GlobalMesh, Kernel,
    KrylovSolver, Mat, Result, Sparsity,
};

#[path = "solver-check/element.rs"]
mod element;
use element::ELEMENT;

#[path = "solver-check/preconditioned.rs"]
mod preconditioned;
use preconditioned::preconditioned;

const BLK: [f64; 4] = [2.0, 0.5, 0.5, 1.0];

/// The same element matrix in Rust.
fn element(x: &[f64; 6]) -> [f64; 9] {
    let det = (x[2] - x[0]) * (x[5] - x[1]) - (x[4] - x[0]) * (x[3] - x[1]);
    let b = [x[3] - x[5], x[5] - x[1], x[1] - x[3]];
    let c = [x[4] - x[2], x[0] - x[4], x[2] - x[0]];
    let area = 0.5 * det.abs();
    let mut a = [0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            a[3 * i + j] = (b[i] * b[j] + c[i] * c[j]) / (4.0 * area)
                + area / 12.0 * if i == j { 2.0 } else { 1.0 };
        }
    }
    a
}

fn arg(name: &str, default: usize) -> usize {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|s| s == name)
        .and_then(|i| a.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bad(detail: String) -> Error {
    Error::invalid("op2-solver-check", detail)
}

fn close(what: &str, got: &[f64], want: &[f64], tol: f64) -> Result<()> {
    if got.len() != want.len() {
        return Err(bad(format!(
            "{what}: {} values, want {}",
            got.len(),
            want.len()
        )));
    }
    let scale = want.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if (g - w).abs() > tol * scale {
            return Err(bad(format!("{what}[{i}] = {g:e}, serial {w:e}")));
        }
    }
    Ok(())
}

/// Global inputs (rank 0).
struct Serial {
    nn: usize,
    x: Vec<f64>,
    y: Vec<f64>,
    s: Vec<f64>,
    g: Vec<f64>,
    b: Vec<f64>,
    onb: Vec<f64>,
    coords: Vec<f64>,
    cells: Vec<i32>,
}

fn inputs(n: usize) -> Result<Serial> {
    let m = op2::mesh::meshgen::unit_square(n, 0.2)?;
    let nn = m.nnodes();
    let mut onb = vec![0.0; nn];
    for &v in &m.boundary {
        onb[v as usize] = 1.0;
    }
    Ok(Serial {
        nn,
        x: (0..2 * nn).map(|k| (k as f64 * 0.37).sin()).collect(),
        y: (0..2 * nn).map(|k| 2.0 + (k as f64 * 0.11).cos()).collect(),
        s: (0..nn).map(|k| 1.0 + (k % 3) as f64).collect(),
        g: (0..nn)
            .map(|k| m.coords[2 * k] + 2.0 * m.coords[2 * k + 1])
            .collect(),
        b: (0..nn).map(|k| ((k % 7) as f64 - 3.0) * 0.1).collect(),
        onb,
        coords: m.coords.clone(),
        cells: m.cells.clone(),
    })
}

/// Everything rank 0 compares, from the distributed run.
struct Got {
    z: Vec<f64>,
    w: Vec<f64>,
    q: Vec<f64>,
    dots: Vec<f64>,
    norm: f64,
    dots_allreduces: u64,
    ay: Vec<f64>,
    a: op2::GatheredMat,
    b: Vec<f64>,
    x_classic: Vec<f64>,
    x_single: Vec<f64>,
    per_it: (f64, f64),
    blk: op2::GatheredMat,
    blk_b: Vec<f64>,
    blk_x: Vec<f64>,
    cty: Vec<f64>,
    cx: Vec<f64>,
    /// Solutions with other solvers and preconditioners: of A, of the block Mat, of C.
    more: [Vec<(String, Vec<f64>)>; 3],
    gmres_per_it: f64,
}

fn check(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    let n = arg("--n", 12);
    let ser = if comm.is_root() {
        Some(inputs(n)?)
    } else {
        None
    };
    let gm = ser.as_ref().map(|m| {
        GlobalMesh::new()
            .add_set("nodes", m.nn)
            .add_set("cells", m.cells.len() / 3)
            .add_map("c2n", "cells", "nodes", 3, m.cells.clone())
            .coordinates("nodes", 2, m.coords.clone())
    });
    let dm = op2::distribute(comm, gm)?;
    let (nodes, cells, c2n) = (dm.set("nodes")?, dm.set("cells")?, dm.map("c2n")?);
    let sc = |name: &str, dim: usize, f: fn(&Serial) -> Vec<f64>| {
        dm.scatter_dat(name, "nodes", dim, ser.as_ref().map(f))
    };
    let (x, y) = (sc("x", 2, |m| m.x.clone())?, sc("y", 2, |m| m.y.clone())?);
    let (s, g) = (sc("s", 1, |m| m.s.clone())?, sc("g", 1, |m| m.g.clone())?);
    let (b, onb) = (
        sc("b", 1, |m| m.b.clone())?,
        sc("onb", 1, |m| m.onb.clone())?,
    );
    let coords = sc("coords", 2, |m| m.coords.clone())?;
    let (n1, n2) = (DataSet::new(nodes, 1)?, DataSet::new(nodes, 2)?);

    // Vector operations.
    let (z, w, q) = (
        Dat::zeros(&n2, DType::F64),
        Dat::zeros(&n2, DType::F64),
        Dat::zeros(&n2, DType::F64),
    );
    op2::copy(&x, &z)?;
    op2::scale(&z, 2.0)?;
    op2::axpy(0.5, &x, &z)?;
    op2::axpby(1.5, &y, -0.25, &z)?;
    op2::pointwise_mult(&x, &y, &w)?;
    op2::pointwise_divide(&w, &y, &q)?;
    // The first call compiles (collectively); count the second.
    op2::dots(&[(&x, &y), (&z, &z), (&x, &w)])?;
    let before = Comm::allreduce_count();
    let dots = op2::dots(&[(&x, &y), (&z, &z), (&x, &w)])?;
    let dots_allreduces = Comm::allreduce_count() - before;
    let norm = op2::norm(&z)?;

    // Mat operations.
    let sp = Sparsity::new(&n1, &n1, &[(c2n.clone(), c2n.clone())])?;
    let (a, bm) = (
        Mat::named("A", &sp, DType::F64)?,
        Mat::named("B", &sp, DType::F64)?,
    );
    let k = Kernel::new("stiff_mass", ELEMENT)?;
    for m in [&a, &bm] {
        par_loop(
            &k,
            cells,
            &[
                m.arg(Access::Inc, (c2n, c2n)),
                coords.arg_vec(Access::Read, c2n),
            ],
        )?;
    }
    a.scale(2.0)?;
    a.axpy(-1.0, &bm)?;
    a.add_diagonal(0.5)?;
    a.add_diagonal_dat(&s)?;
    // s's halo copies go stale with axpy: mult must refresh them.
    let (s2, ay) = (Dat::zeros(&n1, DType::F64), Dat::zeros(&n1, DType::F64));
    a.mult(&s, &s2)?; // makes s's halo valid
    op2::axpy(1.0, &g, &s)?;
    a.mult(&s, &ay)?;
    a.zero_rows_columns(&op2::nonzero_entries(&onb), 1.0, Some((&g, &b)))?;

    // CG, both variants, from x = 0.
    let mut xs = Vec::new();
    let mut per_it = Vec::new();
    for v in [CgVariant::Classic, CgVariant::SingleReduction] {
        let u = Dat::zeros(&n1, DType::F64);
        let c0 = Comm::allreduce_count();
        let info = KrylovSolver::cg()
            .rtol(1e-12)
            .variant(v)
            .solve(&a, &b, &u)?;
        // Every iteration's allreduces after the first (which builds the loops' plans for the
        // solve's new work Dats).
        let _ = c0;
        let steady = &info.allreduces[1.min(info.allreduces.len())..];
        let most = steady.iter().max().copied().unwrap_or(0);
        let least = steady.iter().min().copied().unwrap_or(0);
        if most != least || info.allreduces.len() != info.iterations {
            return Err(bad(format!(
                "{v:?}: allreduces per iteration {:?}",
                info.allreduces
            )));
        }
        per_it.push(most as f64);
        if info.residual_norms.len() != info.iterations + 1 || info.relative_residual() > 1e-12 {
            return Err(bad(format!("{v:?}: history {:?}", info.residual_norms)));
        }
        xs.push(u.gather::<f64>(0)?);
    }
    // Errors, on every rank alike.
    let u = Dat::zeros(&n1, DType::F64);
    match KrylovSolver::cg().max_it(2).solve(&a, &b, &u) {
        Err(Error::Solve {
            breakdown: false,
            iterations: 2,
            ..
        }) => {}
        other => return Err(bad(format!("max_it 2 gave {other:?}"))),
    }
    a.scale(-1.0)?;
    let none = KrylovSolver::cg().preconditioner(op2::Preconditioner::None);
    match none.solve(&a, &b, &u) {
        Err(Error::Solve {
            breakdown: true, ..
        }) => {}
        other => return Err(bad(format!("CG on -A gave {other:?}"))),
    }
    a.scale(-1.0)?;

    // A 2x2-block Mat: add_diagonal, zero_rows_columns on component 0 of boundary nodes, CG.
    let sp2 = Sparsity::new(&n2, &n2, &[(c2n.clone(), c2n.clone())])?;
    let a2 = Mat::named("A2", &sp2, DType::F64)?;
    let k2 = Kernel::new("stiff_mass_blk", ELEMENT)?;
    par_loop(
        &k2,
        cells,
        &[
            a2.arg(Access::Inc, (c2n, c2n)),
            coords.arg_vec(Access::Read, c2n),
        ],
    )?;
    a2.add_diagonal(0.5)?;
    let flag2 = sc("flag2", 2, |m| {
        m.onb.iter().flat_map(|&f| [f, 0.0]).collect()
    })?;
    let g2 = sc("g2", 2, |m| m.g.iter().flat_map(|&v| [v, -v]).collect())?;
    let b2 = sc("b2", 2, |m| {
        m.b.iter().flat_map(|&v| [v, 0.5 * v]).collect()
    })?;
    a2.zero_rows_columns(&op2::nonzero_entries(&flag2), 1.0, Some((&g2, &b2)))?;
    let u2 = Dat::zeros(&n2, DType::F64);
    KrylovSolver::cg().rtol(1e-12).solve(&a2, &b2, &u2)?;
    // y = C^T s for a non-symmetric C (contributions to halo and extra columns move).
    let cm = Mat::named("C", &sp, DType::F64)?;
    let k3 = Kernel::new("stiff_mass_ns", ELEMENT)?;
    par_loop(
        &k3,
        cells,
        &[
            cm.arg(Access::Inc, (c2n, c2n)),
            coords.arg_vec(Access::Read, c2n),
        ],
    )?;
    let cty = Dat::zeros(&n1, DType::F64);
    cm.mult_transpose(&s, &cty)?;
    let cty = cty.gather::<f64>(0)?;
    let cx = Dat::zeros(&n1, DType::F64);
    let info = KrylovSolver::bicgstab().rtol(1e-12).solve(&cm, &s, &cx)?;
    if info.relative_residual() > 1e-12 || info.residual_norms.len() != info.iterations + 1 {
        return Err(bad(format!("BiCGStab: history {:?}", info.residual_norms)));
    }
    let cx = cx.gather::<f64>(0)?;
    let (more, gmres_per_it) = preconditioned([(&a, &b), (&a2, &b2), (&cm, &s)])?;
    let blk = (a2.gather(0)?, b2.gather::<f64>(0)?, u2.gather::<f64>(0)?);

    let got = (
        z.gather::<f64>(0)?,
        w.gather::<f64>(0)?,
        q.gather::<f64>(0)?,
        ay.gather::<f64>(0)?,
        a.gather(0)?,
        b.gather::<f64>(0)?,
    );
    let (Some(ser), (Some(z), Some(w), Some(q), Some(ay), Some(am), Some(bv))) = (ser, got) else {
        return Ok(());
    };
    let got = Got {
        z,
        w,
        q,
        dots,
        norm,
        dots_allreduces,
        ay,
        a: am,
        b: bv,
        x_classic: xs[0].clone().unwrap(),
        x_single: xs[1].clone().unwrap(),
        per_it: (per_it[0], per_it[1]),
        blk: blk.0.unwrap(),
        blk_b: blk.1.unwrap(),
        blk_x: blk.2.unwrap(),
        cty: cty.unwrap(),
        cx: cx.unwrap(),
        more: more.map(|v| v.into_iter().map(|(n, x)| (n, x.unwrap())).collect()),
        gmres_per_it: gmres_per_it as f64,
    };
    compare(&ser, &got, comm.size())?;
    println!(
        "ok: {} ranks, allreduces per dots {} allreduces/iteration classic {} single {} gmres<=2",
        comm.size(),
        got.dots_allreduces,
        got.per_it.0,
        got.per_it.1
    );
    Ok(())
}

fn compare(m: &Serial, got: &Got, size: i32) -> Result<()> {
    let nn = m.nn;
    let z: Vec<f64> = (0..2 * nn)
        .map(|i| 1.5 * m.y[i] - 0.25 * (2.0 * m.x[i] + 0.5 * m.x[i]))
        .collect();
    let w: Vec<f64> = (0..2 * nn).map(|i| m.x[i] * m.y[i]).collect();
    let q: Vec<f64> = (0..2 * nn).map(|i| w[i] / m.y[i]).collect();
    close("z", &got.z, &z, 1e-14)?;
    close("w", &got.w, &w, 1e-14)?;
    close("q", &got.q, &q, 1e-14)?;
    let d = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
    close(
        "dots",
        &got.dots,
        &[d(&m.x, &m.y), d(&z, &z), d(&m.x, &w)],
        1e-12,
    )?;
    close("norm", &[got.norm], &[d(&z, &z).sqrt()], 1e-12)?;
    if size > 1 && got.dots_allreduces != 1 {
        return Err(bad(format!(
            "dots of 3 pairs took {} allreduces",
            got.dots_allreduces
        )));
    }
    // The serial matrix: 2 A - A + 0.5 I + diag(s).
    let mut a = vec![0.0; nn * nn];
    for c in m.cells.chunks(3) {
        let mut x = [0.0; 6];
        for (i, &v) in c.iter().enumerate() {
            x[2 * i] = m.coords[2 * v as usize];
            x[2 * i + 1] = m.coords[2 * v as usize + 1];
        }
        let e = element(&x);
        for i in 0..3 {
            for j in 0..3 {
                a[c[i] as usize * nn + c[j] as usize] += e[3 * i + j];
            }
        }
    }
    for i in 0..nn {
        a[i * nn + i] += 0.5 + m.s[i];
    }
    let sg: Vec<f64> = (0..nn).map(|i| m.s[i] + m.g[i]).collect();
    let ay: Vec<f64> = (0..nn).map(|i| d(&a[i * nn..(i + 1) * nn], &sg)).collect();
    close("A (s + g)", &got.ay, &ay, 1e-12)?;
    // Dirichlet rows and columns, and the fixed right-hand side.
    let mut b = m.b.clone();
    for i in 0..nn {
        for j in 0..nn {
            if m.onb[j] != 0.0 && m.onb[i] == 0.0 {
                b[i] -= a[i * nn + j] * m.g[j];
            }
        }
    }
    for i in 0..nn {
        for j in 0..nn {
            if m.onb[i] != 0.0 || m.onb[j] != 0.0 {
                a[i * nn + j] = if i == j && m.onb[i] != 0.0 { 1.0 } else { 0.0 };
            }
        }
        if m.onb[i] != 0.0 {
            b[i] = m.g[i];
        }
    }
    let mut ga = vec![0.0; nn * nn];
    for i in 0..nn {
        for k in got.a.rowptr[i]..got.a.rowptr[i + 1] {
            ga[i * nn + got.a.colidx[k] as usize] = got.a.values[k];
        }
    }
    close("A after zero_rows_columns", &ga, &a, 1e-12)?;
    close("b after zero_rows_columns", &got.b, &b, 1e-12)?;
    compare_blocks(m, got)?;
    let mut c = vec![0.0; nn * nn];
    for cell in m.cells.chunks(3) {
        let mut x = [0.0; 6];
        for (i, &v) in cell.iter().enumerate() {
            x[2 * i] = m.coords[2 * v as usize];
            x[2 * i + 1] = m.coords[2 * v as usize + 1];
        }
        let e = element(&x);
        for i in 0..3 {
            for j in 0..3 {
                let f = 1.0 + i as f64 + 0.5 * (j * j) as f64;
                c[cell[i] as usize * nn + cell[j] as usize] += e[3 * i + j] * f;
            }
        }
    }
    let cty: Vec<f64> = (0..nn)
        .map(|j| (0..nn).map(|i| c[i * nn + j] * sg[i]).sum())
        .collect();
    close("C^T (s + g)", &got.cty, &cty, 1e-12)?;
    let cx = dense_solve(c, sg.clone(), nn);
    close("BiCGStab: C x = s + g", &got.cx, &cx, 1e-8)?;
    let u = dense_solve(a, b, nn);
    close("CG classic", &got.x_classic, &u, 1e-8)?;
    close("CG single reduction", &got.x_single, &u, 1e-8)?;
    for (want, more) in [(&u, &got.more[0]), (&cx, &got.more[2])] {
        for (name, x) in more {
            close(name, x, want, 1e-8)?;
        }
    }
    if size > 1 && (got.per_it != (2.0, 1.0) || got.gmres_per_it > 2.0) {
        return Err(bad(format!(
            "allreduces per iteration {:?}, want (2, 1)",
            got.per_it
        )));
    }
    Ok(())
}

/// The 2x2-block Mat: `kron(A0, BLK) + 0.5 I` (A0 the stiffness + mass matrix, from `a`'s
/// unconstrained rows), component 0 of boundary nodes constrained.
fn compare_blocks(m: &Serial, got: &Got) -> Result<()> {
    let nn = m.nn;
    let n = 2 * nn;
    let mut a0 = vec![0.0; nn * nn];
    for c in m.cells.chunks(3) {
        let mut x = [0.0; 6];
        for (i, &v) in c.iter().enumerate() {
            x[2 * i] = m.coords[2 * v as usize];
            x[2 * i + 1] = m.coords[2 * v as usize + 1];
        }
        let e = element(&x);
        for i in 0..3 {
            for j in 0..3 {
                a0[c[i] as usize * nn + c[j] as usize] += e[3 * i + j];
            }
        }
    }
    let mut a = vec![0.0; n * n];
    for i in 0..nn {
        for j in 0..nn {
            for r in 0..2 {
                for c in 0..2 {
                    a[(2 * i + r) * n + 2 * j + c] = a0[i * nn + j] * BLK[2 * r + c];
                }
            }
        }
    }
    for i in 0..n {
        a[i * n + i] += 0.5;
    }
    let on: Vec<bool> = (0..n).map(|i| i % 2 == 0 && m.onb[i / 2] != 0.0).collect();
    let g: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 0 { m.g[i / 2] } else { -m.g[i / 2] })
        .collect();
    let mut b: Vec<f64> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                m.b[i / 2]
            } else {
                0.5 * m.b[i / 2]
            }
        })
        .collect();
    for i in (0..n).filter(|&i| !on[i]) {
        for j in (0..n).filter(|&j| on[j]) {
            b[i] -= a[i * n + j] * g[j];
        }
    }
    for i in 0..n {
        for j in 0..n {
            if on[i] || on[j] {
                a[i * n + j] = if i == j { 1.0 } else { 0.0 };
            }
        }
        if on[i] {
            b[i] = g[i];
        }
    }
    let mut ga = vec![0.0; n * n];
    let gm = &got.blk;
    for i in 0..nn {
        for k in gm.rowptr[i]..gm.rowptr[i + 1] {
            let j = gm.colidx[k] as usize;
            for r in 0..2 {
                for c in 0..2 {
                    ga[(2 * i + r) * n + 2 * j + c] = gm.values[4 * k + 2 * r + c];
                }
            }
        }
    }
    close("block A after zero_rows_columns", &ga, &a, 1e-12)?;
    close("block b after zero_rows_columns", &got.blk_b, &b, 1e-12)?;
    let u = dense_solve(a, b, n);
    for (name, x) in &got.more[1] {
        close(&format!("block {name}"), x, &u, 1e-8)?;
    }
    close("block CG", &got.blk_x, &u, 1e-8)
}

/// Gaussian elimination with partial pivoting.
fn dense_solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Vec<f64> {
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| a[i * n + c].abs().total_cmp(&a[j * n + c].abs()))
            .unwrap();
        for k in 0..n {
            a.swap(c * n + k, p * n + k);
        }
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[r * n + c] / a[c * n + c];
            for k in c..n {
                a[r * n + k] -= f * a[c * n + k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r * n + k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r * n + r];
    }
    x
}

fn main() -> ExitCode {
    op2::run(check)
}
