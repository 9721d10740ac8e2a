//! Extruded meshes equal the same mesh built unextruded. Rank 0 builds a perturbed unit-square
//! triangle mesh, `op2::distribute` spreads it (cells and nodes: the columns), and every rank
//! extrudes it into `L` vertex layers of prisms (non-uniform layer heights) and runs extruded
//! par_loops:
//! * a field integrated layer by layer (`Global` INC) and stored per layer (`arg_layer` WRITE);
//! * INC of each prism's integral through the prism map into a vertex Dat;
//! * each iteration region (`ON_BOTTOM`, `ON_TOP`, `ON_INTERIOR_FACETS`, `ALL`) INC'ing a
//!   layer-dependent value (the layer passed to the kernel) into a vertex Dat;
//! * variable layers (`[start, stop)` per column): the integral and the vertex INC again;
//! * an extruded Mat assembled by par_loop and multiplied.
//!
//! The same prisms are also distributed as an ordinary 3-D mesh (explicit prism set, map of
//! arity 6, partitioned independently) and integrated by an ordinary par_loop with the same
//! kernels. Everything is gathered to rank 0 and compared with a plain serial Rust computation
//! (1e-12 relative); rank 0 decides and broadcasts the verdict; every rank prints
//! `rank R of N: ok: K values checked` or fails with the same error.
//! Options: `--n N` (squares per side, default 8), `--layers L` (default 5),
//! `--wrong-reference` (a perturbed reference, so that the check must fail), `--repeat R` (time
//! the integral R more times, extruded and unextruded, and print the time per loop).
use std::process::ExitCode;

use op2::{
    par_loop, par_loop_extruded, par_loop_extruded_layer, Access, DType, Dat, Entity, ExtrudedMap,
    ExtrudedSet, Global, GlobalMesh, Kernel, Mat, Region, Result, Sparsity, XArg,
};

// Only `verdict` (rank 0's outcome on every rank) is used here.
#[allow(dead_code)]
#[path = "mat-compare/compare.rs"]
mod compare;

const KERNELS: &str = r#"
#include <math.h>
static double prism_vol(const double x[6][3])
{
  double a = 0.5 * fabs((x[1][0] - x[0][0]) * (x[2][1] - x[0][1]) - (x[2][0] - x[0][0]) * (x[1][1] - x[0][1]));
  return a * (x[3][2] - x[0][2]);
}
void vol(double *g, const double x[6][3], const double *f) { g[0] += prism_vol(x) * f[0]; }
void lay(double *out, const double x[6][3], const double *f) { out[0] = prism_vol(x) * f[0]; }
void spread(double *v, const double x[6][3], const double *f)
{
  double a = prism_vol(x) * f[0];
  for (int k = 0; k < 6; k++) v[k] += a * (k + 1);
}
void region6(double *v, int layer) { for (int k = 0; k < 6; k++) v[k] += (layer + 1) * (k + 1); }
void region12(double *v, int layer) { for (int k = 0; k < 12; k++) v[k] += (layer + 1) * (k + 1); }
void mass(double *A, const double x[6][3])
{
  double v = prism_vol(x);
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) A[i * 6 + j] = v * (i == j ? 2.0 : 1.0) * (1.0 + 0.1 * i) / 12.0;
}
"#;

