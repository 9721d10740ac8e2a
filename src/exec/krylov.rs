//! Krylov solvers on assembled Mats: preconditioned conjugate gradients, in the classic form
//! (two reductions per iteration) and in the single-reduction form of Chronopoulos and Gear
//! (one fused allreduce per iteration), BiCGStab and GMRES(m) (`gmres.rs`) for non-symmetric
//! matrices, with the preconditioners of `precond.rs`.
//!
//! Owns the iterations and their options ([`KrylovSolver`], a builder); vectors are work Dats
//! on the matrix's row DataSet updated by fused generated loops (kernels made once per dim
//! through `vecops`' table, so a solve compiles nothing after the first), the mat-vec is
//! [`Mat::mult`]; the last local preconditioner set up (`precond.rs`) is kept on the solver.
//! A solve returns its history ([`SolveInfo`]) or a typed
//! [`Error::Solve`] on breakdown or non-convergence, never a silently unconverged answer.
//! Every decision (stop, break down) is taken from reduced values every rank holds alike.

use crate::data::access::Access;
use crate::data::dat::{Dat, Global};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::exec::parloop::par_loop;
use crate::exec::precond::{self, PcState, Preconditioner};
use crate::exec::vecops::{self, kernel};
use crate::linalg::mat::Mat;
use crate::mpi::comm::{Comm, ReduceOp};
use std::sync::{Arc, Mutex};

/// Which conjugate-gradient iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgVariant {
    /// Hestenes-Stiefel PCG: two reductions per iteration (`p.Ap`, then `r.z` and `r.r`).
    Classic,
    /// Chronopoulos-Gear PCG: `r.u`, `w.u` and `r.r` in one reduction per iteration (one more
    /// vector update per iteration; the same iterates in exact arithmetic).
    SingleReduction,
}

/// Which Krylov method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Conjugate gradients (symmetric positive definite matrices), in the chosen [`CgVariant`].
    Cg,
    /// BiCGStab (van der Vorst), right-preconditioned, for non-symmetric matrices: two mat-vecs
    /// and three reductions per iteration.
    BiCgStab,
    /// Restarted GMRES(m) for non-symmetric matrices, preconditioned on either side, with
    /// the chosen [`Orthogonalization`].
    Gmres,
}

/// Which side GMRES applies the preconditioner on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcSide {
    /// `A M^-1 (M x) = b`: the residuals GMRES minimizes and reports are the true ones.
    Right,
    /// `M^-1 A x = M^-1 b`: GMRES minimizes, reports and tests the preconditioned residual
    /// `|M^-1 (b - A x)|` against `rtol * |M^-1 b|` (PETSc's default for left).
    Left,
}

/// How GMRES orthogonalizes each new Arnoldi vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orthogonalization {
    /// Classical Gram-Schmidt: all projections and the new vector's norm in one fused
    /// reduction per Arnoldi step (the norm by Pythagoras), and a second pass, one more
    /// reduction, when the DGKS test finds cancellation (`|w'|^2 < |w|^2 / 2`).
    Classical,
    /// Modified Gram-Schmidt: one reduction per projection (`j + 2` per step `j`), more
    /// robust.
    Modified,
}

