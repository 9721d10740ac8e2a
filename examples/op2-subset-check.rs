//! Subsets, DatViews and data slices on a distributed mesh equal a serial computation. Rank 0
//! builds a quad mesh with scrambled node numbering and perturbed coordinates, `op2::distribute`
//! spreads it, and every rank runs: a direct WRITE over the Dirichlet (boundary) nodes as a
//! Subset (each rank's subset holds its local boundary nodes, halo ones included); an indirect
//! INC through the cell map over a Subset of cells, with a Global reduction over it; a Global
//! sum over the Dirichlet subset; a Subset of that Subset (RW); DatView READ and INC through
//! the map, WRITE through the map and a direct DatView WRITE; and a write through `Dat::data` (owned values only)
//! followed by a loop reading them through the map, which must see the new halo values on
//! every rank. Dats are gathered to rank 0 and compared with plain serial Rust over the whole
//! mesh (exact: every value is a small integer or dyadic). Prints `rank R of N: ok: V values
//! checked` and exits non-zero on every rank on a mismatch.
use std::process::ExitCode;

use op2::{par_loop, Access, DType, Dat, DataSet, Error, Global, GlobalMesh, Kernel, Result};

struct Mesh {
    nx: usize,
    ny: usize,
    x: Vec<f64>,
    pcell: Vec<i32>,
}

impl Mesh {
    fn nn(&self) -> usize {
        (self.nx + 1) * (self.ny + 1)
    }
    fn nc(&self) -> usize {
        self.nx * self.ny
    }
}

/// The grid position of global node `n` (the inverse of the scrambled numbering).
fn grid_of(n: usize, nx: usize, ny: usize) -> (usize, usize) {
    let nn = (nx + 1) * (ny + 1);
    let k = (0..nn)
        .find(|&k| scramble(k, nn) == n)
        .expect("a permutation");
    (k % (nx + 1), k / (nx + 1))
}

fn scramble(k: usize, nn: usize) -> usize {
    (k * 7919 + 13) % nn
}

fn mesh(nx: usize, ny: usize) -> Mesh {
    let nn = (nx + 1) * (ny + 1);
    let node = |i: usize, j: usize| scramble(i + j * (nx + 1), nn) as i32;
    let mut x = vec![0.0; 2 * nn];
    for j in 0..=ny {
        for i in 0..=nx {
            let n = node(i, j) as usize;
            // Dyadic perturbations: every sum below is exact.
            x[2 * n] = i as f64 + ((i * 31 + j * 17) % 8) as f64 / 32.0;
            x[2 * n + 1] = j as f64 + ((i * 13 + j * 7) % 8) as f64 / 32.0;
        }
    }
    let mut pcell = Vec::new();
    for j in 0..ny {
        for i in 0..nx {
            pcell.extend([
                node(i, j),
                node(i + 1, j),
                node(i + 1, j + 1),
                node(i, j + 1),
            ]);
        }
    }
    Mesh { nx, ny, x, pcell }
}

/// Dirichlet nodes: the boundary of the grid.
fn dirichlet(n: usize, nx: usize, ny: usize) -> bool {
    let (i, j) = grid_of(n, nx, ny);
    i == 0 || j == 0 || i == nx || j == ny
}

/// The chosen cells (a scattered pattern) and the sub-subset rule for Dirichlet nodes.
fn chosen_cell(c: usize) -> bool {
    c.is_multiple_of(3) || c % 7 == 2
}
fn chosen_again(n: usize) -> bool {
    n.is_multiple_of(2)
}

/// The grid: 40 x 30 cells, 41 x 31 nodes.
const NX: usize = 40;
const NY: usize = 30;

const KERNELS: &str = r#"
void bc(const double *x, double *u) { u[0] = x[0] + 2.0 * x[1]; }
void spread(const double *x, double *w, double *tot) {
  for (int k = 0; k < 4; k++) w[k] += x[2 * k] + 1.0;
  tot[0] += 1.0; }
void sum_u(const double *u, double *s) { s[0] += u[0]; }
void triple(double *u) { u[0] *= 3.0; }
void vcount(const double *x0, double *c1) { for (int k = 0; k < 4; k++) c1[k] += x0[k]; }
void vset(double *c0) { c0[0] = 5.0; }
void vmark(double *c0) { for (int k = 0; k < 4; k++) c0[k] = 9.0; }
void gsum(const double *h, double *s) { s[0] = h[0] + h[1] + h[2] + h[3]; }
"#;

