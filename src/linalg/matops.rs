//! Operations on assembled Mats: add to the diagonal (a scalar or a Dat), zero rows, zero rows
//! and columns symmetrically with a diagonal value and a fixed right-hand side (Dirichlet
//! conditions, as PETSc's `MatZeroRowsColumns`), scale, `axpy` of Mats on one Sparsity, and
//! `y = A^T x`.
//!
//! Owns only these value edits; the values and their layout belong to `mat.rs`. Rows are given
//! as *local scalar row indices* of owned rows (`block_row * rdim + r`, below
//! `owned_rows * rdim`), e.g. from [`crate::nonzero_entries`] of a flag Dat.
//!
//! # MPI
//! Rows are owned by ranks, so row edits are local. Zeroing *columns* is collective (on a
//! distributed Sparsity): the flags (and the fixed values) of the rows are refreshed into the
//! column set's halo copies and imported for extra columns, the way `Mat::mult` imports `x`.
//! Errors found on one rank (a missing diagonal block, a row out of range) are agreed before
//! that exchange, so every rank returns an error together.

use rayon::prelude::*;

use crate::data::dat::Dat;
use crate::dtype::{self, DType};
use crate::error::{Error, Result};
use crate::linalg::mat::Mat;
use crate::mpi::agree::{agree, Share};

impl Mat {
    /// Position in the values of the diagonal block of owned block row `i`, or an error.
    fn diag_block(&self, what: &dyn Fn() -> String, i: usize) -> Result<usize> {
        let sp = self.sparsity();
        match sp.row(i).binary_search(&(i as u32)) {
            Ok(k) => Ok(sp.rowptr()[i] + k),
            Err(_) => Err(Error::invalid(
                what(),
                format!("block row {i} has no diagonal block in the Sparsity"),
            )),
        }
    }

    fn check_square(&self, what: &dyn Fn() -> String) -> Result<usize> {
        let sp = self.sparsity();
        let (rd, cd) = sp.dims();
        if sp.row_dataset() != sp.col_dataset() || rd != cd {
            return Err(Error::invalid(
                what(),
                "the matrix is not square (row and column DataSets differ)",
            ));
        }
        Ok(rd)
    }

    fn check_vec(&self, what: &dyn Fn() -> String, d: &Dat) -> Result<()> {
        let ds = self.sparsity().row_dataset();
        if d.dataset() != ds || d.dtype() != DType::F64 {
            return Err(Error::invalid(
                what(),
                format!("Dat {} must be f64 on {ds:?}", d.name()),
            ));
        }
        Ok(())
    }

    /// `A[r][r] += alpha` for every owned scalar row `r` of a square matrix. Every owned block
    /// row needs its diagonal block in the Sparsity.
    ///
    /// ```
    /// # let s = op2::Set::new(2).unwrap();
    /// # let m = op2::Map::new(&s, &s, 1, vec![0, 1]).unwrap();
    /// # let ds = op2::DataSet::new(&s, 1).unwrap();
    /// let a = op2::Mat::new(&op2::Sparsity::new(&ds, &ds, &[(m.clone(), m)]).unwrap(), op2::DType::F64).unwrap();
    /// a.add_diagonal(2.5).unwrap();
    /// assert_eq!(a.csr_values(), vec![2.5, 2.5]);
    /// ```
    pub fn add_diagonal(&self, alpha: f64) -> Result<()> {
        self.add_to_diagonal("add_diagonal", None, alpha)
    }

    /// `A[r][r] += d[r]` for every owned scalar row `r` (`d` f64 on the row DataSet).
    ///
    /// ```
    /// # let s = op2::Set::new(2).unwrap();
    /// # let m = op2::Map::new(&s, &s, 1, vec![0, 1]).unwrap();
    /// # let ds = op2::DataSet::new(&s, 1).unwrap();
    /// let a = op2::Mat::new(&op2::Sparsity::new(&ds, &ds, &[(m.clone(), m)]).unwrap(), op2::DType::F64).unwrap();
    /// a.add_diagonal_dat(&op2::Dat::new(&ds, vec![1.0f64, 3.0]).unwrap()).unwrap();
    /// assert_eq!(a.csr_values(), vec![1.0, 3.0]);
    /// ```
    pub fn add_diagonal_dat(&self, d: &Dat) -> Result<()> {
        self.add_to_diagonal("add_diagonal_dat", Some(d), 1.0)
    }

