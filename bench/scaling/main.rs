//! The scaling study in one command (`bash scripts/bench.sh [options]`, which runs
//! `cargo bench --bench scaling -- [options]`): it launches the built programs under MPI at each
//! rank count, writes one results file (JSON: machine, git revision, MPI, compiler, op2
//! settings, every sample) and turns it into plots with `bench/plot_scaling.py`.
//!
//! Measured, each timing the median of `--repeat` runs with min and max:
//! * strong scaling: `airfoil` on one mesh at every rank count (and every `--threads` value):
//!   seconds per iteration, halo-exchange + reduction share; speed-up and efficiency follow;
//! * weak scaling: `airfoil` with the mesh growing with the rank count (same cells per rank);
//! * Airfoil against the plain C reference (`bench/airfoil_ref.c`, same flags), side by side:
//!   each repeat runs the C reference and 1-rank op2 one after the other;
//! * start-up with a cold and a warm disk cache (`op2-selftest`, time to the first loop
//!   result) and compiles per kernel (from the JSON cache report), per rank count;
//! * dispatch overhead: par_loop on a class-cache hit vs a direct call (in this process);
//! * sparsity build vs matrix assembly (`poisson`, per rank count, warm cache).
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use serde_json::{json, Value};

#[path = "../common/mod.rs"]
mod common;
mod info;
mod stat;

use stat::Stat;

#[derive(Parser, Debug)]
#[command(name = "scaling", about = "op2 scaling study: results file + plots")]
struct Opts {
    /// Small mesh, few iterations, ranks 1,2: the CI smoke run (under 2 minutes on 2 cores).
    #[arg(long)]
    quick: bool,
    /// Rank counts, comma-separated (default: 1, 2, 4, ... up to the core count; quick: 1,2).
    #[arg(long, value_delimiter = ',')]
    ranks: Vec<usize>,
    /// OP2_THREADS values (threads per rank), comma-separated; every strong-scaling and
    /// sparsity point is run for each (default 1).
    #[arg(long, value_delimiter = ',')]
    threads: Vec<usize>,
    /// Strong-scaling mesh in multiples of OP2's standard 720,000-cell Airfoil mesh (both
    /// sides scaled by its square root; default 1, quick 1/16).
    #[arg(long)]
    mesh_scale: Option<f64>,
    /// Runs per measurement; figures are the median, min and max (default 3).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Airfoil iterations per run (default 100, quick 20).
    #[arg(long)]
    iters: Option<usize>,
    /// Poisson mesh size n (2 n² cells) for sparsity vs assembly (default 400, quick 100).
    #[arg(long)]
    poisson_n: Option<usize>,
    /// How to launch a run; %n is replaced by its rank count (e.g. "srun --mpi=pmi2 -n %n" in
    /// Slurm).
    #[arg(long, default_value = "mpiexec -n %n")]
    launcher: String,
    /// Folder for the results file and the plots.
    #[arg(long, default_value = "target/scaling")]
    out: PathBuf,
    /// Where the benchmark's disk caches go (default: --out; use a shared filesystem when the
    /// ranks span nodes).
    #[arg(long)]
    cache_root: Option<PathBuf>,
    /// Write the results file only (plot later with `python3 bench/plot_scaling.py FILE`).
    #[arg(long)]
    no_plot: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The settings of one run of the study.
struct Plan {
    ranks: Vec<usize>,
    threads: Vec<usize>,
    mesh: (usize, usize),
    iters: usize,
    poisson_n: usize,
    repeat: usize,
    dispatch_calls: usize,
}

impl Plan {
    fn new(o: &Opts) -> Plan {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ranks = if !o.ranks.is_empty() {
            o.ranks.clone()
        } else if o.quick {
            vec![1, 2]
        } else {
            let mut v = vec![1];
            while v.last().unwrap() * 2 <= cores.max(2) {
                v.push(v.last().unwrap() * 2);
            }
            v
        };
        assert!(ranks.iter().all(|&r| r > 0), "--ranks: counts must be > 0");
        let scale = o
            .mesh_scale
            .unwrap_or(if o.quick { 1.0 / 16.0 } else { 1.0 });
        assert!(scale > 0.0, "--mesh-scale must be > 0");
        let side = |s: usize| ((s as f64 * scale.sqrt()).round() as usize).max(2);
        Plan {
            ranks,
            threads: if o.threads.is_empty() {
                vec![1]
            } else {
                o.threads.clone()
            },
            mesh: (side(op2::mesh::STANDARD_I), side(op2::mesh::STANDARD_J)),
            iters: o.iters.unwrap_or(if o.quick { 20 } else { 100 }),
            poisson_n: o.poisson_n.unwrap_or(if o.quick { 100 } else { 400 }),
            repeat: o.repeat.max(1),
            dispatch_calls: if o.quick { 20_000 } else { 200_000 },
        }
    }

