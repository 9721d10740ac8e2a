//! Cold-cache stampede (`cargo bench --bench stampede`; issue 12): `op2-selftest` with 3 kernels
//! on an empty cache at 1, 8, 32 and 64 ranks (oversubscribed on this machine's cores), in
//! `shared` mode (one directory) and in `node` mode (fake nodes of 4 ranks, a directory per
//! node), side by side. Per row: compiles per kernel (must be 1), time to rank 0's first loop
//! result relative to 1 rank (median of `--reps`, default 3), cache-directory file system calls
//! per rank per kernel (strace -f -e trace=%file in a separate run: rank 0, the node leaders,
//! and the maximum over every other rank, whose goal is 0), and bytes broadcast per kernel
//! (sum over receiving ranks, from the cache report). `--max-np N` stops earlier.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[path = "../tests/common/mod.rs"]
mod common;
use common::{compile_count as compiles, file_ops_per_rank, logging_cc};

const KERNELS: usize = 3;
const NODE: usize = 4;

fn exe(name: &str, sub: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("bench path");
    let profile = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let p = profile.join(sub).join(name);
    assert!(
        p.exists(),
        "build first: cargo build --release --examples ({} missing)",
        p.display()
    );
    p
}

struct Run {
    stdout: String,
    ok: bool,
    stderr: String,
}

/// One job on a fresh cache; `trace`: strace every process into that directory.
fn job(np: usize, mode: &str, base: &Path, cc: &Path, report: &Path, trace: Option<&Path>) -> Run {
    let dir = if mode == "node" {
        base.join("node{node}")
    } else {
        base.to_path_buf()
    };
    let mut c = Command::new("timeout");
    c.args(["600", "mpiexec", "-n", &np.to_string()]);
    if let Some(t) = trace {
        c.args([
            "strace",
            "-ff",
            "-qq",
            "-s",
            "4096",
            "-e",
            "trace=%file",
            "-o",
        ]);
        c.arg(t.join("t"));
    }
    c.arg(exe("op2-selftest", "examples"))
        .args(["--kernels", &KERNELS.to_string(), "--repeat", "1", "--pids"])
        .env("OP2_CACHE_DIR", &dir)
        .env("OP2_CC", cc)
        .env("OP2_CACHE_MODE", mode)
        .env("OP2_FAKE_NODE_SIZE", NODE.to_string())
        .env("OP2_CACHE_REPORT", report)
        .env_remove("OP2_PRINT_CACHE_SIZE");
    let out = c.output().expect("mpiexec");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |n: &str, d: usize| {
        args.iter()
            .position(|a| a == n)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let reps = opt("--reps", 3);
    let max_np = opt("--max-np", 64);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let strace = Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    println!(
        "cold-cache stampede: {KERNELS} kernels, {cores} cores, fake nodes of {NODE} ranks in node mode; time = rank 0's first loop result (median of {reps}) relative to 1 rank of the same mode"
    );
    println!(
        "{:>4} {:<7} {:>9} {:>10} {:>7} {:>12} {:>14} {:>14} {:>13}",
        "np",
        "mode",
        "compiles/k",
        "first (s)",
        "rel",
        "rank0 ops/k",
        "leader ops/k",
        "others max/k",
        "bcast B/k"
    );
    let mut base_time = std::collections::BTreeMap::new();
    for np in [1usize, 8, 32, 64].into_iter().filter(|&n| n <= max_np) {
        for mode in ["shared", "node"] {
            let tools = tempfile::tempdir().unwrap();
            let (cc, log) = logging_cc(tools.path());
            let report = tools.path().join("report.json");
            let mut times = Vec::new();
            let mut failed = None;
            let mut per_kernel_compiles = 0.0;
            let mut bcast = 0.0;
            for rep in 0..reps {
                let base = tempfile::tempdir().unwrap();
                let before = compiles(&log);
                let r = job(np, mode, base.path(), &cc, &report, None);
                if !r.ok {
                    failed = Some(
                        r.stderr
                            .lines()
                            .rev()
                            .take(3)
                            .collect::<Vec<_>>()
                            .join(" | "),
                    );
                    break;
                }
                times.push(common::first_result(&r.stdout));
                if rep == 0 {
                    per_kernel_compiles = (compiles(&log) - before) as f64 / KERNELS as f64;
                    let v: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
                    bcast = v["caches"]["disk"]["bytes_broadcast"]["sum"]
                        .as_f64()
                        .unwrap_or(0.0)
                        / KERNELS as f64;
                }
            }
            if let Some(why) = failed {
                println!("{np:>4} {mode:<7} FAILED: {why}");
                continue;
            }
            times.sort_by(f64::total_cmp);
            let t = times[times.len() / 2];
            let t1 = *base_time.entry(mode).or_insert(t);
            let (r0, lead, others) = if strace {
                let base = tempfile::tempdir().unwrap();
                let traces = tempfile::tempdir().unwrap();
                let r = job(np, mode, base.path(), &cc, &report, Some(traces.path()));
                if r.ok {
                    let (per, _compiler) = file_ops_per_rank(
                        &r.stdout,
                        traces.path(),
                        &base.path().display().to_string(),
                    );
                    assert_eq!(per.len(), np, "every rank printed its pid");
                    let leader = |q: usize| mode == "node" && q.is_multiple_of(NODE);
                    let k = KERNELS as f64;
                    let leaders: Vec<usize> =
                        (1..np).filter(|&q| leader(q)).map(|q| per[q]).collect();
                    let others = (1..np)
                        .filter(|&q| !leader(q))
                        .map(|q| per[q])
                        .max()
                        .unwrap_or(0);
                    (
                        format!("{:.1}", per[0] as f64 / k),
                        if leaders.is_empty() {
                            "-".to_string()
                        } else {
                            format!(
                                "{:.1}",
                                leaders.iter().sum::<usize>() as f64 / leaders.len() as f64 / k
                            )
                        },
                        format!("{:.1}", others as f64 / k),
                    )
                } else {
                    ("trace failed".into(), String::new(), String::new())
                }
            } else {
                ("no strace".into(), String::new(), String::new())
            };
            println!(
                "{np:>4} {mode:<7} {per_kernel_compiles:>9.2} {t:>10.3} {:>6.2}x {r0:>12} {lead:>14} {others:>14} {bcast:>13.0}",
                t / t1
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