    fn add_to_diagonal(&self, op: &str, d: Option<&Dat>, alpha: f64) -> Result<()> {
        let what = || format!("Mat::{op}({})", self.name());
        let rd = self.check_square(&what)?;
        if let Some(d) = d {
            self.check_vec(&what, d)?;
        }
        let owned = self.sparsity().owned_rows();
        let pos: Vec<usize> = (0..owned)
            .map(|i| self.diag_block(&what, i))
            .collect::<Result<_>>()?;
        let dg = d.map(|d| d.read());
        let dv = dg.as_ref().map(|g| dtype::view::<f64>(g, owned * rd));
        let mut vals = self.write();
        for (i, &k) in pos.iter().enumerate() {
            for r in 0..rd {
                let add = dv.map_or(alpha, |dv| dv[i * rd + r]);
                vals[(k * rd + r) * rd + r] += add;
            }
        }
        Ok(())
    }

    /// `A = alpha A`.
    ///
    /// ```
    /// # let s = op2::Set::new(2).unwrap();
    /// # let m = op2::Map::new(&s, &s, 1, vec![0, 1]).unwrap();
    /// # let ds = op2::DataSet::new(&s, 1).unwrap();
    /// let a = op2::Mat::new(&op2::Sparsity::new(&ds, &ds, &[(m.clone(), m)]).unwrap(), op2::DType::F64).unwrap();
    /// a.add_diagonal(2.0).unwrap();
    /// a.scale(-0.5).unwrap();
    /// assert_eq!(a.csr_values(), vec![-1.0, -1.0]);
    /// ```
    pub fn scale(&self, alpha: f64) -> Result<()> {
        self.write().par_iter_mut().for_each(|v| *v *= alpha);
        Ok(())
    }

    /// `A = A + alpha X` for a Mat `X` on the same Sparsity (the same object).
    ///
    /// ```
    /// # let s = op2::Set::new(2).unwrap();
    /// # let m = op2::Map::new(&s, &s, 1, vec![0, 1]).unwrap();
    /// # let ds = op2::DataSet::new(&s, 1).unwrap();
    /// let sp = op2::Sparsity::new(&ds, &ds, &[(m.clone(), m)]).unwrap();
    /// let (a, x) = (op2::Mat::new(&sp, op2::DType::F64).unwrap(), op2::Mat::new(&sp, op2::DType::F64).unwrap());
    /// x.add_diagonal(1.0).unwrap();
    /// a.axpy(3.0, &x).unwrap();
    /// assert_eq!(a.csr_values(), vec![3.0, 3.0]);
    /// assert!(a.axpy(1.0, &a).is_err());
    /// ```
    pub fn axpy(&self, alpha: f64, x: &Mat) -> Result<()> {
        let what = || format!("Mat::axpy({}, {})", self.name(), x.name());
        if x.ptr_eq(self) {
            return Err(Error::invalid(what(), "X must be another Mat (use scale)"));
        }
        if !x.sparsity().ptr_eq(self.sparsity()) {
            return Err(Error::invalid(what(), "the Mats' Sparsities differ"));
        }
        let xv = x.read();
        self.write()
            .par_iter_mut()
            .zip(&xv[..])
            .for_each(|(a, b)| *a += alpha * b);
        Ok(())
    }

    /// `y = A^T x`: `x` f64 on the row DataSet, `y` f64 on the column DataSet (distinct).
    /// Collective on a distributed mesh: the owned rows' contributions to halo columns and
    /// extra columns are sent to and added by their owners; `y`'s halo copies are stale
    /// afterwards.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
    /// use op2::{Access, DType, Dat, DataSet, Kernel, Map, Mat, Set, Sparsity};
    /// let edges = Set::new(2).unwrap();
    /// let nodes = Set::new(3).unwrap();
    /// let e2n = Map::new(&edges, &nodes, 2, vec![0, 1, 1, 2]).unwrap();
    /// let ds = DataSet::new(&nodes, 1).unwrap();
    /// let a = Mat::new(&Sparsity::new(&ds, &ds, &[(e2n.clone(), e2n.clone())]).unwrap(), DType::F64).unwrap();
    /// let k = Kernel::new("up", "void up(double *A) { A[0] = 1; A[1] = 2; A[2] = 0; A[3] = 1; }").unwrap();
    /// op2::par_loop(&k, &edges, &[a.arg(Access::Inc, (&e2n, &e2n))]).unwrap();
    /// let (x, y) = (Dat::new(&ds, vec![1.0f64, 1.0, 1.0]).unwrap(), Dat::zeros(&ds, DType::F64));
    /// a.mult_transpose(&x, &y).unwrap();
    /// assert_eq!(y.to_vec::<f64>().unwrap(), vec![1.0, 4.0, 3.0]); // column sums
    /// ```
    pub fn mult_transpose(&self, x: &Dat, y: &Dat) -> Result<()> {
        let sp = self.sparsity();
        let what = || {
            format!(
                "Mat::mult_transpose({}, x = {}, y = {})",
                self.name(),
                x.name(),
                y.name()
            )
        };
        for (d, ds) in [(x, sp.row_dataset()), (y, sp.col_dataset())] {
            if d.dataset() != ds || d.dtype() != DType::F64 {
                return Err(Error::invalid(
                    what(),
                    format!("Dat {} must be f64 on {ds:?}", d.name()),
                ));
            }
        }
        if x.ptr_eq(y) {
            return Err(Error::invalid(what(), "x and y must be different Dats"));
        }
        let (rd, cd) = sp.dims();
        let mut yl = vec![0.0; sp.ncols() * cd];
        {
            let xg = x.read();
            let xv = dtype::view::<f64>(&xg, sp.owned_rows() * rd);
            let vals = self.read();
            for i in 0..sp.owned_rows() {
                for k in sp.rowptr()[i]..sp.rowptr()[i + 1] {
                    let j = sp.colidx()[k] as usize;
                    for r in 0..rd {
                        for c in 0..cd {
                            yl[j * cd + c] += vals[(k * rd + r) * cd + c] * xv[i * rd + r];
                        }
                    }
                }
            }
        }
        let total = sp.col_dataset().set().total_size() * cd;
        let (local, extra) = yl.split_at_mut(total);
        if let Some(plan) = sp.dist() {
            plan.export_add(extra, local, cd)?;
        }
        {
            let mut yg = y.write();
            dtype::view_mut::<f64>(&mut yg, total).copy_from_slice(local);
        }
        crate::data::dat::reverse_halo(y, crate::data::dat::ReverseMode::Add)?;
        y.mark_halo_stale();
        Ok(())
    }

