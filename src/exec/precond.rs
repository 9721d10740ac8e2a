//! Preconditioners of the Krylov solvers, each on the rank's own part of the matrix: Jacobi
//! (the inverse diagonal), point-block Jacobi (the inverse of each node's `dim x dim` diagonal
//! block), SSOR (symmetric Gauss-Seidel with a relaxation factor) and ILU(0), the last two on
//! the rank's diagonal block (owned rows x owned columns; columns of halo and extra elements
//! are ignored, as PETSc's block Jacobi with ILU(0) or SOR sub-preconditioners does).
//!
//! Owns the set-up (factoring) and the application `z = M^-1 r` of these; never iterates and
//! never touches a Mat's values (it copies what it needs). SSOR and ILU(0) work on the scalar
//! rows of the diagonal block (a block Mat's blocks expanded), so a dim > 1 Mat gets point
//! SSOR / ILU(0) on the block pattern. Set-up failures (a zero pivot or diagonal entry, a
//! singular block) are agreed on by one allreduce, so every rank returns the error.
//! The triangular solves of SSOR and ILU(0) are sequential per rank; block Jacobi is threaded.

use rayon::prelude::*;

use crate::data::dat::Dat;
use crate::dtype;
use crate::error::{Error, Result};
use crate::linalg::mat::Mat;
use crate::mpi::comm::ReduceOp;

/// Preconditioner of a [`crate::KrylovSolver`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Preconditioner {
    /// None (identity).
    None,
    /// Jacobi: the inverse of the matrix's diagonal (every diagonal entry must be non-zero).
    Jacobi,
    /// Point-block Jacobi: the inverse of each node's `dim x dim` diagonal block (Jacobi for
    /// dim 1); every block must be invertible.
    BlockJacobi,
    /// SSOR (symmetric Gauss-Seidel for `omega = 1`) on the rank's diagonal block:
    /// `M = (D + omega L) D^-1 (D + omega U) / (omega (2 - omega))`, symmetric positive
    /// definite for a symmetric positive definite matrix and `0 < omega < 2` (so CG can use
    /// it).
    Ssor {
        /// Relaxation factor in (0, 2).
        omega: f64,
    },
    /// ILU(0) of the rank's diagonal block: the incomplete LU factors on the block's own
    /// pattern, factored once and kept by the solver while the matrix's values are unchanged.
    Ilu0,
}

impl Preconditioner {
    /// The preconditioner named `name`: `none`, `jacobi`, `bjacobi`, `sor` (SSOR with omega
    /// 1, i.e. symmetric Gauss-Seidel), `ssor:OMEGA` or `ilu0`.
    ///
    /// ```
    /// use op2::Preconditioner;
    /// assert_eq!(Preconditioner::parse("ilu0").unwrap(), Preconditioner::Ilu0);
    /// assert_eq!(Preconditioner::parse("ssor:1.5").unwrap(), Preconditioner::Ssor { omega: 1.5 });
    /// assert!(Preconditioner::parse("amg").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<Preconditioner> {
        let bad = || {
            Error::invalid(
                format!("Preconditioner::parse({name:?})"),
                "want none, jacobi, bjacobi, sor, ssor:OMEGA or ilu0",
            )
        };
        Ok(match name {
            "none" => Preconditioner::None,
            "jacobi" => Preconditioner::Jacobi,
            "bjacobi" => Preconditioner::BlockJacobi,
            "sor" => Preconditioner::Ssor { omega: 1.0 },
            "ilu0" => Preconditioner::Ilu0,
            _ => match name.strip_prefix("ssor:").map(str::parse::<f64>) {
                Some(Ok(omega)) => Preconditioner::Ssor { omega },
                _ => return Err(bad()),
            },
        })
    }
}

/// The scalar rows of a rank's diagonal block in CSR, columns increasing within each row,
/// with the position of each row's diagonal entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LocalCsr {
    pub(crate) rowptr: Vec<usize>,
    pub(crate) col: Vec<usize>,
    pub(crate) val: Vec<f64>,
    pub(crate) diag: Vec<usize>,
}

