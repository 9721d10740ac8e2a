//! P1 finite elements for -Δu = f on the unit square with Dirichlet boundary conditions.
//!
//! Every numerical step is a par_loop over a C kernel, or a Mat operation:
//! * mesh: `n x n` squares split into triangles along hashed diagonals, interior nodes moved
//!   pseudo-randomly (`op2::meshgen`), so the mesh is genuinely unstructured;
//! * matrix: element stiffness matrices INC-assembled into a [`op2::Mat`] through the
//!   cell->node map; the sparsity has a second map pair, boundary node -> node (arity 1), used
//!   by a WRITE loop that sets the diagonal of boundary rows;
//! * boundary conditions by symmetric elimination (documented on [`kernels`]): element kernels
//!   drop every row and column of a boundary node and move the known boundary values to the
//!   right-hand side (lifting); the boundary loop then writes A_ii = 1 and b_i = g_i. The
//!   matrix stays symmetric positive definite, so CG applies;
//! * solve: op2's [`op2::KrylovSolver`] (CG with Jacobi by default; GMRES, BiCGStab, SSOR,
//!   ILU(0) by option), or a hand-written Jacobi CG whose dot products are Global INC
//!   reductions, vector updates direct loops, the mat-vec [`op2::Mat::mult`];
//! * error: the L2 error by a degree-4 quadrature per cell (Global INC) and the largest nodal
//!   error (Global MAX).
//!
//! Options: `--n N` (squares per side, default 64), `--perturb P` (interior node displacement
//! in units of h, default 0.2), `--solution sine|exp` (u = sin(πx) sin(πy), zero on the boundary;
//! or u = e^x sin(πy), non-zero on the boundary), `--rtol R` (CG stops when
//! |r| <= R |b|, default 1e-10), `--max-it M`, `--cg single|classic|handwritten` (op2's CG
//! variant, or the hand-written CG from par_loops), `--ksp cg|gmres|bicgstab` and `--pc
//! none|jacobi|bjacobi|sor|ilu0` (op2's solver: `cg_iterations` then reports its iterations),
//! `--vtu PATH` (the solution as ParaView's parallel
//! format: PATH, a `.pvtu`, and one piece per rank beside it).
//! With the cargo feature `petsc`, `--petsc` solves the same system with PETSc's KSP
//! (`--petsc-options "-pc_type gamg"`).
//!
//! Runs under `op2::run` on any number of ranks (`mpiexec -n 4 poisson`): rank 0 generates the
//! mesh as an [`op2::GlobalMesh`] (node coordinates for the partitioner) and
//! [`op2::distribute()`] spreads it; every loop runs on owned elements with halo exchanges, the
//! matrix's halo rows are assembled at their owners, and Global reductions span all ranks, so
//! the result equals the one-rank result up to summation order. Rank 0 prints the report.
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use op2::{
    par_loop, Access, CgVariant, DType, Dat, DataSet, Error, Global, GlobalMesh, Kernel,
    KrylovSolver, Mat, Preconditioner, ReduceOp, Sparsity,
};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Solution {
    /// u = sin(πx) sin(πy), f = 2π² u.
    Sine,
    /// u = e^x sin(πy), f = (π² - 1) u (non-zero Dirichlet data).
    Exp,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Cg {
    Single,
    Classic,
    Handwritten,
}

/// The Krylov method of op2's solver.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Ksp {
    Cg,
    Gmres,
    Bicgstab,
}

/// The preconditioner of op2's solver (`sor`: symmetric Gauss-Seidel, SSOR with omega 1;
/// `ilu0`: ILU(0) of each rank's diagonal block; `bjacobi`: point-block Jacobi).
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Pc {
    None,
    Jacobi,
    Bjacobi,
    Sor,
    Ilu0,
}