/// Options of a solve, by builder: `KrylovSolver::cg().rtol(1e-8).max_it(500)`.
///
/// Stops when `|r| <= max(rtol * |b|, atol)` (2-norms of the true residual recurrence).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// use op2::{Access, DType, Dat, DataSet, Kernel, Map, Mat, Set, Sparsity};
/// let edges = Set::new(3).unwrap();
/// let nodes = Set::new(4).unwrap();
/// let e2n = Map::new(&edges, &nodes, 2, vec![0, 1, 1, 2, 2, 3]).unwrap();
/// let ds = DataSet::new(&nodes, 1).unwrap();
/// let a = Mat::new(&Sparsity::new(&ds, &ds, &[(e2n.clone(), e2n.clone())]).unwrap(), DType::F64).unwrap();
/// let k = Kernel::new("lap", "void lap(double *A) { A[0] = 1; A[1] = -1; A[2] = -1; A[3] = 1; }").unwrap();
/// op2::par_loop(&k, &edges, &[a.arg(Access::Inc, (&e2n, &e2n))]).unwrap();
/// a.add_diagonal(1.0).unwrap(); // SPD
/// let b = Dat::new(&ds, vec![1.0f64; 4]).unwrap(); // (L + I) 1 = 1
/// let x = Dat::zeros(&ds, DType::F64);
/// let info = op2::KrylovSolver::cg().rtol(1e-12).solve(&a, &b, &x).unwrap();
/// assert!(info.iterations <= 4);
/// for v in x.to_vec::<f64>().unwrap() { assert!((v - 1.0).abs() < 1e-10); } // A 1 = b
/// ```
#[derive(Clone, Debug)]
pub struct KrylovSolver {
    pub(crate) rtol: f64,
    pub(crate) atol: f64,
    pub(crate) max_it: usize,
    pub(crate) variant: CgVariant,
    pub(crate) pc: Preconditioner,
    pub(crate) method: Method,
    pub(crate) restart: usize,
    pub(crate) side: PcSide,
    pub(crate) ortho: Orthogonalization,
    kept: KeptPc,
}

/// The last local preconditioner set up (ILU(0), SSOR, block Jacobi), with the matrix
/// fingerprint and kind it was made for; shared by clones of a solver.
#[derive(Clone, Default)]
struct KeptPc(Arc<Mutex<Option<(Fingerprint, Preconditioner, Arc<PcState>)>>>);

type Fingerprint = (u64, usize, u64);

impl std::fmt::Debug for KeptPc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        write!(f, "KeptPc({:?})", g.as_ref().map(|(_, pc, _)| pc))
    }
}

/// What a converged solve did.
#[derive(Clone, Debug)]
pub struct SolveInfo {
    /// Iterations taken.
    pub iterations: usize,
    /// `|r|` before the first iteration and after each one (`iterations + 1` values).
    pub residual_norms: Vec<f64>,
    /// `|b|`.
    pub b_norm: f64,
    /// Allreduces this rank entered in each iteration ([`crate::Comm::allreduce_count`]; none
    /// on one rank): 1 for [`CgVariant::SingleReduction`] and 2 for [`CgVariant::Classic`]
    /// once the loops' plans exist (the first iteration of a solve on new work Dats also
    /// builds them).
    pub allreduces: Vec<u64>,
}

impl SolveInfo {
    /// The answer to `b = 0`: `x = 0`, no iteration.
    pub(crate) fn zero_rhs() -> SolveInfo {
        SolveInfo {
            iterations: 0,
            residual_norms: vec![0.0],
            b_norm: 0.0,
            allreduces: Vec::new(),
        }
    }

    /// The last `|r| / |b|` (0 for `b = 0`).
    pub fn relative_residual(&self) -> f64 {
        let r = *self.residual_norms.last().unwrap_or(&0.0);
        if self.b_norm > 0.0 {
            r / self.b_norm
        } else {
            0.0
        }
    }
}

