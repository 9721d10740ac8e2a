//! The PETSc C API: hand-written `extern "C"` declarations of the few functions the bridge
//! uses, and safe wrappers over them. The only file of the bridge with `unsafe`.
//!
//! Owns the handle types ([`RawMat`], [`RawVec`], [`RawKsp`]: destroyed on drop while PETSc is
//! initialised) and the translation of every PETSc error code into an [`Error::Petsc`] naming
//! the function. Never decides numbering, options or convergence (see `mat.rs`, `ksp.rs`).
//!
//! Types follow the PETSc build of `scripts/setup-petsc.sh`: `PetscInt` is 32-bit,
//! `PetscScalar`/`PetscReal` are `double`, `PetscBool` is C `bool`, `PetscErrorCode` is `int`,
//! `MPI_Comm` is MPICH's `int` (the communicator's type comes from `mpi/comm.rs`).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::mpi::comm::RawComm;

/// PETSc's `PetscInt` (32-bit indices in the default build).
pub(crate) type PetscInt = i32;
type PetscErrorCode = c_int;
type Handle = *mut c_void;

const INSERT_VALUES: c_int = 1;
const MAT_FINAL_ASSEMBLY: c_int = 0;
/// `PETSC_DECIDE` / `PETSC_DETERMINE`.
pub(crate) const DECIDE: PetscInt = -1;

extern "C" {
    static mut PETSC_COMM_WORLD: RawComm;
    fn PetscInitializeNoArguments() -> PetscErrorCode;
    fn PetscInitialized(b: *mut bool) -> PetscErrorCode;
    fn PetscFinalize() -> PetscErrorCode;
    fn PetscOptionsSetValue(o: Handle, name: *const c_char, v: *const c_char) -> PetscErrorCode;
    fn PetscOptionsInsertString(o: Handle, s: *const c_char) -> PetscErrorCode;
    fn PetscErrorMessage(
        code: PetscErrorCode,
        text: *mut *const c_char,
        specific: *mut *const c_char,
    ) -> PetscErrorCode;

    fn MatCreateAIJ(
        comm: RawComm,
        m: PetscInt,
        n: PetscInt,
        gm: PetscInt,
        gn: PetscInt,
        d_nz: PetscInt,
        d_nnz: *const PetscInt,
        o_nz: PetscInt,
        o_nnz: *const PetscInt,
        a: *mut Handle,
    ) -> PetscErrorCode;
    fn MatCreateBAIJ(
        comm: RawComm,
        bs: PetscInt,
        m: PetscInt,
        n: PetscInt,
        gm: PetscInt,
        gn: PetscInt,
        d_nz: PetscInt,
        d_nnz: *const PetscInt,
        o_nz: PetscInt,
        o_nnz: *const PetscInt,
        a: *mut Handle,
    ) -> PetscErrorCode;
    fn MatSetValues(
        a: Handle,
        m: PetscInt,
        rows: *const PetscInt,
        n: PetscInt,
        cols: *const PetscInt,
        v: *const f64,
        mode: c_int,
    ) -> PetscErrorCode;
    fn MatSetValuesBlocked(
        a: Handle,
        m: PetscInt,
        rows: *const PetscInt,
        n: PetscInt,
        cols: *const PetscInt,
        v: *const f64,
        mode: c_int,
    ) -> PetscErrorCode;
    fn MatAssemblyBegin(a: Handle, t: c_int) -> PetscErrorCode;
    fn MatAssemblyEnd(a: Handle, t: c_int) -> PetscErrorCode;
    fn MatDestroy(a: *mut Handle) -> PetscErrorCode;

    fn VecCreateMPIWithArray(
        comm: RawComm,
        bs: PetscInt,
        n: PetscInt,
        gn: PetscInt,
        array: *const f64,
        v: *mut Handle,
    ) -> PetscErrorCode;
    fn VecDestroy(v: *mut Handle) -> PetscErrorCode;

    fn KSPCreate(comm: RawComm, ksp: *mut Handle) -> PetscErrorCode;
    fn KSPSetOperators(ksp: Handle, a: Handle, p: Handle) -> PetscErrorCode;
    fn KSPSetTolerances(
        ksp: Handle,
        rtol: f64,
        atol: f64,
        dtol: f64,
        maxits: PetscInt,
    ) -> PetscErrorCode;
    fn KSPSetFromOptions(ksp: Handle) -> PetscErrorCode;
    fn KSPSolve(ksp: Handle, b: Handle, x: Handle) -> PetscErrorCode;
    fn KSPGetIterationNumber(ksp: Handle, its: *mut PetscInt) -> PetscErrorCode;
    fn KSPGetConvergedReason(ksp: Handle, reason: *mut c_int) -> PetscErrorCode;
    fn KSPGetResidualNorm(ksp: Handle, rnorm: *mut f64) -> PetscErrorCode;
    fn KSPGetType(ksp: Handle, t: *mut *const c_char) -> PetscErrorCode;
    fn KSPGetPC(ksp: Handle, pc: *mut Handle) -> PetscErrorCode;
    fn PCGetType(pc: Handle, t: *mut *const c_char) -> PetscErrorCode;
    fn KSPDestroy(ksp: *mut Handle) -> PetscErrorCode;
}