    fn max_ranks(&self) -> usize {
        *self.ranks.iter().max().unwrap()
    }

    /// The weak-scaling mesh at `r` ranks: J grows with r so that cells per rank stay those of
    /// the strong-scaling mesh at the largest rank count.
    fn weak_mesh(&self, r: usize) -> (usize, usize) {
        let j = (self.mesh.1 as f64 * r as f64 / self.max_ranks() as f64).round() as usize;
        (self.mesh.0, j.max(2))
    }

    fn steps(&self) -> usize {
        let (r, t, k) = (self.ranks.len(), self.threads.len(), self.repeat);
        1 + r * t * k + k + r * k + r * k + 1 + r * t * k
    }
}

/// Progress on stderr: step, elapsed time, an estimate of what is left.
struct Progress {
    t0: Instant,
    done: usize,
    total: usize,
}

impl Progress {
    fn step(&mut self, what: &str) {
        self.done += 1;
        let el = self.t0.elapsed().as_secs_f64();
        let left = el / self.done as f64 * (self.total - self.done.min(self.total)) as f64;
        eprintln!(
            "scaling: [{:>3}/{}] {:>5.0} s elapsed, ~{:.0} s left  {what}",
            self.done, self.total, el, left
        );
    }
}

struct Runner {
    launcher: Vec<String>,
    cache_root: PathBuf,
    warm_cache: tempfile::TempDir,
}

impl Runner {
    /// Launch `bin` on `n` ranks with `env`; panics with the job's output if it fails.
    fn mpi(&self, n: usize, bin: &str, args: &[String], env: &[(&str, String)]) -> String {
        let argv: Vec<String> = self
            .launcher
            .iter()
            .map(|a| a.replace("%n", &n.to_string()))
            .collect();
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]).arg(bin).args(args);
        for v in [
            "OP2_CACHE_REPORT",
            "OP2_PRINT_CACHE_SIZE",
            "PYOP2_PRINT_CACHE_SIZE",
        ] {
            c.env_remove(v);
        }
        c.envs(env.iter().map(|(k, v)| (k, v)));
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("launching {argv:?}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{} {bin} {args:?} failed ({}):\n{stdout}\n{}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn warm_env(&self, threads: usize) -> Vec<(&'static str, String)> {
        vec![
            (
                "OP2_CACHE_DIR",
                self.warm_cache.path().display().to_string(),
            ),
            ("OP2_THREADS", threads.to_string()),
        ]
    }

    fn airfoil(
        &self,
        n: usize,
        threads: usize,
        mesh: (usize, usize),
        iters: usize,
    ) -> common::AirfoilRun {
        let args: Vec<String> = ["--i", &mesh.0.to_string(), "--j", &mesh.1.to_string()]
            .into_iter()
            .chain(["--iters", &iters.to_string(), "--progress", "0"])
            .map(String::from)
            .collect();
        let out = self.mpi(
            n,
            env!("CARGO_BIN_EXE_airfoil"),
            &args,
            &self.warm_env(threads),
        );
        let r = common::parse_airfoil(&out)
            .unwrap_or_else(|| panic!("airfoil's timing lines missing:\n{out}"));
        assert_eq!(
            r.ranks, n,
            "airfoil ran on {} ranks, not {n}: check --launcher",
            r.ranks
        );
        r
    }
}

