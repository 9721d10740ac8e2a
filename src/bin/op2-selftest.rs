//! A small SPMD program that exercises the generated-code caches under MPI: every rank runs the
//! same `--kernels N` distinct loops over its own set and checks the results against a plain
//! Rust reference. Used by the integration tests of the collective compile protocol.
//!
//! Options: `--kernels N` (default 3), `--bad` (one kernel has a C syntax error),
//! `--diverge` (rank 1 runs a different kernel: an SPMD violation), `--repeat R` (run the
//! loops R times; default 2), `--fail-rank R` (rank R returns an error of its own at the end).
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

fn body(rt: &op2::Runtime) -> op2::Result<()> {
    let flags: Vec<String> = std::env::args().collect();
    let has = |f: &str| flags.iter().any(|a| a == f);
    let rank = rt.rank();
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
