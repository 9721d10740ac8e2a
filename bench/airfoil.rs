//! Airfoil figures in one run (`cargo bench --bench airfoil`), on OP2's standard mesh:
//! * a STREAM-like triad (`a = b + s * c`, 3 x 160 MB) on 1 and 2 threads: the memory
//!   bandwidth the loops are measured against;
//! * seconds per iteration of op2's `airfoil` at 1 rank x 1 thread, 1 rank x 2 threads and
//!   2 ranks x 1 thread, beside `bench/airfoil_ref.c` (the same five kernels over the same mesh
//!   arrays, no runtime) compiled with the same flags (`OP2_CFLAGS`, default `-O3`); each run
//!   repeated `AIRFOIL_BENCH_REPEAT` times (default 3), the minimum reported (the machine may be
//!   shared: the minimum is the least disturbed figure);
//! * per loop, the bytes it must move (each Dat and map entry touched once) over its time:
//!   achieved GB/s, beside the triad;
//! * the share of loop time spent in halo exchanges and reductions at 2 ranks;
//! * the cost of building a loop's plan and block colouring (first call on a fresh set) against
//!   one execution of the loop (later calls), for an edge loop incrementing cells.
//!
//! `AIRFOIL_BENCH_ITERS` (default 200) sets the iteration count of every run.
//! `AIRFOIL_BENCH_BASELINE=/path/to/airfoil` (another build of op2's `airfoil`, e.g. of the
//! previous commit) runs it interleaved with this build, run for run with its own disk cache,
//! so a change is measured before/after in one session under the same load; the figures of
//! both are printed side by side, and `bench/airfoil_loops_ab.c` runs the two builds' generated
//! loop libraries call by call in one process (`AIRFOIL_BENCH_AB_ITERS` iterations, default
//! 40). The load average is printed at the start and the end.
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;

use op2::{par_loop, Access, Dat, DataSet, Kernel, Map, Set};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Best GB/s of a triad over `n` doubles per array on `threads` threads (24 bytes/element).
fn triad(n: usize, threads: usize) -> f64 {
    let mut a = vec![0.0f64; n];
    let b = vec![1.0f64; n];
    let c = vec![2.0f64; n];
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t0 = Instant::now();
        let chunk = n.div_ceil(threads);
        std::thread::scope(|s| {
            for ((a, b), c) in a
                .chunks_mut(chunk)
                .zip(b.chunks(chunk))
                .zip(c.chunks(chunk))
            {
                s.spawn(move || {
                    for ((x, y), z) in a.iter_mut().zip(b).zip(c) {
                        *x = y + 3.0 * z;
                    }
                });
            }
        });
        best = best.min(t0.elapsed().as_secs_f64());
    }
    assert!(a.iter().all(|&x| x == 7.0));
    24.0 * n as f64 / best / 1e9
}

/// One airfoil run's figures: s/iteration, comm share, per-loop (calls, max seconds).
struct Run {
    per: f64,
    comm: f64,
    loops: BTreeMap<String, (u64, f64)>,
}

fn airfoil(
    exe: &std::path::Path,
    grid: &std::path::Path,
    cache: &std::path::Path,
    cflags: &str,
    iters: usize,
    np: usize,
    threads: usize,
) -> Run {
    let out = Command::new("mpiexec")
        .args(["-n", &np.to_string()])
        .arg(exe)
        .arg("--mesh")
        .arg(grid)
        .args(["--iters", &iters.to_string(), "--progress", "0"])
        .env("OP2_CACHE_DIR", cache)
        .env("OP2_CFLAGS", cflags)
        .env("OP2_THREADS", threads.to_string())
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let per = s
        .lines()
        .find_map(|l| {
            l.split(" s per iteration")
                .next()
                .filter(|_| l.contains("s per iteration"))
                .and_then(|p| p.rsplit(", ").next())
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .expect("timing line");
    let comm = s
        .lines()
        .find_map(|l| l.trim().strip_prefix("halo exchange + reductions: "))
        .and_then(|v| v.split('%').next())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("comm line");
    // Per-loop lines: `  name  calls  max-s  share%`.
    let mut loops = BTreeMap::new();
    for l in s.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() == 4 && w[3].ends_with('%') {
            if let (Ok(calls), Ok(secs)) = (w[1].parse::<u64>(), w[2].parse::<f64>()) {
                loops.insert(w[0].to_string(), (calls, secs));
            }
        }
    }
    Run { per, comm, loops }
}

/// Bytes each Airfoil loop must move per call: every Dat entry and map entry it touches,
/// once (reads once, read-writes twice), doubles of 8 bytes, map entries of 4.
fn loop_bytes(m: &op2::mesh::AirfoilMesh) -> BTreeMap<&'static str, f64> {
    let (nn, nc, ne, nb) = (
        m.nnode as f64,
        m.ncell as f64,
        m.nedge as f64,
        m.nbedge as f64,
    );
    let d = 8.0;
    BTreeMap::from([
        // q read, qold written.
        ("save_soln", nc * 8.0 * d),
        // x through pcell (each node once), pcell, q read, adt written.
        ("adt_calc", nn * 2.0 * d + nc * 4.0 * 4.0 + nc * 5.0 * d),
        // x through pedge, q and adt through pecell (each cell once), res incremented (read +
        // write), the two maps.
        (
            "res_calc",
            nn * 2.0 * d + nc * 5.0 * d + nc * 8.0 * d + ne * 4.0 * 4.0,
        ),
        // Boundary edges: maps, bound, x, q, adt, res per edge.
        (
            "bres_calc",
            nb * (3.0 * 4.0 + 4.0 + 4.0 * d + 5.0 * d + 8.0 * d),
        ),
        // qold, adt read, q written, res read and zeroed.
        ("update", nc * (4.0 + 1.0 + 4.0 + 8.0) * d),
    ])
}

