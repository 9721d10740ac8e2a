//! Generated-code caches, figures printed in one run (`cargo bench --bench compile_cache`):
//! (a) compiler runs per distinct kernel at 1, 2 and 4 ranks (cold cache, logging `OP2_CC`);
//! (b) time to the first loop result with a cold and a warm disk cache (4 ranks);
//! (c) par_loop dispatch on a class-cache hit versus calling the same compiled function pointer
//!     directly (one process, a 1-element set, so the loop body is negligible).
use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;

fn selftest(np: usize, cache: &Path, cc: &Path, kernels: usize) -> (String, f64) {
    let t0 = Instant::now();
    let out = Command::new("mpiexec")
        .args([
            "-n",
            &np.to_string(),
            env!("CARGO_BIN_EXE_op2-selftest"),
            "--kernels",
            &kernels.to_string(),
            "--repeat",
            "1",
        ])
        .env("OP2_CACHE_DIR", cache)
        .env("OP2_CC", cc)
        .output()
        .expect("mpiexec");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        t0.elapsed().as_secs_f64(),
    )
}

fn main() {
    let tools = tempfile::tempdir().unwrap();
    let log = tools.path().join("cc.log");
    let cc = tools.path().join("cc-logged");
    std::fs::write(
        &cc,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec cc \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let count = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split_whitespace().any(|w| w == "-o"))
            .count()
    };

    println!("(a) compiler runs per distinct kernel, cold cache, 5 kernels");
    for np in [1, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let before = count();
        selftest(np, dir.path(), &cc, 5);
        println!(
            "    {np} rank(s): {:.2} compiles per kernel",
            (count() - before) as f64 / 5.0
        );
    }

    println!("(b) time to first loop result, 4 ranks (median of 3)");
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        cold.push(common::first_result(&selftest(4, dir.path(), &cc, 1).0));
        warm.push(common::first_result(&selftest(4, dir.path(), &cc, 1).0));
    }
    cold.sort_by(f64::total_cmp);
    warm.sort_by(f64::total_cmp);
    println!(
        "    cold disk cache: {:.1} ms   warm disk cache: {:.2} ms   ratio {:.0}x",
        cold[1] * 1e3,
        warm[1] * 1e3,
        cold[1] / warm[1]
    );

    println!("(c) dispatch overhead, class-cache hit vs direct call of the same function pointer");
    let dir = tempfile::tempdir().unwrap();
    let (per_loop, direct) = common::dispatch_overhead(dir.path(), 200_000, 1)[0];
    println!(
        "    par_loop on a hit: {:.0} ns   direct call: {:.1} ns   overhead: {:.0} ns per loop",
        per_loop * 1e9,
        direct * 1e9,
        (per_loop - direct) * 1e9
    );
}
