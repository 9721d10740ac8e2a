//! Mats: matrix values on a Sparsity, assembled by par_loop, with mat-vec and diagonal.
//!
//! Owns the values of a block CSR matrix (laid out as the Sparsity's blocks, each block
//! `rdim x cdim` row-major) and the operations on them: zeroing, reading, `y = A x`, the
//! diagonal, and gathering the global matrix on one rank. Assembly happens in generated code:
//! `Mat::arg` (in `exec/arg.rs`) hands par_loop an `Arg` that gives the kernel a zeroed dense element
//! matrix and adds (INC) or stores (WRITE) it into the CSR values through the Sparsity's
//! position table (see `codegen.rs`). This module never generates code.
//!
//! # MPI
//! On a distributed mesh every rank assembles its owned iteration elements' contributions,
//! including those to halo rows (rows owned elsewhere); par_loop then sends the halo rows to
//! their owners, which add them (INC) or store the touched blocks (WRITE), through the plan the
//! Sparsity built (`matdist.rs`). Afterwards each rank's owned rows are the global matrix's
//! rows. [`Mat::mult`] refreshes `x`'s halo copies when they are stale and imports the values
//! of extra columns from their owners, then multiplies the owned rows.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rayon::prelude::*;

use crate::cache::object::next_id;
use crate::data::dat::Dat;
use crate::dtype::{self, DType};
use crate::error::{Error, Result};
use crate::linalg::sparsity::Sparsity;

/// Largest matrix [`Mat::values`] expands to a dense array (entries).
pub const MAX_DENSE_ENTRIES: usize = 1 << 26;

pub(crate) struct MatInner {
    id: u64,
    name: String,
    sparsity: Sparsity,
    values: RwLock<Vec<f64>>,
}

/// A sparse matrix of f64 on a [`Sparsity`], assembled by par_loops.
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
/// // A 1D Laplacian: each edge adds [[1, -1], [-1, 1]].
/// let k = Kernel::new("lap", "void lap(double *A) { A[0] = 1; A[1] = -1; A[2] = -1; A[3] = 1; }").unwrap();
/// op2::par_loop(&k, &edges, &[a.arg(Access::Inc, (&e2n, &e2n))]).unwrap();
/// assert_eq!(a.values().unwrap(), vec![1.0, -1.0, 0.0, -1.0, 2.0, -1.0, 0.0, -1.0, 1.0]);
/// let x = Dat::new(&ds, vec![1.0, 2.0, 4.0]).unwrap();
/// let y = Dat::zeros(&ds, DType::F64);
/// a.mult(&x, &y).unwrap();
/// assert_eq!(y.to_vec::<f64>().unwrap(), vec![-1.0, -1.0, 2.0]);
/// ```
#[derive(Clone)]
pub struct Mat(pub(crate) Arc<MatInner>);

impl Mat {
    /// A zero matrix on `sparsity`. Only `DType::F64` is supported.
    pub fn new(sparsity: &Sparsity, dtype: DType) -> Result<Mat> {
        Mat::named("mat", sparsity, dtype)
    }

    /// Like [`Mat::new`], with a name for messages.
    ///
    /// ```
    /// # let s = op2::Set::new(1).unwrap();
    /// # let m = op2::Map::new(&s, &s, 1, vec![0]).unwrap();
    /// # let ds = op2::DataSet::new(&s, 1).unwrap();
    /// let sp = op2::Sparsity::new(&ds, &ds, &[(m.clone(), m)]).unwrap();
    /// assert!(op2::Mat::named("A", &sp, op2::DType::F32).is_err()); // f64 only
    /// assert_eq!(op2::Mat::named("A", &sp, op2::DType::F64).unwrap().name(), "A");
    /// ```
    pub fn named(name: &str, sparsity: &Sparsity, dtype: DType) -> Result<Mat> {
        if dtype != DType::F64 {
            return Err(Error::invalid(
                format!("Mat::new({name})"),
                format!("only f64 matrices are supported, not {dtype}"),
            ));
        }
        Ok(Mat(Arc::new(MatInner {
            id: next_id(),
            name: name.to_string(),
            sparsity: sparsity.clone(),
            values: RwLock::new(vec![0.0; sparsity.nnz()]),
        })))
    }

