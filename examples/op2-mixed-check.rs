//! A distributed mixed (2x2 block) system equals the serial one. Rank 0 builds a perturbed
//! unit-square triangle mesh, `op2::distribute` spreads it, and every rank assembles a
//! mixed-Poisson-like Mat on the MixedDataSet (P1 scalar on nodes, dim 1) x (a vector of dim 2
//! per cell), all four blocks in one par_loop through `MixedMat::arg` over the MixedMap
//! (cell->node, cell->cell):
//! * A00 (nodes x nodes, 1x1 blocks): a P1 mass matrix plus a non-symmetric term;
//! * A01 (nodes x cells, 1x2 blocks): `area * grad(phi_i)`: rectangular, extra columns;
//! * A10 (cells x nodes, 2x1 blocks): `-0.5 * area * grad(phi_j)^T`;
//! * A11 (cells x cells, 2x2 blocks): a non-symmetric per-cell block, then assembled a second
//!   time on its own through `Mat::arg` on the block.
//!
//! A right-hand side is assembled by a MixedDat argument through the MixedMap (one packed
//! array per block), and `MixedMat::mult` multiplies a mixed vector, before and after a loop
//! that leaves the node block's halo stale. Every block, the right-hand side and both products
//! are gathered to rank 0 and compared with a plain serial Rust assembly of the whole mesh:
//! exact structure, values to 1e-12 relative. The MixedSet, MixedDataSet, MixedMap and
//! MixedSparsity built twice must be the cached objects. Rank 0 decides and broadcasts the
//! verdict; every rank prints `rank R of N: ok: K values checked` or fails with the same error.
use std::process::ExitCode;

use op2::mesh::meshgen::TriMesh;
use op2::{
    par_loop, Access, DType, Error, GlobalMesh, Kernel, MixedDat, MixedDataSet, MixedMap, MixedMat,
    MixedSet, MixedSparsity, Result,
};

#[path = "mat-compare/compare.rs"]
mod compare;
use compare::{compare_mat, compare_vec, matvec, Blocks};

const KERNELS: &str = r#"
#include <math.h>
/* Signed twice-area and the P1 gradients of a triangle. */
static double grads(const double *x, double g[3][2])
{
  double det = (x[2] - x[0]) * (x[5] - x[1]) - (x[4] - x[0]) * (x[3] - x[1]);
  for (int i = 0; i < 3; i++) {
    int j = (i + 1) % 3, k = (i + 2) % 3;
    g[i][0] = (x[2 * j + 1] - x[2 * k + 1]) / det;
    g[i][1] = (x[2 * k] - x[2 * j]) / det;
  }
  return 0.5 * fabs(det);
}
void mixed_blocks(double *a00, double *a01, double *a10, double *a11, const double *x)
{
  double g[3][2];
  double a = grads(x, g);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      a00[3 * i + j] = a * ((i == j ? 2.0 : 1.0) / 12.0 + 0.1 * x[2 * i] * x[2 * j + 1]);
  for (int i = 0; i < 3; i++)
    for (int c = 0; c < 2; c++) a01[2 * i + c] = a * g[i][c];
  for (int r = 0; r < 2; r++)
    for (int j = 0; j < 3; j++) a10[3 * r + j] = -0.5 * a * g[j][r];
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 2; c++) a11[2 * r + c] = a * (r == c ? 1.0 : 0.25 * (r - c));
}
void a11_again(double *a11, const double *x)
{
  double g[3][2];
  double a = grads(x, g);
  a11[0] = a; a11[1] = 0.0; a11[2] = 3.0 * a; a11[3] = 2.0 * a;
}
void rhs(double *b0, double *b1, const double *x)
{
  double g[3][2];
  double a = grads(x, g);
  for (int i = 0; i < 3; i++) b0[i] += a / 3.0 * (1.0 + x[2 * i]);
  for (int c = 0; c < 2; c++) b1[c] += a * (c + 1.0) * x[2 * c + 1];
}
void scale(double *v) { v[0] = 2.0 * v[0] - 1.0; }
"#;

fn fail(detail: impl Into<String>) -> Error {
    Error::invalid("op2-mixed-check", detail)
}

/// The initial mixed vector: block 0 per node, block 1 two values per cell.
fn x_values(m: &TriMesh) -> (Vec<f64>, Vec<f64>) {
    (
        (0..m.nnodes()).map(|k| (k as f64 * 0.37).sin()).collect(),
        (0..2 * m.ncells())
            .map(|k| (k as f64 * 0.11).cos())
            .collect(),
    )
}

/// Everything rank 0 compares: the four blocks, the right-hand side and two products.
type Got = (Vec<op2::GatheredMat>, Vec<Vec<f64>>);

/// Gather a MixedDat's blocks on rank 0 (`None` elsewhere).
fn gather(md: &MixedDat) -> Result<Option<Vec<Vec<f64>>>> {
    let mut out = Vec::new();
    for d in md.split() {
        out.push(d.gather::<f64>(0)?);
    }
    Ok(out.into_iter().collect())
}

