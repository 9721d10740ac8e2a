//! Several op2 runtimes in one MPI job, self-checking (rsmpi-example style: every check is an
//! assertion that fails the job; rank 0 prints `ok: ...` lines the test looks for).
//!
//! * World: the default runtime (`op2::run`) runs one loop (`world_sum`) on a set made with
//!   `Set::new`, so the existing constructors stay on the world.
//! * Halves: the ranks split the world by `rank % 2`; each half has its own runtime on its
//!   sub-communicator and runs different loops (half 0: `half0_sum`; half 1: `half1_scale`
//!   and `half1_sum`). Each half's Global reduces over its own ranks only, its class cache holds
//!   only its kernels (1 and 2), the world's still only `world_sum`, and its report (written at
//!   its finalize to `--report-dir DIR/half{C}.json`) counts only its ranks.
//! * After a half's finalize its objects are refused with a message (its communicator is gone).
//! * Coexisting: a runtime on a duplicate of the world (`Runtime::dup`) beside the world
//!   runtime: separate class caches; a loop over a world set with a Dat of the duplicate's is
//!   refused with a clear error on every rank (no hang); and a runtime on a raw communicator
//!   handed in from outside (`Runtime::on_raw_comm`, here rsmpi's duplicate of the world),
//!   and one on op2's own duplicate of such a communicator, freed by the caller at once
//!   (`Runtime::on_dup_of_raw`), whose objects are refused after its finalize.
use std::path::PathBuf;
use std::process::ExitCode;

use op2::{par_loop, Access, Dat, DataSet, Error, Global, Kernel, Result, Runtime, Set};

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("op2-runtimes-check", what()))
    }
}

/// Sum of `x` over the set, into a Global (reduced over the set's communicator).
fn sum(name: &str, set: &Set, x: &Dat) -> Result<f64> {
    let k = Kernel::new(
        name,
        &format!("void {name}(const double *x, double *s) {{ s[0] += x[0]; }}"),
    )?;
    let g = Global::new(vec![0.0f64])?;
    par_loop(&k, set, &[x.arg(Access::Read), g.arg(Access::Inc)])?;
    Ok(g.value::<f64>()?[0])
}

/// A set of `n` elements on `set`'s runtime whose Dat holds `value` everywhere.
fn filled(set: &Set, value: f64) -> Result<Dat> {
    Dat::new(&DataSet::new(set, 1)?, vec![value; set.size()])
}

fn halves(rt: &Runtime, dir: &std::path::Path) -> Result<()> {
    let (rank, size) = (rt.rank(), rt.size());
    let color = (rank % 2) as u32;
    let cfg = rt
        .config()
        .clone()
        .cache_report(dir.join(format!("half{color}.json")));
    let half = rt.split(color, rank, cfg)?;
    let members: Vec<i32> = (0..size).filter(|r| (r % 2) as u32 == color).collect();
    ensure(half.size() as usize == members.len(), || {
        format!("half {color} has {} ranks", half.size())
    })?;
    let s = half.set(3)?;
    ensure(s.comm() == half.comm() && s.comm() != rt.comm(), || {
        "a half's set is on the half's communicator".into()
    })?;
    // Every rank contributes 3 elements of value (world rank + 1): the half's sum names its
    // members only.
    let x = filled(&s, (rank + 1) as f64)?;
    let want: f64 = members.iter().map(|r| 3.0 * (*r + 1) as f64).sum();
    let got = if color == 0 {
        sum("half0_sum", &s, &x)?
    } else {
        let k = Kernel::new(
            "half1_scale",
            "void half1_scale(double *x) { x[0] *= 2.0; }",
        )?;
        par_loop(&k, &s, &[x.arg(Access::RW)])?;
        sum("half1_sum", &s, &x)? / 2.0
    };
    ensure(got == want, || {
        format!("half {color}: sum {got}, expected {want}")
    })?;
    let kernels = half.class_cache_entries();
    ensure(kernels == 1 + color as usize, || {
        format!("half {color}: class cache holds {kernels} kernels")
    })?;
    let timed: Vec<String> = half.timings().into_iter().map(|t| t.kernel).collect();
    let mine: &[&str] = if color == 0 {
        &["half0_sum"]
    } else {
        &["half1_scale", "half1_sum"]
    };
    ensure(timed == mine, || format!("half {color} timed {timed:?}"))?;
    ensure(rt.class_cache_entries() == 1, || {
        format!(
            "world class cache holds {} kernels",
            rt.class_cache_entries()
        )
    })?;
    half.finalize()?;
    // The half's objects outlive their runtime: a loop on them is refused with a message.
    match sum("half0_sum", &s, &x) {
        Err(e) if e.to_string().contains("was finalized") => {}
        other => {
            return Err(Error::invalid(
                "op2-runtimes-check",
                format!("a loop after its runtime's finalize gave {other:?}"),
            ))
        }
    }
    rt.comm().barrier()?;
    if rank == 0 {
        for c in 0..2usize.min(size as usize) {
            let text = std::fs::read_to_string(dir.join(format!("half{c}.json")))
                .map_err(|e| Error::io("read a half's report", dir, e))?;
            let report: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::invalid("a half's report", e.to_string()))?;
            let want = (0..size).filter(|r| (*r % 2) as usize == c).count();
            ensure(report["ranks"] == want, || {
                format!("half {c}'s report counts {} ranks", report["ranks"])
            })?;
        }
        println!("ok: halves ran their own loops, caches and reports");
    }
    Ok(())
}