impl KrylovSolver {
    /// Conjugate gradients with Jacobi, single reduction, rtol 1e-8, atol 1e-50, 10 000
    /// iterations at most.
    pub fn cg() -> KrylovSolver {
        KrylovSolver {
            rtol: 1e-8,
            atol: 1e-50,
            max_it: 10_000,
            variant: CgVariant::SingleReduction,
            pc: Preconditioner::Jacobi,
            method: Method::Cg,
            restart: 30,
            side: PcSide::Right,
            ortho: Orthogonalization::Classical,
            kept: KeptPc::default(),
        }
    }
    /// GMRES(30), right-preconditioned with Jacobi, classical Gram-Schmidt (one reduction
    /// per Arnoldi step), and the same tolerances as [`KrylovSolver::cg`].
    pub fn gmres() -> KrylovSolver {
        KrylovSolver {
            method: Method::Gmres,
            ..KrylovSolver::cg()
        }
    }
    /// GMRES's restart length `m` (Arnoldi steps per cycle, at least 1).
    pub fn restart(mut self, m: usize) -> Self {
        self.restart = m;
        self
    }
    /// GMRES's preconditioning side.
    pub fn side(mut self, v: PcSide) -> Self {
        self.side = v;
        self
    }
    /// GMRES's orthogonalization.
    pub fn orthogonalization(mut self, v: Orthogonalization) -> Self {
        self.ortho = v;
        self
    }
    /// BiCGStab with Jacobi and the same defaults as [`KrylovSolver::cg`].
    pub fn bicgstab() -> KrylovSolver {
        KrylovSolver {
            method: Method::BiCgStab,
            ..KrylovSolver::cg()
        }
    }
    /// Relative tolerance on `|r| / |b|`.
    pub fn rtol(mut self, v: f64) -> Self {
        self.rtol = v;
        self
    }
    /// Absolute tolerance on `|r|`.
    pub fn atol(mut self, v: f64) -> Self {
        self.atol = v;
        self
    }
    /// Most iterations before [`Error::Solve`].
    pub fn max_it(mut self, v: usize) -> Self {
        self.max_it = v;
        self
    }
    /// The CG iteration.
    pub fn variant(mut self, v: CgVariant) -> Self {
        self.variant = v;
        self
    }
    /// The preconditioner.
    pub fn preconditioner(mut self, v: Preconditioner) -> Self {
        self.pc = v;
        self
    }

    /// Solve `A x = b` (CG: for a symmetric positive definite `A`), starting from `x`'s values.
    /// Collective on a distributed mesh. `x`'s halo copies are stale afterwards.
    pub fn solve(&self, a: &Mat, b: &Dat, x: &Dat) -> Result<SolveInfo> {
        let what = format!(
            "KrylovSolver::solve({}, b = {}, x = {})",
            a.name(),
            b.name(),
            x.name()
        );
        let sp = a.sparsity();
        let ds = sp.row_dataset();
        if sp.col_dataset() != ds || sp.dims().0 != sp.dims().1 {
            return Err(Error::invalid(&what, "the matrix is not square"));
        }
        for d in [b, x] {
            if d.dataset() != ds || d.dtype() != DType::F64 {
                return Err(Error::invalid(
                    &what,
                    format!("Dat {} must be f64 on {ds:?}", d.name()),
                ));
            }
        }
        if b.ptr_eq(x) {
            return Err(Error::invalid(&what, "b and x must be different Dats"));
        }
        if !(self.rtol >= 0.0 && self.atol >= 0.0) {
            return Err(Error::invalid(&what, "rtol and atol must be >= 0"));
        }
        if self.method == Method::Gmres && self.restart == 0 {
            return Err(Error::invalid(
                &what,
                "the GMRES restart length must be >= 1",
            ));
        }
        let pc = self.set_up(&what, a)?;
        let w = Work {
            what,
            a,
            b,
            x,
            pc,
            s: self,
        };
        match (self.method, self.variant) {
            (Method::BiCgStab, _) => w.bicgstab(),
            (Method::Gmres, _) => w.gmres(),
            (Method::Cg, CgVariant::Classic) => w.classic(),
            (Method::Cg, CgVariant::SingleReduction) => w.single_reduction(),
        }
    }
}

