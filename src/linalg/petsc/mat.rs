//! An op2 [`Mat`] as a PETSc matrix: MPIAIJ, or MPIBAIJ for square blocks of dim > 1,
//! preallocated from the Sparsity's diagonal/off-diagonal counts and filled from op2's
//! assembled values.
//!
//! Owns the **PETSc numbering**: PETSc wants each rank's owned rows to be one contiguous
//! global range, while op2's global ids (a distribution's) are not. Rank `r`'s owned block
//! rows become `[start_r, start_r + owned)` in local order (prefix sums of owned counts);
//! every local column gets its PETSc number from its owner: owned columns directly, halo
//! columns by a halo exchange of the numbers, extra columns through the Sparsity's import
//! plan. Never changes the op2 Mat (a copy of its values is taken).

use crate::data::dat::{update_halo, Dat};
use crate::data::dataset::DataSet;
use crate::data::set::Set;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::linalg::mat::Mat;
use crate::linalg::petsc::ffi::{MatLayout, PetscInt, RawMat};
use crate::linalg::petsc::{comm_of, ensure_initialized};
use crate::mpi::agree::{agree, Share};
use crate::mpi::comm::{Comm, RawComm, ReduceOp};

/// A PETSc copy of an op2 Mat (see the module documentation). Refresh its values after a
/// new assembly with [`PetscMat::copy_values`].
pub struct PetscMat {
    pub(crate) raw: RawMat,
    pub(crate) comm: RawComm,
    /// Block rows/cols as PETSc sees them: (rdim, cdim) and whether BAIJ is used.
    dims: (usize, usize),
    blocked: bool,
    /// PETSc block row of every owned block row.
    rows: Vec<PetscInt>,
    /// PETSc block column of every local block column of the Sparsity.
    cols: Vec<PetscInt>,
    pub(crate) row_ds: DataSet,
    pub(crate) col_ds: DataSet,
    name: String,
    sparsity_id: u64,
}

impl PetscMat {
    /// Create the PETSc matrix of `a` and fill it. Collective over the Mat's communicator.
    pub fn from_mat(a: &Mat) -> Result<PetscMat> {
        let sp = a.sparsity();
        let what = || format!("PetscMat::from_mat({})", a.name());
        if a.dtype() != DType::F64 {
            return Err(Error::invalid(
                what(),
                format!("Mat dtype {} is not f64", a.dtype()),
            ));
        }
        let row_set = sp.row_dataset().set().clone();
        let col_set = sp.col_dataset().set().clone();
        let comm = row_set.comm();
        ensure_initialized(comm)?;
        let raw_comm = comm_of(comm)?;
        let (rd, cd) = sp.dims();
        let rows_start = owned_start(comm, sp.owned_rows())?;
        let rows = (0..sp.owned_rows())
            .map(|i| index(rows_start + i as u64))
            .collect::<Result<Vec<_>>>()?;
        let cols = column_numbers(&col_set, sp.col_global_ids().is_some(), |x| {
            match sp.dist() {
                Some(plan) => plan.import(x, 1),
                None => Ok(Vec::new()),
            }
        })?;
        let blocked = rd == cd && rd > 1;
        let scale = if blocked { 1 } else { cd };
        let to_i = |v: &[u32]| -> Vec<PetscInt> {
            v.iter()
                .flat_map(|&n| {
                    std::iter::repeat_n(
                        n as PetscInt * scale as PetscInt,
                        if blocked { 1 } else { rd },
                    )
                })
                .collect()
        };
        let (d_nnz, o_nnz) = (to_i(sp.nnz_diag()), to_i(sp.nnz_offdiag()));
        let layout = MatLayout {
            bs: if blocked { rd as PetscInt } else { 1 },
            m: (sp.owned_rows() * rd) as PetscInt,
            n: (col_set.size() * cd) as PetscInt,
            d_nnz: &d_nnz,
            o_nnz: &o_nnz,
        };
        let raw = RawMat::create(raw_comm, &layout)?;
        let m = PetscMat {
            raw,
            comm: raw_comm,
            dims: (rd, cd),
            blocked,
            rows,
            cols,
            row_ds: sp.row_dataset().clone(),
            col_ds: sp.col_dataset().clone(),
            name: a.name().to_string(),
            sparsity_id: sp.id(),
        };
        m.copy_values(a)?;
        Ok(m)
    }