/// True between this module's [`initialize`] and [`finalize`] (PETSc initialised by op2).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// An [`Error::Petsc`] for a non-zero code, with PETSc's text for it.
fn check(function: &'static str, code: PetscErrorCode) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    let mut text: *const c_char = std::ptr::null();
    // SAFETY: PetscErrorMessage only stores a pointer to one of PETSc's static strings (or
    // leaves it null) in `text`; the second out-pointer may be null.
    let rc = unsafe { PetscErrorMessage(code, &mut text, std::ptr::null_mut()) };
    let detail = if rc == 0 && !text.is_null() {
        // SAFETY: non-null, PETSc's static NUL-terminated message.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    } else {
        "no message".to_string()
    };
    Err(Error::Petsc {
        function: function.to_string(),
        code,
        rank: crate::mpi::comm::Comm::current().rank(),
        detail,
    })
}

fn cstring(what: &'static str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(what, format!("{s:?} contains a NUL byte")))
}

/// Whether PETSc is initialised (by [`initialize`] or by the program itself).
pub(crate) fn initialized() -> Result<bool> {
    let mut b = false;
    // SAFETY: PetscInitialized only writes the flag; callable before PetscInitialize.
    check("PetscInitialized", unsafe { PetscInitialized(&mut b) })?;
    Ok(b)
}

/// Initialise PETSc on `comm` (already initialised MPI: PETSc neither initialises nor
/// finalises it), with PETSc's signal handler off (op2 and the MPI launcher own signals).
/// Options from `PETSC_OPTIONS` are read by PETSc itself.
pub(crate) fn initialize(comm: RawComm) -> Result<()> {
    let name = cstring("PetscOptionsSetValue", "-no_signal_handler")?;
    // SAFETY: documented as callable before PetscInitialize; null options = the global
    // database, null value = a flag option.
    check("PetscOptionsSetValue", unsafe {
        PetscOptionsSetValue(std::ptr::null_mut(), name.as_ptr(), std::ptr::null())
    })?;
    // SAFETY: PETSC_COMM_WORLD must be set before PetscInitialize and is read by it; no other
    // thread touches it (the bridge initialises once, under a lock, from the calling thread).
    unsafe { PETSC_COMM_WORLD = comm };
    // SAFETY: MPI is initialised by op2's runtime; called once per process (see mod.rs).
    check("PetscInitializeNoArguments", unsafe {
        PetscInitializeNoArguments()
    })?;
    ACTIVE.store(true, Ordering::SeqCst);
    Ok(())
}

/// Finalise PETSc (collective on the communicator it was initialised on). Handles dropped
/// afterwards are leaked rather than destroyed.
pub(crate) fn finalize() -> Result<()> {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return Ok(());
    }
    // SAFETY: PETSc was initialised by `initialize`; MPI is still active (op2 finalises it
    // after this hook).
    check("PetscFinalize", unsafe { PetscFinalize() })
}

/// Insert options (`-ksp_type cg -pc_type jacobi`) into PETSc's global options database.
pub(crate) fn insert_options(s: &str) -> Result<()> {
    let c = cstring("PetscOptionsInsertString", s)?;
    // SAFETY: a NUL-terminated string PETSc copies; null = the global database.
    check("PetscOptionsInsertString", unsafe {
        PetscOptionsInsertString(std::ptr::null_mut(), c.as_ptr())
    })
}