impl LocalCsr {
    /// Owned scalar rows x owned scalar columns of `a` (block rows `< owned_rows`, block
    /// columns `< the column set's owned size`). A row without a stored diagonal entry is an
    /// error naming the row.
    pub(crate) fn diagonal_block(a: &Mat) -> std::result::Result<LocalCsr, String> {
        let sp = a.sparsity();
        let (d, _) = sp.dims();
        let (n, owned_cols) = (sp.owned_rows(), sp.col_dataset().set().size());
        let vals = a.read();
        let mut csr = LocalCsr {
            rowptr: vec![0],
            col: Vec::new(),
            val: Vec::new(),
            diag: Vec::with_capacity(n * d),
        };
        for i in 0..n {
            let blocks = sp.rowptr()[i]..sp.rowptr()[i + 1];
            for r in 0..d {
                let row = i * d + r;
                let mut diag = None;
                for k in blocks.clone() {
                    let j = sp.colidx()[k] as usize;
                    if j >= owned_cols {
                        continue;
                    }
                    for c in 0..d {
                        if j * d + c == row {
                            diag = Some(csr.col.len());
                        }
                        csr.col.push(j * d + c);
                        csr.val.push(vals[(k * d + r) * d + c]);
                    }
                }
                csr.diag
                    .push(diag.ok_or_else(|| format!("row {row} has no diagonal entry"))?);
                csr.rowptr.push(csr.col.len());
            }
        }
        Ok(csr)
    }

    fn rows(&self) -> usize {
        self.diag.len()
    }

    /// Factor in place into ILU(0): the strict lower part holds L (unit diagonal implied), the
    /// rest U, both on the original pattern.
    pub(crate) fn ilu0(&mut self) -> std::result::Result<(), String> {
        for i in 0..self.rows() {
            let (start, end) = (self.rowptr[i], self.rowptr[i + 1]);
            for kk in start..self.diag[i] {
                let k = self.col[kk];
                let piv = self.val[self.diag[k]];
                if piv == 0.0 || !piv.is_finite() {
                    return Err(format!("zero pivot {piv:e} in row {k}"));
                }
                let l = self.val[kk] / piv;
                self.val[kk] = l;
                // row i -= l * (row k beyond its diagonal), on row i's pattern only.
                let mut p = kk + 1;
                for q in self.diag[k] + 1..self.rowptr[k + 1] {
                    let j = self.col[q];
                    while p < end && self.col[p] < j {
                        p += 1;
                    }
                    if p == end {
                        break;
                    }
                    if self.col[p] == j {
                        self.val[p] -= l * self.val[q];
                    }
                }
            }
            let piv = self.val[self.diag[i]];
            if piv == 0.0 || !piv.is_finite() {
                return Err(format!("zero pivot {piv:e} in row {i}"));
            }
        }
        Ok(())
    }

    /// `z = (LU)^-1 r` with the factors of [`LocalCsr::ilu0`].
    pub(crate) fn ilu_solve(&self, r: &[f64], z: &mut [f64]) {
        for i in 0..self.rows() {
            let s: f64 = (self.rowptr[i]..self.diag[i])
                .map(|k| self.val[k] * z[self.col[k]])
                .sum();
            z[i] = r[i] - s;
        }
        for i in (0..self.rows()).rev() {
            let s: f64 = (self.diag[i] + 1..self.rowptr[i + 1])
                .map(|k| self.val[k] * z[self.col[k]])
                .sum();
            z[i] = (z[i] - s) / self.val[self.diag[i]];
        }
    }

    /// `z = M^-1 r` for SSOR with `omega`: a forward sweep `(D + omega L) y = omega (2 -
    /// omega) r`, then a backward sweep `(D + omega U) z = D y`.
    pub(crate) fn ssor_solve(&self, omega: f64, r: &[f64], z: &mut [f64]) {
        let f = omega * (2.0 - omega);
        for i in 0..self.rows() {
            let s: f64 = (self.rowptr[i]..self.diag[i])
                .map(|k| self.val[k] * z[self.col[k]])
                .sum();
            z[i] = (f * r[i] - omega * s) / self.val[self.diag[i]];
        }
        for i in (0..self.rows()).rev() {
            let s: f64 = (self.diag[i] + 1..self.rowptr[i + 1])
                .map(|k| self.val[k] * z[self.col[k]])
                .sum();
            let d = self.val[self.diag[i]];
            z[i] = (d * z[i] - omega * s) / d;
        }
    }
}