#[derive(Parser, Debug)]
#[command(about = "P1 finite-element Poisson solver on an unstructured unit-square mesh")]
struct Args {
    /// Squares per side (the mesh has 2 n² triangles, h = 1/n).
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// Interior node displacement, in units of h (< 0.25).
    #[arg(long, default_value_t = 0.2)]
    perturb: f64,
    /// Exact solution.
    #[arg(long, value_enum, default_value_t = Solution::Sine)]
    solution: Solution,
    /// Relative residual tolerance of CG.
    #[arg(long, default_value_t = 1e-10)]
    rtol: f64,
    /// Largest number of CG iterations.
    #[arg(long, default_value_t = 100_000)]
    max_it: usize,
    /// Write the solution as PVTU (one piece per rank) to this path.
    #[arg(long)]
    vtu: Option<std::path::PathBuf>,
    /// The CG: op2's single-reduction or classic CG, or the hand-written one from par_loops.
    #[arg(long, value_enum, default_value_t = Cg::Single)]
    cg: Cg,
    /// op2's Krylov method (`--cg` picks the CG variant; the hand-written CG takes neither
    /// `--ksp` nor `--pc`).
    #[arg(long, value_enum, default_value_t = Ksp::Cg)]
    ksp: Ksp,
    /// op2's preconditioner.
    #[arg(long, value_enum, default_value_t = Pc::Jacobi)]
    pc: Pc,
    /// Solve with PETSc's KSP instead (built with `--features petsc`); options from
    /// `--petsc-options` and PETSC_OPTIONS (default CG + Jacobi, op2's stopping test).
    #[cfg(feature = "petsc")]
    #[arg(long)]
    petsc: bool,
    /// PETSc options for `--petsc`, e.g. "-ksp_type cg -pc_type gamg".
    #[cfg(feature = "petsc")]
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    petsc_options: String,
}

impl Args {
    /// op2's solver as the options ask.
    fn solver(&self) -> KrylovSolver {
        let pc = match self.pc {
            Pc::None => Preconditioner::None,
            Pc::Jacobi => Preconditioner::Jacobi,
            Pc::Bjacobi => Preconditioner::BlockJacobi,
            Pc::Sor => Preconditioner::Ssor { omega: 1.0 },
            Pc::Ilu0 => Preconditioner::Ilu0,
        };
        let variant = match self.cg {
            Cg::Classic => CgVariant::Classic,
            _ => CgVariant::SingleReduction,
        };
        let ksp = match self.ksp {
            Ksp::Cg => KrylovSolver::cg().variant(variant),
            Ksp::Gmres => KrylovSolver::gmres(),
            Ksp::Bicgstab => KrylovSolver::bicgstab(),
        };
        ksp.preconditioner(pc).rtol(self.rtol).max_it(self.max_it)
    }
}

/// The C kernels. Boundary conditions by symmetric elimination: with `bc[i] = 1` on boundary
/// nodes and `g` the Dirichlet values there, the element matrix drops rows and columns of
/// boundary nodes and the element load vector subtracts `K_ij g_j` (j on the boundary) from
/// interior rows; a loop over boundary nodes then sets `A_ii = 1`, `b_i = g_i`. Solving the
/// result gives `u_i = g_i` on the boundary and the standard Galerkin equations inside.
mod kernels {
    use super::Solution;

    /// Shared C helpers: the exact solution, the forcing, and the P1 element stiffness.
    pub fn prelude(s: Solution) -> String {
        let (u, f) = match s {
            Solution::Sine => (
                "sin(OP2_PI * x) * sin(OP2_PI * y)",
                "2.0 * OP2_PI * OP2_PI * sin(OP2_PI * x) * sin(OP2_PI * y)",
            ),
            Solution::Exp => (
                "exp(x) * sin(OP2_PI * y)",
                "(OP2_PI * OP2_PI - 1.0) * exp(x) * sin(OP2_PI * y)",
            ),
        };
        format!(
            r#"
#define OP2_PI 3.14159265358979323846
static double exact(double x, double y) {{ return {u}; }}
static double forcing(double x, double y) {{ return {f}; }}
/* K_ij = area * grad(phi_i) . grad(phi_j) for the triangle x[0..3]; returns the area. */
static double p1_stiffness(const double *x, double K[9])
{{
  double det = (x[2] - x[0]) * (x[5] - x[1]) - (x[4] - x[0]) * (x[3] - x[1]);
  double b[3] = {{x[3] - x[5], x[5] - x[1], x[1] - x[3]}};
  double c[3] = {{x[4] - x[2], x[0] - x[4], x[2] - x[0]}};
  double area = 0.5 * fabs(det);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) K[3 * i + j] = (b[i] * b[j] + c[i] * c[j]) / (4.0 * area);
  return area;
}}
"#
        )
    }

    pub const BC_VALUES: &str = r#"
