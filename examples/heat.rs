//! A first solver on op2 (docs/GUIDE.md shows this file as it is): the heat equation
//! du/dt = div(grad u) on the unit square, explicit Euler in time, P1 finite elements in space
//! with a lumped mass matrix and zero-flux boundaries, so the total heat is conserved.
//!
//!   cargo build --release --example heat
//!   mpiexec -n 3 target/release/examples/heat --n 32 --steps 200 --out heat
use op2::{par_loop, Access, Dat, DataSet, Global, GlobalMesh, Kernel};

const KERNELS: &str = r#"
#include <math.h>
/* Over cells. x: the 3 corners' coordinates, packed (x[2 * k + d]); m: the 3 corners' masses. */
void mass(const double *x, double *m)
{
  double area = 0.5 * fabs((x[2] - x[0]) * (x[5] - x[1]) - (x[4] - x[0]) * (x[3] - x[1]));
  for (int k = 0; k < 3; k++) m[k] += area / 3.0;
}
/* Over cells: r -= K u, with K the P1 stiffness matrix of the triangle. */
void diffuse(const double *x, const double *u, double *r)
{
  double det = (x[2] - x[0]) * (x[5] - x[1]) - (x[4] - x[0]) * (x[3] - x[1]);
  double b[3] = {x[3] - x[5], x[5] - x[1], x[1] - x[3]};
  double c[3] = {x[4] - x[2], x[0] - x[4], x[2] - x[0]};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) r[i] -= (b[i] * b[j] + c[i] * c[j]) / (2.0 * fabs(det)) * u[j];
}
/* Over nodes. */
void init(const double *x, double *u)
{
  u[0] = exp(-50.0 * ((x[0] - 0.3) * (x[0] - 0.3) + (x[1] - 0.4) * (x[1] - 0.4)));
}
void step(double *u, double *r, const double *m, const double *dt)
{
  u[0] += dt[0] * r[0] / m[0];
  r[0] = 0.0;
}
void total(const double *m, const double *u, double *heat, double *umax)
{
  heat[0] += m[0] * u[0];
  if (u[0] > umax[0]) umax[0] = u[0];
}
"#;

fn solve(rt: &op2::Runtime) -> op2::Result<()> {
    let comm = rt.comm();
    let (n, steps, out) = options();
    // 1. The mesh: generated on rank 0, partitioned and distributed over the ranks.
    let mesh = match comm.is_root() {
        true => Some(op2::mesh::unit_square(n, 0.2)?),
        false => None,
    };
    let global = mesh.as_ref().map(|m| {
        GlobalMesh::new()
            .add_set("cells", m.ncells())
            .add_set("nodes", m.nnodes())
            .add_map("c2n", "cells", "nodes", 3, m.cells.clone())
            .coordinates("nodes", 2, m.coords.clone())
    });
    let dm = op2::distribute(comm, global)?;
    let (cells, nodes, c2n) = (dm.set("cells")?, dm.set("nodes")?, dm.map("c2n")?);

    // 2. Data on the mesh: coordinates from rank 0, fields starting at zero.
    let x = dm.scatter_dat("x", "nodes", 2, mesh.map(|m| m.coords))?;
    let on_nodes = DataSet::new(nodes, 1)?;
    let zeros = || vec![0.0f64; nodes.size()];
    let (u, r, m) = (
        Dat::named("u", &on_nodes, zeros())?,
        Dat::named("r", &on_nodes, zeros())?,
        Dat::named("mass", &on_nodes, zeros())?,
    );

    // 3. Kernels: Kernel::new(name of the C function, C code), then loops over sets.
    let k = |name: &str| Kernel::new(name, KERNELS);
    let (mass, diffuse, init, step, total) = (
        k("mass")?,
        k("diffuse")?,
        k("init")?,
        k("step")?,
        k("total")?,
    );
    par_loop(
        &mass,
        cells,
        &[x.arg_vec(Access::Read, c2n), m.arg_vec(Access::Inc, c2n)],
    )?;
    par_loop(&init, nodes, &[x.arg(Access::Read), u.arg(Access::Write)])?;
    let heat_and_max = || -> op2::Result<(f64, f64)> {
        let (heat, umax) = (Global::scalar(0.0f64), Global::scalar(f64::MIN));
        let args = [
            m.arg(Access::Read),
            u.arg(Access::Read),
            heat.arg(Access::Inc),
            umax.arg(Access::Max),
        ];
        par_loop(&total, nodes, &args)?;
        Ok((heat.get()?, umax.get()?))
    };
    let (heat0, max0) = heat_and_max()?;
    let dt = Global::scalar(0.1 / (n * n) as f64);
    for _ in 0..steps {
        let rates = [
            x.arg_vec(Access::Read, c2n),
            u.arg_vec(Access::Read, c2n),
            r.arg_vec(Access::Inc, c2n),
        ];
        par_loop(&diffuse, cells, &rates)?;
        par_loop(
            &step,
            nodes,
            &[
                u.arg(Access::RW),
                r.arg(Access::RW),
                m.arg(Access::Read),
                dt.arg(Access::Read),
            ],
        )?;
    }
    let (heat, umax) = heat_and_max()?;
    if comm.is_root() {
        println!("heat: n {n} steps {steps} ranks {}", comm.size());
        println!("heat: total {heat0:.15e} -> {heat:.15e}, max {max0:.15e} -> {umax:.15e}");
    }

    // 4. Results out: one VTU written by rank 0, and ParaView's PVTU with one piece per rank.
    if let Some(out) = out {
        let vtu = op2::mesh::vtu::Output::new(c2n, &x)?;
        vtu.write_vtu(&out.with_extension("vtu"), &[&u, &m])?;
        vtu.write_pvtu(&out.with_extension("pvtu"), &[&u, &m])?;
    }
    Ok(())
}

/// `--n N` (squares per side, default 32), `--steps S` (default 200), `--out PATH` (writes
/// PATH.vtu and PATH.pvtu with its pieces).
fn options() -> (usize, usize, Option<std::path::PathBuf>) {
    let a: Vec<String> = std::env::args().collect();
    let get = |flag: &str| a.iter().position(|x| x == flag).and_then(|i| a.get(i + 1));
    let num =
        |flag: &str, default: usize| get(flag).map_or(default, |v| v.parse().expect("a number"));
    (
        num("--n", 32),
        num("--steps", 200),
        get("--out").map(Into::into),
    )
}

fn main() -> std::process::ExitCode {
    op2::run(solve)
}