macro_rules! handle_type {
    ($name:ident, $destroy:ident, $fname:literal) => {
        /// An owned PETSc object, destroyed on drop while PETSc is initialised (after
        /// PetscFinalize it went with PETSc).
        pub(crate) struct $name(Handle);

        impl Drop for $name {
            fn drop(&mut self) {
                if self.0.is_null() || !initialized().unwrap_or(false) {
                    return; // PETSc finalised: its objects are gone with it.
                }
                // SAFETY: the handle was created by PETSc, is owned by this value alone and is
                // destroyed once (the destroy function nulls it).
                let rc = unsafe { $destroy(&mut self.0) };
                if rc != 0 {
                    eprintln!("op2: {} failed with PETSc error {rc}", $fname);
                }
            }
        }
    };
}
handle_type!(RawMat, MatDestroy, "MatDestroy");
handle_type!(RawVec, VecDestroy, "VecDestroy");
handle_type!(RawKsp, KSPDestroy, "KSPDestroy");

/// Local and global sizes and preallocation of a parallel matrix, in PETSc's terms.
pub(crate) struct MatLayout<'a> {
    /// Block size (1: AIJ; > 1: BAIJ with square blocks).
    pub bs: PetscInt,
    /// Local scalar rows and columns.
    pub m: PetscInt,
    pub n: PetscInt,
    /// Per local (block) row: non-zero (blocks) in the diagonal and off-diagonal parts.
    pub d_nnz: &'a [PetscInt],
    pub o_nnz: &'a [PetscInt],
}

impl RawMat {
    /// MatCreateAIJ (bs 1) or MatCreateBAIJ, preallocated.
    pub(crate) fn create(comm: RawComm, l: &MatLayout) -> Result<RawMat> {
        let rows = (l.m / l.bs) as usize;
        if l.d_nnz.len() != rows || l.o_nnz.len() != rows {
            return Err(Error::invalid(
                "MatCreateAIJ",
                "preallocation arrays of the wrong length",
            ));
        }
        let mut a: Handle = std::ptr::null_mut();
        let (d, o) = (l.d_nnz.as_ptr(), l.o_nnz.as_ptr());
        if l.bs == 1 {
            // SAFETY: d_nnz/o_nnz hold one entry per local row (checked above) and are only read
            // during the call; `a` receives the new handle.
            let rc = unsafe { MatCreateAIJ(comm, l.m, l.n, DECIDE, DECIDE, 0, d, 0, o, &mut a) };
            check("MatCreateAIJ", rc)?;
        } else {
            // SAFETY: as above, one entry per local block row.
            let rc =
                unsafe { MatCreateBAIJ(comm, l.bs, l.m, l.n, DECIDE, DECIDE, 0, d, 0, o, &mut a) };
            check("MatCreateBAIJ", rc)?;
        }
        Ok(RawMat(a))
    }

    /// MatSetValues (scalar indices) or MatSetValuesBlocked (block indices), INSERT_VALUES:
    /// `v` holds `rows.len() * cols.len()` values (blocks), row-major.
    pub(crate) fn set_values(
        &self,
        blocked: bool,
        rows: &[PetscInt],
        cols: &[PetscInt],
        v: &[f64],
    ) -> Result<()> {
        let (m, n) = (rows.len() as PetscInt, cols.len() as PetscInt);
        let (r, c, p) = (rows.as_ptr(), cols.as_ptr(), v.as_ptr());
        if blocked {
            // SAFETY: the caller passes bs*bs values per (row, col) block pair; PETSc reads
            // exactly m*n*bs*bs values, m rows and n columns, during the call.
            check("MatSetValuesBlocked", unsafe {
                MatSetValuesBlocked(self.0, m, r, n, c, p, INSERT_VALUES)
            })
        } else {
            if v.len() != rows.len() * cols.len() {
                return Err(Error::invalid(
                    "MatSetValues",
                    "value array of the wrong length",
                ));
            }
            // SAFETY: m*n values (checked), m rows and n columns, read during the call.
            check("MatSetValues", unsafe {
                MatSetValues(self.0, m, r, n, c, p, INSERT_VALUES)
            })
        }
    }

    /// MatAssemblyBegin/End (final). Collective.
    pub(crate) fn assemble(&self) -> Result<()> {
        // SAFETY: a valid matrix handle.
        check("MatAssemblyBegin", unsafe {
            MatAssemblyBegin(self.0, MAT_FINAL_ASSEMBLY)
        })?;
        // SAFETY: as above.
        check("MatAssemblyEnd", unsafe {
            MatAssemblyEnd(self.0, MAT_FINAL_ASSEMBLY)
        })
    }
}