/// Seconds of the first call of an edge-to-cell INC loop on fresh sets (plan + colouring built)
/// and the best of later calls (execution only), with `threads` threads per rank.
fn colouring_cost(m: &op2::mesh::AirfoilMesh) -> (f64, f64, f64) {
    let k = Kernel::new(
        "flux",
        "void flux(const double *q1, const double *q2, double *r1, double *r2) {\n\
         for (int i = 0; i < 4; i++) { double f = 0.5 * (q2[i] - q1[i]); r1[i] += f; r2[i] -= f; } }",
    )
    .unwrap();
    let setup = || {
        let cells = Set::named("cells", m.ncell).unwrap();
        let edges = Set::named("edges", m.nedge).unwrap();
        let pecell = Map::new(&edges, &cells, 2, m.ecell.clone()).unwrap();
        let ds = DataSet::new(&cells, 4).unwrap();
        let q = Dat::new(&ds, (0..4 * m.ncell).map(|i| i as f64).collect()).unwrap();
        let res = Dat::new(&ds, vec![0.0f64; 4 * m.ncell]).unwrap();
        (edges, pecell, q, res)
    };
    let go = |(edges, pecell, q, res): &(Set, Map, Dat, Dat)| {
        let t0 = Instant::now();
        par_loop(
            &k,
            edges,
            &[
                q.arg_map(Access::Read, pecell, 0),
                q.arg_map(Access::Read, pecell, 1),
                res.arg_map(Access::Inc, pecell, 0),
                res.arg_map(Access::Inc, pecell, 1),
            ],
        )
        .unwrap();
        t0.elapsed().as_secs_f64()
    };
    go(&setup()); // compiles
    let (mut first, mut later) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..3 {
        let s = setup();
        first = first.min(go(&s));
        for _ in 0..5 {
            later = later.min(go(&s));
        }
    }
    let nt = op2::config::current().unwrap().threads;
    (first - later, later, nt as f64)
}