impl KrylovSolver {
    /// The preconditioner for `a`: a diagonal one made now (generated loops), or a local one
    /// kept from the last solve when every rank's matrix values are unchanged (one allreduce
    /// decides), else made and kept.
    fn set_up(&self, what: &str, a: &Mat) -> Result<Arc<PcState>> {
        let ds = a.sparsity().row_dataset();
        let diagonal = match self.pc {
            Preconditioner::None => Some(false),
            Preconditioner::Jacobi => Some(true),
            Preconditioner::BlockJacobi if ds.dim() == 1 => Some(true),
            _ => None,
        };
        if let Some(jac) = diagonal {
            let dinv = Dat::named("cg_dinv", ds, vec![1.0f64; ds.set().size() * ds.dim()])?;
            if jac {
                jacobi(what, a, &dinv)?;
            }
            return Ok(Arc::new(PcState::Diagonal(dinv)));
        }
        let fp = precond::fingerprint(a);
        let mut kept = self.kept.0.lock().unwrap_or_else(|e| e.into_inner());
        let hit = match kept.as_ref() {
            Some((f, pc, st)) if *f == fp && *pc == self.pc => Some(st.clone()),
            _ => None,
        };
        let comm = ds.set().comm();
        let all = comm.allreduce_u64(hit.is_some() as u64, ReduceOp::Min)?;
        if let (1, Some(st)) = (all, hit) {
            return Ok(st);
        }
        let st = Arc::new(PcState::local(what, self.pc, a)?);
        *kept = Some((fp, self.pc, st.clone()));
        Ok(st)
    }
}

/// `dinv = 1 / diag(A)`; an error (on every rank) if a diagonal entry is zero.
fn jacobi(what: &str, a: &Mat, dinv: &Dat) -> Result<()> {
    a.diagonal(dinv)?;
    let dim = dinv.dim();
    let name = format!("op2_cg_recip_{dim}");
    let k = kernel(&name, || {
        format!(
            "void {name}(double *d, double *zeros) {{ for (int i = 0; i < {dim}; i++) {{ \
             if (d[i] == 0.0) zeros[0] += 1.0; else d[i] = 1.0 / d[i]; }} }}"
        )
    })?;
    let zeros = Global::new(vec![0.0f64])?;
    par_loop(
        &k,
        dinv.set(),
        &[dinv.arg(Access::RW), zeros.arg(Access::Inc)],
    )?;
    let z = zeros.get::<f64>()?;
    if z > 0.0 {
        return Err(Error::invalid(
            what,
            format!("Jacobi: {z} diagonal entries of {} are zero", a.name()),
        ));
    }
    Ok(())
}

/// One solve's matrix, vectors, preconditioner and options (the methods are its `impl`s).
pub(crate) struct Work<'a> {
    pub(crate) what: String,
    pub(crate) a: &'a Mat,
    pub(crate) b: &'a Dat,
    pub(crate) x: &'a Dat,
    pub(crate) pc: Arc<PcState>,
    pub(crate) s: &'a KrylovSolver,
}