/// Invert the `d x d` row-major block `a` (Gauss-Jordan with partial pivoting); `None` if it
/// is singular.
fn invert(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut m = a.to_vec();
    let scale = a.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    let mut inv: Vec<f64> = (0..d * d)
        .map(|k| if k / d == k % d { 1.0 } else { 0.0 })
        .collect();
    for c in 0..d {
        let p = (c..d).max_by(|&i, &j| m[i * d + c].abs().total_cmp(&m[j * d + c].abs()))?;
        if m[p * d + c].abs() <= 1e-14 * scale || !m[p * d + c].is_finite() {
            return None;
        }
        for k in 0..d {
            m.swap(c * d + k, p * d + k);
            inv.swap(c * d + k, p * d + k);
        }
        let piv = m[c * d + c];
        for k in 0..d {
            m[c * d + k] /= piv;
            inv[c * d + k] /= piv;
        }
        for r in (0..d).filter(|&r| r != c) {
            let f = m[r * d + c];
            for k in 0..d {
                m[r * d + k] -= f * m[c * d + k];
                inv[r * d + k] -= f * inv[c * d + k];
            }
        }
    }
    Some(inv)
}

/// A preconditioner made for one matrix.
pub(crate) enum PcState {
    /// `z = dinv * r` pointwise (None: ones; Jacobi: the inverse diagonal); the CG loops fuse it.
    Diagonal(Dat),
    /// Inverses of the owned nodes' diagonal blocks, `dim * dim` each.
    Blocks { dim: usize, inv: Vec<f64> },
    /// SSOR on the diagonal block.
    Ssor { csr: LocalCsr, omega: f64 },
    /// ILU(0) factors of the diagonal block.
    Ilu(LocalCsr),
}

impl PcState {
    /// Set up `pc` (not None or Jacobi: those need generated loops, see `krylov.rs`) for `a`,
    /// agreeing on failure with every rank (one allreduce).
    pub(crate) fn local(what: &str, pc: Preconditioner, a: &Mat) -> Result<PcState> {
        let mine = PcState::make(pc, a);
        let comm = a.sparsity().row_dataset().set().comm();
        let failed = comm.allreduce_u64(mine.is_err() as u64, ReduceOp::Sum)?;
        match mine {
            Err(e) => Err(Error::invalid(
                what,
                format!("{pc:?} set-up of {} on rank {}: {e}", a.name(), comm.rank()),
            )),
            Ok(_) if failed > 0 => Err(Error::invalid(
                what,
                format!(
                    "{pc:?} set-up of {} failed on {failed} other rank(s)",
                    a.name()
                ),
            )),
            Ok(s) => Ok(s),
        }
    }

    fn make(pc: Preconditioner, a: &Mat) -> std::result::Result<PcState, String> {
        match pc {
            Preconditioner::BlockJacobi => {
                let sp = a.sparsity();
                let d = sp.dims().0;
                let vals = a.read();
                let mut inv = Vec::with_capacity(sp.owned_rows() * d * d);
                for i in 0..sp.owned_rows() {
                    let k = sp
                        .row(i)
                        .binary_search(&(i as u32))
                        .map_err(|_| format!("node {i} has no diagonal block"))?
                        + sp.rowptr()[i];
                    let blk = invert(&vals[k * d * d..(k + 1) * d * d], d)
                        .ok_or_else(|| format!("the diagonal block of node {i} is singular"))?;
                    inv.extend(blk);
                }
                Ok(PcState::Blocks { dim: d, inv })
            }
            Preconditioner::Ssor { omega } => {
                if !(omega > 0.0 && omega < 2.0) {
                    return Err(format!("omega = {omega} is not in (0, 2)"));
                }
                let csr = LocalCsr::diagonal_block(a)?;
                if let Some(i) = (0..csr.rows()).find(|&i| csr.val[csr.diag[i]] == 0.0) {
                    return Err(format!("diagonal entry of row {i} is zero"));
                }
                Ok(PcState::Ssor { csr, omega })
            }
            Preconditioner::Ilu0 => {
                let mut csr = LocalCsr::diagonal_block(a)?;
                csr.ilu0()?;
                Ok(PcState::Ilu(csr))
            }
            Preconditioner::None | Preconditioner::Jacobi => {
                Err(format!("{pc:?} is not a local preconditioner"))
            }
        }
    }

