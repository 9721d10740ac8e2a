//! The faults the checked mode (`OP2_CHECK=1`) and the hang watchdog must turn into messages
//! (issue #20), one per flag, on a distributed triangle mesh of the unit square (2 or 3 ranks):
//!
//! * no flag: a correct program (indirect READ, indirect INC, Global READ and INC, direct
//!   loops, `update_halo`) whose answer is checked against the serial sum; prints
//!   `rank R of N: ok: sum S` (the checked mode must find nothing here);
//! * `--read-write`: kernel `sneaky` writes its indirect READ argument (Dat x through c2n),
//!   then loop `next` runs (where the verdict comes on several ranks);
//! * `--read-write-global`: kernel `sneaky_global` writes its READ Global, as the last loop
//!   (the verdict comes at finalize);
//! * `--lonely K`: K times, every rank runs loop `lonely` (direct READ + Global INC: an
//!   allreduce) then the direct loop `next` (no collective), except that the K-th `lonely` runs
//!   on rank 1 alone (par_loop call 2K - 1); `--then-finalize` drops the last `next`, so the
//!   other ranks go to finalize;
//! * `--bad-index`: rank 1 alone passes map entry 3 of the arity-3 map c2n to loop `bad`, on
//!   the loop's first call; `--bad-set`: rank 1 alone passes a Dat on the nodes directly to
//!   a loop over the cells;
//! * `--corrupt-halo`: rank 1 overwrites one of its (valid) halo copies of x, then every rank
//!   runs `reader`, which reads x through c2n;
//! * `--print-config`: prints `rank R: hang timeout S s, check B` (the settings in force).
use std::process::ExitCode;

