//! Extruded loops over a subset of the columns equal a plain serial computation. Rank 0 builds
//! a perturbed unit-square triangle mesh, `op2::distribute` spreads it, and every rank extrudes
//! it into `L` vertex layers of prisms, with constant layers and with variable layers (column
//! `c` spans `[c % 2, L - (c % 3 == 0))`), and chooses a pseudo-random subset of the columns
//! (by global number; every chosen local column, halo columns included, which the loops must
//! not visit). Over the subset, for every iteration region (`ALL`, `ON_BOTTOM`, `ON_TOP`,
//! `ON_INTERIOR_FACETS`), it runs with the layer passed to the kernel:
//! * INC of a layer- and column-dependent value through the prism map into a vertex Dat;
//! * (not on interior facets) WRITE of a value to a layer Dat of the cells and INC of a Global.
//!
//! Every value is dyadic, so the comparison on rank 0 is exact. Rank 0 decides and broadcasts
//! the verdict; every rank prints `rank R of N: ok: K values checked` or fails with the same
//! error. Options: `--n N` (squares per side, default 6), `--layers L` (default 5),
//! `--wrong-reference` (a perturbed reference, so that the check must fail).
use std::process::ExitCode;

use op2::{
    par_loop_extruded_layer, update_halo, Access, DType, Dat, Entity, ExtrudedMap, ExtrudedSet,
    Global, GlobalMesh, Kernel, Region, Result,
};

#[path = "region-layers/layers.rs"]
mod region;
use region::layers;

// Only `verdict` (rank 0's outcome on every rank) is used here.
#[allow(dead_code)]
#[path = "mat-compare/compare.rs"]
mod compare;

const KERNELS: &str = r#"
void inc6(double *v, const double *w, int layer)
{ for (int k = 0; k < 6; k++) v[k] += w[0] * (layer + 1) * (k + 1); }
void inc12(double *v, const double *w, int layer)
{ for (int k = 0; k < 12; k++) v[k] += w[0] * (layer + 1) * (k + 1); }
void lay(double *out, double *g, const double *w, int layer)
{ out[0] = w[0] + 0.5 * layer; g[0] += w[0] * (layer + 1); }
"#;

const REGIONS: [Region; 4] = [
    Region::All,
    Region::OnBottom,
    Region::OnTop,
    Region::OnInteriorFacets,
];