fn arg(name: &str, default: usize) -> usize {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|s| s == name)
        .and_then(|i| a.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The serial mesh: base triangles and the layer heights.
struct Mesh {
    nn: usize,
    nc: usize,
    l: usize,
    xy: Vec<f64>,
    tri: Vec<i32>,
    z: Vec<f64>,
}

impl Mesh {
    fn new(n: usize, l: usize) -> Result<Mesh> {
        let m = op2::mesh::meshgen::unit_square(n, 0.2)?;
        let h = 1.0 / (l - 1) as f64;
        Ok(Mesh {
            nn: m.nnodes(),
            nc: m.ncells(),
            l,
            xy: m.coords.clone(),
            tri: m.cells.clone(),
            z: (0..l)
                .map(|k| k as f64 * h * (1.0 + 0.3 * k as f64 * h))
                .collect(),
        })
    }
    fn node(&self, c: usize, k: usize) -> usize {
        self.tri[3 * c + k % 3] as usize
    }
    fn field(c: usize, l: usize) -> f64 {
        1.0 + 0.5 * (c as f64 * 0.7 + l as f64).sin()
    }
    fn vol(&self, c: usize, l: usize) -> f64 {
        let p = |k: usize| {
            (
                self.xy[2 * self.node(c, k)],
                self.xy[2 * self.node(c, k) + 1],
            )
        };
        let (a, b, d) = (p(0), p(1), p(2));
        let area = 0.5 * ((b.0 - a.0) * (d.1 - a.1) - (d.0 - a.0) * (b.1 - a.1)).abs();
        area * (self.z[l + 1] - self.z[l])
    }
    /// Variable layers of column `c`.
    fn span(&self, c: usize) -> (usize, usize) {
        (c % 2, self.l - usize::from(c.is_multiple_of(3)))
    }
    /// Node columns: (x, y, z_l) per layer.
    fn coords3(&self) -> Vec<f64> {
        (0..self.nn)
            .flat_map(|n| {
                (0..self.l).flat_map(move |l| [self.xy[2 * n], self.xy[2 * n + 1], self.z[l]])
            })
            .collect()
    }
    fn fields(&self) -> Vec<f64> {
        (0..self.nc)
            .flat_map(|c| (0..self.l - 1).map(move |l| Mesh::field(c, l)))
            .collect()
    }
}

/// The serial reference of every check, in the order `run` produces them.
fn reference(m: &Mesh) -> Vec<Vec<f64>> {
    let (nl, nv) = (m.l, m.nn * m.l);
    let mut total = 0.0;
    let mut layer = vec![0.0; m.nc * (nl - 1)];
    let mut spread = vec![0.0; nv];
    let mut regions = vec![vec![0.0; nv]; 4];
    let (mut vtotal, mut vspread) = (0.0, vec![0.0; nv]);
    let mut a = std::collections::BTreeMap::<(usize, usize), f64>::new();
    let at = |c: usize, k: usize, l: usize| m.node(c, k) * nl + l + k / 3;
    for c in 0..m.nc {
        let (s, t) = m.span(c);
        for l in 0..nl - 1 {
            let v = m.vol(c, l) * Mesh::field(c, l);
            total += v;
            layer[c * (nl - 1) + l] = v;
            for k in 0..6 {
                spread[at(c, k, l)] += v * (k + 1) as f64;
            }
            if (s..t - 1).contains(&l) {
                vtotal += v;
                for k in 0..6 {
                    vspread[at(c, k, l)] += v * (k + 1) as f64;
                }
            }
            for i in 0..6 {
                for j in 0..6 {
                    let e = m.vol(c, l) * if i == j { 2.0 } else { 1.0 } * (1.0 + 0.1 * i as f64)
                        / 12.0;
                    *a.entry((at(c, i, l), at(c, j, l))).or_default() += e;
                }
            }
        }
        // Regions, in the order of REGIONS: the layers each runs and its facets.
        for (r, ls, f) in [
            (0, 0..1, 1),
            (1, nl - 2..nl - 1, 1),
            (2, 0..nl - 2, 2),
            (3, 0..nl - 1, 1),
        ] {
            for l in ls {
                for ff in 0..f {
                    for k in 0..6 {
                        regions[r][at(c, k, l + ff)] += ((l + 1) * (ff * 6 + k + 1)) as f64;
                    }
                }
            }
        }
    }
    let x = mat_x(m);
    let mut y = vec![0.0; nv];
    for ((i, j), v) in a {
        y[i] += v * x[j];
    }
    let mut out = vec![vec![total], layer, spread];
    out.extend(regions);
    out.extend([vec![vtotal], vspread, y, vec![total]]);
    out
}

fn mat_x(m: &Mesh) -> Vec<f64> {
    (0..m.nn * m.l)
        .map(|i| (0.3 * (i / m.l) as f64 + 0.7 * (i % m.l) as f64).sin())
        .collect()
}

const REGIONS: [(Region, &str); 4] = [
    (Region::OnBottom, "region6"),
    (Region::OnTop, "region6"),
    (Region::OnInteriorFacets, "region12"),
    (Region::All, "region6"),
];

/// Every extruded check on this rank's part of the mesh; gathered results (rank 0).
fn run(comm: op2::Comm, m: Option<&Mesh>, l: usize) -> Result<Vec<Option<Vec<f64>>>> {
    let gm = m.map(|m| {
        GlobalMesh::new()
            .add_set("nodes", m.nn)
            .add_set("cells", m.nc)
            .add_map("c2n", "cells", "nodes", 3, m.tri.clone())
            .coordinates("nodes", 2, m.xy.clone())
    });
    let dm = op2::distribute(comm, gm)?;
    let (nodes, cells, c2n) = (dm.set("nodes")?, dm.set("cells")?, dm.map("c2n")?);
    let k = |name: &str| Kernel::new(name, KERNELS);
    let cx = ExtrudedSet::new(cells, l)?;
    let nx = ExtrudedSet::new(nodes, l)?;
    let prism = ExtrudedMap::prism(&cx, c2n)?;
    let x3 = dm.scatter_dat("x3", "nodes", 3 * l, m.map(Mesh::coords3))?;
    let f = dm.scatter_dat("f", "cells", l - 1, m.map(Mesh::fields))?;
    let (v1, c1) = (nx.dataset(Entity::Nodes, 1)?, cx.dataset(Entity::Cells, 1)?);
    let mut out = Vec::new();

    let g = Global::new(vec![0.0f64])?;
    let xr = x3.arg_extruded(Access::Read, &prism);
    let args = |first: XArg| [first, xr.clone(), f.arg_layer(Access::Read)];
    par_loop_extruded(
        &k("vol")?,
        &cx,
        Region::All,
        &args(g.arg(Access::Inc).into()),
    )?;
    out.push(Some(g.value::<f64>()?));
    let vk = k("vol")?;
    timed(comm, "extruded", || {
        par_loop_extruded(&vk, &cx, Region::All, &args(g.arg(Access::Inc).into()))
    })?;
    let per_layer = Dat::zeros(&c1, DType::F64);
    par_loop_extruded(
        &k("lay")?,
        &cx,
        Region::All,
        &args(per_layer.arg_layer(Access::Write)),
    )?;
    out.push(per_layer.gather::<f64>(0)?);
    let spread = Dat::zeros(&v1, DType::F64);
    par_loop_extruded(
        &k("spread")?,
        &cx,
        Region::All,
        &args(spread.arg_extruded(Access::Inc, &prism)),
    )?;
    out.push(spread.gather::<f64>(0)?);
    for (region, kernel) in REGIONS {
        let v = Dat::zeros(&v1, DType::F64);
        par_loop_extruded_layer(
            &k(kernel)?,
            &cx,
            region,
            &[v.arg_extruded(Access::Inc, &prism)],
        )?;
        out.push(v.gather::<f64>(0)?);
    }

    // Variable layers: column c (global number) spans [c % 2, L - (c % 3 == 0)).
    let spans = dm.scatter_dat(
        "spans",
        "cells",
        2,
        m.map(|m| {
            (0..m.nc)
                .flat_map(|c| {
                    let (s, t) = m.span(c);
                    [s as i32, t as i32]
                })
                .collect()
        }),
    )?;
    let sp = spans.to_vec::<i32>()?;
    let var = ExtrudedSet::variable(
        cells,
        &sp.chunks(2).map(|p| [p[0], p[1]]).collect::<Vec<_>>(),
    )?;
    let vprism = ExtrudedMap::prism(&var, c2n)?;
    let vx = x3.arg_extruded(Access::Read, &vprism);
    let gv = Global::new(vec![0.0f64])?;
    par_loop_extruded(
        &k("vol")?,
        &var,
        Region::All,
        &[
            gv.arg(Access::Inc).into(),
            vx.clone(),
            f.arg_layer(Access::Read),
        ],
    )?;
    out.push(Some(gv.value::<f64>()?));
    let vs = Dat::zeros(&v1, DType::F64);
    par_loop_extruded(
        &k("spread")?,
        &var,
        Region::All,
        &[
            vs.arg_extruded(Access::Inc, &vprism),
            vx,
            f.arg_layer(Access::Read),
        ],
    )?;
    out.push(vs.gather::<f64>(0)?);

    // An extruded Mat, assembled and multiplied.
    let sparsity = Sparsity::extruded(&v1, &v1, &[(prism.clone(), prism.clone())])?;
    let a = Mat::named("A", &sparsity, DType::F64)?;
    par_loop_extruded(
        &k("mass")?,
        &cx,
        Region::All,
        &[a.arg_extruded(Access::Inc, (&prism, &prism)), xr.clone()],
    )?;
    let x = dm.scatter_dat("mx", "nodes", l, m.map(mat_x))?;
    let y = Dat::zeros(&v1, DType::F64);
    a.mult(&x, &y)?;
    out.push(y.gather::<f64>(0)?);
    out.push(Some(vec![unextruded(comm, m, l)?]));
    Ok(out)
}

/// The same prisms as an ordinary 3-D mesh (its own partition), integrated by an ordinary
/// par_loop with the same kernel.
fn unextruded(comm: op2::Comm, m: Option<&Mesh>, l: usize) -> Result<f64> {
    let gm = m.map(|m| {
        let p2n: Vec<i32> = (0..m.nc)
            .flat_map(|c| {
                (0..l - 1)
                    .flat_map(move |ll| (0..6).map(move |k| (m.node(c, k) * l + ll + k / 3) as i32))
            })
            .collect();
        GlobalMesh::new()
            .add_set("n3", m.nn * l)
            .add_set("prisms", m.nc * (l - 1))
            .add_map("p2n", "prisms", "n3", 6, p2n)
            .coordinates("n3", 3, m.coords3())
    });
    let dm = op2::distribute(comm, gm)?;
    let x = dm.scatter_dat("x", "n3", 3, m.map(Mesh::coords3))?;
    let f = dm.scatter_dat("f", "prisms", 1, m.map(Mesh::fields))?;
    let g = Global::new(vec![0.0f64])?;
    let p2n = dm.map("p2n")?;
    let (vk, prisms) = (Kernel::new("vol", KERNELS)?, dm.set("prisms")?);
    let args = [
        g.arg(Access::Inc),
        x.arg_vec(Access::Read, p2n),
        f.arg(Access::Read),
    ];
    par_loop(&vk, prisms, &args)?;
    let value = g.get::<f64>()?;
    timed(comm, "unextruded", || par_loop(&vk, prisms, &args))?;
    Ok(value)
}

/// With `--repeat R`: run `body` R more times and print, on rank 0, the wall time per call.
fn timed(comm: op2::Comm, what: &str, mut body: impl FnMut() -> Result<()>) -> Result<()> {
    let r = arg("--repeat", 0);
    if r == 0 {
        return Ok(());
    }
    comm.barrier()?;
    let t = std::time::Instant::now();
    for _ in 0..r {
        body()?;
    }
    comm.barrier()?;
    if comm.is_root() {
        println!(
            "{what} integral: {:.1} us per loop ({r} loops)",
            t.elapsed().as_secs_f64() * 1e6 / r as f64
        );
    }
    Ok(())
}

fn compare(want: &[Vec<f64>], got: &[Option<Vec<f64>>]) -> std::result::Result<usize, String> {
    let mut n = 0;
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        let g = g.as_ref().ok_or(format!("check {i}: nothing gathered"))?;
        if w.len() != g.len() {
            return Err(format!(
                "check {i}: {} values, expected {}",
                g.len(),
                w.len()
            ));
        }
        let scale = w.iter().fold(1e-300f64, |a, v| a.max(v.abs()));
        for (j, (a, b)) in w.iter().zip(g).enumerate() {
            if (a - b).abs() > 1e-12 * scale {
                return Err(format!("check {i}, value {j}: got {b}, expected {a}"));
            }
        }
        n += w.len();
    }
    if want.len() != got.len() {
        return Err(format!("{} checks, expected {}", got.len(), want.len()));
    }
    Ok(n)
}

/// The reference; `--wrong-reference` (tests: the comparison can fail) perturbs the integral.
fn expected(m: &Mesh) -> Vec<Vec<f64>> {
    let mut want = reference(m);
    if std::env::args().any(|a| a == "--wrong-reference") {
        want[0][0] *= 1.0 + 1e-9;
    }
    want
}

fn check(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    let (n, l) = (arg("--n", 8), arg("--layers", 5));
    let m = if comm.is_root() {
        Some(Mesh::new(n, l)?)
    } else {
        None
    };
    let got = run(comm, m.as_ref(), l)?;
    let outcome = m.as_ref().map(|m| compare(&expected(m), &got));
    let verdict = compare::verdict(comm, outcome)?;
    println!("rank {} of {}: {verdict}", comm.rank(), comm.size());
    Ok(())
}

fn main() -> ExitCode {
    op2::run(check)
}