    /// Copy `a`'s values (a Mat on the same Sparsity, assembled again) into the PETSc
    /// matrix and assemble it. Collective.
    pub fn copy_values(&self, a: &Mat) -> Result<()> {
        let sp = a.sparsity();
        if sp.id() != self.sparsity_id {
            return Err(Error::invalid(
                format!("PetscMat::copy_values({})", a.name()),
                format!(
                    "the Mat's Sparsity is not the one PETSc matrix {} was made from",
                    self.name
                ),
            ));
        }
        // MatAssembly is collective: a rank whose MatSetValues failed must not leave the
        // others waiting in it, so the outcome is agreed first.
        let filled = self.set_owned_rows(a);
        agree(self.row_ds.set().comm(), Share::Detail, filled)?;
        self.raw.assemble()
    }

    /// MatSetValues(Blocked) of every owned row of `a` (this rank only).
    fn set_owned_rows(&self, a: &Mat) -> Result<()> {
        let sp = a.sparsity();
        let (rd, cd) = self.dims;
        let vals = a.read();
        let (rowptr, colidx) = (sp.rowptr(), sp.colidx());
        let mut cols: Vec<PetscInt> = Vec::new();
        let mut v: Vec<f64> = Vec::new();
        for (i, &prow) in self.rows.iter().enumerate() {
            let blocks = rowptr[i]..rowptr[i + 1];
            if self.blocked {
                for k in blocks {
                    let c = [self.cols[colidx[k] as usize]];
                    self.raw
                        .set_values(true, &[prow], &c, &vals[k * rd * cd..][..rd * cd])?;
                }
                continue;
            }
            // Scalar rows: the columns of every block, then one row of values at a time.
            cols.clear();
            for k in blocks.clone() {
                let base = self.cols[colidx[k] as usize] * cd as PetscInt;
                cols.extend((0..cd as PetscInt).map(|c| base + c));
            }
            for r in 0..rd {
                v.clear();
                for k in blocks.clone() {
                    v.extend_from_slice(&vals[(k * rd + r) * cd..][..cd]);
                }
                let row = [prow * rd as PetscInt + r as PetscInt];
                self.raw.set_values(false, &row, &cols, &v)?;
            }
        }
        Ok(())
    }

    /// The op2 Mat's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Whether the matrix is MPIBAIJ (square blocks of dim > 1) rather than MPIAIJ.
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }
}

/// A PETSc index from a global number, or an error if PETSc's 32-bit indices cannot hold it.
fn index(g: u64) -> Result<PetscInt> {
    PetscInt::try_from(g).map_err(|_| {
        Error::invalid(
            "PETSc bridge",
            format!("global index {g} exceeds PETSc's 32-bit PetscInt (build PETSc with 64-bit indices)"),
        )
    })
}

/// The first global (block) number of this rank's `owned` entries: the sum over lower ranks.
/// Collective.
pub(crate) fn owned_start(comm: Comm, owned: usize) -> Result<u64> {
    let all = comm.allgather_bytes(&(owned as u64).to_ne_bytes())?;
    let mut start = 0u64;
    for b in &all[..comm.rank() as usize] {
        let n: [u8; 8] = b
            .as_slice()
            .try_into()
            .map_err(|_| Error::Mpi("owned-count message of the wrong size".into()))?;
        start += u64::from_ne_bytes(n);
    }
    let total = comm.allreduce_u64(owned as u64, ReduceOp::Sum)?;
    index(total)?;
    Ok(start)
}

/// The PETSc number of every local column of a Sparsity on `col_set`: owned elements
/// numbered from this rank's start, halo elements by a halo exchange of the numbers (when
/// the Sparsity is distributed), then the extra columns from `import` (the Sparsity's plan;
/// it gets the numbers of the column set's local elements). Collective.
fn column_numbers(
    col_set: &Set,
    distributed: bool,
    import: impl FnOnce(&[f64]) -> Result<Vec<f64>>,
) -> Result<Vec<PetscInt>> {
    let start = owned_start(col_set.comm(), col_set.size())?;
    let mut nums: Vec<f64> = (0..col_set.total_size())
        .map(|i| {
            if i < col_set.size() {
                (start + i as u64) as f64
            } else {
                -1.0
            }
        })
        .collect();
    if distributed && col_set.halo().is_some() {
        let ds = DataSet::new(col_set, 1)?;
        let d = Dat::named("petsc_column_numbers", &ds, nums)?;
        update_halo(&d)?;
        nums = crate::dtype::view::<f64>(&d.read(), col_set.total_size()).to_vec();
    }
    if distributed {
        let extra = import(&nums)?;
        nums.extend_from_slice(&extra);
    }
    nums.into_iter()
        .map(|x| {
            if x < 0.0 {
                Err(Error::invalid(
                    "PETSc bridge",
                    "a column without a PETSc number (no owner)",
                ))
            } else {
                index(x as u64)
            }
        })
        .collect()
}