fn main() {
    let o = Opts::parse();
    assert!(
        o.launcher.contains("%n"),
        "--launcher needs %n where the rank count goes, e.g. \"mpiexec -n %n\""
    );
    let plan = Plan::new(&o);
    std::fs::create_dir_all(&o.out).expect("creating --out");
    let cache_root = o.cache_root.clone().unwrap_or_else(|| o.out.clone());
    std::fs::create_dir_all(&cache_root).expect("creating --cache-root");
    let runner = Runner {
        launcher: o.launcher.split_whitespace().map(String::from).collect(),
        warm_cache: tempfile::tempdir_in(&cache_root).unwrap(),
        cache_root,
    };
    let mut p = Progress {
        t0: Instant::now(),
        done: 0,
        total: plan.steps(),
    };
    let started = info::now_utc();
    eprintln!(
        "scaling: ranks {:?}, threads {:?}, mesh {}x{}, {} iterations, {} repeats; {} steps",
        plan.ranks, plan.threads, plan.mesh.0, plan.mesh.1, plan.iters, plan.repeat, p.total
    );

    // Warm the shared cache once so that compile time stays out of the timings.
    runner.airfoil(1, 1, (8, 8), 1);
    runner.mpi(
        1,
        env!("CARGO_BIN_EXE_poisson"),
        &["--n".into(), "8".into()],
        &runner.warm_env(1),
    );
    p.step("warm-up (compiles the kernels once)");

    // Strong scaling, and the C reference side by side with 1-rank op2.
    let tmp = tempfile::tempdir_in(&runner.cache_root).unwrap();
    let grid = tmp.path().join("new_grid.dat");
    op2::mesh::naca0012(plan.mesh.0, plan.mesh.1)
        .unwrap()
        .write_op2(&grid)
        .unwrap();
    let cflags = std::env::var("OP2_CFLAGS").unwrap_or_else(|_| "-O3".into());
    let c_exe = common::build_c_reference(tmp.path(), &cflags);
    let mut strong = Vec::new();
    let mut cells = 0;
    for &t in &plan.threads {
        for &r in &plan.ranks {
            let (mut per, mut comm) = (Vec::new(), Vec::new());
            for k in 0..plan.repeat {
                let a = runner.airfoil(r, t, plan.mesh, plan.iters);
                cells = a.cells;
                per.push(a.per_iter);
                comm.push(a.comm_share);
                p.step(&format!(
                    "strong: {r} rank(s), {t} thread(s), repeat {}: {:.5} s/iteration, comm {:.1}%",
                    k + 1,
                    a.per_iter,
                    a.comm_share
                ));
            }
            strong.push(json!({"ranks": r, "threads": t, "cells": cells,
                "seconds_per_iteration": Stat::of(per), "comm_share_percent": Stat::of(comm)}));
        }
    }
    let (mut c_per, mut op2_per) = (Vec::new(), Vec::new());
    for k in 0..plan.repeat {
        c_per.push(common::run_c_reference(&c_exe, &grid, plan.iters));
        op2_per.push(runner.airfoil(1, 1, plan.mesh, plan.iters).per_iter);
        p.step(&format!(
            "baseline, repeat {}: C {:.5} s/iteration, op2 {:.5}",
            k + 1,
            c_per[k],
            op2_per[k]
        ));
    }
    let ratio: Vec<f64> = op2_per.iter().zip(&c_per).map(|(o, c)| o / c).collect();
    let baseline = json!({"cells": cells, "iterations": plan.iters, "cflags": cflags,
        "c_seconds_per_iteration": Stat::of(c_per), "op2_seconds_per_iteration": Stat::of(op2_per),
        "op2_over_c": Stat::of(ratio)});
    drop(tmp);

    // Weak scaling.
    let mut weak = Vec::new();
    for &r in &plan.ranks {
        let mesh = plan.weak_mesh(r);
        let (mut per, mut comm, mut c) = (Vec::new(), Vec::new(), 0);
        for k in 0..plan.repeat {
            let a = runner.airfoil(r, plan.threads[0], mesh, plan.iters);
            c = a.cells;
            per.push(a.per_iter);
            comm.push(a.comm_share);
            p.step(&format!(
                "weak: {r} rank(s), {} cells, repeat {}: {:.5} s/iteration",
                a.cells,
                k + 1,
                a.per_iter
            ));
        }
        weak.push(
            json!({"ranks": r, "threads": plan.threads[0], "cells": c, "mesh": [mesh.0, mesh.1],
            "seconds_per_iteration": Stat::of(per), "comm_share_percent": Stat::of(comm)}),
        );
    }

    // Start-up, cold vs warm disk cache, and compiles per kernel.
    const KERNELS: usize = 5;
    let mut startup = Vec::new();
    for &r in &plan.ranks {
        let (mut cold, mut warm, mut cold_wall, mut warm_wall, mut compiles, mut warm_compiles) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for k in 0..plan.repeat {
            let dir = tempfile::tempdir_in(&runner.cache_root).unwrap();
            for pass in 0..2 {
                let report = dir.path().join(format!("report{pass}.json"));
                let env = [
                    (
                        "OP2_CACHE_DIR",
                        dir.path().join("cache").display().to_string(),
                    ),
                    ("OP2_CACHE_REPORT", report.display().to_string()),
                ];
                let t0 = Instant::now();
                let out = runner.mpi(
                    r,
                    &common::example("op2-selftest").to_string_lossy(),
                    &[
                        "--kernels".into(),
                        KERNELS.to_string(),
                        "--repeat".into(),
                        "1".into(),
                    ],
                    &env,
                );
                let wall = t0.elapsed().as_secs_f64();
                let first = common::first_result(&out);
                let n = disk_compiles(&report) / KERNELS as f64;
                if pass == 0 {
                    cold.push(first);
                    cold_wall.push(wall);
                    compiles.push(n);
                } else {
                    warm.push(first);
                    warm_wall.push(wall);
                    warm_compiles.push(n);
                }
            }
            p.step(&format!("start-up: {r} rank(s), repeat {}: first result cold {:.3} s, warm {:.4} s; {} compiles per kernel", k + 1, cold[k], warm[k], compiles[k]));
        }
        startup.push(json!({"ranks": r, "kernels": KERNELS,
            "cold_first_result_seconds": Stat::of(cold), "warm_first_result_seconds": Stat::of(warm),
            "cold_job_seconds": Stat::of(cold_wall), "warm_job_seconds": Stat::of(warm_wall),
            "compiles_per_kernel_cold": Stat::of(compiles), "compiles_per_kernel_warm": Stat::of(warm_compiles)}));
    }

    // Dispatch overhead, in this process.
    let dir = tempfile::tempdir_in(&runner.cache_root).unwrap();
    let rounds = common::dispatch_overhead(dir.path(), plan.dispatch_calls, plan.repeat);
    let hit: Vec<f64> = rounds.iter().map(|r| r.0 * 1e9).collect();
    let direct: Vec<f64> = rounds.iter().map(|r| r.1 * 1e9).collect();
    let overhead: Vec<f64> = hit.iter().zip(&direct).map(|(h, d)| h - d).collect();
    let dispatch = json!({"calls": plan.dispatch_calls, "par_loop_ns": Stat::of(hit),
        "direct_call_ns": Stat::of(direct), "overhead_ns": Stat::of(overhead)});
    p.step("dispatch overhead");

    // Sparsity build vs assembly.
    let mut sparsity = Vec::new();
    for &t in &plan.threads {
        for &r in &plan.ranks {
            let (mut sp, mut asm, mut nnz) = (vec![], vec![], 0u64);
            for k in 0..plan.repeat {
                let out = runner.mpi(
                    r,
                    env!("CARGO_BIN_EXE_poisson"),
                    &[
                        "--n".into(),
                        plan.poisson_n.to_string(),
                        // Only the sparsity and assembly times are used: a short solve.
                        "--rtol".into(),
                        "1e-3".into(),
                    ],
                    &runner.warm_env(t),
                );
                let (s, a, z) = parse_poisson(&out)
                    .unwrap_or_else(|| panic!("poisson's lines missing:\n{out}"));
                sp.push(s);
                asm.push(a);
                nnz = z;
                p.step(&format!("sparsity: {r} rank(s), {t} thread(s), repeat {}: build {s:.3} s, assembly {a:.3} s", k + 1));
            }
            sparsity.push(json!({"ranks": r, "threads": t, "n": plan.poisson_n, "cells": 2 * plan.poisson_n * plan.poisson_n,
                "nnz": nnz, "sparsity_seconds": Stat::of(sp), "assembly_seconds": Stat::of(asm)}));
        }
    }

    let results = json!({
        "schema": "op2-scaling/1",
        "mode": if o.quick { "quick" } else { "full" },
        "started": started,
        "seconds": p.t0.elapsed().as_secs_f64(),
        "machine": info::machine(),
        "git": info::git(),
        "mpi": info::mpi(),
        "compiler": info::compiler(&cflags),
        "op2": info::op2_settings(),
        "options": {"ranks": plan.ranks, "threads": plan.threads, "mesh": [plan.mesh.0, plan.mesh.1],
            "mesh_scale": o.mesh_scale.unwrap_or(if o.quick { 1.0 / 16.0 } else { 1.0 }),
            "iterations": plan.iters, "repeat": plan.repeat, "poisson_n": plan.poisson_n,
            "launcher": o.launcher},
        "strong": strong,
        "weak": weak,
        "baseline": baseline,
        "startup": startup,
        "dispatch": dispatch,
        "sparsity": sparsity,
    });
    let host = results["machine"]["hostname"]
        .as_str()
        .unwrap_or("host")
        .to_string();
    let file = o.out.join(format!(
        "scaling-{host}-{}.json",
        started.replace([':', '-'], "")
    ));
    std::fs::write(&file, serde_json::to_string_pretty(&results).unwrap())
        .expect("writing results");
    println!("scaling: results in {}", file.display());
    summary(&results);
    if !o.no_plot {
        plot(&file, &o.out);
    }
}