/// What the loops produced, gathered to rank 0 in global order.
struct Results {
    u: Vec<f64>,
    w: Vec<f64>,
    v: Vec<f64>,
    s: Vec<f64>,
    tot: f64,
    usum: f64,
}

fn check(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    println!(
        "rank {}: {} thread(s) per rank",
        comm.rank(),
        rt.config().threads
    );
    let (nx, ny) = (NX, NY);
    let g = comm.is_root().then(|| mesh(nx, ny));
    let gm = g.as_ref().map(|m| {
        GlobalMesh::new()
            .add_set("nodes", m.nn())
            .add_set("cells", m.nc())
            .add_map("pcell", "cells", "nodes", 4, m.pcell.clone())
            .coordinates("nodes", 2, m.x.clone())
    });
    let dm = op2::distribute(comm, gm)?;
    let (nodes, cells, pcell) = (dm.set("nodes")?, dm.set("cells")?, dm.map("pcell")?);
    let x = dm.scatter_dat("x", "nodes", 2, g.as_ref().map(|m| m.x.clone()))?;
    let gid = |s: &op2::Set, i: usize| s.global_ids().map_or(i, |g| g[i] as usize);
    // Each rank's subsets: its local elements (halo ones included) chosen by global id.
    let bnd: Vec<usize> = (0..nodes.total_size())
        .filter(|&i| dirichlet(gid(nodes, i), nx, ny))
        .collect();
    let dirichlet_set = nodes.subset(&bnd)?;
    let some_cells: Vec<usize> = (0..cells.total_size())
        .filter(|&c| chosen_cell(gid(cells, c)))
        .collect();
    let cell_subset = cells.subset(&some_cells)?;
    let again: Vec<usize> = (0..bnd.len())
        .filter(|&p| chosen_again(gid(nodes, bnd[p])))
        .collect();
    let sub_subset = dirichlet_set.subset(&again)?;

    let k = |n: &str| Kernel::new(n, KERNELS);
    let nodes1 = DataSet::new(nodes, 1)?;
    let u = Dat::zeros(&nodes1, DType::F64);
    let w = Dat::zeros(&nodes1, DType::F64);
    let v = Dat::zeros(&DataSet::new(nodes, 2)?, DType::F64);
    let h = Dat::zeros(&nodes1, DType::F64);
    let s = Dat::zeros(&DataSet::new(cells, 1)?, DType::F64);
    let (tot, usum) = (Global::scalar(0.0f64), Global::scalar(0.0f64));
    par_loop(
        &k("bc")?,
        &dirichlet_set,
        &[x.arg(Access::Read), u.arg(Access::Write)],
    )?;
    let args = [
        x.arg_vec(Access::Read, pcell),
        w.arg_vec(Access::Inc, pcell),
        tot.arg(Access::Inc),
    ];
    par_loop(&k("spread")?, &cell_subset, &args)?;
    par_loop(
        &k("sum_u")?,
        &dirichlet_set,
        &[u.arg(Access::Read), usum.arg(Access::Inc)],
    )?;
    par_loop(&k("triple")?, &sub_subset, &[u.arg(Access::RW)])?;
    let (x0, v0, v1) = (x.view(0)?, v.view(0)?, v.view(1)?);
    let args = [
        x0.arg_vec(Access::Read, pcell),
        v1.arg_vec(Access::Inc, pcell),
    ];
    par_loop(&k("vcount")?, cells, &args)?;
    // An indirect WRITE through a view right after the INC (which left the halo copies
    // stale): whole elements travel back to their owners, so component 1 must survive.
    par_loop(&k("vmark")?, cells, &[v0.arg_vec(Access::Write, pcell)])?;
    par_loop(&k("vset")?, &dirichlet_set, &[v0.arg(Access::Write)])?;
    // Data without copies: owned values written in place; the loop after it reads them
    // through the map, halo copies included: they must have been refreshed.
    par_loop(
        &k("gsum")?,
        cells,
        &[h.arg_vec(Access::Read, pcell), s.arg(Access::Write)],
    )?;
    {
        let mut hv = h.data::<f64>()?;
        for (i, val) in hv.iter_mut().enumerate() {
            *val = 1.5 * gid(nodes, i) as f64;
        }
    }
    par_loop(
        &k("gsum")?,
        cells,
        &[h.arg_vec(Access::Read, pcell), s.arg(Access::Write)],
    )?;
    let halos_ok = {
        let all = h.data_ro_with_halos::<f64>()?;
        (0..nodes.total_size()).all(|i| all[i] == 1.5 * gid(nodes, i) as f64)
    };
    let halos_ok = comm.allreduce_u64(halos_ok as u64, op2::ReduceOp::Min)? == 1;
    let got = (
        u.gather::<f64>(0)?,
        w.gather::<f64>(0)?,
        v.gather::<f64>(0)?,
        s.gather::<f64>(0)?,
    );
    let verdict = match (&g, got) {
        (Some(m), (Some(u), Some(w), Some(v), Some(s))) => {
            let r = Results {
                u,
                w,
                v,
                s,
                tot: tot.get::<f64>()?,
                usum: usum.get::<f64>()?,
            };
            match (halos_ok, compare(m, &r)) {
                (false, _) => "FAIL halo copies after Dat::data differ from their owners".into(),
                (true, Err(e)) => format!("FAIL {e}"),
                (true, Ok(n)) => format!("ok: {n} values checked"),
            }
        }
        _ => String::new(),
    };
    let verdict =
        String::from_utf8_lossy(&comm.broadcast_bytes(0, verdict.into_bytes())?).into_owned();
    if let Some(msg) = verdict.strip_prefix("FAIL ") {
        return Err(Error::Remote {
            rank: 0,
            detail: msg.to_string(),
        }
        .on_every_rank());
    }
    println!("rank {} of {}: {verdict}", comm.rank(), comm.size());
    Ok(())
}

