//! Distributed par_loops equal the serial result. Rank 0 builds an unstructured-numbered quad
//! mesh, `op2::distribute` spreads it, every loop kind runs on all ranks (direct READ/WRITE/RW,
//! indirect READ, indirect INC in f64 and i64, vector maps READ and INC, indirect WRITE through
//! a map with untouched targets, Globals INC/MIN/MAX), every Dat is gathered to rank 0, and rank
//! 0 compares with a plain serial Rust computation over the global mesh: exact for integer data,
//! 1e-12 relative for floating point. Prints `ok: N values checked` on rank 0 and exits non-zero
//! on every rank on any mismatch. Options: `--nx N --ny N` (default 60 x 50), `--iters K`
//! (repeat the whole sequence, exercising halo validity tracking; default 2). Threads per rank
//! come from `OP2_THREADS` (and block size from `OP2_BLOCK_SIZE`) as for any op2 program; each
//! rank prints `rank R: T thread(s) per rank`.
use std::process::ExitCode;

use op2::{par_loop, Access, DType, Dat, DataSet, Error, Global, GlobalMesh, Kernel, Result};

struct Mesh {
    nn: usize,
    nc: usize,
    ne: usize,
    nb: usize,
    x: Vec<f64>,
    pcell: Vec<i32>,
    pedge: Vec<i32>,
    pbnd: Vec<i32>,
}