/// Kernels compiled by the job (sum over ranks of the disk cache's compiles) per its report.
fn disk_compiles(report: &Path) -> f64 {
    let text = std::fs::read_to_string(report)
        .unwrap_or_else(|e| panic!("cache report {}: {e}", report.display()));
    let v: Value = serde_json::from_str(&text).expect("cache report is JSON");
    v["caches"]["disk"]["compiles"]["sum"]
        .as_f64()
        .unwrap_or_else(|| panic!("{}: no caches.disk.compiles.sum", report.display()))
}

/// (sparsity seconds, assembly seconds, global nnz) from poisson's output.
fn parse_poisson(out: &str) -> Option<(f64, f64, u64)> {
    let secs = out
        .lines()
        .find_map(|l| l.strip_prefix("poisson: seconds: "))?;
    let words: Vec<&str> = secs.split_whitespace().collect();
    let after = |k: &str| -> Option<f64> {
        words
            .iter()
            .position(|w| *w == k)
            .and_then(|i| words.get(i + 1)?.parse().ok())
    };
    let head = out.lines().find(|l| l.starts_with("poisson: ranks"))?;
    let hw: Vec<&str> = head.split_whitespace().collect();
    let nnz = hw
        .iter()
        .position(|w| *w == "nnz")
        .and_then(|i| hw.get(i + 1)?.parse().ok())?;
    Some((after("sparsity")?, after("assembly")?, nnz))
}

