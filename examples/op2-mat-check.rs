//! Distributed Mats equal the serial matrix. Rank 0 builds a perturbed unit-square triangle
//! mesh with scrambled node numbering, `op2::distribute` spreads it, and every rank assembles
//! three Mats with par_loops over its owned cells and boundary nodes:
//! * `A`: nodes x nodes, 2x2 blocks, two map pairs: a non-symmetric element matrix INC'd
//!   through (cell->node, cell->node), then boundary diagonal blocks WRITTEN through
//!   (boundary node->node, boundary node->node);
//! * `W`: nodes x nodes, scalar, WRITE through (cell->node, cell->node) of a value that depends
//!   only on the (row, column) nodes, so halo-row writes must reach their owners;
//! * `B`: nodes (2 per node) x cells (1 per cell), INC'd twice through (cell->node, cell->cell):
//!   rectangular, and every column another rank contributes is an *extra* column (cells have
//!   no halo), so `mult` must import it;
//! * `N`: nodes x nodes, scalar, INC'd through a row map and a column map that are cell->node
//!   with negative ("no entry") values where the node's global id is 1 mod 4 (rows) or 2 mod 5
//!   (columns): those rows and columns are skipped, and the square Sparsity still holds every
//!   diagonal. Before it, a loop reading a Dat through the row map is refused on every rank.
//!
//! Every Mat is gathered to rank 0 (`Mat::gather`) and compared with a plain serial Rust
//! assembly: exact structure, values to 1e-12 relative; so are `mult` (before and after a
//! loop that makes `x`'s halo stale), `diagonal`, and every owned row's diagonal/off-diagonal
//! block counts (against the owners of the columns). Rank 0 decides and broadcasts the verdict;
//! every rank prints `rank R of N: ok: K values checked` or fails with the same error.
//! Options: `--n N` (squares per side, default 14).
use std::process::ExitCode;

use op2::{
    par_loop, Access, DType, Dat, DataSet, Error, GlobalMesh, Kernel, Mat, Result, Sparsity,
};

