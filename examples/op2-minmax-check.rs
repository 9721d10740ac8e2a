//! MIN/MAX on Dats (PyOP2's semantics: the kernel gets a copy of the values, and each entry
//! keeps the smaller or larger of its value and the copy's) equal the serial loop on a
//! distributed mesh. Rank 0 builds a scrambled graph of edges between nodes, `op2::distribute`
//! spreads it, and a loop over the edges folds each edge's weight into its two nodes: MIN
//! through each map entry (f64), MAX through the whole map (i64), and MAX directly on the
//! edges (f64). The kernel stores its candidate without comparing, so only op2's fold can give
//! the serial answer, and on more than one rank the halo copies' folds must reach their
//! owners. The loop runs twice, with the weights changed in between. Every Dat is gathered to
//! rank 0 and compared exactly; prints `ok: N values checked` on every rank, and fails on
//! every rank on a mismatch. Threads per rank come from `OP2_THREADS` as for any op2 program.
use std::process::ExitCode;

use op2::{par_loop, Access, DType, Dat, DataSet, GlobalMesh, Kernel, Result};

// Only `verdict` (rank 0's outcome on every rank) is used here.
#[allow(dead_code)]
#[path = "mat-compare/compare.rs"]
mod compare;

const NODES: usize = 700;
const EDGES: usize = 2100;

const KERNEL: &str = "
static void fold(const double *w, double *lo0, double *lo1, int64_t *hi, double *own) {
    lo0[0] = w[0]; lo1[0] = w[0] + 0.5;
    hi[0] = (int64_t)(w[0] * 3); hi[1] = (int64_t)(w[0] * 3) + 1;
    own[0] = w[0];
}
static void bump(double *w) { w[0] = w[0] * 0.75 + 11.0; }";

fn edge_nodes() -> Vec<i32> {
    (0..EDGES)
        .flat_map(|e| {
            let a = (e * 7919 + 13) % NODES;
            let b = (a + 1 + (e * 31) % (NODES - 1)) % NODES;
            [a as i32, b as i32]
        })
        .collect()
}

fn weight(e: usize) -> f64 {
    ((e * 53 + 7) % 997) as f64 - 400.0
}

fn init_node(n: usize) -> f64 {
    ((n * 37) % 101) as f64 - 50.0
}

/// The serial answer: (lo, hi, own) after `iters` loops, with the weights bumped between.
fn serial(iters: usize) -> (Vec<f64>, Vec<i64>, Vec<f64>) {
    let en = edge_nodes();
    let mut w: Vec<f64> = (0..EDGES).map(weight).collect();
    let mut lo: Vec<f64> = (0..NODES).map(init_node).collect();
    let mut hi: Vec<i64> = lo.iter().map(|&v| v as i64).collect();
    let mut own = vec![0.0f64; EDGES];
    for it in 0..iters {
        if it > 0 {
            w.iter_mut().for_each(|x| *x = *x * 0.75 + 11.0);
        }
        for e in 0..EDGES {
            let (a, b) = (en[2 * e] as usize, en[2 * e + 1] as usize);
            lo[a] = lo[a].min(w[e]);
            lo[b] = lo[b].min(w[e] + 0.5);
            hi[a] = hi[a].max((w[e] * 3.0) as i64);
            hi[b] = hi[b].max((w[e] * 3.0) as i64 + 1);
            own[e] = own[e].max(w[e]);
        }
    }
    (lo, hi, own)
}

fn check(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    let iters = 2;
    let gm = comm.is_root().then(|| {
        GlobalMesh::new()
            .add_set("nodes", NODES)
            .add_set("edges", EDGES)
            .add_map("pedge", "edges", "nodes", 2, edge_nodes())
    });
    let dm = op2::distribute(comm, gm)?;
    let pedge = dm.map("pedge")?;
    let root = |v: Vec<f64>| comm.is_root().then_some(v);
    let w = dm.scatter_dat("w", "edges", 1, root((0..EDGES).map(weight).collect()))?;
    let lo = dm.scatter_dat("lo", "nodes", 1, root((0..NODES).map(init_node).collect()))?;
    let hi_init: Vec<i64> = (0..NODES).map(|n| init_node(n) as i64).collect();
    let hi = dm.scatter_dat("hi", "nodes", 1, comm.is_root().then_some(hi_init))?;
    let own = Dat::zeros(&DataSet::new(dm.set("edges")?, 1)?, DType::F64);
    let (fold, bump) = (Kernel::new("fold", KERNEL)?, Kernel::new("bump", KERNEL)?);
    for it in 0..iters {
        if it > 0 {
            par_loop(&bump, dm.set("edges")?, &[w.arg(Access::RW)])?;
        }
        let args = [
            w.arg(Access::Read),
            lo.arg_map(Access::Min, pedge, 0),
            lo.arg_map(Access::Min, pedge, 1),
            hi.arg_vec(Access::Max, pedge),
            own.arg(Access::Max),
        ];
        par_loop(&fold, dm.set("edges")?, &args)?;
    }
    let got = (
        lo.gather::<f64>(0)?,
        hi.gather::<i64>(0)?,
        own.gather::<f64>(0)?,
    );
    let outcome = match got {
        (Some(lo), Some(hi), Some(own)) => {
            let want = serial(iters);
            Some(if (&lo, &hi, &own) == (&want.0, &want.1, &want.2) {
                Ok(lo.len() + hi.len() + own.len())
            } else {
                let bad = (0..NODES).find(|&n| lo[n] != want.0[n] || hi[n] != want.1[n]);
                Err(format!(
                    "MIN/MAX differ from the serial loop (first node {bad:?})"
                ))
            })
        }
        _ => None,
    };
    let verdict = compare::verdict(comm, outcome)?;
    println!("rank {} of {}: {verdict}", comm.rank(), comm.size());
    Ok(())
}

fn main() -> ExitCode {
    op2::run(check)
}
