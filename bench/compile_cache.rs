//! Generated-code caches, figures printed in one run (`cargo bench --bench compile_cache`):
//! (a) compiler runs per distinct kernel at 1, 2 and 4 ranks (cold cache, logging `OP2_CC`);
//! (b) time to the first loop result with a cold and a warm disk cache (4 ranks);
//! (c) par_loop dispatch on a class-cache hit versus calling the same compiled function pointer
//!     directly (one process, a 1-element set, so the loop body is negligible): ns per call of
//!     each, side by side, and (where valgrind is installed) the instructions of each, counted
//!     by callgrind, independent of machine load: the bench runs itself under
//!     `valgrind --tool=callgrind` with 20000 and 40000 calls and divides the difference of
//!     `par_loop`'s inclusive count by 20000 (`OP2_BENCH_CALLGRIND=0` skips it).
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
use std::ffi::c_void;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use op2::{par_loop, Access, DType, Dat, DataSet, Kernel, Set};

#[path = "common/mod.rs"]
mod bcommon;
#[path = "../tests/common/mod.rs"]
mod common;

fn selftest(np: usize, cache: &Path, cc: &Path, kernels: usize) -> (String, f64) {
    let t0 = Instant::now();
    let out = Command::new("mpiexec")
        .args([
            "-n",
            &np.to_string(),
            bcommon::example("op2-selftest")
                .to_str()
                .expect("utf-8 path"),
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
    let (cc, log) = common::logging_cc(tools.path());
    let count = || common::compile_count(&log);

    // OP2_BENCH_ONLY=c: run only figure (c) (no MPI jobs, no test programs to build).
    let only_c = std::env::var("OP2_BENCH_ONLY").is_ok_and(|v| v == "c");
    if !only_c {
        figures_a_b(&cc, &count);
    }
    dispatch();
}

fn figures_a_b(cc: &Path, count: &dyn Fn() -> usize) {
    println!("(a) compiler runs per distinct kernel, cold cache, 5 kernels");
    for np in [1, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let before = count();
        selftest(np, dir.path(), cc, 5);
        println!(
            "    {np} rank(s): {:.2} compiles per kernel",
            (count() - before) as f64 / 5.0
        );
    }

    println!("(b) time to first loop result, 4 ranks (median of 3)");
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        cold.push(common::first_result(&selftest(4, dir.path(), cc, 1).0));
        warm.push(common::first_result(&selftest(4, dir.path(), cc, 1).0));
    }
    cold.sort_by(f64::total_cmp);
    warm.sort_by(f64::total_cmp);
    println!(
        "    cold disk cache: {:.1} ms   warm disk cache: {:.2} ms   ratio {:.0}x",
        cold[1] * 1e3,
        warm[1] * 1e3,
        cold[1] / warm[1]
    );
}

fn dispatch() {
    println!("(c) dispatch overhead, class-cache hit vs direct call of the same function pointer");
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("OP2_CACHE_DIR", dir.path());
    let s = Set::new(1).unwrap();
    let x = Dat::new(&DataSet::new(&s, 1).unwrap(), vec![0.0f64]).unwrap();
    let k = Kernel::new("bump", "void bump(double *x) { x[0] += 1.0; }").unwrap();
    par_loop(&k, &s, &[x.arg(Access::RW)]).unwrap();
    // The fastest of 10 batches: the machine may be shared, and the minimum is the figure
    // least disturbed by other processes.
    // OP2_BENCH_DISPATCH_N: calls in total (e.g. fewer, to count instructions under callgrind).
    let n: usize = std::env::var("OP2_BENCH_DISPATCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let batch = n / 10;
    let mut per_loop = Best::default();
    for _ in 0..10 {
        let t = Best::start();
        for _ in 0..batch {
            par_loop(&k, &s, &[x.arg(Access::RW)]).unwrap();
        }
        per_loop.stop(t, batch);
    }
    // The same compiled module, loaded and called with no runtime in between.
    let so = common::files_under(dir.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "so"))
        .unwrap();
    // SAFETY: the library is the one op2 compiled for this run's loop in a private temporary
    // cache; loading it runs no constructor of ours.
    let lib = unsafe { libloading::Library::new(&so) }.unwrap();
    type Entry = unsafe extern "C" fn(i32, i32, *const *mut c_void, *const *const i32);
    // SAFETY: `__op2_loop` has exactly the type `Entry` (op2's calling convention, jit/ffi.rs).
    let f: libloading::Symbol<Entry> = unsafe { lib.get(b"__op2_loop") }.unwrap();
    let mut v = [0.0f64];
    let args = [v.as_mut_ptr() as *mut c_void];
    let maps = [std::ptr::null::<i32>()];
    let mut direct = Best::default();
    for _ in 0..10 {
        let t = Best::start();
        for _ in 0..batch {
            // SAFETY: one element of a direct loop over one f64, which `v` holds; no map.
            unsafe { f(0, 1, args.as_ptr(), maps.as_ptr()) };
        }
        direct.stop(t, batch);
    }
    assert_eq!(v[0], (10 * batch) as f64);
    assert_eq!(x.to_vec::<f64>().unwrap()[0], (10 * batch + 1) as f64);
    for (what, hit, raw) in [
        ("wall", per_loop.wall, direct.wall),
        ("thread CPU", per_loop.cpu, direct.cpu),
    ] {
        println!(
            "    {what:>10}: dispatch (par_loop on a hit) {:.1} ns   raw call {:.1} ns   overhead {:.1} ns per loop (goal 100 ns)",
            hit * 1e9,
            raw * 1e9,
            (hit - raw) * 1e9
        );
    }
    let _ = DType::F64;
    if std::env::var_os("OP2_BENCH_INNER").is_none()
        && std::env::var("OP2_BENCH_CALLGRIND").map_or(true, |v| v != "0")
    {
        instructions();
    }
}

/// Instructions per par_loop hit and per raw call, from two callgrind runs of this bench's
/// figure (c) (20000 and 40000 calls of each): the difference is 20000 calls, free of setup.
fn instructions() {
    // Whether `tool` runs (callgrind_annotate exits 255 even for --version: only spawning counts).
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !have("valgrind") || !have("callgrind_annotate") {
        println!("    (valgrind/callgrind_annotate not installed: no instruction counts)");
        return;
    }
    let exe = std::env::current_exe().expect("this bench's path");
    let dir = tempfile::tempdir().unwrap();
    let mut counts = Vec::new();
    for n in [20_000usize, 40_000] {
        let out = dir.path().join(format!("cg.{n}"));
        let st = Command::new("valgrind")
            .args(["--tool=callgrind", "-q"])
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(&exe)
            .env("OP2_BENCH_ONLY", "c")
            .env("OP2_BENCH_INNER", "1")
            .env("OP2_BENCH_DISPATCH_N", n.to_string())
            .output()
            .expect("valgrind");
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let ann = Command::new("callgrind_annotate")
            .arg("--inclusive=yes")
            .arg(&out)
            .output()
            .expect("callgrind_annotate");
        let text = String::from_utf8_lossy(&ann.stdout).into_owned();
        let find = |what: &str| -> u64 {
            text.lines()
                .find(|l| l.contains(what))
                .and_then(|l| l.split_whitespace().next())
                .map(|c| c.replace(',', "").parse().unwrap_or(0))
                .unwrap_or(0)
        };
        counts.push((find("parloop::par_loop ["), find(":__op2_loop [")));
    }
    let (a, b) = (counts[0], counts[1]);
    let per_hit = b.0.saturating_sub(a.0) as f64 / 20_000.0;
    // The generated function runs once per par_loop and once per raw call.
    let raw = b.1.saturating_sub(a.1) as f64 / 40_000.0;
    println!(
        "    callgrind: dispatch (par_loop on a hit) {per_hit:.0} instructions   raw call {raw:.0} \
         instructions   overhead {:.0} instructions per loop",
        per_hit - raw
    );
}

/// The fastest batch, per call, in wall time and in this thread's CPU time (the latter is not
/// inflated by other processes taking the core on a shared machine).
struct Best {
    wall: f64,
    cpu: f64,
}

impl Default for Best {
    fn default() -> Best {
        Best {
            wall: f64::INFINITY,
            cpu: f64::INFINITY,
        }
    }
}

impl Best {
    fn start() -> (Instant, f64) {
        (Instant::now(), thread_cpu_seconds())
    }
    fn stop(&mut self, (t0, c0): (Instant, f64), calls: usize) {
        let cpu = thread_cpu_seconds() - c0;
        self.wall = self.wall.min(t0.elapsed().as_secs_f64() / calls as f64);
        self.cpu = self.cpu.min(cpu / calls as f64);
    }
}

fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