struct Mesh {
    nn: usize,
    nc: usize,
    x: Vec<f64>,
    cells: Vec<i32>,
    boundary: Vec<i32>,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// `meshgen::unit_square(n, 0.2)` with node numbers scrambled by an affine permutation.
fn mesh(n: usize) -> Result<Mesh> {
    let m = op2::mesh::meshgen::unit_square(n, 0.2)?;
    let nn = m.nnodes();
    let p = (7919..).find(|&p| gcd(p, nn) == 1).expect("a coprime");
    let perm = |i: i32| ((i as usize * p + 13) % nn) as i32;
    let mut x = vec![0.0; 2 * nn];
    for i in 0..nn {
        let j = perm(i as i32) as usize;
        x[2 * j] = m.coords[2 * i];
        x[2 * j + 1] = m.coords[2 * i + 1];
    }
    Ok(Mesh {
        nn,
        nc: m.ncells(),
        x,
        cells: m.cells.iter().map(|&v| perm(v)).collect(),
        boundary: m.boundary.iter().map(|&v| perm(v)).collect(),
    })
}

const KERNELS: &str = r#"
#include <math.h>
static double tri_area(const double *x)
{
  return 0.5 * fabs((x[2] - x[0]) * (x[5] - x[1]) - (x[4] - x[0]) * (x[3] - x[1]));
}
void blk_inc(double *A, const double *x)
{
  double a = tri_area(x);
  for (int i = 0; i < 3; i++)
    for (int r = 0; r < 2; r++)
      for (int j = 0; j < 3; j++)
        for (int c = 0; c < 2; c++)
          A[(2 * i + r) * 6 + 2 * j + c] = a * (1.0 + x[2 * i] + 2.0 * x[2 * j + 1] + r - 0.5 * c);
}
void bc_write(double *A, const double *x) { A[0] = 7.0 + x[0]; A[1] = 1.0; A[2] = 2.0; A[3] = 9.0 + x[1]; }
void pair_write(double *W, const double *x)
{
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      W[3 * i + j] = 1.0 + x[2 * i] * x[2 * j + 1] + 0.25 * (x[2 * i + 1] - x[2 * j]);
}
void rect_inc(double *B, const double *x)
{
  double a = tri_area(x);
  for (int i = 0; i < 3; i++)
    for (int r = 0; r < 2; r++) B[2 * i + r] = a * (r + 1.0) * (1.0 + x[2 * i]);
}
void neg_inc(double *N, const double *x)
{
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      N[3 * i + j] = 2.0 + x[2 * i] - x[2 * j + 1] * x[2 * i + 1];
}
void scale(double *v) { v[0] = -0.5 * v[0] + 1.0; v[1] = 3.0 * v[1] - 2.0; }
"#;

#[path = "mat-compare/compare.rs"]
mod compare;
use compare::{compare_mat, compare_vec, matvec, Blocks};

fn arg(name: &str, default: usize) -> usize {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|s| s == name)
        .and_then(|i| a.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Per owned row of `sp`: (nnz_diag, nnz_offdiag), as a Dat on the row set.
fn counts(sp: &Sparsity) -> Result<Dat> {
    let v: Vec<i64> = sp
        .nnz_diag()
        .iter()
        .zip(sp.nnz_offdiag())
        .flat_map(|(&d, &o)| [d as i64, o as i64])
        .collect();
    Dat::new(&DataSet::new(sp.row_dataset().set(), 2)?, v)
}

/// Everything rank 0 compares.
struct Got {
    a: op2::GatheredMat,
    w: op2::GatheredMat,
    b: op2::GatheredMat,
    n: op2::GatheredMat,
    ya: Vec<f64>,
    ya2: Vec<f64>,
    yw: Vec<f64>,
    yb: Vec<f64>,
    da: Vec<f64>,
    cnt_a: Vec<i64>,
    cnt_b: Vec<i64>,
    cnt_n: Vec<i64>,
    node_owner: Vec<i64>,
    cell_owner: Vec<i64>,
}

fn check(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    let n = arg("--n", 14);
    let g = if comm.is_root() { Some(mesh(n)?) } else { None };
    let gm = g.as_ref().map(|m| {
        GlobalMesh::new()
            .add_set("nodes", m.nn)
            .add_set("cells", m.nc)
            .add_set("bnodes", m.boundary.len())
            .add_map("c2n", "cells", "nodes", 3, m.cells.clone())
            .add_map("b2n", "bnodes", "nodes", 1, m.boundary.clone())
            .add_map("c2c", "cells", "cells", 1, (0..m.nc as i32).collect())
            .coordinates("nodes", 2, m.x.clone())
    });
    let dm = op2::distribute(comm, gm)?;
    let (nodes, cells, bnodes) = (dm.set("nodes")?, dm.set("cells")?, dm.set("bnodes")?);
    let (c2n, b2n, c2c) = (dm.map("c2n")?, dm.map("b2n")?, dm.map("c2c")?);
    let x = dm.scatter_dat("x", "nodes", 2, g.as_ref().map(|m| m.x.clone()))?;
    let xa = dm.scatter_dat(
        "xa",
        "nodes",
        2,
        g.as_ref().map(|m| {
            (0..2 * m.nn)
                .map(|k| (k as f64 * 0.37).sin())
                .collect::<Vec<_>>()
        }),
    )?;
    let x1 = dm.scatter_dat(
        "x1",
        "nodes",
        1,
        g.as_ref()
            .map(|m| (0..m.nn).map(|k| (k % 5) as f64 - 2.0).collect::<Vec<_>>()),
    )?;
    let xc = dm.scatter_dat(
        "xc",
        "cells",
        1,
        g.as_ref().map(|m| {
            (0..m.nc)
                .map(|k| (k as f64 * 0.11).cos())
                .collect::<Vec<_>>()
        }),
    )?;
    let (n1, n2, c1) = (
        DataSet::new(nodes, 1)?,
        DataSet::new(nodes, 2)?,
        DataSet::new(cells, 1)?,
    );
    let k = |name: &str| Kernel::new(name, KERNELS);

    // A: blocks 2x2, two pairs; the same pairs in another order are the same object.
    let sa = Sparsity::new(
        &n2,
        &n2,
        &[(c2n.clone(), c2n.clone()), (b2n.clone(), b2n.clone())],
    )?;
    if !sa.ptr_eq(&Sparsity::new(
        &n2,
        &n2,
        &[(b2n.clone(), b2n.clone()), (c2n.clone(), c2n.clone())],
    )?) {
        return Err(Error::invalid(
            "op2-mat-check",
            "the second Sparsity::new is not the cached object",
        ));
    }
    let a = Mat::named("A", &sa, DType::F64)?;
    par_loop(
        &k("blk_inc")?,
        cells,
        &[a.arg(Access::Inc, (c2n, c2n)), x.arg_vec(Access::Read, c2n)],
    )?;
    par_loop(
        &k("bc_write")?,
        bnodes,
        &[
            a.arg(Access::Write, (b2n, b2n)),
            x.arg_map(Access::Read, b2n, 0),
        ],
    )?;
    // W: WRITE into halo rows.
    let w = Mat::named(
        "W",
        &Sparsity::new(&n1, &n1, &[(c2n.clone(), c2n.clone())])?,
        DType::F64,
    )?;
    par_loop(
        &k("pair_write")?,
        cells,
        &[
            w.arg(Access::Write, (c2n, c2n)),
            x.arg_vec(Access::Read, c2n),
        ],
    )?;
    // B: rectangular, extra columns; INC twice (halo rows start from zero each time).
    let sb = Sparsity::new(&n2, &c1, &[(c2n.clone(), c2c.clone())])?;
    let b = Mat::named("B", &sb, DType::F64)?;
    for _ in 0..2 {
        par_loop(
            &k("rect_inc")?,
            cells,
            &[b.arg(Access::Inc, (c2n, c2c)), x.arg_vec(Access::Read, c2n)],
        )?;
    }

    let (sn, nm) = negative_entries(&k, cells, nodes, c2n, &x)?;

    let (ya, ya2, yw, yb, da) = (
        Dat::zeros(&n2, DType::F64),
        Dat::zeros(&n2, DType::F64),
        Dat::zeros(&n1, DType::F64),
        Dat::zeros(&n2, DType::F64),
        Dat::zeros(&n2, DType::F64),
    );
    a.mult(&xa, &ya)?;
    w.mult(&x1, &yw)?;
    b.mult(&xc, &yb)?;
    a.diagonal(&da)?;
    // A direct loop leaves xa's halo stale: the next mult must refresh it.
    par_loop(&k("scale")?, nodes, &[xa.arg(Access::RW)])?;
    a.mult(&xa, &ya2)?;

    let owner = |s: &op2::Set| Dat::new(&DataSet::new(s, 1)?, vec![comm.rank() as i64; s.size()]);
    let got = (|| -> Result<Option<Got>> {
        let parts = (
            a.gather(0)?,
            w.gather(0)?,
            b.gather(0)?,
            nm.gather(0)?,
            ya.gather::<f64>(0)?,
            ya2.gather::<f64>(0)?,
            yw.gather::<f64>(0)?,
            yb.gather::<f64>(0)?,
            da.gather::<f64>(0)?,
            counts(&sa)?.gather::<i64>(0)?,
            counts(&sb)?.gather::<i64>(0)?,
            counts(&sn)?.gather::<i64>(0)?,
            owner(nodes)?.gather::<i64>(0)?,
            owner(cells)?.gather::<i64>(0)?,
        );
        Ok(match parts {
            (
                Some(a),
                Some(w),
                Some(b),
                Some(n),
                Some(ya),
                Some(ya2),
                Some(yw),
                Some(yb),
                Some(da),
                Some(cnt_a),
                Some(cnt_b),
                Some(cnt_n),
                Some(node_owner),
                Some(cell_owner),
            ) => Some(Got {
                a,
                w,
                b,
                n,
                ya,
                ya2,
                yw,
                yb,
                da,
                cnt_a,
                cnt_b,
                cnt_n,
                node_owner,
                cell_owner,
            }),
            _ => None,
        })
    })()?;
    let outcome = match (&g, &got) {
        (Some(m), Some(got)) => Some(compare(m, got)),
        _ => None,
    };
    let verdict = compare::verdict(comm, outcome)?;
    // Extra columns show that rows were merged from other ranks' contributions.
    println!(
        "rank {} of {}: {verdict} (A: {} owned rows, {} halo rows; B: {} extra columns)",
        comm.rank(),
        comm.size(),
        sa.owned_rows(),
        sa.nrows() - sa.owned_rows(),
        sb.ncols() - cells.total_size()
    );
    Ok(())
}

/// Whether node `g` (global id) is a dropped row / column of `N`.
fn dropped_row(g: u64) -> bool {
    g % 4 == 1
}
fn dropped_col(g: u64) -> bool {
    g % 5 == 2
}

/// `N` (see the module notes): first the refused Dat loop through the row map, then the
/// assembly. Returns its Sparsity and the Mat.
fn negative_entries(
    k: &dyn Fn(&str) -> Result<Kernel>,
    cells: &op2::Set,
    nodes: &op2::Set,
    c2n: &op2::Map,
    x: &Dat,
) -> Result<(Sparsity, Mat)> {
    let gid = |v: i32| nodes.global_ids().map_or(v as u64, |g| g[v as usize]);
    let masked = |drop: fn(u64) -> bool| -> Vec<i32> {
        let vals = c2n.values().iter();
        vals.map(|&v| if drop(gid(v)) { -1 } else { v }).collect()
    };
    let rneg = op2::Map::named("c2n_rows", cells, nodes, 3, masked(dropped_row))?;
    let cneg = op2::Map::named("c2n_cols", cells, nodes, 3, masked(dropped_col))?;
    let n1 = DataSet::new(nodes, 1)?;
    let sn = Sparsity::new(&n1, &n1, &[(rneg.clone(), cneg.clone())])?;
    let nm = Mat::named("N", &sn, DType::F64)?;
    let refused = par_loop(
        &k("neg_inc")?,
        cells,
        &[
            nm.arg(Access::Inc, (&rneg, &cneg)),
            x.arg_vec(Access::Read, &rneg),
        ],
    );
    match refused {
        Err(e) if e.to_string().contains("c2n_rows") && e.to_string().contains("Dat x") => {}
        other => {
            return Err(Error::invalid(
                "op2-mat-check",
                format!("a Dat read through a map with negative entries: {other:?}, not refused"),
            ))
        }
    }
    par_loop(
        &k("neg_inc")?,
        cells,
        &[
            nm.arg(Access::Inc, (&rneg, &cneg)),
            x.arg_vec(Access::Read, c2n),
        ],
    )?;
    Ok((sn, nm))
}

fn area(m: &Mesh, e: usize) -> f64 {
    let p = |k: usize| {
        let v = m.cells[3 * e + k] as usize;
        (m.x[2 * v], m.x[2 * v + 1])
    };
    let ((x0, y0), (x1, y1), (x2, y2)) = (p(0), p(1), p(2));
    0.5 * ((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)).abs()
}

/// The serial `N`: negative rows and columns skipped, every diagonal present.
fn reference_n(m: &Mesh) -> Blocks {
    let mut n = Blocks::new();
    let xy = |v: i32| (m.x[2 * v as usize], m.x[2 * v as usize + 1]);
    for p in m.cells.chunks_exact(3) {
        for &r in p.iter().filter(|&&r| !dropped_row(r as u64)) {
            for &c in p.iter().filter(|&&c| !dropped_col(c as u64)) {
                let v = 2.0 + xy(r).0 - xy(c).1 * xy(r).1;
                n.entry((r as u64, c as u64)).or_insert_with(|| vec![0.0])[0] += v;
            }
        }
    }
    for v in 0..m.nn as u64 {
        n.entry((v, v)).or_insert_with(|| vec![0.0]);
    }
    n
}

/// The serial matrices.
fn reference(m: &Mesh) -> (Blocks, Blocks, Blocks) {
    let (mut a, mut w, mut b) = (Blocks::new(), Blocks::new(), Blocks::new());
    let xy = |v: i32| (m.x[2 * v as usize], m.x[2 * v as usize + 1]);
    for e in 0..m.nc {
        let p = &m.cells[3 * e..3 * e + 3];
        let ar = area(m, e);
        for i in 0..3 {
            for j in 0..3 {
                let blk = a
                    .entry((p[i] as u64, p[j] as u64))
                    .or_insert_with(|| vec![0.0; 4]);
                for r in 0..2 {
                    for c in 0..2 {
                        blk[2 * r + c] +=
                            ar * (1.0 + xy(p[i]).0 + 2.0 * xy(p[j]).1 + r as f64 - 0.5 * c as f64);
                    }
                }
                w.insert(
                    (p[i] as u64, p[j] as u64),
                    vec![1.0 + xy(p[i]).0 * xy(p[j]).1 + 0.25 * (xy(p[i]).1 - xy(p[j]).0)],
                );
            }
            let blk = b
                .entry((p[i] as u64, e as u64))
                .or_insert_with(|| vec![0.0; 2]);
            for (r, v) in blk.iter_mut().enumerate() {
                *v += 2.0 * ar * (r as f64 + 1.0) * (1.0 + xy(p[i]).0);
            }
        }
    }
    for &v in &m.boundary {
        let (x0, x1) = xy(v);
        a.insert((v as u64, v as u64), vec![7.0 + x0, 1.0, 2.0, 9.0 + x1]);
    }
    (a, w, b)
}

/// Per row: (blocks in columns owned by the row's owner, the others).
fn want_counts(want: &Blocks, nrows: usize, row_owner: &[i64], col_owner: &[i64]) -> Vec<i64> {
    let mut out = vec![0i64; 2 * nrows];
    for &(i, j) in want.keys() {
        let same = row_owner[i as usize] == col_owner[j as usize];
        out[2 * i as usize + usize::from(!same)] += 1;
    }
    out
}

fn compare(m: &Mesh, got: &Got) -> std::result::Result<usize, String> {
    let (a, w, b) = reference(m);
    let mut n = compare_mat("A", &got.a, &a, m.nn)?;
    n += compare_mat("W", &got.w, &w, m.nn)?;
    n += compare_mat("B", &got.b, &b, m.nn)?;
    let nref = reference_n(m);
    n += compare_mat("N", &got.n, &nref, m.nn)?;
    let xa: Vec<f64> = (0..2 * m.nn).map(|k| (k as f64 * 0.37).sin()).collect();
    let xa2: Vec<f64> = xa
        .chunks_exact(2)
        .flat_map(|v| [-0.5 * v[0] + 1.0, 3.0 * v[1] - 2.0])
        .collect();
    let x1: Vec<f64> = (0..m.nn).map(|k| (k % 5) as f64 - 2.0).collect();
    let xc: Vec<f64> = (0..m.nc).map(|k| (k as f64 * 0.11).cos()).collect();
    n += compare_vec("A x", &got.ya, &matvec(&a, (2, 2), &xa, m.nn))?;
    n += compare_vec(
        "A x after x changed",
        &got.ya2,
        &matvec(&a, (2, 2), &xa2, m.nn),
    )?;
    n += compare_vec("W x", &got.yw, &matvec(&w, (1, 1), &x1, m.nn))?;
    n += compare_vec("B x", &got.yb, &matvec(&b, (2, 1), &xc, m.nn))?;
    let diag: Vec<f64> = (0..m.nn as u64)
        .flat_map(|i| {
            let v = &a[&(i, i)];
            [v[0], v[3]]
        })
        .collect();
    n += compare_vec("diagonal(A)", &got.da, &diag)?;
    for (name, cnt, want) in [
        (
            "A diag/offdiag counts",
            &got.cnt_a,
            want_counts(&a, m.nn, &got.node_owner, &got.node_owner),
        ),
        (
            "B diag/offdiag counts",
            &got.cnt_b,
            want_counts(&b, m.nn, &got.node_owner, &got.cell_owner),
        ),
        (
            "N diag/offdiag counts",
            &got.cnt_n,
            want_counts(&nref, m.nn, &got.node_owner, &got.node_owner),
        ),
    ] {
        if *cnt != want {
            let i = cnt.iter().zip(&want).position(|(x, y)| x != y).unwrap_or(0);
            return Err(format!(
                "{name}: row {} has (diag, offdiag) = ({}, {}), want ({}, {})",
                i / 2,
                cnt[i / 2 * 2],
                cnt[i / 2 * 2 + 1],
                want[i / 2 * 2],
                want[i / 2 * 2 + 1]
            ));
        }
        n += cnt.len();
    }
    Ok(n)
}

fn main() -> ExitCode {
    op2::run(check)
}