    /// The Sparsity.
    pub fn sparsity(&self) -> &Sparsity {
        &self.0.sparsity
    }
    /// Element type (always f64).
    pub fn dtype(&self) -> DType {
        DType::F64
    }
    /// Name given at creation.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// Process-unique identity.
    pub fn id(&self) -> u64 {
        self.0.id
    }
    /// Identity comparison.
    pub fn ptr_eq(&self, other: &Mat) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Set every stored value to zero (the structure is kept), to assemble again.
    ///
    /// ```
    /// # let s = op2::Set::new(2).unwrap();
    /// # let m = op2::Map::new(&s, &s, 1, vec![0, 1]).unwrap();
    /// # let ds = op2::DataSet::new(&s, 1).unwrap();
    /// # let sp = op2::Sparsity::new(&ds, &ds, &[(m.clone(), m)]).unwrap();
    /// let a = op2::Mat::new(&sp, op2::DType::F64).unwrap();
    /// a.zero().unwrap();
    /// assert_eq!(a.csr_values(), vec![0.0, 0.0]);
    /// ```
    pub fn zero(&self) -> Result<()> {
        self.write().par_iter_mut().for_each(|v| *v = 0.0);
        Ok(())
    }

    /// The stored values in block CSR order: block `k` of [`Sparsity::colidx`] holds
    /// `rdim * cdim` values, row-major.
    pub fn csr_values(&self) -> Vec<f64> {
        self.read().clone()
    }

    /// The owned rows as a dense row-major array: `owned_rows * rdim` scalar rows by
    /// `ncols * cdim` scalar columns (zeros outside the sparsity). Errors beyond
    /// [`MAX_DENSE_ENTRIES`] entries.
    pub fn values(&self) -> Result<Vec<f64>> {
        let sp = self.sparsity();
        let (rd, cd) = sp.dims();
        let (nr, nc) = (sp.owned_rows() * rd, sp.ncols() * cd);
        if nr.saturating_mul(nc) > MAX_DENSE_ENTRIES {
            return Err(Error::invalid(
                format!("Mat::values({})", self.name()),
                format!("a dense {nr} x {nc} array exceeds {MAX_DENSE_ENTRIES} entries; use get() or csr_values()"),
            ));
        }
        let vals = self.read();
        let mut out = vec![0.0; nr * nc];
        for i in 0..sp.owned_rows() {
            for k in sp.rowptr()[i]..sp.rowptr()[i + 1] {
                let j = sp.colidx()[k] as usize;
                for r in 0..rd {
                    for c in 0..cd {
                        out[(i * rd + r) * nc + j * cd + c] = vals[(k * rd + r) * cd + c];
                    }
                }
            }
        }
        Ok(out)
    }

    /// The value at scalar position (`row`, `col`) of the local matrix (zero outside the
    /// sparsity).
    ///
    /// ```
    /// # let s = op2::Set::new(2).unwrap();
    /// # let m = op2::Map::new(&s, &s, 1, vec![0, 1]).unwrap();
    /// # let ds = op2::DataSet::new(&s, 1).unwrap();
    /// let a = op2::Mat::new(&op2::Sparsity::new(&ds, &ds, &[(m.clone(), m)]).unwrap(), op2::DType::F64).unwrap();
    /// assert_eq!(a.get(1, 0).unwrap(), 0.0);
    /// assert!(a.get(2, 0).is_err());
    /// ```
    pub fn get(&self, row: usize, col: usize) -> Result<f64> {
        let sp = self.sparsity();
        let (rd, cd) = sp.dims();
        if row >= sp.nrows() * rd || col >= sp.ncols() * cd {
            return Err(Error::invalid(
                format!("Mat::get({})", self.name()),
                format!(
                    "({row}, {col}) is outside the {} x {} local matrix",
                    sp.nrows() * rd,
                    sp.ncols() * cd
                ),
            ));
        }
        let (i, r, j, c) = (row / rd, row % rd, col / cd, col % cd);
        Ok(match sp.row(i).binary_search(&(j as u32)) {
            Ok(k) => self.read()[((sp.rowptr()[i] + k) * rd + r) * cd + c],
            Err(_) => 0.0,
        })
    }

