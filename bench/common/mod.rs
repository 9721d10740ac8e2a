//! What the benches share: the plain C Airfoil reference, reading `airfoil`'s timing lines,
//! and the dispatch-overhead measurement. Each bench includes this file with
//! `#[path = "common/mod.rs"] mod common;` (or `../common/mod.rs`).
#![allow(dead_code)]
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use op2::{par_loop, Access, Dat, DataSet, Kernel, Set};

/// Compile `bench/airfoil_ref.c` (the five Airfoil kernels over OP2's mesh arrays, no runtime)
/// with `cflags` into `dir`; returns the executable.
pub fn build_c_reference(dir: &Path, cflags: &str) -> PathBuf {
    let exe = dir.join("airfoil_ref");
    let status = Command::new("cc")
        .args(cflags.split_whitespace())
        .arg("-std=c99")
        .arg("-o")
        .arg(&exe)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/airfoil_ref.c"))
        .arg("-lm")
        .status()
        .expect("running cc");
    assert!(status.success(), "compiling bench/airfoil_ref.c failed");
    exe
}

/// Seconds per iteration of the C reference over `grid` (it times its iteration loop itself,
/// mesh reading excluded, as op2's airfoil does).
pub fn run_c_reference(exe: &Path, grid: &Path, iters: usize) -> f64 {
    let out = Command::new(exe)
        .arg(grid)
        .arg(iters.to_string())
        .output()
        .expect("running airfoil_ref");
    assert!(
        out.status.success(),
        "airfoil_ref failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("time: ")
                .and_then(|r| r.split(", ").nth(1))
                .and_then(|r| r.split(' ').next())
                .and_then(|v| v.parse().ok())
        })
        .expect("the reference prints `time: ..., X s per iteration`")
}

/// What op2's `airfoil` prints about one run.
#[derive(Debug, Clone, Copy)]
pub struct AirfoilRun {
    pub cells: usize,
    pub ranks: usize,
    /// Seconds per iteration (slowest rank).
    pub per_iter: f64,
    /// Percent of loop time in halo exchanges and reductions.
    pub comm_share: f64,
}

/// Read `airfoil`'s header, `timing:` and `halo exchange + reductions:` lines.
pub fn parse_airfoil(stdout: &str) -> Option<AirfoilRun> {
    let head = stdout.lines().find_map(|l| l.strip_prefix("airfoil: "))?;
    let cells = head.split(' ').next()?.parse().ok()?;
    let ranks = head.split(" on ").nth(1)?.split(' ').next()?.parse().ok()?;
    let per_iter = stdout.lines().find_map(|l| {
        l.strip_prefix("timing: ")?
            .split(", ")
            .nth(1)?
            .strip_suffix(" s per iteration")?
            .parse()
            .ok()
    })?;
    let comm_share = stdout.lines().find_map(|l| {
        l.trim()
            .strip_prefix("halo exchange + reductions: ")?
            .split('%')
            .next()?
            .parse()
            .ok()
    })?;
    Some(AirfoilRun {
        cells,
        ranks,
        per_iter,
        comm_share,
    })
}

/// Seconds to the first loop result, as `op2-selftest` prints it.
pub fn first_result(stdout: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("first loop result after "))
        .and_then(|l| l.trim_end_matches(" s").parse().ok())
        .expect("timing line")
}

/// par_loop dispatch on a class-cache hit versus calling the same compiled loop function
/// directly, `n` calls each on a 1-element set, `rounds` times (one process: call this once, as
/// op2 reads its settings, `OP2_CACHE_DIR` = `cache`, at the first use).
/// Returns (seconds per par_loop, seconds per direct call) for each round.
pub fn dispatch_overhead(cache: &Path, n: usize, rounds: usize) -> Vec<(f64, f64)> {
    std::env::set_var("OP2_CACHE_DIR", cache);
    let s = Set::new(1).unwrap();
    let x = Dat::new(&DataSet::new(&s, 1).unwrap(), vec![0.0f64]).unwrap();
    let k = Kernel::new("bump", "void bump(double *x) { x[0] += 1.0; }").unwrap();
    par_loop(&k, &s, &[x.arg(Access::RW)]).unwrap();
    // The same compiled module, loaded and called with no runtime in between.
    let so = walk(cache)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "so"))
        .expect("a compiled module in the cache");
    // SAFETY: the module was just compiled by op2 from the kernel above into a private temp
    // directory; __op2_loop has the signature of op2's generated loop entry point.
    let lib = unsafe { libloading::Library::new(&so) }.unwrap();
    type Entry = unsafe extern "C" fn(i32, i32, *const *mut c_void, *const *const i32);
    // SAFETY: as above; the symbol is the generated entry point.
    let f: libloading::Symbol<Entry> = unsafe { lib.get(b"__op2_loop") }.unwrap();
    let mut v = [0.0f64];
    let args = [v.as_mut_ptr() as *mut c_void];
    let maps = [std::ptr::null::<i32>()];
    let mut out = Vec::new();
    for _ in 0..rounds {
        let t0 = Instant::now();
        for _ in 0..n {
            par_loop(&k, &s, &[x.arg(Access::RW)]).unwrap();
        }
        let per_loop = t0.elapsed().as_secs_f64() / n as f64;
        let t0 = Instant::now();
        for _ in 0..n {
            // SAFETY: one direct argument pointing at one f64, no maps, range [0, 1).
            unsafe { f(0, 1, args.as_ptr(), maps.as_ptr()) };
        }
        out.push((per_loop, t0.elapsed().as_secs_f64() / n as f64));
    }
    assert_eq!(v[0], (n * rounds) as f64);
    let got = x.to_vec::<f64>().unwrap()[0];
    assert_eq!(got, (n * rounds + 1) as f64);
    out
}

/// Every file below `d`.
pub fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A test program of this package (an example in `examples/`, never installed), found next to
/// the running bench in `target/<profile>/examples/` and built on demand.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("bench path");
    let profile = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let p = profile.join("examples").join(name);
    if !p.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "--release", "--example", name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok && p.exists(),
            "build the test programs first: cargo build --release --examples"
        );
    }
    p
}
