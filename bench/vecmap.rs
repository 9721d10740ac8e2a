//! `arg_vec` (packed, PyOP2's layout) against per-index arguments (OP2's `op_arg_dat` with one
//! map index each) on Airfoil's `res_calc` over OP2's standard mesh (1.44M edges), one rank,
//! one run (`cargo bench --bench vecmap`). Both loops call the same C `res_calc` from
//! `src/bin/airfoil/kernels.c`: per-index passes its eight pointers directly; packed passes four
//! gathered arrays (x 2x2, q 2x4, adt 2x1, res 2x4) that the wrapper fills, and scatters `res`
//! back. The results are compared bit for bit. `VECMAP_BENCH_ITERS` (default 50) loops per round, three alternating rounds, the best
//! round of each variant reported.
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
use op2::{par_loop, Access, Dat, DataSet, Kernel, Map, Set};

/// Both variants force `res_calc` inline (GCC's size limits otherwise keep it out of line when
/// it is called from a wrapper, which would measure a call, not the layout).
const INLINE: &str = r#"
__attribute__((always_inline)) inline void res_calc(const double *x1, const double *x2,
    const double *q1, const double *q2, const double *adt1, const double *adt2,
    double *res1, double *res2);
"#;

const PACKED: &str = r#"
void res_calc_vec(const double *x, const double *q, const double *adt, double *res)
{
    res_calc(x, x + 2, q, q + 4, adt, adt + 1, res, res + 4);
}
"#;

fn main() {
    let iters: usize = std::env::var("VECMAP_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("OP2_CACHE_DIR", dir.path());
    let m = op2::mesh::naca0012(op2::mesh::STANDARD_I, op2::mesh::STANDARD_J).unwrap();
    let nodes = Set::named("nodes", m.nnode).unwrap();
    let cells = Set::named("cells", m.ncell).unwrap();
    let edges = Set::named("edges", m.nedge).unwrap();
    let pedge = Map::named("pedge", &edges, &nodes, 2, m.edge.clone()).unwrap();
    let pecell = Map::named("pecell", &edges, &cells, 2, m.ecell.clone()).unwrap();
    let x = Dat::new(&DataSet::new(&nodes, 2).unwrap(), m.x.clone()).unwrap();
    let qv: Vec<f64> = (0..4 * m.ncell)
        .map(|i| [1.0, 0.47, 0.01, 2.61][i % 4] * (1.0 + 1e-3 * ((i * 7919) % 101) as f64))
        .collect();
    let q = Dat::new(&DataSet::new(&cells, 4).unwrap(), qv).unwrap();
    let adtv: Vec<f64> = (0..m.ncell)
        .map(|i| 1.0 + 0.1 * ((i * 31) % 17) as f64)
        .collect();
    let adt = Dat::new(&DataSet::new(&cells, 1).unwrap(), adtv).unwrap();
    let kernels = include_str!("../src/bin/airfoil/kernels.c");
    let per_index = Kernel::new("res_calc", &format!("{INLINE}{kernels}")).unwrap();
    let packed = Kernel::new("res_calc_vec", &format!("{INLINE}{kernels}\n{PACKED}")).unwrap();

    let run = |vec: bool| -> (f64, Vec<f64>) {
        let res = Dat::zeros(&DataSet::new(&cells, 4).unwrap(), op2::DType::F64);
        let args = if vec {
            vec![
                x.arg_vec(Access::Read, &pedge),
                q.arg_vec(Access::Read, &pecell),
                adt.arg_vec(Access::Read, &pecell),
                res.arg_vec(Access::Inc, &pecell),
            ]
        } else {
            vec![
                x.arg_map(Access::Read, &pedge, 0),
                x.arg_map(Access::Read, &pedge, 1),
                q.arg_map(Access::Read, &pecell, 0),
                q.arg_map(Access::Read, &pecell, 1),
                adt.arg_map(Access::Read, &pecell, 0),
                adt.arg_map(Access::Read, &pecell, 1),
                res.arg_map(Access::Inc, &pecell, 0),
                res.arg_map(Access::Inc, &pecell, 1),
            ]
        };
        let k = if vec { &packed } else { &per_index };
        par_loop(k, &edges, &args).unwrap(); // compile + warm up
        let t0 = std::time::Instant::now();
        for _ in 0..iters {
            par_loop(k, &edges, &args).unwrap();
        }
        let secs = t0.elapsed().as_secs_f64() / iters as f64;
        (secs, res.to_vec::<f64>().unwrap())
    };
    // Alternate the two variants (the machine may be shared) and keep each one's best round.
    let (mut t_idx, mut t_vec) = (f64::MAX, f64::MAX);
    let (mut r_idx, mut r_vec) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (t, r) = run(false);
        (t_idx, r_idx) = (t_idx.min(t), r);
        let (t, r) = run(true);
        (t_vec, r_vec) = (t_vec.min(t), r);
    }
    assert_eq!(
        r_idx, r_vec,
        "packed and per-index res_calc must agree bit for bit"
    );
    println!(
        "res_calc over {} edges, best of 3 rounds of {iters} loops, 1 rank, OP2_CFLAGS={}",
        m.nedge,
        std::env::var("OP2_CFLAGS").unwrap_or_else(|_| "-O3 (default)".into())
    );
    println!(
        "  per-index (8 args, arg_map)  {:.3} ms per loop",
        t_idx * 1e3
    );
    println!(
        "  packed    (4 args, arg_vec)  {:.3} ms per loop",
        t_vec * 1e3
    );
    println!("  packed / per-index           {:.3}", t_vec / t_idx);
}