fn arg(name: &str, default: usize) -> usize {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|s| s == name)
        .and_then(|i| a.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The serial mesh: base triangles, layers and the chosen columns.
struct Mesh {
    nn: usize,
    nc: usize,
    l: usize,
    tri: Vec<i32>,
    xy: Vec<f64>,
}

impl Mesh {
    fn node(&self, c: usize, k: usize) -> usize {
        self.tri[3 * c + k % 3] as usize
    }
    /// Whether column `c` (global number) is in the subset.
    fn chosen(c: usize) -> bool {
        (c * 7 + 3) % 5 < 2
    }
    /// Column `c`'s weight (dyadic).
    fn weight(c: usize) -> f64 {
        1.0 + (c % 8) as f64 * 0.25
    }
    /// Vertex layers `[start, stop)` of column `c`.
    fn span(&self, c: usize, variable: bool) -> (usize, usize) {
        match variable {
            true => (c % 2, self.l - usize::from(c.is_multiple_of(3))),
            false => (0, self.l),
        }
    }
}

/// The serial reference, in the order `run` produces the results.
fn reference(m: &Mesh) -> Vec<Vec<f64>> {
    let nl = m.l;
    let at = |c: usize, k: usize, l: usize| m.node(c, k) * nl + l + k / 3;
    let mut out = Vec::new();
    for variable in [false, true] {
        for region in REGIONS {
            let mut v = vec![0.0; m.nn * nl];
            let mut lay = vec![-1.0; m.nc * (nl - 1)];
            let mut g = 0.0;
            for c in (0..m.nc).filter(|&c| Mesh::chosen(c)) {
                let (s, t) = m.span(c, variable);
                let (ls, facets) = layers(region, s, t);
                let w = Mesh::weight(c);
                for l in ls {
                    for f in 0..facets {
                        for k in 0..6 {
                            v[at(c, k, l + f)] += w * ((l + 1) * (f * 6 + k + 1)) as f64;
                        }
                    }
                    lay[c * (nl - 1) + l] = w + 0.5 * l as f64;
                    g += w * (l + 1) as f64;
                }
            }
            out.push(v);
            if region != Region::OnInteriorFacets {
                out.extend([lay, vec![g]]);
            }
        }
    }
    out
}

/// Every check on this rank's part of the mesh; gathered results (rank 0).
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
    let per_cell = |f: fn(usize) -> f64| m.map(|m| (0..m.nc).map(f).collect::<Vec<f64>>());
    let w = dm.scatter_dat("w", "cells", 1, per_cell(Mesh::weight))?;
    let pick = dm.scatter_dat("pick", "cells", 1, per_cell(|c| f64::from(Mesh::chosen(c))))?;
    let spans = dm.scatter_dat(
        "spans",
        "cells",
        2,
        m.map(|m| {
            (0..m.nc)
                .flat_map(|c| {
                    let (s, t) = m.span(c, true);
                    [s as i32, t as i32]
                })
                .collect()
        }),
    )?;
    // Chosen local columns, halo ones included: a loop must visit the owned ones only.
    update_halo(&pick)?;
    let chosen: Vec<usize> = (pick.to_vec_with_halo::<f64>()?.iter().enumerate())
        .filter_map(|(i, &p)| (p == 1.0).then_some(i))
        .collect();
    let sp = spans.to_vec::<i32>()?;
    let sets = [
        ExtrudedSet::new(cells, l)?,
        ExtrudedSet::variable(
            cells,
            &sp.chunks(2).map(|p| [p[0], p[1]]).collect::<Vec<_>>(),
        )?,
    ];
    let nx = ExtrudedSet::new(nodes, l)?;
    let k = |name: &str| Kernel::new(name, KERNELS);
    let mut out = Vec::new();
    for xset in &sets {
        let sub = xset.subset(&chosen)?;
        let prism = ExtrudedMap::prism(xset, c2n)?;
        for region in REGIONS {
            let v = Dat::zeros(&nx.dataset(Entity::Nodes, 1)?, DType::F64);
            let inc = match region {
                Region::OnInteriorFacets => k("inc12")?,
                _ => k("inc6")?,
            };
            let args = [
                v.arg_extruded(Access::Inc, &prism),
                w.arg(Access::Read).into(),
            ];
            par_loop_extruded_layer(&inc, &sub, region, &args)?;
            out.push(v.gather::<f64>(0)?);
            if region == Region::OnInteriorFacets {
                continue;
            }
            let ds = xset.dataset(Entity::Cells, 1)?;
            let lay = Dat::new(&ds, vec![-1.0f64; ds.set().size() * (l - 1)])?;
            let g = Global::new(vec![0.0f64])?;
            let args = [
                lay.arg_layer(Access::Write),
                g.arg(Access::Inc).into(),
                w.arg(Access::Read).into(),
            ];
            par_loop_extruded_layer(&k("lay")?, &sub, region, &args)?;
            out.extend([lay.gather::<f64>(0)?, Some(g.value::<f64>()?)]);
        }
    }
    Ok(out)
}

fn compare(want: &[Vec<f64>], got: &[Option<Vec<f64>>]) -> std::result::Result<usize, String> {
    if want.len() != got.len() {
        return Err(format!("{} checks, expected {}", got.len(), want.len()));
    }
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
        if let Some(j) = (0..w.len()).find(|&j| w[j] != g[j]) {
            return Err(format!(
                "check {i}, value {j}: got {}, expected {}",
                g[j], w[j]
            ));
        }
        n += w.len();
    }
    Ok(n)
}

fn check(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    let (n, l) = (arg("--n", 6), arg("--layers", 5));
    let m = match comm.is_root() {
        true => {
            let g = op2::mesh::meshgen::unit_square(n, 0.2)?;
            Some(Mesh {
                nn: g.nnodes(),
                nc: g.ncells(),
                l,
                tri: g.cells.clone(),
                xy: g.coords.clone(),
            })
        }
        false => None,
    };
    let got = run(comm, m.as_ref(), l)?;
    let outcome = m.as_ref().map(|m| {
        let mut want = reference(m);
        if std::env::args().any(|a| a == "--wrong-reference") {
            want[0][m.node(0, 0) * l] += 0.25;
        }
        compare(&want, &got)
    });
    let verdict = compare::verdict(comm, outcome)?;
    println!("rank {} of {}: {verdict}", comm.rank(), comm.size());
    Ok(())
}

fn main() -> ExitCode {
    op2::run(check)
}