impl Work<'_> {
    pub(crate) fn vec(&self, name: &str) -> Result<Dat> {
        let ds = self.b.dataset();
        Dat::named(name, ds, vec![0.0f64; ds.set().size() * ds.dim()])
    }

    pub(crate) fn fail(
        &self,
        detail: String,
        breakdown: bool,
        it: usize,
        rnorm: f64,
        bnorm: f64,
    ) -> Error {
        Error::Solve {
            what: self.what.clone(),
            detail,
            breakdown,
            iterations: it,
            relative_residual: rnorm / bnorm,
        }
    }

    /// `r = b - A x`; returns `|b|` (0 means: x = 0 is the answer, already stored).
    pub(crate) fn residual(&self, r: &Dat, tmp: &Dat) -> Result<f64> {
        let bnorm = vecops::norm(self.b)?;
        if bnorm == 0.0 {
            vecops::zero(self.x)?;
            return Ok(0.0);
        }
        self.a.mult(self.x, tmp)?;
        vecops::copy(self.b, r)?;
        vecops::axpy(-1.0, tmp, r)?;
        Ok(bnorm)
    }

    pub(crate) fn converged(&self, rnorm: f64, bnorm: f64) -> bool {
        rnorm <= (self.s.rtol * bnorm).max(self.s.atol)
    }

    pub(crate) fn done(&self, it: usize, hist: &[f64], bnorm: f64) -> Result<Option<SolveInfo>> {
        let rnorm = *hist.last().unwrap();
        if !rnorm.is_finite() {
            return Err(self.fail("the residual is not finite".into(), true, it, rnorm, bnorm));
        }
        if self.converged(rnorm, bnorm) {
            return Ok(Some(SolveInfo {
                iterations: it,
                residual_norms: hist.to_vec(),
                b_norm: bnorm,
                allreduces: Vec::new(),
            }));
        }
        if it >= self.s.max_it {
            return Err(self.fail(
                format!("no convergence within max_it = {}", self.s.max_it),
                false,
                it,
                rnorm,
                bnorm,
            ));
        }
        Ok(None)
    }

    /// Hestenes-Stiefel PCG.
    fn classic(&self) -> Result<SolveInfo> {
        let (r, z, p, q) = (
            self.vec("cg_r")?,
            self.vec("cg_z")?,
            self.vec("cg_p")?,
            self.vec("cg_q")?,
        );
        let bnorm = self.residual(&r, &q)?;
        if bnorm == 0.0 {
            return Ok(SolveInfo::zero_rhs());
        }
        self.pc.apply(&r, &z)?;
        vecops::copy(&z, &p)?;
        let d = vecops::dots(&[(&r, &z), (&r, &r)])?;
        let (mut rz, mut hist) = (d[0], vec![d[1].sqrt()]);
        let (mut it, mut counts) = (0, Vec::new());
        loop {
            if let Some(mut info) = self.done(it, &hist, bnorm)? {
                info.allreduces = counts;
                return Ok(info);
            }
            let c0 = Comm::allreduce_count();
            it += 1;
            self.a.mult(&p, &q)?;
            let pq = vecops::dot(&p, &q)?;
            if pq.is_nan() || pq <= 0.0 {
                let rn = *hist.last().unwrap();
                return Err(self.fail(
                    format!("breakdown: p.Ap = {pq:e} (the matrix is not positive definite)"),
                    true,
                    it,
                    rn,
                    bnorm,
                ));
            }
            let alpha = rz / pq;
            let d = match self.pc.dinv() {
                Some(dinv) => update_classic(self.x, &r, &z, &p, &q, dinv, alpha)?,
                None => {
                    vecops::axpy(alpha, &p, self.x)?;
                    vecops::axpy(-alpha, &q, &r)?;
                    self.pc.apply(&r, &z)?;
                    vecops::dots(&[(&r, &z), (&r, &r)])?
                }
            };
            hist.push(d[1].sqrt());
            let beta = d[0] / rz;
            rz = d[0];
            vecops::axpby(1.0, &z, beta, &p)?;
            counts.push(Comm::allreduce_count() - c0);
        }
    }

    /// Chronopoulos-Gear PCG: one reduction (`r.u`, `w.u`, `r.r`) per iteration.
    fn single_reduction(&self) -> Result<SolveInfo> {
        let (r, u, w, p, s) = (
            self.vec("cg_r")?,
            self.vec("cg_u")?,
            self.vec("cg_w")?,
            self.vec("cg_p")?,
            self.vec("cg_s")?,
        );
        let bnorm = self.residual(&r, &w)?;
        if bnorm == 0.0 {
            return Ok(SolveInfo::zero_rhs());
        }
        self.pc.apply(&r, &u)?;
        self.a.mult(&u, &w)?;
        let d = vecops::dots(&[(&r, &u), (&w, &u), (&r, &r)])?;
        let (mut gamma, mut delta) = (d[0], d[1]);
        let mut hist = vec![d[2].sqrt()];
        let (mut alpha, mut beta) = (0.0, 0.0);
        let (mut it, mut counts) = (0, Vec::new());
        loop {
            if let Some(mut info) = self.done(it, &hist, bnorm)? {
                info.allreduces = counts;
                return Ok(info);
            }
            let c0 = Comm::allreduce_count();
            // alpha_i = gamma_i / (delta_i - beta_i gamma_i / alpha_{i-1}); beta_0 = 0.
            let den = if it == 0 {
                delta
            } else {
                delta - beta * gamma / alpha
            };
            if !(den > 0.0 && gamma > 0.0) {
                let rn = *hist.last().unwrap();
                return Err(self.fail(format!("breakdown: gamma = {gamma:e}, p.Ap = {den:e} (the matrix or preconditioner is not positive definite)"), true, it, rn, bnorm));
            }
            alpha = gamma / den;
            it += 1;
            update_single(self.x, &r, &u, &w, &p, &s, self.pc.dinv(), alpha, beta)?;
            if self.pc.dinv().is_none() {
                self.pc.apply(&r, &u)?;
            }
            self.a.mult(&u, &w)?;
            let d = vecops::dots(&[(&r, &u), (&w, &u), (&r, &r)])?;
            beta = d[0] / gamma;
            (gamma, delta) = (d[0], d[1]);
            hist.push(d[2].sqrt());
            counts.push(Comm::allreduce_count() - c0);
        }
    }
}