    /// The inverse diagonal when the preconditioner is diagonal (the CG loops fuse it).
    pub(crate) fn dinv(&self) -> Option<&Dat> {
        match self {
            PcState::Diagonal(d) => Some(d),
            _ => None,
        }
    }

    /// `z = M^-1 r` on the owned entries (`r` and `z` distinct f64 Dats on the matrix's row
    /// DataSet); `z`'s halo copies are stale afterwards.
    pub(crate) fn apply(&self, r: &Dat, z: &Dat) -> Result<()> {
        let (dinv, rest) = match self {
            PcState::Diagonal(d) => (Some(d), None),
            other => (None, Some(other)),
        };
        if let Some(d) = dinv {
            return crate::exec::vecops::pointwise_mult(d, r, z);
        }
        if r.ptr_eq(z) {
            return Err(Error::invalid(
                format!("preconditioner({}, {})", r.name(), z.name()),
                "r and z must be different Dats",
            ));
        }
        let n = r.set().size() * r.dim();
        let rg = r.read();
        let rv = dtype::view::<f64>(&rg, n);
        let mut zg = z.write();
        let zv = dtype::view_mut::<f64>(&mut zg, n);
        match rest {
            Some(PcState::Blocks { dim, inv }) => {
                let d = *dim;
                zv.par_chunks_mut(d)
                    .zip(rv.par_chunks(d))
                    .zip(inv.par_chunks(d * d))
                    .with_min_len(256)
                    .for_each(|((zi, ri), b)| {
                        for (row, zr) in zi.iter_mut().enumerate() {
                            *zr = (0..d).map(|c| b[row * d + c] * ri[c]).sum();
                        }
                    });
            }
            Some(PcState::Ssor { csr, omega }) => csr.ssor_solve(*omega, rv, zv),
            Some(PcState::Ilu(csr)) => csr.ilu_solve(rv, zv),
            _ => {}
        }
        drop(zg);
        z.mark_halo_stale();
        Ok(())
    }
}

