//! PETSc's Krylov solvers (KSP) on a [`PetscMat`], with right-hand side and solution in op2
//! Dats.
//!
//! Owns the solve: options (op2's tolerances as defaults, then PETSc's options database:
//! `PETSC_OPTIONS`, which PETSc reads at initialisation, and a user string inserted with
//! [`PetscKsp::options`]; `KSPSetFromOptions` applies them), the copy of the Dats' owned
//! entries into PETSc vectors and of the solution back (its halo copies marked stale), and the
//! verdict: a negative converged reason is an [`Error::Solve`] on every rank (PETSc's reason
//! is collective), never a silently unconverged answer.

use crate::data::dat::Dat;
use crate::dtype::{self, DType};
use crate::error::{Error, Result};
use crate::linalg::petsc::ffi::{self, PetscInt, RawKsp, RawVec};
use crate::linalg::petsc::mat::PetscMat;
use crate::mpi::comm::{RawComm, ReduceOp};

/// A PETSc KSP solve, by builder: `PetscKsp::new().options("-ksp_type cg -pc_type gamg")`.
///
/// Options given here go into PETSc's global options database, as PETSc's command line would
/// put them (they stay for later solves of the process; a later string overrides them).
#[derive(Clone, Debug)]
pub struct PetscKsp {
    rtol: f64,
    atol: f64,
    max_it: usize,
    options: String,
}

/// What a converged PETSc solve did.
#[derive(Clone, Debug)]
pub struct PetscSolveInfo {
    /// Iterations taken (KSPGetIterationNumber).
    pub iterations: usize,
    /// PETSc's converged reason (positive) and its name.
    pub reason: i32,
    pub reason_name: &'static str,
    /// The last residual norm KSP computed (its norm type: preconditioned for CG by default).
    pub residual_norm: f64,
    /// The KSP and PC types used (after the options were applied).
    pub ksp_type: String,
    pub pc_type: String,
}

impl Default for PetscKsp {
    fn default() -> Self {
        PetscKsp::new()
    }
}

impl PetscKsp {
    /// rtol 1e-8, atol 1e-50, 10 000 iterations, no extra options (PETSc's default KSP is
    /// GMRES with block Jacobi/ILU(0) unless the options say otherwise).
    pub fn new() -> PetscKsp {
        PetscKsp {
            rtol: 1e-8,
            atol: 1e-50,
            max_it: 10_000,
            options: String::new(),
        }
    }
    /// Relative tolerance (PETSc's `-ksp_rtol` overrides it).
    pub fn rtol(mut self, v: f64) -> Self {
        self.rtol = v;
        self
    }
    /// Absolute tolerance (`-ksp_atol` overrides it).
    pub fn atol(mut self, v: f64) -> Self {
        self.atol = v;
        self
    }
    /// Iteration limit (`-ksp_max_it` overrides it).
    pub fn max_it(mut self, v: usize) -> Self {
        self.max_it = v;
        self
    }
    /// PETSc options, as on PETSc's command line: `"-ksp_type cg -pc_type jacobi"`. Options
    /// PETSc reads only at start-up (`-log_view`) belong in PETSC_OPTIONS instead.
    pub fn options(mut self, s: &str) -> Self {
        self.options = s.to_string();
        self
    }