    /// `y = A x` on the owned rows: `x` on the column DataSet, `y` on the row DataSet, both f64
    /// and distinct. On a distributed mesh it is collective: `x`'s halo copies are refreshed
    /// if stale, the values of extra columns (see [`Sparsity::ncols`]) come from their owners,
    /// and `y`'s halo copies are stale afterwards.
    pub fn mult(&self, x: &Dat, y: &Dat) -> Result<()> {
        let sp = self.sparsity();
        let what = || {
            format!(
                "Mat::mult({}, x = {}, y = {})",
                self.name(),
                x.name(),
                y.name()
            )
        };
        for (d, ds, side) in [
            (x, sp.col_dataset(), "column"),
            (y, sp.row_dataset(), "row"),
        ] {
            if d.dataset() != ds || d.dtype() != DType::F64 {
                return Err(Error::invalid(
                    what(),
                    format!(
                        "Dat {} ({:?}, {}) must be f64 on the matrix's {side} DataSet {:?}",
                        d.name(),
                        d.dataset(),
                        d.dtype(),
                        ds
                    ),
                ));
            }
        }
        if x.ptr_eq(y) {
            return Err(Error::invalid(what(), "x and y must be different Dats"));
        }
        // Fresh halo copies of x (decided from x's set, so every rank agrees), then the values
        // of extra columns from their owners (every rank takes part on a distributed mesh).
        if x.set().halo().is_some() && !x.halo_valid() {
            crate::data::dat::update_halo(x)?;
        }
        let (rd, cd) = sp.dims();
        let local_cols = sp.col_dataset().set().total_size();
        let xg = x.read();
        let xlocal = dtype::view::<f64>(&xg, local_cols * cd);
        let xv: std::borrow::Cow<[f64]> = match sp.dist() {
            Some(plan) => {
                let extra = plan.import(xlocal, cd)?;
                if extra.is_empty() {
                    xlocal.into()
                } else {
                    let mut all = Vec::with_capacity(sp.ncols() * cd);
                    all.extend_from_slice(xlocal);
                    all.extend_from_slice(&extra);
                    all.into()
                }
            }
            None => xlocal.into(),
        };
        let xv = &xv[..];
        let mut yg = y.write();
        let yv = dtype::view_mut::<f64>(&mut yg, sp.owned_rows() * rd);
        let vals = self.read();
        let (rowptr, colidx) = (sp.rowptr(), sp.colidx());
        if (rd, cd) == (1, 1) {
            yv.par_iter_mut()
                .with_min_len(1024)
                .enumerate()
                .for_each(|(i, yi)| {
                    *yi = (rowptr[i]..rowptr[i + 1])
                        .map(|k| vals[k] * xv[colidx[k] as usize])
                        .sum();
                });
            drop(yg);
            y.mark_halo_stale();
            return Ok(());
        }
        yv.par_chunks_mut(rd)
            .with_min_len(256)
            .enumerate()
            .for_each(|(i, yi)| {
                yi.fill(0.0);
                for k in rowptr[i]..rowptr[i + 1] {
                    let xj = &xv[colidx[k] as usize * cd..][..cd];
                    let blk = &vals[k * rd * cd..][..rd * cd];
                    for (r, yr) in yi.iter_mut().enumerate() {
                        *yr += blk[r * cd..(r + 1) * cd]
                            .iter()
                            .zip(xj)
                            .map(|(a, b)| a * b)
                            .sum::<f64>();
                    }
                }
            });
        drop(yg);
        y.mark_halo_stale();
        Ok(())
    }