/// A cheap fingerprint of a Mat's values (to tell when a kept factorization is stale).
pub(crate) fn fingerprint(a: &Mat) -> (u64, usize, u64) {
    let vals = a.read();
    let h = vals
        .par_iter()
        .enumerate()
        .map(|(k, v)| {
            v.to_bits()
                .wrapping_mul(2 * k as u64 + 1)
                .rotate_left(k as u32 % 61)
        })
        .reduce(|| 0u64, u64::wrapping_add);
    (a.id(), vals.len(), h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tridiagonal matrix of n rows: `diag` on the diagonal, `lo` below, `up` above.
    fn tridiagonal(n: usize, lo: f64, diag: f64, up: f64) -> LocalCsr {
        let mut csr = LocalCsr {
            rowptr: vec![0],
            col: vec![],
            val: vec![],
            diag: vec![],
        };
        for i in 0..n {
            if i > 0 {
                csr.col.push(i - 1);
                csr.val.push(lo + 0.1 * i as f64);
            }
            csr.diag.push(csr.col.len());
            csr.col.push(i);
            csr.val.push(diag + (i % 3) as f64);
            if i + 1 < n {
                csr.col.push(i + 1);
                csr.val.push(up - 0.05 * i as f64);
            }
            csr.rowptr.push(csr.col.len());
        }
        csr
    }

    fn dense(csr: &LocalCsr) -> Vec<Vec<f64>> {
        let n = csr.rows();
        let mut a = vec![vec![0.0; n]; n];
        for (i, row) in a.iter_mut().enumerate() {
            for k in csr.rowptr[i]..csr.rowptr[i + 1] {
                row[csr.col[k]] = csr.val[k];
            }
        }
        a
    }

    #[test]
    fn ilu0_of_a_tridiagonal_matrix_is_its_exact_lu() {
        let a = tridiagonal(9, -1.0, 4.0, -2.0);
        let mut f = a.clone();
        f.ilu0().unwrap();
        // Doolittle LU of the dense matrix, without pivoting.
        let mut lu = dense(&a);
        let n = lu.len();
        for k in 0..n {
            for i in k + 1..n {
                lu[i][k] /= lu[k][k];
                for j in k + 1..n {
                    lu[i][j] -= lu[i][k] * lu[k][j];
                }
            }
        }
        let fd = dense(&f);
        for i in 0..n {
            for j in 0..n {
                let tri = i.abs_diff(j) <= 1;
                let want = if tri { lu[i][j] } else { 0.0 };
                assert!(
                    (fd[i][j] - want).abs() < 1e-14,
                    "({i}, {j}): {} vs {want}",
                    fd[i][j]
                );
                // Outside the band the exact LU has no fill either.
                assert!(tri || lu[i][j].abs() < 1e-14);
            }
        }
        // And the solve with the factors is exact.
        let x: Vec<f64> = (0..n).map(|i| (i as f64).sin() + 2.0).collect();
        let ad = dense(&a);
        let b: Vec<f64> = ad
            .iter()
            .map(|r| r.iter().zip(&x).map(|(u, v)| u * v).sum())
            .collect();
        let mut z = vec![0.0; n];
        f.ilu_solve(&b, &mut z);
        for i in 0..n {
            assert!((z[i] - x[i]).abs() < 1e-12, "{i}: {} vs {}", z[i], x[i]);
        }
    }

    #[test]
    fn ilu0_drops_fill_outside_the_pattern_and_reports_zero_pivots() {
        // Arrow matrix: first row and column full; ILU(0) differs from LU (fill dropped).
        let n = 4;
        let mut a = LocalCsr {
            rowptr: vec![0],
            col: vec![],
            val: vec![],
            diag: vec![],
        };
        for i in 0..n {
            for j in 0..n {
                if i == 0 || j == 0 || i == j {
                    if i == j {
                        a.diag.push(a.col.len());
                    }
                    a.col.push(j);
                    a.val.push(if i == j { 4.0 } else { 1.0 });
                }
            }
            a.rowptr.push(a.col.len());
        }
        let mut f = a.clone();
        f.ilu0().unwrap();
        // Row 1's diagonal: 4 - (1/4) * 1.
        assert!((f.val[f.diag[1]] - 3.75).abs() < 1e-15);
        assert_eq!(f.col.len(), a.col.len());
        let mut z = a.clone();
        z.val[z.diag[0]] = 0.0;
        assert!(z.ilu0().unwrap_err().contains("zero pivot"));
    }

    #[test]
    fn ssor_with_omega_one_is_symmetric_gauss_seidel() {
        let a = tridiagonal(5, -1.0, 4.0, -1.0);
        let r = [1.0, -2.0, 0.5, 3.0, 1.0];
        let mut z = [0.0; 5];
        a.ssor_solve(1.0, &r, &mut z);
        // Check (D + L) D^-1 (D + U) z = r.
        let ad = dense(&a);
        let n = 5;
        let u: Vec<f64> = (0..n)
            .map(|i| (i..n).map(|j| ad[i][j] * z[j]).sum::<f64>() / ad[i][i])
            .collect();
        for i in 0..n {
            let got: f64 = (0..=i).map(|j| ad[i][j] * u[j]).sum();
            assert!((got - r[i]).abs() < 1e-13, "{i}: {got} vs {}", r[i]);
        }
    }

    #[test]
    fn blocks_invert_and_singular_blocks_are_found() {
        let inv = invert(&[2.0, 1.0, 1.0, 3.0], 2).unwrap();
        let want = [0.6, -0.2, -0.2, 0.4];
        for (g, w) in inv.iter().zip(want) {
            assert!((g - w).abs() < 1e-15);
        }
        assert!(invert(&[1.0, 2.0, 2.0, 4.0], 2).is_none());
    }
}