void bc_values(const double *x, double *flag, double *g, double *u)
{
  flag[0] = 1.0;
  g[0] = exact(x[0], x[1]);
  u[0] = g[0];
}"#;

    pub const LAPLACE: &str = r#"
void p1_laplace(double *A, const double *x)
{
  p1_stiffness(x, A);
}"#;

    /// Load vector by the edge-midpoint rule (exact for quadratics); the Dirichlet values
    /// enter by `Mat::zero_rows_columns`.
    pub const LOAD: &str = r#"
void p1_load(double *b, const double *x)
{
  double K[9];
  double area = p1_stiffness(x, K);
  for (int k = 0; k < 3; k++) {
    int i1 = (k + 1) % 3, i2 = (k + 2) % 3;
    double fw = forcing(0.5 * (x[2 * i1] + x[2 * i2]), 0.5 * (x[2 * i1 + 1] + x[2 * i2 + 1])) * area / 6.0;
    b[i1] += fw;
    b[i2] += fw;
  }
}"#;

    pub const CG_INIT: &str = r#"
void cg_init(double *r, double *z, double *p, const double *b, const double *au,
             const double *d, double *rz, double *rr, double *bb)
{
  r[0] = b[0] - au[0];
  z[0] = r[0] / d[0];
  p[0] = z[0];
  rz[0] += r[0] * z[0];
  rr[0] += r[0] * r[0];
  bb[0] += b[0] * b[0];
}"#;

    pub const DOT: &str = r#"
void dot(const double *a, const double *b, double *s) { s[0] += a[0] * b[0]; }"#;

    pub const CG_UPDATE: &str = r#"
void cg_update(double *u, double *r, double *z, const double *p, const double *ap,
               const double *d, const double *alpha, double *rz, double *rr)
{
  u[0] += alpha[0] * p[0];
  r[0] -= alpha[0] * ap[0];
  z[0] = r[0] / d[0];
  rz[0] += r[0] * z[0];
  rr[0] += r[0] * r[0];
}"#;

    pub const CG_DIRECTION: &str = r#"
void cg_direction(double *p, const double *z, const double *beta) { p[0] = z[0] + beta[0] * p[0]; }"#;

    /// Squared L2 error by the 6-point degree-4 rule (Strang & Fix).
    pub const L2_ERROR: &str = r#"
void l2_error(const double *x, const double *u, double *err)
{
  const double a1 = 0.445948490915965, b1 = 0.108103018168070, w1 = 0.223381589678011;
  const double a2 = 0.091576213509771, b2 = 0.816847572980459, w2 = 0.109951743655322;
  const double l[6][3] = {{a1, a1, b1}, {a1, b1, a1}, {b1, a1, a1},
                          {a2, a2, b2}, {a2, b2, a2}, {b2, a2, a2}};
  const double w[6] = {w1, w1, w1, w2, w2, w2};
  double det = (x[2] - x[0]) * (x[5] - x[1]) - (x[4] - x[0]) * (x[3] - x[1]);
  double area = 0.5 * fabs(det);
  for (int q = 0; q < 6; q++) {
    double px = 0, py = 0, uh = 0;
    for (int k = 0; k < 3; k++) {
      px += l[q][k] * x[2 * k];
      py += l[q][k] * x[2 * k + 1];
      uh += l[q][k] * u[k];
    }
    double e = uh - exact(px, py);
    err[0] += w[q] * area * e * e;
  }
}"#;

    pub const NODAL_ERROR: &str = r#"
void nodal_error(const double *x, const double *u, double *m)
{
  double e = fabs(u[0] - exact(x[0], x[1]));
  if (e > m[0]) m[0] = e;
}"#;
}

fn kernel(prelude: &str, name: &str, body: &str) -> op2::Result<Kernel> {
    Kernel::new(name, &format!("{prelude}\n{body}\n"))
}

fn scalar(g: &Global) -> op2::Result<f64> {
    Ok(g.value::<f64>()?[0])
}

