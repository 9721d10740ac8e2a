//! A small SPMD program that exercises the generated-code caches under MPI: every rank runs the
//! same `--kernels N` distinct loops over its own set and checks the results against a plain
//! Rust reference. Used by the integration tests of the collective compile protocol.
//!
//! Options: `--kernels N` (default 3), `--bad` (one kernel has a C syntax error),
//! `--bad-signature` (one kernel takes `double **` where op2 passes `const double *`),
//! `--bad-name` (one kernel's code defines a function of another name), `--warn` (the first
//! kernel declares its READ argument without `const`: it compiles with a warning),
//! `--diverge` (rank 1 runs a different kernel: an SPMD violation), `--rank0-loop` (rank 0
//! alone runs a loop, then every rank enters a barrier: a hang for the watchdog), `--repeat R` (run the
//! loops R times; default 2), `--fail-rank R` (rank R returns an error of its own at the end),
//! `--pids` (print `rank R pid P` first, to attribute traced file operations to ranks),
//! `--mat` (instead: every rank assembles a P1 matrix on its own mesh, of a size depending on
//! its rank, through a Sparsity and a Mat, and checks it and `Mat::mult` against a dense
//! reference; the Mat tests run it under mpiexec).
use std::process::ExitCode;

use op2::{par_loop, Access, Dat, DataSet, Global, Kernel, Set};

