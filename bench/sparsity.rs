//! Sparsity and Mat figures, printed in one run (`cargo bench --bench sparsity`; `-- --n N` sets
//! the mesh to 2 N² triangles, default N = 710, i.e. 1,008,200 cells):
//! (a) building the Sparsity of a P1 matrix from scratch (fresh Sets and Maps, so no cache
//!     hit), on one core and on every rayon thread: seconds and non-zeros per second;
//! (b) the cost of a cache hit: a second `Sparsity::new` with the same arguments;
//! (c) one full matrix assembly on the same mesh (P1 Laplace element kernel via par_loop):
//!     the first one (compiling the kernel into a fresh cache directory and building the
//!     position table) and warm ones (zero + par_loop), set against (a);
//! (d) one `Mat::mult` for scale.
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
use std::time::Instant;

use op2::{par_loop, Access, DType, Dat, DataSet, Kernel, Map, Mat, Set, Sparsity};

const LAPLACE: &str = r#"
void p1_laplace(double *A, const double *x)
{
  double det = (x[2] - x[0]) * (x[5] - x[1]) - (x[4] - x[0]) * (x[3] - x[1]);
  double b[3] = {x[3] - x[5], x[5] - x[1], x[1] - x[3]};
  double c[3] = {x[4] - x[2], x[0] - x[4], x[2] - x[0]};
  double s = 1.0 / (2.0 * fabs(det));
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) A[3 * i + j] = (b[i] * b[j] + c[i] * c[j]) * s;
}"#;

struct Mesh {
    cells: Set,
    nodes: Set,
    c2n: Map,
    ds: DataSet,
}

fn op2_mesh(m: &op2::mesh::meshgen::TriMesh) -> Mesh {
    let cells = Set::named("cells", m.ncells()).unwrap();
    let nodes = Set::named("nodes", m.nnodes()).unwrap();
    let c2n = Map::named("c2n", &cells, &nodes, 3, m.cells.clone()).unwrap();
    let ds = DataSet::new(&nodes, 1).unwrap();
    Mesh {
        cells,
        nodes,
        c2n,
        ds,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds of `reps` cold builds (fresh objects each time) inside `pool`.
fn cold_build(
    m: &op2::mesh::meshgen::TriMesh,
    pool: &rayon::ThreadPool,
    reps: usize,
) -> (f64, usize) {
    let mut times = Vec::new();
    let mut nnz = 0;
    for _ in 0..reps {
        let mesh = op2_mesh(m);
        let pairs = [(mesh.c2n.clone(), mesh.c2n.clone())];
        let t0 = Instant::now();
        let sp = pool.install(|| Sparsity::new(&mesh.ds, &mesh.ds, &pairs).unwrap());
        times.push(t0.elapsed().as_secs_f64());
        nnz = sp.nnz();
    }
    (median(times), nnz)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .position(|a| a == "--n")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(710);
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("OP2_CACHE_DIR", dir.path());
    let m = op2::mesh::meshgen::unit_square(n, 0.2).unwrap();
    let threads = rayon::current_num_threads();
    println!(
        "mesh: {} cells, {} nodes (unit square, n = {n}, perturbed, hashed diagonals); rayon threads: {threads}",
        m.ncells(),
        m.nnodes()
    );

    println!("(a) Sparsity build from scratch (P1, 1x1 blocks), median of 3");
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let all = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let (t1, nnz) = cold_build(&m, &one, 3);
    let (tn, _) = cold_build(&m, &all, 3);
    println!(
        "    1 thread:  {:.3} s  {nnz} non-zeros  {:.1} M nnz/s",
        t1,
        nnz as f64 / t1 / 1e6
    );
    println!(
        "    {threads} threads: {:.3} s  {:.1} M nnz/s",
        tn,
        nnz as f64 / tn / 1e6
    );

    println!("(b) cache hit: Sparsity::new again with the same arguments");
    let mesh = op2_mesh(&m);
    let pairs = [(mesh.c2n.clone(), mesh.c2n.clone())];
    let sp = Sparsity::new(&mesh.ds, &mesh.ds, &pairs).unwrap();
    let calls = 200_000;
    let t0 = Instant::now();
    for _ in 0..calls {
        let again = Sparsity::new(&mesh.ds, &mesh.ds, &pairs).unwrap();
        assert!(again.ptr_eq(&sp));
    }
    let hit = t0.elapsed().as_secs_f64() / calls as f64;
    println!(
        "    {:.0} ns per hit ({:.0}x cheaper than a 1-thread build)",
        hit * 1e9,
        t1 / hit
    );

    println!("(c) full matrix assembly via par_loop (P1 Laplace kernel, 9 entries per cell)");
    let coords = Dat::new(&DataSet::new(&mesh.nodes, 2).unwrap(), m.coords.clone()).unwrap();
    let k = Kernel::new("p1_laplace", LAPLACE).unwrap();
    let a = Mat::new(&sp, DType::F64).unwrap();
    let assemble = || {
        par_loop(
            &k,
            &mesh.cells,
            &[
                a.arg(Access::Inc, (&mesh.c2n, &mesh.c2n)),
                coords.arg_vec(Access::Read, &mesh.c2n),
            ],
        )
        .unwrap()
    };
    let t0 = Instant::now();
    assemble();
    let first = t0.elapsed().as_secs_f64();
    let warm = median(
        (0..5)
            .map(|_| {
                let t0 = Instant::now();
                a.zero().unwrap();
                assemble();
                t0.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!(
        "    first: {first:.3} s (compile + position table + assembly)   warm: {warm:.3} s ({:.1} M cells/s)",
        m.ncells() as f64 / warm / 1e6
    );
    println!(
        "    sparsity build / warm assembly: {:.2} (1 thread), {:.2} ({threads} threads)",
        t1 / warm,
        tn / warm
    );

    println!("(d) Mat::mult, median of 10");
    let x = Dat::new(&mesh.ds, vec![1.0f64; m.nnodes()]).unwrap();
    let y = Dat::zeros(&mesh.ds, DType::F64);
    let t = median(
        (0..10)
            .map(|_| {
                let t0 = Instant::now();
                a.mult(&x, &y).unwrap();
                t0.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!(
        "    {:.2} ms  ({:.0} M nnz/s)",
        t * 1e3,
        sp.nnz() as f64 / t / 1e6
    );
    // Rows of a Laplacian sum to zero (up to rounding).
    let ysum: f64 = y.to_vec::<f64>().unwrap().iter().map(|v| v.abs()).sum();
    assert!(ysum / (m.nnodes() as f64) < 1e-9, "{ysum}");
}