    /// Solve `A x = b` with PETSc: `b` and `x` f64 Dats on `a`'s row and column DataSets
    /// (`x` is the initial guess only if `-ksp_initial_guess_nonzero` is given). `x`'s owned
    /// entries receive the solution; its halo copies are stale. Collective.
    pub fn solve(&self, a: &PetscMat, b: &Dat, x: &Dat) -> Result<PetscSolveInfo> {
        let what = format!(
            "PetscKsp::solve({}, b = {}, x = {})",
            a.name(),
            b.name(),
            x.name()
        );
        for (d, ds, side) in [(b, &a.row_ds, "row"), (x, &a.col_ds, "column")] {
            if d.dtype() != DType::F64 || d.dataset() != ds {
                return Err(Error::invalid(
                    &what,
                    format!(
                        "Dat {} must be f64 on the matrix's {side} DataSet {ds:?}",
                        d.name()
                    ),
                ));
            }
        }
        if b.ptr_eq(x) {
            return Err(Error::invalid(&what, "b and x must be different Dats"));
        }
        if !self.options.trim().is_empty() {
            ffi::insert_options(&self.options)?;
        }
        let max_it = PetscInt::try_from(self.max_it).unwrap_or(PetscInt::MAX);
        let ksp = RawKsp::create(a.comm, &a.raw, self.rtol, self.atol, max_it)?;
        let (ksp_type, pc_type) = ksp.types()?;
        let mut bv = WorkVec::from_dat(a.comm, b)?;
        let mut xv = WorkVec::from_dat(a.comm, x)?;
        let r = ksp.solve(bv.vec()?, xv.vec()?)?;
        drop(ksp);
        let reason_name = reason_name(r.reason);
        if r.reason <= 0 {
            let bb: f64 = bv.buf.iter().map(|v| v * v).sum();
            let b_norm = b.set().comm().allreduce(&[bb], ReduceOp::Sum)?[0].sqrt();
            let rel = if b_norm > 0.0 {
                r.residual_norm / b_norm
            } else {
                r.residual_norm
            };
            return Err(Error::Solve {
                what,
                detail: format!(
                    "PETSc KSP {ksp_type} with PC {pc_type} did not converge ({reason_name}, reason {})",
                    r.reason
                ),
                breakdown: r.reason != -3,
                iterations: r.iterations,
                relative_residual: rel,
            });
        }
        xv.into_dat(x)?;
        Ok(PetscSolveInfo {
            iterations: r.iterations,
            reason: r.reason,
            reason_name,
            residual_norm: r.residual_norm,
            ksp_type,
            pc_type,
        })
    }
}

/// A Dat's owned entries copied into a buffer, and the PETSc Vec over that buffer. The Vec
/// is dropped before the buffer (field order).
struct WorkVec {
    vec: Option<RawVec>,
    buf: Vec<f64>,
    comm: RawComm,
    bs: PetscInt,
}

impl WorkVec {
    fn from_dat(comm: RawComm, d: &Dat) -> Result<WorkVec> {
        let n = d.set().size() * d.dim();
        let buf = dtype::view::<f64>(&d.read(), n).to_vec();
        Ok(WorkVec {
            vec: None,
            buf,
            comm,
            bs: d.dim() as PetscInt,
        })
    }

    /// The PETSc Vec, created on first use over the (no longer resized) buffer.
    fn vec(&mut self) -> Result<&RawVec> {
        if self.vec.is_none() {
            self.vec = Some(RawVec::with_array(self.comm, self.bs, &mut self.buf)?);
        }
        self.vec
            .as_ref()
            .ok_or_else(|| Error::Mpi("PETSc vector missing".into()))
    }

    /// Copy the values into `d`'s owned entries and mark its halo copies stale.
    fn into_dat(mut self, d: &Dat) -> Result<()> {
        self.vec = None; // VecDestroy before reading the buffer
        let n = self.buf.len();
        let mut w = d.write();
        dtype::view_mut::<f64>(&mut w, n).copy_from_slice(&self.buf);
        drop(w);
        d.mark_halo_stale();
        Ok(())
    }
}

/// The name of a KSPConvergedReason (PETSc's `KSPConvergedReasons` strings).
fn reason_name(r: i32) -> &'static str {
    match r {
        1 => "CONVERGED_RTOL_NORMAL_EQUATIONS",
        9 => "CONVERGED_ATOL_NORMAL_EQUATIONS",
        2 => "CONVERGED_RTOL",
        3 => "CONVERGED_ATOL",
        4 => "CONVERGED_ITS",
        5 => "CONVERGED_NEG_CURVE",
        6 => "CONVERGED_STEP_LENGTH",
        7 => "CONVERGED_HAPPY_BREAKDOWN",
        0 => "CONVERGED_ITERATING",
        -2 => "DIVERGED_NULL",
        -3 => "DIVERGED_ITS",
        -4 => "DIVERGED_DTOL",
        -5 => "DIVERGED_BREAKDOWN",
        -6 => "DIVERGED_BREAKDOWN_BICG",
        -7 => "DIVERGED_NONSYMMETRIC",
        -8 => "DIVERGED_INDEFINITE_PC",
        -9 => "DIVERGED_NANORINF",
        -10 => "DIVERGED_INDEFINITE_MAT",
        -11 => "DIVERGED_PC_FAILED",
        _ => "unknown reason",
    }
}
