//! The minimal cases of three silent wrong answers found on more than one rank (issue #20),
//! each compared with the serial answer; self-checking, for any rank count (meant for 2 and 3).
//!
//! 1. Indirect WRITE and RW through one entry of a map: sets A = {a0, a1}, C = {c0, c1}, map
//!    A -> C of arity 2 with a0 -> [c0, c1], a1 -> [c1, c0]; a0 owned by rank 0, a1 by the last
//!    rank, C on rank 0 (so the last rank holds both c as halo copies). A loop over A writes
//!    `w[c] = 5 * gid(c) + 1` through entry 0 (serial: [1, 6]) and another takes
//!    `e = max(e, 7)` through entry 0 (serial: [7, 7]). The halo copy the loop never wrote must
//!    not travel back over its owner's value.
//! 2. Global MIN/MAX of `u64` and `u32` across ranks compare as unsigned: the rank holding
//!    2^63 (2^31) and the one holding 5 give MIN 5 and MAX 2^63 (2^31).
//! 3. Kernels named like locals of the generated wrapper (`d1`, `n`, `m0`, `args`) compile and
//!    give the serial answer.
//!
//! 4. With `--rw-conflict` only: an indirect RW whose one target is reached from elements owned
//!    by two ranks (A = {a0, a1} -> C = {c0}, `e = max(e, v)` with v = [5, 3]). The serial
//!    answer is 5; with no exec halo op2 cannot form it on more than one rank, so the loop must
//!    fail on every rank naming the Dat and the ranks (it kept one rank's value, 3, before).
//!
//! Prints `rank R of N: ok: regressions checked` and exits 0 on every rank, or names the case
//! that differs and exits 1 on every rank.
use std::process::ExitCode;

use op2::{par_loop, Access, Error, Global, GlobalMesh, Kernel, Result};

fn remote(detail: String) -> Error {
    Error::Remote { rank: 0, detail }.on_every_rank()
}

fn fail(what: &str, got: String, want: String) -> String {
    format!("{what}: got {got}, serial answer {want}")
}

/// Case 1: indirect WRITE and RW through map entry 0.
fn single_entry(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    let last = comm.size() - 1;
    let gm = comm.is_root().then(|| {
        GlobalMesh::new()
            .add_set("A", 2)
            .add_set("C", 2)
            .add_map("a2c", "A", "C", 2, vec![0, 1, 1, 0])
            .owners("A", vec![0, last])
    });
    let dm = op2::distribute(comm, gm)?;
    let (a, a2c) = (dm.set("A")?, dm.map("a2c")?);
    let root = |v: Vec<i64>| comm.is_root().then_some(v);
    let gid = dm.scatter_dat("gid", "C", 1, root(vec![0, 1]))?;
    let w = dm.scatter_dat("w", "C", 1, root(vec![-1, -1]))?;
    let e = dm.scatter_dat("e", "C", 1, root(vec![-1, -1]))?;
    let k = Kernel::new(
        "write_gid",
        "void write_gid(const int64_t *g, int64_t *w) { w[0] = 5 * g[0] + 1; }",
    )?;
    par_loop(
        &k,
        a,
        &[
            gid.arg_map(Access::Read, a2c, 0),
            w.arg_map(Access::Write, a2c, 0),
        ],
    )?;
    let k = Kernel::new("max7", "void max7(int64_t *e) { if (e[0] < 7) e[0] = 7; }")?;
    par_loop(&k, a, &[e.arg_map(Access::RW, a2c, 0)])?;
    let (w, e) = (w.gather::<i64>(0)?, e.gather::<i64>(0)?);
    let mut verdict = String::new();
    if let (Some(w), Some(e)) = (w, e) {
        if w != [1, 6] {
            verdict = fail(
                "indirect WRITE through map entry 0",
                format!("{w:?}"),
                "[1, 6]".into(),
            );
        } else if e != [7, 7] {
            verdict = fail(
                "indirect RW through map entry 0",
                format!("{e:?}"),
                "[7, 7]".into(),
            );
        }
    }
    // Rank 0 judged: every rank learns the verdict, so all fail together.
    let verdict = comm.broadcast_bytes(0, verdict.into_bytes())?;
    if verdict.is_empty() {
        Ok(())
    } else {
        Err(Error::Remote {
            rank: 0,
            detail: String::from_utf8_lossy(&verdict).into_owned(),
        }
        .on_every_rank())
    }
}