fn arg_value(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Per-rank Sparsity + Mat assembly (sets created per rank with `Set::new`, no halos).
fn mat_check(rt: &op2::Runtime) -> op2::Result<()> {
    use op2::{DType, Map, Mat, Sparsity};
    let rank = rt.rank();
    let fail = |d: String| op2::Error::invalid("op2-selftest --mat", format!("rank {rank}: {d}"));
    let mesh = op2::mesh::meshgen::unit_square(6 + rank as usize, 0.2)?;
    let cells = Set::named("cells", mesh.ncells())?;
    let nodes = Set::named("nodes", mesh.nnodes())?;
    let c2n = Map::named("c2n", &cells, &nodes, 3, mesh.cells.clone())?;
    let ds = DataSet::new(&nodes, 1)?;
    let sp = Sparsity::new(&ds, &ds, &[(c2n.clone(), c2n.clone())])?;
    if !sp.ptr_eq(&Sparsity::new(&ds, &ds, &[(c2n.clone(), c2n.clone())])?) {
        return Err(fail(
            "the second Sparsity::new is not the cached object".into(),
        ));
    }
    let a = Mat::new(&sp, DType::F64)?;
    let coords = Dat::new(&DataSet::new(&nodes, 2)?, mesh.coords.clone())?;
    let k = Kernel::new(
        "mass_like",
        "void mass_like(double *A, const double *x) { for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) A[3 * i + j] = x[2 * i] + 2.0 * x[2 * j + 1]; }",
    )?;
    par_loop(
        &k,
        &cells,
        &[
            a.arg(Access::Inc, (&c2n, &c2n)),
            coords.arg_vec(Access::Read, &c2n),
        ],
    )?;
    let n = mesh.nnodes();
    let mut dense = vec![0.0; n * n];
    for c in mesh.cells.chunks_exact(3) {
        for &i in c {
            for &j in c {
                let (i, j) = (i as usize, j as usize);
                dense[i * n + j] += mesh.coords[2 * i] + 2.0 * mesh.coords[2 * j + 1];
            }
        }
    }
    if a.values()? != dense {
        return Err(fail(
            "assembled values differ from the dense reference".into(),
        ));
    }
    let xv: Vec<f64> = (0..n).map(|i| (i % 7) as f64 - 3.0).collect();
    let (x, y) = (Dat::new(&ds, xv.clone())?, Dat::zeros(&ds, DType::F64));
    a.mult(&x, &y)?;
    for (i, yi) in y.to_vec::<f64>()?.into_iter().enumerate() {
        let want: f64 = (0..n).map(|j| dense[i * n + j] * xv[j]).sum();
        if (yi - want).abs() > 1e-12 * (1.0 + want.abs()) {
            return Err(fail(format!("mult row {i}: {yi} != {want}")));
        }
    }
    // A collective over the per-rank results: the global number of non-zeros.
    let total = Global::new(vec![0.0f64])?;
    let one = Dat::new(&DataSet::new(&Set::new(1)?, 1)?, vec![sp.nnz() as f64])?;
    let count = Kernel::new(
        "count",
        "void count(const double *v, double *s) { s[0] += v[0]; }",
    )?;
    par_loop(
        &count,
        one.set(),
        &[one.arg(Access::Read), total.arg(Access::Inc)],
    )?;
    println!(
        "rank {rank}: mat ok, {n} rows, nnz {}, global nnz {}",
        sp.nnz(),
        total.value::<f64>()?[0]
    );
    Ok(())
}

fn body(rt: &op2::Runtime) -> op2::Result<()> {
    let flags: Vec<String> = std::env::args().collect();
    let has = |f: &str| flags.iter().any(|a| a == f);
    if has("--mat") {
        return mat_check(rt);
    }
    let rank = rt.rank();
    if has("--rank0-loop") {
        // An SPMD violation the key check cannot see: rank 0 alone runs a loop (its collective
        // compile), the others go straight to a barrier. OP2_HANG_TIMEOUT turns it into an error.
        if rank == 0 {
            let s = Set::new(10)?;
            let x = Dat::new(&DataSet::new(&s, 1)?, vec![1.0f64; 10])?;
            let g = Global::new(vec![0.0f64])?;
            let k = Kernel::new(
                "lonely",
                "void lonely(const double *x, double *s) { s[0] += x[0]; }",
            )?;
            par_loop(&k, &s, &[x.arg(Access::Read), g.arg(Access::Inc)])?;
        }
        rt.comm().barrier()?;
        println!("rank {rank}: passed the barrier");
        return Ok(());
    }
    if has("--pids") {
        println!("rank {rank} pid {}", std::process::id());
    }
    let nk = arg_value("--kernels", 3);
    let repeat = arg_value("--repeat", 2);
    let n = 1000 + 17 * rank as usize;
    let s = Set::named("cells", n)?;
    let x = Dat::new(
        &DataSet::new(&s, 1)?,
        (0..n).map(|i| i as f64).collect::<Vec<_>>(),
    )?;
    let mut sum_local = 0.0;
    let t0 = std::time::Instant::now();
    for r in 0..repeat {
        for k in 0..nk {
            let mut code = format!(
                "void scale{k}(const double *x, double *s) {{ s[0] += {}.0 * x[0]; }}",
                k + 1
            );
            if has("--bad") && k == nk - 1 {
                code = format!("void scale{k}(const double *x, double *s) {{ s[0] += x[0] +; }}");
            }
            if has("--bad-signature") && k == nk - 1 {
                code = format!("void scale{k}(double **x, double *s) {{ s[0] += x[0][0]; }}");
            }
            if has("--warn") && k == 0 {
                code = code.replacen("const double *x", "double *x", 1);
            }
            if has("--bad-name") && k == nk - 1 {
                code = format!("void scale{k}_(const double *x, double *s) {{ s[0] += x[0]; }}");
            }
            let mut name = format!("scale{k}");
            if has("--diverge") && rank == 1 && k == 0 {
                name = "other".into();
                code = "void other(const double *x, double *s) { s[0] -= x[0]; }".into();
            }
            let kernel = Kernel::new(&name, &code)?;
            let g = Global::new(vec![0.0f64])?;
            par_loop(&kernel, &s, &[x.arg(Access::Read), g.arg(Access::Inc)])?;
            let got = g.value::<f64>()?[0];
            // Reference: sum over all ranks of (k+1) * sum(0..n_r).
            let want: f64 = (0..rt.size())
                .map(|q| {
                    let m = 1000 + 17 * q as usize;
                    (k + 1) as f64 * (m * (m - 1) / 2) as f64
                })
                .sum();
            if got != want {
                return Err(op2::Error::invalid(
                    "op2-selftest",
                    format!("rank {rank}: kernel {k} repeat {r}: got {got}, want {want}"),
                ));
            }
            sum_local += got;
            if r == 0 && k == 0 && rank == 0 {
                println!(
                    "first loop result after {:.6} s",
                    t0.elapsed().as_secs_f64()
                );
            }
        }
    }
    if arg_value("--fail-rank", usize::MAX) == rank as usize {
        return Err(op2::Error::invalid(
            "op2-selftest",
            format!("rank {rank} fails alone (--fail-rank)"),
        ));
    }
    println!(
        "rank {rank}: ok {} loops, checksum {sum_local}",
        nk * repeat
    );
    Ok(())
}

fn main() -> ExitCode {
    op2::run(body)
}