fn check(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    let n = 12; // squares per side
    let g = if comm.is_root() {
        Some(op2::mesh::meshgen::unit_square(n, 0.2)?)
    } else {
        None
    };
    let gm = g.as_ref().map(|m| {
        GlobalMesh::new()
            .add_set("nodes", m.nnodes())
            .add_set("cells", m.ncells())
            .add_map("c2n", "cells", "nodes", 3, m.cells.clone())
            .add_map("c2c", "cells", "cells", 1, (0..m.ncells() as i32).collect())
            .coordinates("nodes", 2, m.coords.clone())
    });
    let dm = op2::distribute(comm, gm)?;
    let (nodes, cells) = (dm.set("nodes")?, dm.set("cells")?);
    let (c2n, c2c) = (dm.map("c2n")?, dm.map("c2c")?);
    let x = dm.scatter_dat("x", "nodes", 2, g.as_ref().map(|m| m.coords.clone()))?;
    let xs = g.as_ref().map(x_values);
    let x0 = dm.scatter_dat("x0", "nodes", 1, xs.as_ref().map(|v| v.0.clone()))?;
    let x1 = dm.scatter_dat("x1", "cells", 2, xs.as_ref().map(|v| v.1.clone()))?;

    // The mixed space, its map and Sparsity; built again, each is the cached object.
    let mixed = || -> Result<(MixedDataSet, MixedMap, MixedSparsity)> {
        let ms = MixedSet::new(&[nodes.clone(), cells.clone()])?;
        let mds = MixedDataSet::from_mixed_set(&ms, &[1, 2])?;
        let mm = MixedMap::new(&[c2n.clone(), c2c.clone()])?;
        let sp = MixedSparsity::new(&mds, &mds, &[(mm.clone(), mm.clone())])?;
        Ok((mds, mm, sp))
    };
    let (mds, mm, sp) = mixed()?;
    let again = mixed()?;
    if again.0 != mds || again.1 != mm || again.2 != sp {
        return Err(fail("a second construction is not the cached mixed object"));
    }
    if MixedSet::new(&[cells.clone(), nodes.clone()])? == mds.set() {
        return Err(fail("MixedSet([cells, nodes]) is MixedSet([nodes, cells])"));
    }
    let k = |name: &str| Kernel::new(name, KERNELS);

    // All four blocks in one loop, then block (1, 1) again on its own.
    let a = MixedMat::named("A", &sp, DType::F64)?;
    let mut args = a.arg(Access::Inc, (&mm, &mm))?;
    args.push(x.arg_vec(Access::Read, c2n));
    par_loop(&k("mixed_blocks")?, cells, &args)?;
    let a11 = a
        .block(1, 1)
        .ok_or_else(|| fail("block (1, 1) is absent"))?;
    par_loop(
        &k("a11_again")?,
        cells,
        &[
            a11.arg(Access::Inc, (c2c, c2c)),
            x.arg_vec(Access::Read, c2n),
        ],
    )?;
    // The right-hand side through the MixedMap.
    let b = MixedDat::zeros(&mds, DType::F64)?;
    let mut args = b.arg_vec(Access::Inc, &mm)?;
    args.push(x.arg_vec(Access::Read, c2n));
    par_loop(&k("rhs")?, cells, &args)?;
    // y = A x, then x's node block changes (its halo goes stale) and y2 = A x again.
    let xm = MixedDat::new(&[x0.clone(), x1])?;
    let (y, y2) = (
        MixedDat::zeros(&mds, DType::F64)?,
        MixedDat::zeros(&mds, DType::F64)?,
    );
    a.mult(&xm, &y)?;
    par_loop(&k("scale")?, nodes, &[x0.arg(Access::RW)])?;
    a.mult(&xm, &y2)?;

    let mut mats = Vec::new();
    for blk in a.blocks() {
        let blk = blk.as_ref().ok_or_else(|| fail("a block is absent"))?;
        mats.push(blk.gather(0)?);
    }
    let vecs = [gather(&b)?, gather(&y)?, gather(&y2)?];
    let mats: Option<Vec<op2::GatheredMat>> = mats.into_iter().collect();
    let vecs: Option<Vec<Vec<Vec<f64>>>> = vecs.into_iter().collect();
    let got: Option<Got> = mats
        .zip(vecs)
        .map(|(m, v)| (m, v.into_iter().flatten().collect()));
    let outcome = match (&g, &got) {
        (Some(m), Some(got)) => Some(compare(m, got)),
        _ => None,
    };
    let verdict = compare::verdict(comm, outcome)?;
    let (a00, a01) = (sp.block(0, 0), sp.block(0, 1));
    let (a00, a01) = a00.zip(a01).ok_or_else(|| fail("a block is absent"))?;
    println!(
        "rank {} of {}: {verdict} (A00: {} halo rows; A01: {} extra columns)",
        comm.rank(),
        comm.size(),
        a00.nrows() - a00.owned_rows(),
        a01.ncols() - cells.total_size()
    );
    Ok(())
}