/// Case 2: Global MIN/MAX of unsigned types across ranks.
fn unsigned_min_max(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    // One element per rank holding its own value: 2^63 (2^31) on rank 0, 5 elsewhere.
    let s = op2::Set::new(1)?;
    let big = comm.rank() == 0;
    let ds = op2::DataSet::new(&s, 1)?;
    let v64 = op2::Dat::new(&ds, vec![if big { 1u64 << 63 } else { 5 }])?;
    let v32 = op2::Dat::new(&ds, vec![if big { 1u32 << 31 } else { 5 }])?;
    let (mn64, mx64) = (Global::new(vec![u64::MAX])?, Global::new(vec![0u64])?);
    let (mn32, mx32) = (Global::new(vec![u32::MAX])?, Global::new(vec![0u32])?);
    let k = Kernel::new(
        "umm",
        "void umm(const uint64_t *a, const uint32_t *b, uint64_t *mn, uint64_t *mx, uint32_t *mn2, uint32_t *mx2) {
           if (a[0] < mn[0]) mn[0] = a[0]; if (a[0] > mx[0]) mx[0] = a[0];
           if (b[0] < mn2[0]) mn2[0] = b[0]; if (b[0] > mx2[0]) mx2[0] = b[0]; }",
    )?;
    par_loop(
        &k,
        &s,
        &[
            v64.arg(Access::Read),
            v32.arg(Access::Read),
            mn64.arg(Access::Min),
            mx64.arg(Access::Max),
            mn32.arg(Access::Min),
            mx32.arg(Access::Max),
        ],
    )?;
    let many = comm.size() > 1;
    let want64 = (if many { 5 } else { 1u64 << 63 }, 1u64 << 63);
    let want32 = (if many { 5 } else { 1u32 << 31 }, 1u32 << 31);
    let got64 = (mn64.get::<u64>()?, mx64.get::<u64>()?);
    let got32 = (mn32.get::<u32>()?, mx32.get::<u32>()?);
    if got64 != want64 {
        return Err(remote(fail(
            "Global MIN/MAX of u64",
            format!("{got64:?}"),
            format!("{want64:?}"),
        )));
    }
    if got32 != want32 {
        return Err(remote(fail(
            "Global MIN/MAX of u32",
            format!("{got32:?}"),
            format!("{want32:?}"),
        )));
    }
    // The reduction itself, as users call it.
    let r = comm.allreduce(&[if big { u64::MAX - 1 } else { 3 }], op2::ReduceOp::Min)?;
    if r[0] != if many { 3 } else { u64::MAX - 1 } {
        return Err(remote(fail(
            "Comm::allreduce MIN of u64",
            format!("{r:?}"),
            "[3]".into(),
        )));
    }
    Ok(())
}

/// Case 3: kernel names that were names of the wrapper's locals.
fn wrapper_names(rt: &op2::Runtime) -> Result<()> {
    let ranks = rt.comm().size() as f64;
    let s = op2::Set::new(10)?;
    let ds = op2::DataSet::new(&s, 1)?;
    for name in ["d1", "n", "m0", "args", "g2", "start"] {
        let x = op2::Dat::new(&ds, (0..10).map(|i| i as f64).collect::<Vec<_>>())?;
        let y = op2::Dat::zeros(&ds, op2::DType::F64);
        let tot = Global::scalar(0.0f64);
        let k = Kernel::new(
            name,
            &format!("void {name}(const double *x, double *y, double *t) {{ y[0] = 2 * x[0]; t[0] += x[0]; }}"),
        )?;
        par_loop(
            &k,
            &s,
            &[
                x.arg(Access::Read),
                y.arg(Access::Write),
                tot.arg(Access::Inc),
            ],
        )?;
        let y = y.to_vec::<f64>()?;
        if y != (0..10).map(|i| 2.0 * i as f64).collect::<Vec<_>>()
            || tot.get::<f64>()? != 45.0 * ranks
        {
            return Err(remote(fail(
                &format!("kernel named `{name}`"),
                format!("{y:?}"),
                "2 x".into(),
            )));
        }
    }
    Ok(())
}

/// Case 4: an indirect RW entry written from elements on two ranks.
fn rw_conflict(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    let last = comm.size() - 1;
    let gm = comm.is_root().then(|| {
        GlobalMesh::new()
            .add_set("A", 2)
            .add_set("C", 1)
            .add_map("a2c", "A", "C", 1, vec![0, 0])
            .owners("A", vec![0, last])
    });
    let dm = op2::distribute(comm, gm)?;
    let (a, a2c) = (dm.set("A")?, dm.map("a2c")?);
    let v = dm.scatter_dat("v", "A", 1, comm.is_root().then_some(vec![5i64, 3]))?;
    let e = dm.scatter_dat("e", "C", 1, comm.is_root().then_some(vec![-1i64]))?;
    let k = Kernel::new(
        "maxv",
        "void maxv(const int64_t *v, int64_t *e) { if (e[0] < v[0]) e[0] = v[0]; }",
    )?;
    par_loop(&k, a, &[v.arg(Access::Read), e.arg_map(Access::RW, a2c, 0)])?;
    if let Some(e) = e.gather::<i64>(0)? {
        if e != [5] {
            return Err(remote(fail(
                "indirect RW from two ranks",
                format!("{e:?}"),
                "[5]".into(),
            )));
        }
    }
    println!(
        "rank {} of {}: ok: rw conflict checked",
        comm.rank(),
        comm.size()
    );
    Ok(())
}

fn check(rt: &op2::Runtime) -> Result<()> {
    if std::env::args().any(|a| a == "--rw-conflict") {
        return rw_conflict(rt);
    }
    single_entry(rt)?;
    unsigned_min_max(rt)?;
    wrapper_names(rt)?;
    let comm = rt.comm();
    println!(
        "rank {} of {}: ok: regressions checked",
        comm.rank(),
        comm.size()
    );
    Ok(())
}

fn main() -> ExitCode {
    op2::run(check)
}