use op2::{par_loop, Access, DType, Dat, DataSet, Error, Global, GlobalMesh, Kernel, Result};

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn value(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

const KERNELS: &str = r#"
void cell_sum(const double *a, const double *b, const double *c, const double *w, double *s) {
    s[0] += w[0] * (a[0] + a[1] + b[0] + b[1] + c[0] + c[1]);
}
void spread(const double *w, double *n) {
    for (int k = 0; k < 3; k++) { n[3 * k] += w[0]; n[3 * k + 1] += 2.0 * w[0]; n[3 * k + 2] += 3.0 * w[0]; }
}
void sneaky(const double *xa, double *s) {
    double *x = (double *)xa; /* casts the const away: a write the checked mode must report */
    x[0] += 1.0;
    s[0] += x[1];
}
void sneaky_global(const double *w, const double *g) { ((double *)g)[0] += w[0]; }
void lonely(const double *w, double *s) { s[0] += w[0]; }
void next(double *w) { w[0] = w[0] * 0.5 + 1.0; }
void bad(const double *x, double *s) { s[0] += x[0]; }
void reader(const double *x, double *s) { s[0] += x[0]; }
"#;

fn k(name: &str) -> Result<Kernel> {
    Kernel::new(name, KERNELS)
}

fn check(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    let (rank, size) = (comm.rank(), comm.size());
    if flag("--print-config") {
        println!(
            "rank {rank}: hang timeout {} s, check {}",
            rt.config().hang_timeout_s,
            rt.config().check
        );
        return Ok(());
    }
    let tri = op2::mesh::meshgen::unit_square(12, 0.0)?;
    let gm = comm.is_root().then(|| {
        GlobalMesh::new()
            .add_set("nodes", tri.nnodes())
            .add_set("cells", tri.ncells())
            .add_map("c2n", "cells", "nodes", 3, tri.cells.clone())
            .coordinates("nodes", 2, tri.coords.clone())
    });
    let dm = op2::distribute(comm, gm)?;
    let (cells, nodes, c2n) = (dm.set("cells")?, dm.set("nodes")?, dm.map("c2n")?);
    let root = |v: Vec<f64>| comm.is_root().then_some(v);
    let x = dm.scatter_dat("x", "nodes", 2, root(tri.coords.clone()))?;
    let w = dm.scatter_dat(
        "w",
        "cells",
        1,
        root((0..tri.ncells()).map(|c| 1.0 + (c % 5) as f64).collect()),
    )?;
    let sum = Global::named("sum", vec![0.0f64])?;

    if let Some(calls) = value("--lonely") {
        for i in 1..=calls {
            if i < calls || rank == 1 {
                par_loop(
                    &k("lonely")?,
                    cells,
                    &[w.arg(Access::Read), sum.arg(Access::Inc)],
                )?;
            }
            if i < calls || !flag("--then-finalize") {
                par_loop(&k("next")?, cells, &[w.arg(Access::RW)])?;
            }
        }
        println!("rank {rank} of {size}: reached the end of its body");
        return Ok(());
    }
    if flag("--bad-index") || flag("--bad-set") {
        let (idx, on_nodes) = match rank == 1 {
            true => (if flag("--bad-index") { 3 } else { 0 }, flag("--bad-set")),
            false => (0, false),
        };
        let xarg = if on_nodes {
            x.arg(Access::Read) // a Dat on the nodes, directly, over the cells
        } else {
            x.arg_map(Access::Read, c2n, idx)
        };
        par_loop(&k("bad")?, cells, &[xarg, sum.arg(Access::Inc)])?;
        println!("rank {rank} of {size}: reached the end of its body");
        return Ok(());
    }
    if flag("--read-write") {
        par_loop(
            &k("sneaky")?,
            cells,
            &[x.arg_map(Access::Read, c2n, 0), sum.arg(Access::Inc)],
        )?;
        // On several ranks the verdict comes with the next par_loop (or finalize).
        par_loop(&k("next")?, cells, &[w.arg(Access::RW)])?;
        println!("rank {rank} of {size}: reached the end of its body");
        return Ok(());
    }
    if flag("--read-write-global") {
        let g = Global::named("factor", vec![2.0f64])?;
        par_loop(
            &k("sneaky_global")?,
            cells,
            &[w.arg(Access::Read), g.arg(Access::Read)],
        )?;
        println!("rank {rank} of {size}: reached the end of its body");
        return Ok(());
    }
    if flag("--corrupt-halo") {
        op2::update_halo(&x)?; // valid copies everywhere
        if rank == 1 && nodes.total_size() > nodes.size() {
            op2::corrupt_halo_copy_for_tests(&x, nodes.size(), -42.0)?;
        }
        par_loop(
            &k("reader")?,
            cells,
            &[x.arg_map(Access::Read, c2n, 0), sum.arg(Access::Inc)],
        )?;
        println!("rank {rank} of {size}: reached the end of its body");
        return Ok(());
    }

    // A correct program: the checked mode finds nothing, and the answer is the serial one.
    let nsum = Dat::zeros(&DataSet::new(nodes, 3)?, DType::F64);
    let factor = Global::named("factor", vec![0.5f64])?;
    for _ in 0..3 {
        par_loop(
            &k("cell_sum")?,
            cells,
            &[
                x.arg_map(Access::Read, c2n, 0),
                x.arg_map(Access::Read, c2n, 1),
                x.arg_map(Access::Read, c2n, 2),
                w.arg(Access::Read),
                sum.arg(Access::Inc),
            ],
        )?;
        par_loop(
            &k("spread")?,
            cells,
            &[w.arg(Access::Read), nsum.arg_vec(Access::Inc, c2n)],
        )?;
        par_loop(
            &Kernel::new(
                "scale",
                "void scale(const double *f, double *w) { w[0] = w[0] * f[0] + 1.0; }",
            )?,
            cells,
            &[factor.arg(Access::Read), w.arg(Access::RW)],
        )?;
        op2::update_halo(&nsum)?;
    }
    // The serial answer.
    let mut wv: Vec<f64> = (0..tri.ncells()).map(|c| 1.0 + (c % 5) as f64).collect();
    let (mut want, mut nwant) = (0.0, vec![0.0; 3 * tri.nnodes()]);
    for _ in 0..3 {
        for (c, nodes) in tri.cells.chunks_exact(3).enumerate() {
            let s: f64 = nodes
                .iter()
                .map(|&n| tri.coords[2 * n as usize] + tri.coords[2 * n as usize + 1])
                .sum();
            want += wv[c] * s;
            for &n in nodes {
                for d in 0..3 {
                    nwant[3 * n as usize + d] += (d + 1) as f64 * wv[c];
                }
            }
        }
        wv.iter_mut().for_each(|v| *v = *v * 0.5 + 1.0);
    }
    let got = sum.value::<f64>()?[0];
    let ngot = nsum.gather::<f64>(0)?;
    let mut bad = (got - want).abs() > 1e-9 * want.abs();
    if let Some(n) = ngot {
        bad |= n
            .iter()
            .zip(&nwant)
            .any(|(a, b)| (a - b).abs() > 1e-9 * b.abs().max(1.0));
    }
    let bad = comm.allreduce_u64(bad as u64, op2::ReduceOp::Max)? != 0;
    if bad {
        return Err(Error::Remote {
            rank: 0,
            detail: format!("sum {got} or nodal sums differ from the serial answer {want}"),
        }
        .on_every_rank());
    }
    println!("rank {rank} of {size}: ok: sum {got:.6}");
    Ok(())
}

fn main() -> ExitCode {
    op2::run(check)
}