/// A structured (nx x ny) quad mesh with scrambled node numbering.
fn mesh(nx: usize, ny: usize) -> Mesh {
    let nn = (nx + 1) * (ny + 1);
    let perm = |i: usize| (i * 7919 + 13) % nn; // 7919 is prime and does not divide nn here
    let node = |i: usize, j: usize| perm(i + j * (nx + 1)) as i32;
    let mut x = vec![0.0; 2 * nn];
    for j in 0..=ny {
        for i in 0..=nx {
            let n = node(i, j) as usize;
            x[2 * n] = i as f64 + 0.3 * ((i * j) as f64).sin();
            x[2 * n + 1] = j as f64 + 0.2 * ((i + 2 * j) as f64).cos();
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
    let (mut pedge, mut pbnd) = (Vec::new(), Vec::new());
    for j in 0..=ny {
        for i in 0..nx {
            let e = [node(i, j), node(i + 1, j)];
            pedge.extend(e);
            if j == 0 || j == ny {
                pbnd.extend(e);
            }
        }
    }
    for j in 0..ny {
        for i in 0..=nx {
            let e = [node(i, j), node(i, j + 1)];
            pedge.extend(e);
            if i == 0 || i == nx {
                pbnd.extend(e);
            }
        }
    }
    Mesh {
        nn,
        nc: nx * ny,
        ne: pedge.len() / 2,
        nb: pbnd.len() / 2,
        x,
        pcell,
        pedge,
        pbnd,
    }
}

fn arg(name: &str, default: usize) -> usize {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|s| s == name)
        .and_then(|i| a.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const KERNELS: &str = r#"
#include <math.h>
void direct(const int64_t *id, int64_t *twice, double *f) { twice[0] = 2 * id[0] + 1; f[0] = 1.5 * f[0] + (double)id[0]; }
void centroid(const double *a, const double *b, const double *c, const double *d, double *cen) {
  cen[0] = 0.25 * (a[0] + b[0] + c[0] + d[0]); cen[1] = 0.25 * (a[1] + b[1] + c[1] + d[1]); }
void edge_inc(const double *x0, const double *x1, double *a0, double *a1, int64_t *d0, int64_t *d1) {
  double l = sqrt((x1[0]-x0[0])*(x1[0]-x0[0]) + (x1[1]-x0[1])*(x1[1]-x0[1]));
  a0[0] += l; a1[0] -= 0.5 * l; d0[0] += 1; d1[0] += 1; }
void cell_vec(const double *x, double *area, int64_t *sum_id, const int64_t *id, double *mn, double *mx, double *tot) {
  double s = 0.0;
  for (int k = 0; k < 4; k++) { int l = (k + 1) % 4; s += x[2 * k] * x[2 * l + 1] - x[2 * l] * x[2 * k + 1]; }
  s *= 0.5;
  for (int k = 0; k < 4; k++) area[k] += 0.25 * s;
  sum_id[0] += id[0];
  if (s < mn[0]) mn[0] = s;
  if (s > mx[0]) mx[0] = s;
  tot[0] += s; }
void mark(int32_t *m0, int32_t *m1) { m0[0] = 7; m1[0] = 7; }
void bump(const int32_t *m, double *a) { a[0] += (double)m[0]; }
"#;

fn check(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    println!(
        "rank {}: {} thread(s) per rank",
        comm.rank(),
        rt.config().threads
    );
    let (nx, ny, iters) = (arg("--nx", 60), arg("--ny", 50), arg("--iters", 2));
    let g = if comm.is_root() {
        Some(mesh(nx, ny))
    } else {
        None
    };
    let gm = g.as_ref().map(|m| {
        GlobalMesh::new()
            .add_set("nodes", m.nn)
            .add_set("cells", m.nc)
            .add_set("edges", m.ne)
            .add_set("bedges", m.nb)
            .add_map("pcell", "cells", "nodes", 4, m.pcell.clone())
            .add_map("pedge", "edges", "nodes", 2, m.pedge.clone())
            .add_map("pbnd", "bedges", "nodes", 2, m.pbnd.clone())
            .coordinates("nodes", 2, m.x.clone())
    });
    let dm = op2::distribute(comm, gm)?;
    let (cells, edges, bedges) = (dm.set("cells")?, dm.set("edges")?, dm.set("bedges")?);
    let (pcell, pedge, pbnd) = (dm.map("pcell")?, dm.map("pedge")?, dm.map("pbnd")?);
    let x = dm.scatter_dat("x", "nodes", 2, g.as_ref().map(|m| m.x.clone()))?;
    let id = dm.scatter_dat(
        "id",
        "cells",
        1,
        g.as_ref()
            .map(|m| (0..m.nc as i64).map(|c| 3 * c + 1).collect::<Vec<_>>()),
    )?;
    let f = dm.scatter_dat(
        "f",
        "cells",
        1,
        g.as_ref()
            .map(|m| (0..m.nc).map(|c| (c as f64).sqrt()).collect::<Vec<_>>()),
    )?;
    let twice = Dat::zeros(&DataSet::new(cells, 1)?, DType::I64);
    let cen = Dat::zeros(&DataSet::new(cells, 2)?, DType::F64);
    let nodes1 = DataSet::new(dm.set("nodes")?, 1)?;
    let acc = Dat::zeros(&nodes1, DType::F64);
    let deg = Dat::zeros(&nodes1, DType::I64);
    let area = Dat::zeros(&nodes1, DType::F64);
    let marker = Dat::zeros(&nodes1, DType::I32);
    let k = |n: &str| Kernel::new(n, KERNELS);
    let (k_direct, k_cen, k_edge, k_cell, k_mark, k_bump) = (
        k("direct")?,
        k("centroid")?,
        k("edge_inc")?,
        k("cell_vec")?,
        k("mark")?,
        k("bump")?,
    );
    let (sum_id, mn, mx, tot) = (
        Global::new(vec![0i64])?,
        Global::new(vec![f64::MAX])?,
        Global::new(vec![f64::MIN])?,
        Global::new(vec![0.0f64])?,
    );
    let bumped = Dat::zeros(&DataSet::new(cells, 1)?, DType::F64);
    for _ in 0..iters {
        par_loop(
            &k_direct,
            cells,
            &[
                id.arg(Access::Read),
                twice.arg(Access::Write),
                f.arg(Access::RW),
            ],
        )?;
        par_loop(
            &k_cen,
            cells,
            &[
                x.arg_map(Access::Read, pcell, 0),
                x.arg_map(Access::Read, pcell, 1),
                x.arg_map(Access::Read, pcell, 2),
                x.arg_map(Access::Read, pcell, 3),
                cen.arg(Access::Write),
            ],
        )?;
        par_loop(
            &k_edge,
            edges,
            &[
                x.arg_map(Access::Read, pedge, 0),
                x.arg_map(Access::Read, pedge, 1),
                acc.arg_map(Access::Inc, pedge, 0),
                acc.arg_map(Access::Inc, pedge, 1),
                deg.arg_map(Access::Inc, pedge, 0),
                deg.arg_map(Access::Inc, pedge, 1),
            ],
        )?;
        par_loop(
            &k_cell,
            cells,
            &[
                x.arg_vec(Access::Read, pcell),
                area.arg_vec(Access::Inc, pcell),
                sum_id.arg(Access::Inc),
                id.arg(Access::Read),
                mn.arg(Access::Min),
                mx.arg(Access::Max),
                tot.arg(Access::Inc),
            ],
        )?;
        par_loop(
            &k_mark,
            bedges,
            &[
                marker.arg_map(Access::Write, pbnd, 0),
                marker.arg_map(Access::Write, pbnd, 1),
            ],
        )?;
        // Reads the marker through the halo right after the indirect WRITE: tests staleness.
        par_loop(
            &k_bump,
            cells,
            &[
                marker.arg_map(Access::Read, pcell, 2),
                bumped.arg(Access::Inc),
            ],
        )?;
    }
    let got = (
        twice.gather::<i64>(0)?,
        f.gather::<f64>(0)?,
        cen.gather::<f64>(0)?,
        acc.gather::<f64>(0)?,
        deg.gather::<i64>(0)?,
        area.gather::<f64>(0)?,
        marker.gather::<i32>(0)?,
        bumped.gather::<f64>(0)?,
    );
    let globals = (
        sum_id.value::<i64>()?[0],
        mn.value::<f64>()?[0],
        mx.value::<f64>()?[0],
        tot.value::<f64>()?[0],
    );
    // Every rank must see the same Globals.
    let gmin = comm.allreduce(
        &[globals.1, -globals.1, globals.3, -globals.3],
        op2::ReduceOp::Min,
    )?;
    let same = gmin[0] == -gmin[1]
        && gmin[2] == -gmin[3]
        && comm.allreduce_u64(globals.0 as u64, op2::ReduceOp::Min)?
            == comm.allreduce_u64(globals.0 as u64, op2::ReduceOp::Max)?;
    let verdict = match (&g, got) {
        (
            Some(m),
            (
                Some(twice),
                Some(f),
                Some(cen),
                Some(acc),
                Some(deg),
                Some(area),
                Some(marker),
                Some(bumped),
            ),
        ) => serial_compare(
            m, iters, &twice, &f, &cen, &acc, &deg, &area, &marker, &bumped, globals, same,
        ),
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

#[allow(clippy::too_many_arguments)]
fn serial_compare(
    m: &Mesh,
    iters: usize,
    twice: &[i64],
    f: &[f64],
    cen: &[f64],
    acc: &[f64],
    deg: &[i64],
    area: &[f64],
    marker: &[i32],
    bumped: &[f64],
    globals: (i64, f64, f64, f64),
    same: bool,
) -> String {
    let mut w_f: Vec<f64> = (0..m.nc).map(|c| (c as f64).sqrt()).collect();
    let w_twice: Vec<i64> = (0..m.nc as i64).map(|c| 2 * (3 * c + 1) + 1).collect();
    let (mut w_cen, mut w_acc, mut w_deg, mut w_area, mut w_marker, mut w_bumped) = (
        vec![0.0; 2 * m.nc],
        vec![0.0; m.nn],
        vec![0i64; m.nn],
        vec![0.0; m.nn],
        vec![0i32; m.nn],
        vec![0.0; m.nc],
    );
    let (mut s_id, mut s_mn, mut s_mx, mut s_tot) = (0i64, f64::MAX, f64::MIN, 0.0);
    let xy = |n: i32| (m.x[2 * n as usize], m.x[2 * n as usize + 1]);
    for _ in 0..iters {
        for c in 0..m.nc {
            w_f[c] = 1.5 * w_f[c] + (3 * c + 1) as f64;
            let p = &m.pcell[4 * c..4 * c + 4];
            w_cen[2 * c] = 0.25 * p.iter().map(|&n| xy(n).0).sum::<f64>();
            w_cen[2 * c + 1] = 0.25 * p.iter().map(|&n| xy(n).1).sum::<f64>();
        }
        for e in 0..m.ne {
            let (a, b) = (m.pedge[2 * e], m.pedge[2 * e + 1]);
            let l = ((xy(b).0 - xy(a).0).powi(2) + (xy(b).1 - xy(a).1).powi(2)).sqrt();
            w_acc[a as usize] += l;
            w_acc[b as usize] -= 0.5 * l;
            w_deg[a as usize] += 1;
            w_deg[b as usize] += 1;
        }
        for c in 0..m.nc {
            let p = &m.pcell[4 * c..4 * c + 4];
            let mut s = 0.0;
            for k in 0..4 {
                let (a, b) = (xy(p[k]), xy(p[(k + 1) % 4]));
                s += a.0 * b.1 - b.0 * a.1;
            }
            s *= 0.5;
            for &n in p {
                w_area[n as usize] += 0.25 * s;
            }
            s_id += 3 * c as i64 + 1;
            s_mn = s_mn.min(s);
            s_mx = s_mx.max(s);
            s_tot += s;
        }
        for &n in &m.pbnd {
            w_marker[n as usize] = 7;
        }
        for c in 0..m.nc {
            w_bumped[c] += w_marker[m.pcell[4 * c + 2] as usize] as f64;
        }
    }
    let close = |a: f64, b: f64| {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300) || (a - b).abs() < 1e-13
    };
    let mut n = 0;
    let fail = |what: &str, i: usize, got: String, want: String| {
        format!("FAIL {what}[{i}] = {got}, serial {want}")
    };
    macro_rules! exact {
        ($name:expr, $got:expr, $want:expr) => {
            for (i, (a, b)) in $got.iter().zip($want.iter()).enumerate() {
                if a != b {
                    return fail($name, i, format!("{a}"), format!("{b}"));
                }
                n += 1;
            }
            if $got.len() != $want.len() {
                return fail(
                    $name,
                    0,
                    format!("len {}", $got.len()),
                    format!("len {}", $want.len()),
                );
            }
        };
    }
    macro_rules! approx {
        ($name:expr, $got:expr, $want:expr) => {
            for (i, (a, b)) in $got.iter().zip($want.iter()).enumerate() {
                if !close(*a, *b) {
                    return fail($name, i, format!("{a:e}"), format!("{b:e}"));
                }
                n += 1;
            }
            if $got.len() != $want.len() {
                return fail(
                    $name,
                    0,
                    format!("len {}", $got.len()),
                    format!("len {}", $want.len()),
                );
            }
        };
    }
    exact!("twice (direct WRITE, i64)", twice, w_twice);
    approx!("f (direct RW)", f, w_f);
    approx!("centroid (indirect READ)", cen, w_cen);
    approx!("acc (indirect INC, f64)", acc, w_acc);
    exact!("deg (indirect INC, i64)", deg, w_deg);
    approx!("area (vector map INC)", area, w_area);
    exact!("marker (indirect WRITE)", marker, w_marker);
    approx!("bumped (READ after indirect WRITE)", bumped, w_bumped);
    if !same {
        return "FAIL Globals differ between ranks".into();
    }
    if globals.0 != s_id {
        return fail(
            "sum_id (Global INC i64)",
            0,
            globals.0.to_string(),
            s_id.to_string(),
        );
    }
    if globals.1 != s_mn.min(f64::MAX) {
        return fail(
            "min (Global MIN)",
            0,
            globals.1.to_string(),
            s_mn.to_string(),
        );
    }
    if globals.2 != s_mx {
        return fail(
            "max (Global MAX)",
            0,
            globals.2.to_string(),
            s_mx.to_string(),
        );
    }
    if !close(globals.3, s_tot) {
        return fail(
            "tot (Global INC f64)",
            0,
            globals.3.to_string(),
            s_tot.to_string(),
        );
    }
    format!(
        "ok: {} values checked against the serial loops ({} cells, {} nodes, {} edges)",
        n + 4,
        m.nc,
        m.nn,
        m.ne
    )
}

fn main() -> ExitCode {
    op2::run(check)
}