impl Work<'_> {
    /// Right-preconditioned BiCGStab.
    fn bicgstab(&self) -> Result<SolveInfo> {
        let v = |n: &str| self.vec(n);
        let (r, r0, p, ph, vv, sv, sh, t) = (
            v("bi_r")?,
            v("bi_r0")?,
            v("bi_p")?,
            v("bi_ph")?,
            v("bi_v")?,
            v("bi_s")?,
            v("bi_sh")?,
            v("bi_t")?,
        );
        let bnorm = self.residual(&r, &t)?;
        if bnorm == 0.0 {
            return Ok(SolveInfo::zero_rhs());
        }
        vecops::copy(&r, &r0)?;
        let d = vecops::dots(&[(&r0, &r), (&r, &r)])?;
        let (mut rho, mut hist) = (d[0], vec![d[1].sqrt()]);
        let (mut alpha, mut omega, mut rho_old) = (1.0, 1.0, 1.0);
        let (mut it, mut counts) = (0, Vec::new());
        loop {
            if let Some(mut info) = self.done(it, &hist, bnorm)? {
                info.allreduces = counts;
                return Ok(info);
            }
            let c0 = Comm::allreduce_count();
            let rn = *hist.last().unwrap();
            if rho == 0.0 || omega == 0.0 || !rho.is_finite() {
                let detail = format!("breakdown: rho = {rho:e}, omega = {omega:e}");
                return Err(self.fail(detail, true, it, rn, bnorm));
            }
            if it == 0 {
                vecops::copy(&r, &p)?;
            } else {
                let beta = (rho / rho_old) * (alpha / omega);
                vecops::axpy(-omega, &vv, &p)?;
                vecops::axpby(1.0, &r, beta, &p)?;
            }
            it += 1;
            self.pc.apply(&p, &ph)?;
            self.a.mult(&ph, &vv)?;
            let r0v = vecops::dot(&r0, &vv)?;
            if r0v == 0.0 || !r0v.is_finite() {
                let detail = format!("breakdown: r0.v = {r0v:e}");
                return Err(self.fail(detail, true, it, rn, bnorm));
            }
            alpha = rho / r0v;
            vecops::copy(&r, &sv)?;
            vecops::axpy(-alpha, &vv, &sv)?;
            self.pc.apply(&sv, &sh)?;
            self.a.mult(&sh, &t)?;
            let d = vecops::dots(&[(&t, &sv), (&t, &t)])?;
            omega = if d[1] == 0.0 { 0.0 } else { d[0] / d[1] };
            vecops::axpy(alpha, &ph, self.x)?;
            vecops::axpy(omega, &sh, self.x)?;
            vecops::copy(&sv, &r)?;
            vecops::axpy(-omega, &t, &r)?;
            rho_old = rho;
            let d = vecops::dots(&[(&r0, &r), (&r, &r)])?;
            rho = d[0];
            hist.push(d[1].sqrt());
            counts.push(Comm::allreduce_count() - c0);
        }
    }
}