/// The serial computation over the whole mesh, compared exactly; returns the values checked.
fn compare(m: &Mesh, r: &Results) -> std::result::Result<usize, String> {
    let (nn, nc) = (m.nn(), m.nc());
    let (mut u, mut w, mut v, mut s) = (
        vec![0.0; nn],
        vec![0.0; nn],
        vec![0.0; 2 * nn],
        vec![0.0; nc],
    );
    let (mut tot, mut usum) = (0.0, 0.0);
    let bnd: Vec<bool> = (0..nn).map(|n| dirichlet(n, m.nx, m.ny)).collect();
    for n in (0..nn).filter(|&n| bnd[n]) {
        u[n] = m.x[2 * n] + 2.0 * m.x[2 * n + 1];
        usum += u[n];
    }
    for c in (0..nc).filter(|&c| chosen_cell(c)) {
        for k in 0..4 {
            let n = m.pcell[4 * c + k] as usize;
            w[n] += m.x[2 * n] + 1.0;
        }
        tot += 1.0;
    }
    for n in (0..nn).filter(|&n| bnd[n] && chosen_again(n)) {
        u[n] *= 3.0;
    }
    for (c, sc) in s.iter_mut().enumerate() {
        for k in 0..4 {
            let n = m.pcell[4 * c + k] as usize;
            v[2 * n + 1] += m.x[2 * n];
            *sc += 1.5 * n as f64;
        }
    }
    for n in 0..nn {
        v[2 * n] = if bnd[n] { 5.0 } else { 9.0 };
    }
    let mut checked = 0;
    for (name, want, got) in [
        ("u", &u, &r.u),
        ("w", &w, &r.w),
        ("v", &v, &r.v),
        ("s", &s, &r.s),
    ] {
        if want.len() != got.len() {
            return Err(format!(
                "{name}: {} values, expected {}",
                got.len(),
                want.len()
            ));
        }
        if let Some(i) = (0..want.len()).find(|&i| want[i] != got[i]) {
            return Err(format!("{name}[{i}] = {}, serial {}", got[i], want[i]));
        }
        checked += want.len();
    }
    for (name, want, got) in [("tot", tot, r.tot), ("usum", usum, r.usum)] {
        if want != got {
            return Err(format!("Global {name} = {got}, serial {want}"));
        }
        checked += 1;
    }
    Ok(checked)
}

fn main() -> ExitCode {
    op2::run(check)
}