/// Area and P1 gradients of cell `e`, in the kernel's order of operations.
fn grads(m: &TriMesh, e: usize) -> (f64, [[f64; 2]; 3], [f64; 6]) {
    let mut x = [0.0; 6];
    for k in 0..3 {
        let v = m.cells[3 * e + k] as usize;
        x[2 * k] = m.coords[2 * v];
        x[2 * k + 1] = m.coords[2 * v + 1];
    }
    let det = (x[2] - x[0]) * (x[5] - x[1]) - (x[4] - x[0]) * (x[3] - x[1]);
    let mut g = [[0.0; 2]; 3];
    for (i, gi) in g.iter_mut().enumerate() {
        let (j, k) = ((i + 1) % 3, (i + 2) % 3);
        gi[0] = (x[2 * j + 1] - x[2 * k + 1]) / det;
        gi[1] = (x[2 * k] - x[2 * j]) / det;
    }
    (0.5 * det.abs(), g, x)
}

/// The serial blocks A00, A01, A10, A11 and right-hand side of the whole mesh.
fn reference(m: &TriMesh) -> ([Blocks; 4], Vec<f64>, Vec<f64>) {
    let mut blk: [Blocks; 4] = Default::default();
    let (mut b0, mut b1) = (vec![0.0; m.nnodes()], vec![0.0; 2 * m.ncells()]);
    for e in 0..m.ncells() {
        let (a, g, x) = grads(m, e);
        let p = &m.cells[3 * e..3 * e + 3];
        let ec = e as u64;
        for i in 0..3 {
            let pi = p[i] as u64;
            for j in 0..3 {
                let d = if i == j { 2.0 } else { 1.0 };
                let v = a * (d / 12.0 + 0.1 * x[2 * i] * x[2 * j + 1]);
                blk[0].entry((pi, p[j] as u64)).or_insert_with(|| vec![0.0])[0] += v;
            }
            blk[1].insert((pi, ec), vec![a * g[i][0], a * g[i][1]]);
            blk[2].insert((ec, pi), vec![-0.5 * a * g[i][0], -0.5 * a * g[i][1]]);
            b0[p[i] as usize] += a / 3.0 * (1.0 + x[2 * i]);
        }
        // mixed_blocks, then a11_again.
        let first = [a, -(0.25 * a), 0.25 * a, a];
        let second = [a, 0.0, 3.0 * a, 2.0 * a];
        blk[3].insert((ec, ec), (0..4).map(|q| first[q] + second[q]).collect());
        for c in 0..2 {
            b1[2 * e + c] += a * (c as f64 + 1.0) * x[2 * c + 1];
        }
    }
    (blk, b0, b1)
}

/// `y = A x` for the serial 2x2 block system.
fn mixed_matvec(
    blk: &[Blocks; 4],
    (nn, nc): (usize, usize),
    x0: &[f64],
    x1: &[f64],
) -> Vec<Vec<f64>> {
    let add = |a: Vec<f64>, b: Vec<f64>| a.iter().zip(&b).map(|(p, q)| p + q).collect();
    vec![
        add(
            matvec(&blk[0], (1, 1), x0, nn),
            matvec(&blk[1], (1, 2), x1, nn),
        ),
        add(
            matvec(&blk[2], (2, 1), x0, nc),
            matvec(&blk[3], (2, 2), x1, nc),
        ),
    ]
}

fn compare(m: &TriMesh, (mats, vecs): &Got) -> std::result::Result<usize, String> {
    let (nn, nc) = (m.nnodes(), m.ncells());
    let (blk, b0, b1) = reference(m);
    let mut n = 0;
    for (k, (got, want)) in mats.iter().zip(&blk).enumerate() {
        let rows = if k < 2 { nn } else { nc };
        n += compare_mat(&format!("A[{},{}]", k / 2, k % 2), got, want, rows)?;
    }
    let (x0, x1) = x_values(m);
    let x0b: Vec<f64> = x0.iter().map(|v| 2.0 * v - 1.0).collect();
    let want = [
        vec![b0, b1],
        mixed_matvec(&blk, (nn, nc), &x0, &x1),
        mixed_matvec(&blk, (nn, nc), &x0b, &x1),
    ];
    let names = ["rhs", "A x", "A x after x0 changed"];
    for (k, (got, want)) in vecs.chunks(2).zip(want.iter()).enumerate() {
        for q in 0..2 {
            n += compare_vec(&format!("{}[{q}]", names[k]), &got[q], &want[q])?;
        }
    }
    Ok(n)
}

fn main() -> ExitCode {
    op2::run(check)
}
