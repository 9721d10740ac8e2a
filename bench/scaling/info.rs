//! What the results file says about where and how it was measured.
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
use std::process::Command;

use serde_json::{json, Value};

/// First `n` non-empty lines of a command's output (stdout, else stderr), or "" if it fails.
fn first_lines(cmd: &str, args: &[&str], n: usize) -> String {
    let Ok(out) = Command::new(cmd).args(args).output() else {
        return String::new();
    };
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Now, UTC, ISO 8601 (seconds).
pub fn now_utc() -> String {
    first_lines("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"], 1)
}

fn meminfo_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0)
}

pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let env = |k: &str| std::env::var(k).ok();
    json!({
        "hostname": first_lines("hostname", &["-s"], 1),
        "os": first_lines("uname", &["-srm"], 1),
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "memory_gib": (meminfo_gib() * 10.0).round() / 10.0,
        "slurm_job_id": env("SLURM_JOB_ID"),
        "slurm_nodelist": env("SLURM_JOB_NODELIST"),
        "pbs_job_id": env("PBS_JOBID"),
    })
}

pub fn git() -> Value {
    let dir = env!("CARGO_MANIFEST_DIR");
    let rev = first_lines("git", &["-C", dir, "rev-parse", "HEAD"], 1);
    let dirty = Command::new("git")
        .args(["-C", dir, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    json!({"revision": rev, "dirty": dirty})
}

pub fn mpi() -> Value {
    json!({"mpiexec_version": first_lines("mpiexec", &["--version"], 2)})
}

pub fn compiler(cflags: &str) -> Value {
    let cc = std::env::var("OP2_CC")
        .or_else(|_| std::env::var("CC"))
        .unwrap_or_else(|_| "cc".into());
    json!({"cc": cc, "cc_version": first_lines(&cc, &["--version"], 1), "cflags": cflags,
           "rustc": first_lines("rustc", &["--version"], 1)})
}

/// op2's version and every OP2_* / PYOP2_* variable set in the environment.
pub fn op2_settings() -> Value {
    let vars: serde_json::Map<String, Value> = std::env::vars()
        .filter(|(k, _)| k.starts_with("OP2_") || k.starts_with("PYOP2_"))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({"version": env!("CARGO_PKG_VERSION"), "environment": vars})
}