    /// Checked owned scalar rows as flags over the owned scalar rows.
    fn row_flags(&self, what: &dyn Fn() -> String, rows: &[usize]) -> Result<Vec<bool>> {
        let n = self.sparsity().owned_rows() * self.sparsity().dims().0;
        let mut f = vec![false; n];
        for &r in rows {
            if r >= n {
                return Err(Error::invalid(
                    what(),
                    format!("row {r} is not an owned row (this rank owns {n} scalar rows)"),
                ));
            }
            f[r] = true;
        }
        Ok(f)
    }

    /// Zero the owned scalar `rows` and put `diag` on their diagonal; with `fix = Some((x,
    /// b))`, also `b[r] = diag * x[r]` for those rows (PETSc's `MatZeroRows`). Local: no
    /// communication.
    ///
    /// ```
    /// # let s = op2::Set::new(2).unwrap();
    /// # let m = op2::Map::new(&s, &s, 1, vec![0, 1]).unwrap();
    /// # let ds = op2::DataSet::new(&s, 1).unwrap();
    /// let a = op2::Mat::new(&op2::Sparsity::new(&ds, &ds, &[(m.clone(), m)]).unwrap(), op2::DType::F64).unwrap();
    /// a.add_diagonal(5.0).unwrap();
    /// a.zero_rows(&[1], 1.0, None).unwrap();
    /// assert_eq!(a.csr_values(), vec![5.0, 1.0]);
    /// ```
    pub fn zero_rows(&self, rows: &[usize], diag: f64, fix: Option<(&Dat, &Dat)>) -> Result<()> {
        self.zero_rc("zero_rows", rows, diag, fix, false)
    }

    /// Zero the owned scalar `rows` and the same columns on every rank, with `diag` on their
    /// diagonal, keeping a symmetric matrix symmetric (PETSc's `MatZeroRowsColumns`). With
    /// `fix = Some((x, b))` the right-hand side is fixed first so that the solution keeps the
    /// values of `x` on those rows: `b -= A[:, rows] x[rows]` on the other rows, `b[r] = diag *
    /// x[r]` on these. Collective on a distributed Sparsity (every rank calls it, with its own
    /// rows, possibly none). `b`'s halo copies are stale afterwards.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
    /// use op2::{Access, DType, Dat, DataSet, Kernel, Map, Mat, Set, Sparsity};
    /// let edges = Set::new(2).unwrap();
    /// let nodes = Set::new(3).unwrap();
    /// let e2n = Map::new(&edges, &nodes, 2, vec![0, 1, 1, 2]).unwrap();
    /// let ds = DataSet::new(&nodes, 1).unwrap();
    /// let a = Mat::new(&Sparsity::new(&ds, &ds, &[(e2n.clone(), e2n.clone())]).unwrap(), DType::F64).unwrap();
    /// let k = Kernel::new("lap", "void lap(double *A) { A[0] = 1; A[1] = -1; A[2] = -1; A[3] = 1; }").unwrap();
    /// op2::par_loop(&k, &edges, &[a.arg(Access::Inc, (&e2n, &e2n))]).unwrap();
    /// // u = 2 at node 0: the other rows move A[:, 0] * 2 to the right-hand side.
    /// let x = Dat::new(&ds, vec![2.0f64, 0.0, 0.0]).unwrap();
    /// let b = Dat::new(&ds, vec![0.0f64, 1.0, 1.0]).unwrap();
    /// a.zero_rows_columns(&[0], 1.0, Some((&x, &b))).unwrap();
    /// assert_eq!(a.values().unwrap(), vec![1.0, 0.0, 0.0, 0.0, 2.0, -1.0, 0.0, -1.0, 1.0]);
    /// assert_eq!(b.to_vec::<f64>().unwrap(), vec![2.0, 3.0, 1.0]);
    /// ```
    pub fn zero_rows_columns(
        &self,
        rows: &[usize],
        diag: f64,
        fix: Option<(&Dat, &Dat)>,
    ) -> Result<()> {
        self.zero_rc("zero_rows_columns", rows, diag, fix, true)
    }