    /// Store the diagonal of a square matrix (same row and column DataSet) into `d` (an f64
    /// Dat on that DataSet); diagonal entries outside the sparsity are zero.
    pub fn diagonal(&self, d: &Dat) -> Result<()> {
        let sp = self.sparsity();
        let what = || format!("Mat::diagonal({}, {})", self.name(), d.name());
        if sp.row_dataset() != sp.col_dataset() {
            return Err(Error::invalid(
                what(),
                "the matrix is not square (row and column DataSets differ)",
            ));
        }
        if d.dataset() != sp.row_dataset() || d.dtype() != DType::F64 {
            return Err(Error::invalid(
                what(),
                format!("the Dat must be f64 on {:?}", sp.row_dataset()),
            ));
        }
        let rd = sp.dims().0;
        let vals = self.read();
        let mut dg = d.write();
        let dv = dtype::view_mut::<f64>(&mut dg, sp.owned_rows() * rd);
        dv.par_chunks_mut(rd).enumerate().for_each(|(i, di)| {
            let found = sp.row(i).binary_search(&(i as u32)).ok();
            for (r, v) in di.iter_mut().enumerate() {
                *v = found.map_or(0.0, |k| vals[((sp.rowptr()[i] + k) * rd + r) * rd + r]);
            }
        });
        drop(dg);
        d.mark_halo_stale();
        Ok(())
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Vec<f64>> {
        self.0.values.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Vec<f64>> {
        self.0.values.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Mat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Mat({}#{}: {:?})",
            self.0.name, self.0.id, self.0.sparsity
        )
    }
}

/// A matrix gathered on one rank in global numbering (see [`Mat::gather`]): block CSR over
/// the row set's global elements, with global column ids sorted within each row.
#[derive(Clone, Debug, PartialEq)]
pub struct GatheredMat {
    /// Global block rows (the row set's global size).
    pub nrows: usize,
    /// Global block columns (the column set's global size).
    pub ncols: usize,
    /// Block dims (rdim, cdim).
    pub dims: (usize, usize),
    /// `nrows + 1` row pointers into `colidx`.
    pub rowptr: Vec<usize>,
    /// Global block columns, increasing within each row.
    pub colidx: Vec<u64>,
    /// `rdim * cdim` values per block, row-major within the block.
    pub values: Vec<f64>,
}

impl GatheredMat {
    /// The block columns of global block row `i`.
    ///
    /// ```
    /// let g = op2::GatheredMat { nrows: 1, ncols: 2, dims: (1, 1), rowptr: vec![0, 1],
    ///     colidx: vec![1], values: vec![2.5] };
    /// assert_eq!(g.row(0), &[1]);
    /// ```
    pub fn row(&self, i: usize) -> &[u64] {
        &self.colidx[self.rowptr[i]..self.rowptr[i + 1]]
    }
}

impl Mat {
    /// The whole matrix on rank `root` (`None` on the other ranks): every rank's owned rows, in
    /// the global numbering of the row and column sets (for sets built per rank with
    /// [`crate::Set::new`], the ranks' elements in rank order, as [`crate::Dat::gather`] does). Collective.
    /// For checks and small matrices: everything travels to one rank.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
    /// # use op2::{Access, DType, DataSet, Kernel, Map, Mat, Set, Sparsity};
    /// let edges = Set::new(2).unwrap();
    /// let nodes = Set::new(3).unwrap();
    /// let e2n = Map::new(&edges, &nodes, 2, vec![0, 1, 1, 2]).unwrap();
    /// let ds = DataSet::new(&nodes, 1).unwrap();
    /// let a = Mat::new(&Sparsity::new(&ds, &ds, &[(e2n.clone(), e2n.clone())]).unwrap(), DType::F64).unwrap();
    /// let k = Kernel::new("lap", "void lap(double *A) { A[0] = 1; A[1] = -1; A[2] = -1; A[3] = 1; }").unwrap();
    /// op2::par_loop(&k, &edges, &[a.arg(Access::Inc, (&e2n, &e2n))]).unwrap();
    /// let g = a.gather(0).unwrap().unwrap();
    /// assert_eq!((g.nrows, g.ncols), (3, 3));
    /// assert_eq!(g.row(1), &[0, 1, 2]);
    /// assert_eq!(&g.values[g.rowptr[1]..g.rowptr[2]], &[-1.0, 2.0, -1.0]);
    /// ```
    pub fn gather(&self, root: i32) -> Result<Option<GatheredMat>> {
        let what = format!("Mat::gather({})", self.name());
        let sp = self.sparsity();
        let comm = sp.row_dataset().set().comm();
        if root < 0 || root >= comm.size() {
            return Err(Error::invalid(
                &what,
                format!(
                    "root {root} is not a rank of a {}-rank communicator",
                    comm.size()
                ),
            ));
        }
        let (rd, cd) = sp.dims();
        let bs = rd * cd;
        let (row_gids, col_gids): (std::borrow::Cow<[u64]>, std::borrow::Cow<[u64]>) =
            match sp.dist() {
                Some(d) => (d.row_gids[..].into(), d.col_gids[..].into()),
                None => (
                    crate::linalg::matdist::global_ids(sp.row_dataset().set())?.into(),
                    crate::linalg::matdist::global_ids(sp.col_dataset().set())?.into(),
                ),
            };
        let payload = self.pack_owned_rows(&row_gids, &col_gids);
        let total = comm.allreduce_u64(payload.len() as u64, crate::ReduceOp::Sum)?;
        if total > i32::MAX as u64 {
            return Err(Error::invalid(
                &what,
                format!(
                    "{total} bytes exceed what one gather can move ({})",
                    i32::MAX
                ),
            ));
        }
        let Some(all) = comm.gather_bytes(root, &payload)? else {
            return Ok(None);
        };
        let (nrows, ncols) = (
            sp.row_dataset().set().global_size(),
            sp.col_dataset().set().global_size(),
        );
        let corrupt = |r: usize, d: String| Error::Mpi(format!("{what}: from rank {r}: {d}"));
        let (entries, vals) = unpack_rows(&all, (nrows, ncols), bs, &corrupt)?;
        gathered_csr(entries, vals, (nrows, ncols), (rd, cd), &corrupt).map(Some)
    }

    /// Per owned row: gid, count, count column gids, count * bs values (native endian).
    fn pack_owned_rows(&self, row_gids: &[u64], col_gids: &[u64]) -> Vec<u8> {
        let sp = self.sparsity();
        let bs = sp.dims().0 * sp.dims().1;
        let mut payload: Vec<u8> = Vec::new();
        let vals = self.read();
        for (i, gid) in row_gids.iter().enumerate().take(sp.owned_rows()) {
            let (lo, hi) = (sp.rowptr()[i], sp.rowptr()[i + 1]);
            payload.extend_from_slice(&gid.to_ne_bytes());
            payload.extend_from_slice(&((hi - lo) as u64).to_ne_bytes());
            for &c in &sp.colidx()[lo..hi] {
                payload.extend_from_slice(&col_gids[c as usize].to_ne_bytes());
            }
            payload.extend_from_slice(bytemuck::cast_slice(&vals[lo * bs..hi * bs]));
        }
        payload
    }
}

/// [`Mat::gather`]'s root: every rank's packed rows as (row, col, offset of the block's values
/// in the returned values) entries, each row once and every index in range.
fn unpack_rows(
    all: &[Vec<u8>],
    (nrows, ncols): (usize, usize),
    bs: usize,
    corrupt: &dyn Fn(usize, String) -> Error,
) -> Result<(Vec<(u64, u64, usize)>, Vec<f64>)> {
    let mut entries: Vec<(u64, u64, usize)> = Vec::new();
    let mut vals: Vec<f64> = Vec::new();
    let mut seen = vec![false; nrows];
    for (r, b) in all.iter().enumerate() {
        let word = |at: usize| -> Result<u64> {
            b.get(at..at + 8)
                .map(bytemuck::pod_read_unaligned::<u64>)
                .ok_or_else(|| corrupt(r, "truncated".into()))
        };
        let mut at = 0;
        while at < b.len() {
            let (row, n) = (word(at)?, word(at + 8)? as usize);
            if row as usize >= nrows || seen[row as usize] {
                return Err(corrupt(r, format!("row {row} out of range or repeated")));
            }
            seen[row as usize] = true;
            at += 16;
            let vat = at + 8 * n;
            if b.len() < vat + 8 * n * bs {
                return Err(corrupt(r, "truncated".into()));
            }
            for k in 0..n {
                let col = word(at + 8 * k)?;
                if col as usize >= ncols {
                    return Err(corrupt(r, format!("column {col} out of range")));
                }
                entries.push((row, col, vals.len()));
                vals.extend(
                    b[vat + 8 * k * bs..vat + 8 * (k + 1) * bs]
                        .chunks_exact(8)
                        .map(bytemuck::pod_read_unaligned::<f64>),
                );
            }
            at = vat + 8 * n * bs;
        }
    }
    if let Some(g) = seen.iter().position(|&s| !s) {
        return Err(corrupt(0, format!("no rank owns row {g}")));
    }
    Ok((entries, vals))
}

/// [`Mat::gather`]'s root: the entries sorted into a CSR matrix (an error for a block given
/// twice).
fn gathered_csr(
    mut entries: Vec<(u64, u64, usize)>,
    vals: Vec<f64>,
    (nrows, ncols): (usize, usize),
    (rd, cd): (usize, usize),
    corrupt: &dyn Fn(usize, String) -> Error,
) -> Result<GatheredMat> {
    let bs = rd * cd;
    entries.sort_unstable();
    if let Some(w) = entries
        .windows(2)
        .find(|w| (w[0].0, w[0].1) == (w[1].0, w[1].1))
    {
        return Err(corrupt(0, format!("block ({}, {}) twice", w[0].0, w[0].1)));
    }
    let mut rowptr = vec![0usize; nrows + 1];
    for &(row, _, _) in &entries {
        rowptr[row as usize + 1] += 1;
    }
    for i in 0..nrows {
        rowptr[i + 1] += rowptr[i];
    }
    let mut values = Vec::with_capacity(vals.len());
    for &(_, _, off) in &entries {
        values.extend_from_slice(&vals[off..off + bs]);
    }
    Ok(GatheredMat {
        nrows,
        ncols,
        dims: (rd, cd),
        rowptr,
        colidx: entries.into_iter().map(|(_, c, _)| c).collect(),
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::DataSet;
    use crate::data::map::Map;
    use crate::data::set::Set;
    use crate::mpi::comm::Comm;

    #[test]
    fn sets_with_halo_elements_but_no_exchange_plan_are_refused() {
        let cells = Set::new(2).unwrap();
        let nodes = Set::from_parts("nodes", Comm::serial(), 3, 3, 5, None, None, 3);
        let m = Map::new(&cells, &nodes, 2, vec![0, 4, 1, 3]).unwrap();
        let ds = DataSet::new(&nodes, 1).unwrap();
        let e = Sparsity::new(&ds, &ds, &[(m.clone(), m)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2 halo elements") && e.contains("no halo exchange plan"),
            "{e}"
        );
    }
}