fn solve(args: &Args, rt: &op2::Runtime) -> op2::Result<()> {
    let comm = rt.comm();
    if matches!(args.cg, Cg::Handwritten) && !matches!((args.ksp, args.pc), (Ksp::Cg, Pc::Jacobi)) {
        return Err(Error::invalid(
            "poisson --cg handwritten",
            "the hand-written CG is Jacobi CG: it takes neither --ksp nor --pc",
        ));
    }
    let pre = kernels::prelude(args.solution);
    let k = |name: &str, body: &str| kernel(&pre, name, body);
    let t_all = Instant::now();

    // The mesh, on rank 0 only; its verdict (an invalid --n or --perturb) reaches every rank.
    let mesh = comm
        .is_root()
        .then(|| op2::mesh::meshgen::unit_square(args.n, args.perturb));
    if comm.size() > 1 {
        let verdict = match &mesh {
            Some(Err(e)) => e.to_string().into_bytes(),
            _ => Vec::new(),
        };
        let verdict = comm.broadcast_bytes(0, verdict)?;
        if !verdict.is_empty() {
            return Err(Error::Remote {
                rank: 0,
                detail: String::from_utf8_lossy(&verdict).into_owned(),
            }
            .on_every_rank());
        }
    }
    let mesh = mesh.transpose()?;
    let t_mesh = Instant::now();
    let global = mesh.as_ref().map(|m| {
        GlobalMesh::new()
            .add_set("nodes", m.nnodes())
            .add_set("cells", m.ncells())
            .add_set("boundary_nodes", m.boundary.len())
            .add_map("cell_nodes", "cells", "nodes", 3, m.cells.clone())
            .add_map(
                "boundary_node",
                "boundary_nodes",
                "nodes",
                1,
                m.boundary.clone(),
            )
            .coordinates("nodes", 2, m.coords.clone())
    });
    let dm = op2::distribute(comm, global)?;
    let (cells, nodes, bnodes) = (
        dm.set("cells")?,
        dm.set("nodes")?,
        dm.set("boundary_nodes")?,
    );
    let (c2n, b2n) = (dm.map("cell_nodes")?, dm.map("boundary_node")?);
    let v = DataSet::new(nodes, 1)?;
    let coords = dm.scatter_dat("coords", "nodes", 2, mesh.map(|m| m.coords))?;
    let t_mesh = t_mesh.elapsed().as_secs_f64();
    let field = |name: &str| Dat::named(name, &v, vec![0.0f64; nodes.size()]);
    let (bc, g, u, b) = (field("bc")?, field("g")?, field("u")?, field("b")?);
    // Boundary flags, Dirichlet values, and the initial guess (g on the boundary, 0 inside).
    par_loop(
        &k("bc_values", kernels::BC_VALUES)?,
        bnodes,
        &[
            coords.arg_map(Access::Read, b2n, 0),
            bc.arg_map(Access::Write, b2n, 0),
            g.arg_map(Access::Write, b2n, 0),
            u.arg_map(Access::Write, b2n, 0),
        ],
    )?;

    // Matrix and right-hand side; Dirichlet rows and columns by the Mat operation (the
    // right-hand side fixed so that u = g on the boundary).
    let t_asm = Instant::now();
    let sparsity = Sparsity::new(&v, &v, &[(c2n.clone(), c2n.clone())])?;
    let t_sparsity = t_asm.elapsed().as_secs_f64();
    let a = Mat::named("A", &sparsity, DType::F64)?;
    par_loop(
        &k("p1_laplace", kernels::LAPLACE)?,
        cells,
        &[
            a.arg(Access::Inc, (c2n, c2n)),
            coords.arg_vec(Access::Read, c2n),
        ],
    )?;
    par_loop(
        &k("p1_load", kernels::LOAD)?,
        cells,
        &[
            b.arg_vec(Access::Inc, c2n),
            coords.arg_vec(Access::Read, c2n),
        ],
    )?;
    a.zero_rows_columns(&op2::nonzero_entries(&bc), 1.0, Some((&g, &b)))?;
    let t_asm = t_asm.elapsed().as_secs_f64();

    // Jacobi-preconditioned conjugate gradients.
    let t_cg = Instant::now();
    let (iterations, rel_res, per_it) = match args.cg {
        #[cfg(feature = "petsc")]
        _ if args.petsc => petsc_solve(args, &a, &b, &u)?,
        Cg::Handwritten => handwritten_cg(args, &pre, nodes, &a, &b, &u)?,
        Cg::Single | Cg::Classic => {
            let info = args.solver().solve(&a, &b, &u)?;
            let steady = info.allreduces.get(1..).unwrap_or(&[]);
            let per_it = steady.iter().sum::<u64>() as f64 / steady.len().max(1) as f64;
            (info.iterations, info.relative_residual(), per_it)
        }
    };
    let t_cg = t_cg.elapsed().as_secs_f64();

    // Errors against the exact solution.
    let zero = || Global::new(vec![0.0f64]);
    let l2 = zero()?;
    par_loop(
        &k("l2_error", kernels::L2_ERROR)?,
        cells,
        &[
            coords.arg_vec(Access::Read, c2n),
            u.arg_vec(Access::Read, c2n),
            l2.arg(Access::Inc),
        ],
    )?;
    let max_err = zero()?;
    par_loop(
        &k("nodal_error", kernels::NODAL_ERROR)?,
        nodes,
        &[
            coords.arg(Access::Read),
            u.arg(Access::Read),
            max_err.arg(Access::Max),
        ],
    )?;

    if let Some(path) = &args.vtu {
        op2::mesh::vtu::Output::new(c2n, &coords)?.write_pvtu(path, &[&u])?;
    }

    // Global figures; only rank 0 reports.
    let nnz = comm.allreduce_u64(
        (sparsity.rowptr()[sparsity.owned_rows()] * sparsity.dims().0 * sparsity.dims().1) as u64,
        ReduceOp::Sum,
    )?;
    let (l2, max_err) = (scalar(&l2)?.sqrt(), scalar(&max_err)?);
    if comm.is_root() {
        println!(
            "poisson: ranks {} n {} h {:.6e} cells {} nodes {} nnz {nnz} solution {:?} perturb {}",
            comm.size(),
            args.n,
            1.0 / args.n as f64,
            cells.global_size(),
            nodes.global_size(),
            args.solution,
            args.perturb
        );
        #[cfg(feature = "petsc")]
        let solver = if args.petsc {
            "Petsc".to_string()
        } else {
            format!("{:?}", args.cg)
        };
        #[cfg(not(feature = "petsc"))]
        let solver = format!("{:?}", args.cg);
        println!(
            "poisson: cg_iterations {iterations} relative_residual {rel_res:.3e} cg {solver} ksp {:?} pc {:?} allreduces_per_iteration {per_it:.2} seconds_per_iteration {:.3e}",
            args.ksp,
            args.pc,
            t_cg / iterations.max(1) as f64
        );
        println!("poisson: l2_error {l2:.15e} max_nodal_error {max_err:.15e}");
        println!(
            "poisson: seconds: mesh+distribute {t_mesh:.3} sparsity {t_sparsity:.3} assembly {t_asm:.3} cg {t_cg:.3} total {:.3} (first runs include compiling kernels)",
            t_all.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// PETSc's KSP on the same assembled matrix (`--petsc`): CG + Jacobi with op2's stopping test
/// unless PETSC_OPTIONS or `--petsc-options` (which wins) say otherwise. Allreduces per iteration are
/// PETSc's own (not counted by op2: NaN; see `-log_view`).
#[cfg(feature = "petsc")]
fn petsc_solve(args: &Args, a: &Mat, b: &Dat, u: &Dat) -> op2::Result<(usize, f64, f64)> {
    // Precedence: these defaults, then PETSC_OPTIONS, then --petsc-options.
    let opts = format!(
        "-ksp_type cg -pc_type jacobi -ksp_norm_type unpreconditioned {} {}",
        std::env::var("PETSC_OPTIONS").unwrap_or_default(),
        args.petsc_options
    );
    let t_setup = Instant::now();
    let pm = op2::PetscMat::from_mat(a)?;
    let t_setup = t_setup.elapsed().as_secs_f64();
    let info = op2::PetscKsp::new()
        .rtol(args.rtol)
        .max_it(args.max_it)
        .options(&opts)
        .solve(&pm, b, u)?;
    if a.sparsity().row_dataset().set().comm().is_root() {
        println!(
            "poisson: petsc ksp {} pc {} reason {} matrix_copy_seconds {t_setup:.3}",
            info.ksp_type, info.pc_type, info.reason_name
        );
    }
    let b_norm = op2::norm(b)?;
    Ok((
        info.iterations,
        info.residual_norm / b_norm.max(1e-300),
        f64::NAN,
    ))
}

/// The hand-written Jacobi CG from par_loops (for comparison with op2's CG, `--cg
/// handwritten`): three reductions per iteration (p.q, then r.z and r.r as two Globals). Returns (iterations, |r|/|b|, allreduces per
/// iteration).
fn handwritten_cg(
    args: &Args,
    pre: &str,
    nodes: &op2::Set,
    a: &Mat,
    b: &Dat,
    u: &Dat,
) -> op2::Result<(usize, f64, f64)> {
    let k = |name: &str, body: &str| kernel(pre, name, body);
    let v = b.dataset();
    let field = |name: &str| Dat::named(name, v, vec![0.0f64; nodes.size()]);
    let (r, z, p, q, d) = (
        field("r")?,
        field("z")?,
        field("p")?,
        field("q")?,
        field("d")?,
    );
    a.diagonal(&d)?;
    let c0 = op2::Comm::allreduce_count();
    let zero = || Global::new(vec![0.0f64]);
    let (rz, rr, bb, pq) = (zero()?, zero()?, zero()?, zero()?);
    let (alpha, beta) = (zero()?, zero()?);
    let update = k("cg_update", kernels::CG_UPDATE)?;
    let direction = k("cg_direction", kernels::CG_DIRECTION)?;
    let dot = k("dot", kernels::DOT)?;
    a.mult(u, &q)?;
    par_loop(
        &k("cg_init", kernels::CG_INIT)?,
        nodes,
        &[
            r.arg(Access::Write),
            z.arg(Access::Write),
            p.arg(Access::Write),
            b.arg(Access::Read),
            q.arg(Access::Read),
            d.arg(Access::Read),
            rz.arg(Access::Inc),
            rr.arg(Access::Inc),
            bb.arg(Access::Inc),
        ],
    )?;
    let bnorm = scalar(&bb)?.sqrt();
    let mut rz_old = scalar(&rz)?;
    let mut rnorm = scalar(&rr)?.sqrt();
    let mut iterations = 0;
    while rnorm > args.rtol * bnorm {
        if iterations == args.max_it {
            return Err(op2::Error::invalid(
                "poisson: conjugate gradients",
                format!(
                    "no convergence in {iterations} iterations (|r|/|b| = {:.3e})",
                    rnorm / bnorm
                ),
            ));
        }
        iterations += 1;
        a.mult(&p, &q)?;
        pq.set_value(&[0.0])?;
        par_loop(
            &dot,
            nodes,
            &[
                p.arg(Access::Read),
                q.arg(Access::Read),
                pq.arg(Access::Inc),
            ],
        )?;
        alpha.set_value(&[rz_old / scalar(&pq)?])?;
        rz.set_value(&[0.0])?;
        rr.set_value(&[0.0])?;
        par_loop(
            &update,
            nodes,
            &[
                u.arg(Access::RW),
                r.arg(Access::RW),
                z.arg(Access::Write),
                p.arg(Access::Read),
                q.arg(Access::Read),
                d.arg(Access::Read),
                alpha.arg(Access::Read),
                rz.arg(Access::Inc),
                rr.arg(Access::Inc),
            ],
        )?;
        let rz_new = scalar(&rz)?;
        rnorm = scalar(&rr)?.sqrt();
        beta.set_value(&[rz_new / rz_old])?;
        rz_old = rz_new;
        par_loop(
            &direction,
            nodes,
            &[
                p.arg(Access::RW),
                z.arg(Access::Read),
                beta.arg(Access::Read),
            ],
        )?;
    }
    let per_it = (op2::Comm::allreduce_count() - c0) as f64 / iterations.max(1) as f64;
    Ok((iterations, rnorm / bnorm, per_it))
}

fn main() -> ExitCode {
    let args = Args::parse();
    op2::run(|rt| solve(&args, rt))
}