/// `/proc/loadavg`'s first three fields (1, 5, 15 minutes), or "?".
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let iters = env_num("AIRFOIL_BENCH_ITERS", 200);
    let repeat = env_num("AIRFOIL_BENCH_REPEAT", 3).max(1);
    let cflags = std::env::var("OP2_CFLAGS").unwrap_or_else(|_| "-O3".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "(this machine: {cores} cores, possibly shared with other jobs: every figure is the minimum of {repeat} runs; load average at the start: {})",
        loadavg()
    );
    let tri1 = triad(20_000_000, 1);
    let tri2 = triad(20_000_000, 2);
    println!("STREAM-like triad: {tri1:.1} GB/s on 1 thread, {tri2:.1} GB/s on 2 threads");

    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("new_grid.dat");
    let mesh = op2::mesh::naca0012(op2::mesh::STANDARD_I, op2::mesh::STANDARD_J).unwrap();
    mesh.write_op2(&grid).unwrap();
    // Plain C reference, same flags.
    let exe = common::build_c_reference(dir.path(), &cflags);
    let mut c_per = f64::INFINITY;
    for _ in 0..repeat {
        c_per = c_per.min(common::run_c_reference(&exe, &grid, iters));
    }
    println!("plain C reference ({cflags}): {c_per:.5} s/iteration (iteration loop only)");

    // This build first, then the baseline build if given: each with its own disk cache,
    // warmed so that no compile is in the figures.
    let mut builds: Vec<(String, std::path::PathBuf, tempfile::TempDir)> = vec![(
        "op2".into(),
        env!("CARGO_BIN_EXE_airfoil").into(),
        tempfile::tempdir().unwrap(),
    )];
    if let Ok(base) = std::env::var("AIRFOIL_BENCH_BASELINE") {
        builds.push(("baseline".into(), base.into(), tempfile::tempdir().unwrap()));
    }
    for (_, exe, cache) in &builds {
        airfoil(exe, &grid, cache.path(), &cflags, 2, 1, 1);
    }
    let cache = &builds[0].2;
    let bytes = loop_bytes(&mesh);
    let floor: f64 = bytes["save_soln"]
        + 2.0 * (bytes["adt_calc"] + bytes["res_calc"] + bytes["bres_calc"] + bytes["update"]);
    let floor_s = floor / (tri1 * 1e9);
    println!(
        "bandwidth floor: {:.3} GB per iteration, {floor_s:.4} s/iteration at the 1-thread triad rate",
        floor / 1e9,
    );
    let mut per: BTreeMap<(usize, usize, usize), f64> = BTreeMap::new();
    for (np, threads) in [(1, 1), (1, 2), (2, 1)] {
        // Runs interleaved: build 0, build 1, build 0, ... (the same load for both).
        let mut best: Vec<Option<Run>> = builds.iter().map(|_| None).collect();
        for _ in 0..repeat {
            for (b, (_, exe, cache)) in builds.iter().enumerate() {
                let r = airfoil(exe, &grid, cache.path(), &cflags, iters, np, threads);
                best[b] = Some(match best[b].take() {
                    None => r,
                    Some(b) => {
                        let mut loops = b.loops.clone();
                        for (k, v) in &r.loops {
                            let e = loops.entry(k.clone()).or_insert(*v);
                            e.1 = e.1.min(v.1);
                        }
                        Run {
                            per: b.per.min(r.per),
                            comm: if r.per < b.per { r.comm } else { b.comm },
                            loops,
                        }
                    }
                });
            }
        }
        for (b, r) in best.into_iter().enumerate() {
            let r = r.unwrap();
            let label = &builds[b].0;
            per.insert((b, np, threads), r.per);
            println!(
                "{label} airfoil, {np} rank(s) x {threads} thread(s): {:.5} s/iteration   ratio to plain C (1 core): {:.2}   {:.2}x the 1-thread bandwidth floor   halo exchange + reductions: {:.1}% of loop time",
                r.per,
                r.per / c_per,
                r.per / floor_s,
                r.comm
            );
            let tri = if np * threads > 1 { tri2 } else { tri1 };
            for (name, (calls, secs)) in &r.loops {
                if let Some(b) = bytes.get(name.as_str()) {
                    let gbs = b * *calls as f64 / secs / 1e9;
                    println!(
                        "    {name:<10} {:>8.2} ms/call {gbs:>6.1} GB/s  ({:.0}% of the {} triad)",
                        secs / *calls as f64 * 1e3,
                        100.0 * gbs / tri,
                        if np * threads > 1 {
                            "2-thread"
                        } else {
                            "1-thread"
                        }
                    );
                }
            }
        }
    }
    for (b, (label, _, _)) in builds.iter().enumerate() {
        println!(
            "{label}: 1 rank x 2 threads / 2 ranks x 1 thread = {:.2} (goal <= 1.10); 1 x 1 / floor = {:.2} (goal <= 2)",
            per[&(b, 1, 2)] / per[&(b, 2, 1)],
            per[&(b, 1, 1)] / floor_s
        );
    }
    if builds.len() > 1 {
        for (np, threads) in [(1, 1), (1, 2), (2, 1)] {
            println!(
                "op2 / baseline, {np} x {threads}: {:.3}",
                per[&(0, np, threads)] / per[&(1, np, threads)]
            );
        }
    }
    if builds.len() > 1 {
        // Per loop, the two builds' generated libraries call by call in one process (A: the
        // baseline's, B: this build's), alternating every iteration: the fairest before/after
        // on a shared machine (loops whose generated code is identical in both show the noise).
        let exe = dir.path().join("airfoil_loops_ab");
        let ok = Command::new("cc")
            .args(["-O2", "-o"])
            .arg(&exe)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/bench/airfoil_loops_ab.c"
            ))
            .args(["-ldl", "-lm"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "compiling bench/airfoil_loops_ab.c failed");
        let out = Command::new(&exe)
            .arg(&grid)
            .arg(builds[1].2.path())
            .arg(builds[0].2.path())
            .arg(env_num("AIRFOIL_BENCH_AB_ITERS", 40).to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "generated loops call by call, A = baseline, B = op2 (this build):\n{}",
            String::from_utf8_lossy(&out.stdout).trim_end()
        );
    }
    // In this process: 2 threads (the run above chose its own with OP2_THREADS).
    std::env::set_var("OP2_THREADS", "2");
    std::env::set_var("OP2_CACHE_DIR", cache.path());
    let (build, run, nt) = colouring_cost(&mesh);
    println!(
        "plan + block colouring of an edge->cell INC loop ({} edges, {nt} thread(s)): built in {:.2} ms, one execution {:.2} ms ({:.1} executions)",
        mesh.nedge,
        build * 1e3,
        run * 1e3,
        build / run
    );
    println!(
        "({iters} iterations per run; load average at the end: {})",
        loadavg()
    );
}
