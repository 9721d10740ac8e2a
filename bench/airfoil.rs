//! Airfoil figures in one run (`cargo bench --bench airfoil`), on OP2's standard mesh:
//! * seconds per iteration of op2's `airfoil` at 1 and 2 ranks, beside `bench/airfoil_ref.c`
//!   (the same five kernels over the same mesh arrays, no runtime) compiled with the same flags
//!   (`OP2_CFLAGS`, default `-O3`) and timed in the same run: the ratio is op2's overhead;
//! * the share of loop time spent in halo exchanges and reductions at 2 and 4 ranks
//!   (1.44M edges, 720k cells).
//! `AIRFOIL_BENCH_ITERS` (default 200) sets the iteration count of every run.
use std::process::Command;

#[path = "common/mod.rs"]
mod common;

fn main() {
    let iters: usize = std::env::var("AIRFOIL_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let cflags = std::env::var("OP2_CFLAGS").unwrap_or_else(|_| "-O3".into());
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("new_grid.dat");
    op2::mesh::naca0012(op2::mesh::STANDARD_I, op2::mesh::STANDARD_J)
        .unwrap()
        .write_op2(&grid)
        .unwrap();
    // Plain C reference, same flags.
    let exe = common::build_c_reference(dir.path(), &cflags);
    let c_per = common::run_c_reference(&exe, &grid, iters);
    println!("plain C reference ({cflags}): {c_per:.5} s/iteration (iteration loop only)");

    let cache = tempfile::tempdir().unwrap();
    let run = |np: usize| -> (f64, f64) {
        let out = Command::new("mpiexec")
            .args([
                "-n",
                &np.to_string(),
                env!("CARGO_BIN_EXE_airfoil"),
                "--mesh",
            ])
            .arg(&grid)
            .args(["--iters", &iters.to_string(), "--progress", "0"])
            .env("OP2_CACHE_DIR", cache.path())
            .env("OP2_CFLAGS", &cflags)
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{s}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = common::parse_airfoil(&s).expect("airfoil's timing lines");
        (r.per_iter, r.comm_share)
    };
    run(1); // warm the disk cache so that compile time is not in the figures
    for np in [1, 2, 4] {
        let (per, comm) = run(np);
        println!("op2 airfoil, {np} rank(s): {per:.5} s/iteration   ratio to plain C (1 core): {:.2}   halo exchange + reductions: {comm:.1}% of loop time", per / c_per);
    }
    println!(
        "({iters} iterations per run; this machine has {} cores, so 4 ranks are oversubscribed)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
}
