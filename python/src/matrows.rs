//! PyOP2's row operations on an assembled Mat, without PETSc: `nblock_rows`,
//! `zero_rows(rows or Subset, diag_val, idx)`, `set_local_diagonal_entries(rows, diag_val,
//! idx)`.
//!
//! Owns the translation of PyOP2's block rows (a list, an array or a Subset of the row set;
//! every component or only `idx`) to op2's scalar rows, and these operations on op2's Mat
//! (`Mat::zero_rows`, `Mat::diagonal`, `Mat::add_diagonal_dat`). Never assembles.

use pyo3::prelude::*;

use crate::errors::{raise, to_py};
use crate::linalg::PyMat;

#[pymethods]
impl PyMat {
    /// Owned block rows (PyOP2's `nblock_rows`).
    #[getter]
    fn nblock_rows(&self) -> usize {
        self.mat.sparsity().owned_rows()
    }
    /// PyOP2's `zero_rows(rows, diag_val)`: zero the block `rows` (a list or a Subset of the
    /// row set; every scalar row of each block row, or only component `idx`) and put
    /// `diag_val` on their diagonal.
    #[pyo3(signature = (rows, diag_val=1.0, idx=None))]
    fn zero_rows(
        &self,
        rows: &Bound<'_, PyAny>,
        diag_val: f64,
        idx: Option<usize>,
    ) -> PyResult<()> {
        let rows = self.scalar_rows(rows, idx)?;
        self.mat.zero_rows(&rows, diag_val, None).map_err(to_py)
    }
    /// PyOP2's `set_local_diagonal_entries(rows, diag_val)`: the diagonal entries of the block
    /// `rows` (each scalar row, or only component `idx`) become `diag_val`; the rest is kept.
    #[pyo3(signature = (rows, diag_val=1.0, idx=None))]
    fn set_local_diagonal_entries(
        &self,
        rows: &Bound<'_, PyAny>,
        diag_val: f64,
        idx: Option<usize>,
    ) -> PyResult<()> {
        let rows = self.scalar_rows(rows, idx)?;
        let ds = self.mat.sparsity().row_dataset();
        let d = op2::Dat::zeros(ds, op2::DType::F64);
        self.mat.diagonal(&d).map_err(to_py)?;
        let diag: Vec<f64> = d.to_vec::<f64>().map_err(to_py)?;
        let mut add = vec![0.0f64; diag.len()];
        for r in rows {
            add[r] = diag_val - diag[r];
        }
        d.set_values(&add).map_err(to_py)?;
        self.mat.add_diagonal_dat(&d).map_err(to_py)
    }
}

impl PyMat {
    /// The scalar rows of PyOP2's block `rows` (a list, an array or a Subset), every
    /// component of each, or only component `idx`.
    fn scalar_rows(&self, rows: &Bound<'_, PyAny>, idx: Option<usize>) -> PyResult<Vec<usize>> {
        let rows = match rows.getattr("indices") {
            Ok(ind) if rows.hasattr("superset")? => ind,
            _ => rows.clone(),
        };
        let rows: Vec<usize> = rows
            .try_iter()?
            .map(|r| r?.extract::<usize>())
            .collect::<PyResult<_>>()?;
        let rd = self.mat.sparsity().dims().0;
        let owned = self.mat.sparsity().owned_rows();
        if let Some(r) = rows.iter().find(|&&r| r >= owned) {
            return Err(raise(
                "IndexValueError",
                format!(
                    "Mat {}: row {r} is not an owned row (0..{owned})",
                    self.mat.name()
                ),
            ));
        }
        Ok(match idx {
            Some(c) if c >= rd => {
                return Err(raise(
                    "IndexValueError",
                    format!("Mat {}: component {c} of rows of {rd}", self.mat.name()),
                ))
            }
            Some(c) => rows.iter().map(|r| r * rd + c).collect(),
            None => rows
                .iter()
                .flat_map(|r| (0..rd).map(move |c| r * rd + c))
                .collect(),
        })
    }
}