/// The headline figures, printed.
fn summary(r: &Value) {
    let m = |v: &Value| v["median"].as_f64().unwrap_or(f64::NAN);
    let strong = r["strong"].as_array().unwrap();
    let base = strong
        .first()
        .map(|s| m(&s["seconds_per_iteration"]))
        .unwrap_or(f64::NAN);
    for s in strong {
        let t = m(&s["seconds_per_iteration"]);
        println!(
            "strong  {:>3} rank(s) x {} thread(s): {:.5} s/iteration  speed-up {:.2}  efficiency {:.0}%  comm {:.1}%",
            s["ranks"], s["threads"], t, base / t,
            100.0 * base / t / s["ranks"].as_f64().unwrap(), m(&s["comm_share_percent"])
        );
    }
    for s in r["weak"].as_array().unwrap() {
        println!(
            "weak    {:>3} rank(s): {} cells  {:.5} s/iteration",
            s["ranks"],
            s["cells"],
            m(&s["seconds_per_iteration"])
        );
    }
    let b = &r["baseline"];
    println!(
        "baseline: plain C {:.5} s/iteration, op2 1 rank {:.5}, op2/C {:.2} (median of paired ratios)",
        m(&b["c_seconds_per_iteration"]),
        m(&b["op2_seconds_per_iteration"]),
        m(&b["op2_over_c"])
    );
    for s in r["startup"].as_array().unwrap() {
        println!("startup {:>3} rank(s): first result cold {:.3} s, warm {:.4} s; compiles per kernel {} cold, {} warm",
            s["ranks"], m(&s["cold_first_result_seconds"]), m(&s["warm_first_result_seconds"]),
            m(&s["compiles_per_kernel_cold"]), m(&s["compiles_per_kernel_warm"]));
    }
    let d = &r["dispatch"];
    println!(
        "dispatch: par_loop {:.0} ns, direct {:.1} ns, overhead {:.0} ns",
        m(&d["par_loop_ns"]),
        m(&d["direct_call_ns"]),
        m(&d["overhead_ns"])
    );
    for s in r["sparsity"].as_array().unwrap() {
        println!(
            "sparsity {:>3} rank(s) x {} thread(s): build {:.3} s, assembly {:.3} s ({} cells)",
            s["ranks"],
            s["threads"],
            m(&s["sparsity_seconds"]),
            m(&s["assembly_seconds"]),
            s["cells"]
        );
    }
}

/// Run the plot command on the results file.
fn plot(file: &Path, out: &Path) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/plot_scaling.py");
    let status = Command::new("python3")
        .arg(script)
        .arg(file)
        .arg("--out")
        .arg(out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "python3 {script} failed ({s}); the results file is {}",
            file.display()
        ),
        Err(e) => panic!(
            "python3 not runnable ({e}); plot later with python3 {script} {}",
            file.display()
        ),
    }
}
