//! Mats: matrix values on a Sparsity, assembled by par_loop, with mat-vec and diagonal.
//!
//! Owns the values of a block CSR matrix (laid out as the Sparsity's blocks, each block
//! `rdim x cdim` row-major) and the operations on them: zeroing, reading, `y = A x` and the
//! diagonal. Assembly happens in generated code: [`Mat::arg`] hands par_loop a [`crate::Arg`]
//! that gives the kernel a zeroed dense element matrix and adds (INC) or stores (WRITE) it into
//! the CSR values through the Sparsity's position table (see `codegen.rs`). This module never
//! generates code and never communicates.
//!
//! TODO(mpi): contributions to rows owned by other ranks (halo rows) must be sent to their
//! owners after assembly, and `mult` needs fresh halo values of `x`; until the distributed sets
//! land, assembling through maps into sets with halo elements and multiplying with halo columns
//! are refused with an error instead of computing something wrong.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rayon::prelude::*;

use crate::access::Access;
use crate::cache::key::ArgShape;
use crate::cache::object::next_id;
use crate::dat::Dat;
use crate::dtype::{self, DType};
use crate::error::{Error, Result};
use crate::map::Map;
use crate::parloop::Arg;
use crate::set::Set;
use crate::sparsity::Sparsity;

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
/// # std::env::set_var("OP2_CACHE_DIR", dir.path());
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

    /// Set every stored value to zero (the structure is kept).
    pub fn zero(&self) {
        self.write().par_iter_mut().for_each(|v| *v = 0.0);
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
    /// and distinct.
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
        // TODO(mpi): refresh x's halo copies (forward exchange) before multiplying.
        refuse_halo(sp.col_dataset().set(), &what)?;
        let (rd, cd) = sp.dims();
        let xg = x.read();
        let xv = dtype::view::<f64>(&xg, sp.ncols() * cd);
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

    /// Assemble into this Mat in a par_loop through the map pair `maps` = (row map, column
    /// map), which must be one of its Sparsity's pairs. The kernel receives a `double *` to a
    /// zeroed dense element matrix `A[arity_r * rdim][arity_c * cdim]` (row `i * rdim + r` is
    /// component `r` of row-map entry `i`); after the call it is added into the matrix (INC) or
    /// stored over the touched entries (WRITE).
    ///
    /// ```
    /// # let s = op2::Set::new(1).unwrap();
    /// # let m = op2::Map::new(&s, &s, 1, vec![0]).unwrap();
    /// # let ds = op2::DataSet::new(&s, 1).unwrap();
    /// let a = op2::Mat::new(&op2::Sparsity::new(&ds, &ds, &[(m.clone(), m.clone())]).unwrap(), op2::DType::F64).unwrap();
    /// let arg = a.arg(op2::Access::Inc, (&m, &m));
    /// # let _ = arg;
    /// ```
    pub fn arg(&self, access: Access, maps: (&Map, &Map)) -> Arg {
        Arg::mat(self.clone(), maps.0.clone(), maps.1.clone(), access)
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

fn refuse_halo(set: &Set, what: &dyn Fn() -> String) -> Result<()> {
    if set.total_size() != set.size() {
        return Err(Error::invalid(
            what(),
            format!(
                "set {} has {} halo elements: Mats over distributed sets are not implemented yet \
                 (contributions to rows owned by other ranks must be sent to their owners)",
                set.name(),
                set.total_size() - set.size()
            ),
        ));
    }
    Ok(())
}

/// Validate a Mat argument of a loop over `set` and derive its shape (the key metadata).
pub(crate) fn arg_shape(
    what: &dyn Fn() -> String,
    i: usize,
    set: &Set,
    mat: &Mat,
    rmap: &Map,
    cmap: &Map,
    access: Access,
) -> Result<ArgShape> {
    let ctx = || format!("{} argument {i} (Mat {})", what(), mat.name());
    if !matches!(access, Access::Inc | Access::Write) {
        return Err(Error::invalid(
            ctx(),
            format!("Mats take INC or WRITE, not {}", access.name()),
        ));
    }
    for m in [rmap, cmap] {
        if m.from_set() != set {
            return Err(Error::invalid(
                ctx(),
                format!(
                    "map {} starts from set {}, not the iteration set",
                    m.name(),
                    m.from_set().name()
                ),
            ));
        }
    }
    if mat.sparsity().pair_index(rmap, cmap).is_none() {
        return Err(Error::invalid(
            ctx(),
            format!(
                "the map pair ({}, {}) is not one of the pairs of the Mat's sparsity",
                rmap.name(),
                cmap.name()
            ),
        ));
    }
    // TODO(mpi): assemble into halo rows, then send them to their owners.
    refuse_halo(rmap.to_set(), &ctx)?;
    refuse_halo(cmap.to_set(), &ctx)?;
    let (rd, cd) = mat.sparsity().dims();
    let u = |v: usize| u32::try_from(v).map_err(|_| Error::invalid(ctx(), "dims too large"));
    Ok(ArgShape::Mat {
        access,
        dims: (u(rd)?, u(cd)?),
        arities: (u(rmap.arity())?, u(cmap.arity())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::Comm;
    use crate::dataset::DataSet;
    use crate::kernel::Kernel;

    #[test]
    fn maps_into_sets_with_halos_are_refused_not_miscomputed() {
        let cells = Set::new(2).unwrap();
        let nodes = Set::from_parts("nodes", Comm::serial(), 3, 3, 5, None, None, 3);
        let m = Map::new(&cells, &nodes, 2, vec![0, 4, 1, 3]).unwrap();
        let ds = DataSet::new(&nodes, 1).unwrap();
        let sp = Sparsity::new(&ds, &ds, &[(m.clone(), m.clone())]).unwrap();
        let a = Mat::new(&sp, DType::F64).unwrap();
        let k = Kernel::new("k", "void k(double *A) {}").unwrap();
        // Refused during validation, before any code is generated or compiled.
        let e = crate::par_loop(&k, &cells, &[a.arg(Access::Inc, (&m, &m))])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2 halo elements") && e.contains("not implemented"),
            "{e}"
        );
        let (x, y) = (Dat::zeros(&ds, DType::F64), Dat::zeros(&ds, DType::F64));
        let e = a.mult(&x, &y).unwrap_err().to_string();
        assert!(e.contains("not implemented"), "{e}");
    }
}