    fn zero_rc(
        &self,
        op: &str,
        rows: &[usize],
        diag: f64,
        fix: Option<(&Dat, &Dat)>,
        columns: bool,
    ) -> Result<()> {
        let what = || format!("Mat::{op}({})", self.name());
        let sp = self.sparsity().clone();
        let owned = sp.owned_rows();
        // Local checks, agreed before any exchange.
        let checked = (|| {
            let rd = self.check_square(&what)?;
            if let Some((x, b)) = fix {
                self.check_vec(&what, x)?;
                self.check_vec(&what, b)?;
                if x.ptr_eq(b) {
                    return Err(Error::invalid(what(), "x and b must be different Dats"));
                }
            }
            let flags = self.row_flags(&what, rows)?;
            let pos: Vec<Option<usize>> = (0..owned)
                .map(|i| match (0..rd).any(|r| flags[i * rd + r]) {
                    true => self.diag_block(&what, i).map(Some),
                    false => Ok(None),
                })
                .collect::<Result<_>>()?;
            Ok((rd, flags, pos))
        })();
        let (rd, flags, pos) = if columns {
            agree(sp.row_dataset().set().comm(), Share::Status, checked)?
        } else {
            checked?
        };
        // Column flags and fixed values over every local column (owned, halo, extra).
        let (cflags, xcols) = if columns {
            let f: Vec<f64> = flags.iter().map(|&f| f as u8 as f64).collect();
            let cf = self.columns_of(&f)?;
            let xc = match fix {
                Some((x, _)) => Some(self.columns_of(&owned_values(x, owned * rd))?),
                None => None,
            };
            (cf, xc)
        } else {
            (Vec::new(), None)
        };
        let mut vals = self.write();
        let (rowptr, colidx) = (sp.rowptr(), sp.colidx());
        let mut bfix = fix.map(|(x, b)| (owned_values(x, owned * rd), b.write()));
        for i in 0..owned {
            for k in rowptr[i]..rowptr[i + 1] {
                let j = colidx[k] as usize;
                for r in 0..rd {
                    for c in 0..rd {
                        let v = &mut vals[(k * rd + r) * rd + c];
                        let col_bc = columns && cflags[j * rd + c] != 0.0;
                        if col_bc && !flags[i * rd + r] {
                            if let (Some((_, b)), Some(xc)) = (bfix.as_mut(), xcols.as_ref()) {
                                dtype::view_mut::<f64>(b, owned * rd)[i * rd + r] -=
                                    *v * xc[j * rd + c];
                            }
                        }
                        if flags[i * rd + r] || col_bc {
                            *v = 0.0;
                        }
                    }
                }
            }
            if let Some(k) = pos[i] {
                for r in (0..rd).filter(|&r| flags[i * rd + r]) {
                    vals[(k * rd + r) * rd + r] = diag;
                    if let Some((x, b)) = bfix.as_mut() {
                        dtype::view_mut::<f64>(b, owned * rd)[i * rd + r] = diag * x[i * rd + r];
                    }
                }
            }
        }
        drop(bfix);
        if let Some((_, b)) = fix {
            b.mark_halo_stale();
        }
        Ok(())
    }

    /// Values given on the owned scalar rows, extended to every local column of the Sparsity:
    /// halo copies from their owners, then extra columns (collective on a distributed mesh).
    fn columns_of(&self, owned: &[f64]) -> Result<Vec<f64>> {
        let sp = self.sparsity();
        let ds = sp.col_dataset();
        let cd = sp.dims().1;
        let tmp = Dat::named("zero_rows_columns", ds, owned.to_vec())?;
        if ds.set().halo().is_some() {
            crate::data::dat::update_halo(&tmp)?;
        }
        let g = tmp.read();
        let mut all = dtype::view::<f64>(&g, ds.set().total_size() * cd).to_vec();
        if let Some(plan) = sp.dist() {
            all.extend(plan.import(&all, cd)?);
        }
        Ok(all)
    }
}

/// The first `n` values of an f64 Dat (its owned entries).
fn owned_values(d: &Dat, n: usize) -> Vec<f64> {
    dtype::view::<f64>(&d.read(), n).to_vec()
}