impl RawVec {
    /// VecCreateMPIWithArray over `array` (local length), which must outlive the Vec and not
    /// move: the caller keeps both together and drops the Vec first.
    pub(crate) fn with_array(comm: RawComm, bs: PetscInt, array: &mut [f64]) -> Result<RawVec> {
        let mut v: Handle = std::ptr::null_mut();
        let n = array.len() as PetscInt;
        // SAFETY: PETSc keeps the pointer; the owner (`ksp.rs`'s work vector) keeps the buffer
        // allocated and unmoved for the Vec's life and drops the Vec first.
        let rc = unsafe { VecCreateMPIWithArray(comm, bs, n, DECIDE, array.as_mut_ptr(), &mut v) };
        check("VecCreateMPIWithArray", rc)?;
        Ok(RawVec(v))
    }
}

/// What KSPSolve did.
pub(crate) struct KspResult {
    pub iterations: usize,
    pub reason: i32,
    pub residual_norm: f64,
}

impl RawKsp {
    /// KSPCreate + KSPSetOperators(a, a) + KSPSetTolerances + KSPSetFromOptions.
    pub(crate) fn create(
        comm: RawComm,
        a: &RawMat,
        rtol: f64,
        atol: f64,
        max_it: PetscInt,
    ) -> Result<RawKsp> {
        let mut k: Handle = std::ptr::null_mut();
        // SAFETY: `k` receives the new handle.
        check("KSPCreate", unsafe { KSPCreate(comm, &mut k) })?;
        let ksp = RawKsp(k);
        // SAFETY: valid handles; the KSP takes its own reference to the matrix.
        check("KSPSetOperators", unsafe {
            KSPSetOperators(ksp.0, a.0, a.0)
        })?;
        // SAFETY: a valid KSP; plain values.
        check("KSPSetTolerances", unsafe {
            KSPSetTolerances(ksp.0, rtol, atol, 1e5, max_it)
        })?;
        // SAFETY: a valid KSP.
        check("KSPSetFromOptions", unsafe { KSPSetFromOptions(ksp.0) })?;
        Ok(ksp)
    }

    /// KSPSolve, then the iteration count, converged reason and residual norm. Collective.
    pub(crate) fn solve(&self, b: &RawVec, x: &RawVec) -> Result<KspResult> {
        // SAFETY: valid handles of the KSP's communicator and layout (checked by PETSc).
        check("KSPSolve", unsafe { KSPSolve(self.0, b.0, x.0) })?;
        let (mut its, mut reason, mut rnorm): (PetscInt, c_int, f64) = (0, 0, 0.0);
        // SAFETY: out-parameters of plain types.
        check("KSPGetIterationNumber", unsafe {
            KSPGetIterationNumber(self.0, &mut its)
        })?;
        // SAFETY: as above.
        check("KSPGetConvergedReason", unsafe {
            KSPGetConvergedReason(self.0, &mut reason)
        })?;
        // SAFETY: as above.
        check("KSPGetResidualNorm", unsafe {
            KSPGetResidualNorm(self.0, &mut rnorm)
        })?;
        Ok(KspResult {
            iterations: its.max(0) as usize,
            reason,
            residual_norm: rnorm,
        })
    }

    /// The KSP and PC type names (after KSPSetFromOptions).
    pub(crate) fn types(&self) -> Result<(String, String)> {
        let mut kt: *const c_char = std::ptr::null();
        // SAFETY: KSPGetType stores a pointer to the KSP's own type string (or null).
        check("KSPGetType", unsafe { KSPGetType(self.0, &mut kt) })?;
        let mut pc: Handle = std::ptr::null_mut();
        // SAFETY: KSPGetPC stores the KSP's PC (borrowed, not owned by us).
        check("KSPGetPC", unsafe { KSPGetPC(self.0, &mut pc) })?;
        let mut pt: *const c_char = std::ptr::null();
        // SAFETY: as KSPGetType, for the PC.
        check("PCGetType", unsafe { PCGetType(pc, &mut pt) })?;
        let name = |p: *const c_char| {
            if p.is_null() {
                "unset".to_string()
            } else {
                // SAFETY: non-null, a NUL-terminated string owned by the live object.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
        Ok((name(kt), name(pt)))
    }
}