fn coexisting(rt: &Runtime) -> Result<()> {
    // Threads left to op2: the duplicate takes the world's count (all ranks of the node).
    let dup = rt.dup(rt.config().clone().threads(0))?;
    ensure(dup.config().threads == rt.config().threads, || {
        format!("dup threads {}", dup.config().threads)
    })?;
    ensure(dup.comm() != rt.comm() && dup.size() == rt.size(), || {
        "the duplicate is another communicator of the same ranks".into()
    })?;
    let d = Set::new_in(&dup, 4)?;
    let y = filled(&d, 1.0)?;
    let got = sum("world_sum", &d, &y)?; // the world's kernel, compiled again for this runtime
    ensure(got == 4.0 * rt.size() as f64, || format!("dup sum {got}"))?;
    ensure(
        dup.class_cache_entries() == 1 && rt.class_cache_entries() == 1,
        || {
            format!(
                "separate class caches: dup {}, world {}",
                dup.class_cache_entries(),
                rt.class_cache_entries()
            )
        },
    )?;
    // A loop mixing the runtimes: the world's set, the duplicate's Dat.
    let w = Set::new(4)?;
    let mixed = sum("mixed_sum", &w, &y);
    match mixed {
        Err(e) if e.to_string().contains("is on another runtime") => {
            if rt.rank() == 0 {
                println!("ok: mixed loop refused: {e}");
            }
        }
        other => {
            return Err(Error::invalid(
                "op2-runtimes-check",
                format!("a loop mixing runtimes gave {other:?}"),
            ))
        }
    }
    dup.finalize()?;
    // A communicator handed in from outside op2 (as mpi4py would): rsmpi's duplicate.
    use mpi::raw::AsRaw;
    use mpi::topology::Communicator;
    // The example plays the outside caller that owns MPI (clippy.toml's rule is for op2).
    #[allow(clippy::disallowed_methods)]
    let outside = mpi::topology::SimpleCommunicator::world().duplicate();
    // SAFETY: `outside` is a live intra-communicator and outlives the runtime (finalized below,
    // before `outside` is dropped).
    let raw = unsafe { Runtime::on_raw_comm(outside.as_raw(), rt.config().clone())? };
    let r = raw.set(2)?;
    let got = sum("world_sum", &r, &filled(&r, 0.5)?)?;
    ensure(got == rt.size() as f64, || format!("raw-comm sum {got}"))?;
    ensure(raw.class_cache_entries() == 1, || {
        "raw runtime's cache".into()
    })?;
    raw.finalize()?;
    drop(outside);
    // A runtime on op2's own duplicate of an outside communicator (`on_dup_of_raw`, what the
    // Python package does for `comm=`): the outside one is freed at once, the runtime works on.
    #[allow(clippy::disallowed_methods)]
    let outside = mpi::topology::SimpleCommunicator::world().duplicate();
    // SAFETY: `outside` is live during the call; the runtime keeps only its own duplicate.
    let dup = unsafe { Runtime::on_dup_of_raw(outside.as_raw(), rt.config().clone())? };
    drop(outside); // MPI_Comm_free of the caller's communicator
    let d = dup.set(3)?;
    let got = sum("world_sum", &d, &filled(&d, 1.0)?)?;
    ensure(got == 3.0 * rt.size() as f64, || {
        format!("dup-of-raw sum {got}")
    })?;
    dup.finalize()?; // frees op2's duplicate: its objects are refused from now on
    let refused = sum("world_sum", &d, &filled(&d, 1.0)?);
    ensure(refused.is_err(), || {
        "a finalized dup-of-raw runtime ran a loop".into()
    })?;
    if rt.rank() == 0 {
        println!("ok: coexisting runtimes kept separate caches");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .iter()
        .position(|a| a == "--report-dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    op2::run(|rt| {
        let s = Set::new(5)?;
        ensure(s.comm() == rt.comm(), || "Set::new is on the world".into())?;
        let got = sum("world_sum", &s, &filled(&s, 1.0)?)?;
        ensure(got == 5.0 * rt.size() as f64, || format!("world sum {got}"))?;
        halves(rt, &dir)?;
        let timed: Vec<String> = rt.timings().into_iter().map(|t| t.kernel).collect();
        ensure(timed == ["world_sum"], || format!("world timed {timed:?}"))?;
        coexisting(rt)?;
        println!("rank {} of {}: runtimes ok", rt.rank(), rt.size());
        Ok(())
    })
}