/// One loop: `x += alpha p; r -= alpha q; z = dinv r`, reducing `[r.z, r.r]`.
fn update_classic(
    x: &Dat,
    r: &Dat,
    z: &Dat,
    p: &Dat,
    q: &Dat,
    dinv: &Dat,
    alpha: f64,
) -> Result<Vec<f64>> {
    let dim = x.dim();
    let name = format!("op2_cg_update_{dim}");
    let k = kernel(&name, || {
        format!(
            "void {name}(double *x, double *r, double *z, const double *p, const double *q, \
             const double *dinv, const double *alpha, double *red) {{ \
             for (int i = 0; i < {dim}; i++) {{ x[i] += alpha[0] * p[i]; r[i] -= alpha[0] * q[i]; \
             z[i] = dinv[i] * r[i]; red[0] += r[i] * z[i]; red[1] += r[i] * r[i]; }} }}"
        )
    })?;
    let (a, red) = (Global::new(vec![alpha])?, Global::new(vec![0.0f64; 2])?);
    par_loop(
        &k,
        x.set(),
        &[
            x.arg(Access::RW),
            r.arg(Access::RW),
            z.arg(Access::Write),
            p.arg(Access::Read),
            q.arg(Access::Read),
            dinv.arg(Access::Read),
            a.arg(Access::Read),
            red.arg(Access::Inc),
        ],
    )?;
    red.value::<f64>()
}

/// One loop without reduction: `p = u + beta p; s = w + beta s; x += alpha p; r -= alpha s`,
/// and with a diagonal preconditioner `u = dinv r` (otherwise the caller applies it).
#[allow(clippy::too_many_arguments)]
fn update_single(
    x: &Dat,
    r: &Dat,
    u: &Dat,
    w: &Dat,
    p: &Dat,
    s: &Dat,
    dinv: Option<&Dat>,
    alpha: f64,
    beta: f64,
) -> Result<()> {
    let dim = x.dim();
    let fused = dinv.is_some();
    let name = format!("op2_cg1_update{}_{dim}", if fused { "" } else { "_nopc" });
    let k = kernel(&name, || {
        let (uq, dp, ub) = if fused {
            ("", ", const double *dinv", " u[i] = dinv[i] * r[i];")
        } else {
            ("const ", "", "")
        };
        format!(
            "void {name}(double *x, double *r, {uq}double *u, double *p, double *s, const double *w, \
             const double *ab{dp}) {{ \
             for (int i = 0; i < {dim}; i++) {{ p[i] = u[i] + ab[1] * p[i]; s[i] = w[i] + ab[1] * s[i]; \
             x[i] += ab[0] * p[i]; r[i] -= ab[0] * s[i];{ub} }} }}"
        )
    })?;
    let ab = Global::new(vec![alpha, beta])?;
    let mut args = vec![
        x.arg(Access::RW),
        r.arg(Access::RW),
        u.arg(if fused { Access::RW } else { Access::Read }),
        p.arg(Access::RW),
        s.arg(Access::RW),
        w.arg(Access::Read),
        ab.arg(Access::Read),
    ];
    args.extend(dinv.map(|d| d.arg(Access::Read)));
    par_loop(&k, x.set(), &args)
}

/// Solve `A x = b` with the default [`KrylovSolver::cg`] (Jacobi CG, one reduction per
/// iteration, rtol 1e-8): a typed [`Error::Solve`] unless it converged.
pub fn solve(a: &Mat, b: &Dat, x: &Dat) -> Result<SolveInfo> {
    KrylovSolver::cg().solve(a, b, x)
}
