//! Sparsities: the non-zero structure of a matrix assembled through pairs of maps, built once
//! per identity.
//!
//! Owns the block CSR structure (row pointers, sorted unique column indices per block row), the
//! per-owned-row diagonal/off-diagonal counts that MPI matrix preallocation needs (a square
//! Sparsity over one DataSet reserves every owned row's diagonal; negative map entries are
//! skipped), and the
//! per-element position tables that let generated code add an element matrix into the CSR
//! without searching. A Sparsity is cached on its row set through the object cache
//! (`cache/object.rs`): its key is made of identities (row/col DataSet ids, the map-pair ids as
//! a sorted list) and block dims, never of map contents. It never holds values (see `mat.rs`).
//!
//! # Local numbering and MPI
//! Rows are the local elements of the row set (owned then halo). Rows `[0, owned_rows())` are
//! owned; halo rows hold the pattern of the contributions this rank's owned elements make to
//! rows owned elsewhere. On a distributed mesh (sets from [`crate::distribute()`] on more than
//! one rank) the build is collective: every rank sends its halo rows' patterns to their owners,
//! which merge them, so an owned row holds every non-zero of the global row (see `matdist.rs`).
//! Columns are local too: `[0, col set total_size())` are the column set's elements (owned,
//! then halo), then come the *extra columns* that only merged rows reach (elements this rank
//! neither owns nor holds a halo copy of). [`Sparsity::col_global_ids`] gives every local
//! column's global id (PETSc's global column numbers). For owned rows a column `< col set
//! size()` is owned here (a *diagonal-block* non-zero in PETSc's MPIAIJ sense); halo and extra
//! columns are *off-diagonal-block* non-zeros.
//!
//! # Lifetime
//! As for DataSets: the entry lives in its row set's object cache; a [`Sparsity`] handle holds
//! the entry, its DataSets (hence the owner set) and its maps. An entry built from maps that
//! were later dropped stays in the set's cache until the set is freed (as in PyOP2).

use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use crate::cache::object::{next_id, Entry};
use crate::cache::stats;
use crate::data::dataset::DataSet;
use crate::data::map::Map;
use crate::error::{Error, Result};
use crate::linalg::matdist::{self, SparsityPlan};

/// Cache name of Sparsities in reports.
pub const CACHE_NAME: &str = "object:Sparsity";

/// Block positions of one map pair: `arity_r * arity_c` CSR block indices per element, row-major.
pub(crate) struct PosTable {
    pub(crate) table: Vec<i32>,
}

impl Drop for PosTable {
    fn drop(&mut self) {
        let bytes = (self.table.len() * 4) as u64;
        stats::update(CACHE_NAME, |c| c.bytes -= bytes);
    }
}

pub(crate) struct SparsityInner {
    id: u64,
    dims: (usize, usize),
    nrows: usize,
    ncols: usize,
    owned_rows: usize,
    rowptr: Vec<usize>,
    colidx: Vec<u32>,
    nnz_diag: Vec<u32>,
    nnz_offdiag: Vec<u32>,
    /// One lazily built position table per map pair (canonical order).
    positions: Vec<OnceLock<Arc<PosTable>>>,
    /// The communication plan, on a distributed mesh.
    dist: Option<SparsityPlan>,
}

/// The non-zero structure of a matrix from `row_ds` to `col_ds`, assembled through one or more
/// (row map, column map) pairs: entry (i, j) is non-zero iff some element `e` of a pair's
/// iteration set has `i` among its row-map entries and `j` among its column-map entries
/// (negative map entries, "no entry", are skipped), or, when the row and column DataSets are
/// the same object, `i == j` for an owned row `i`: a square Sparsity reserves its diagonal
/// (PETSc's and PyOP2's convention; `Mat::add_diagonal` and Dirichlet rows rely on it).
///
/// ```
/// let cells = op2::Set::new(2).unwrap();
/// let nodes = op2::Set::new(4).unwrap();
/// let c2n = op2::Map::new(&cells, &nodes, 3, vec![0, 1, 2, 1, 3, 2]).unwrap();
/// let ds = op2::DataSet::new(&nodes, 1).unwrap();
/// let sp = op2::Sparsity::new(&ds, &ds, &[(c2n.clone(), c2n.clone())]).unwrap();
/// assert_eq!(sp.row(0), &[0, 1, 2]);
/// assert_eq!(sp.row(1), &[0, 1, 2, 3]);
/// assert_eq!(sp.nnz(), 14);
/// // Node 3 of another DataSet's square Sparsity: only its diagonal (the map never reaches it).
/// let c0 = op2::Map::new(&cells, &nodes, 1, vec![0, -1]).unwrap(); // cell 1: no entry
/// let diag = op2::Sparsity::new(&ds, &ds, &[(c0.clone(), c0)]).unwrap();
/// assert_eq!(diag.nnz_diag(), &[1, 1, 1, 1]);
/// // Built once per identity: the same arguments give the same object.
/// assert!(sp.ptr_eq(&op2::Sparsity::new(&ds, &ds, &[(c2n.clone(), c2n)]).unwrap()));
/// ```
#[derive(Clone)]
pub struct Sparsity {
    inner: Arc<Entry<SparsityInner>>,
    row_ds: DataSet,
    col_ds: DataSet,
    pairs: Arc<[(Map, Map)]>,
}

impl Sparsity {
    /// The sparsity of the matrix from `row_ds` to `col_ds` assembled through `map_pairs`
    /// (each pair: a row map into `row_ds`'s set and a column map into `col_ds`'s set, from the
    /// same iteration set). Pairs are a set: their order and repetitions do not matter. When
    /// `row_ds` and `col_ds` are the same DataSet every owned row also holds its diagonal, and
    /// `map_pairs` may be empty (a diagonal-only Sparsity, as a mixed Sparsity's diagonal block
    /// without maps); otherwise at least one pair is required.
    pub fn new(row_ds: &DataSet, col_ds: &DataSet, map_pairs: &[(Map, Map)]) -> Result<Sparsity> {
        let what = || {
            format!(
                "Sparsity::new({} x {})",
                row_ds.set().name(),
                col_ds.set().name()
            )
        };
        if map_pairs.is_empty() && row_ds.id() != col_ds.id() {
            return Err(Error::invalid(
                what(),
                "at least one map pair is required (only a square Sparsity over one DataSet \
                 may have none: its diagonal)",
            ));
        }
        for (k, (r, c)) in map_pairs.iter().enumerate() {
            if r.from_set() != c.from_set() {
                return Err(Error::invalid(
                    what(),
                    format!(
                        "pair {k}: row map {} starts from set {} but column map {} from set {}",
                        r.name(),
                        r.from_set().name(),
                        c.name(),
                        c.from_set().name()
                    ),
                ));
            }
            for (m, ds, side) in [(r, row_ds, "row"), (c, col_ds, "column")] {
                if m.to_set() != ds.set() {
                    return Err(Error::invalid(
                        what(),
                        format!(
                            "pair {k}: {side} map {} targets set {}, not the {side} DataSet's set {}",
                            m.name(),
                            m.to_set().name(),
                            ds.set().name()
                        ),
                    ));
                }
            }
        }
        // Canonical pair list: sorted by identity, repetitions removed.
        let mut pairs: Vec<(Map, Map)> = map_pairs.to_vec();
        pairs.sort_by_key(|(r, c)| (r.id(), c.id()));
        pairs.dedup_by(|a, b| a.0.ptr_eq(&b.0) && a.1.ptr_eq(&b.1));
        let mut key = vec![
            row_ds.id(),
            col_ds.id(),
            row_ds.dim() as u64,
            col_ds.dim() as u64,
            pairs.len() as u64,
        ];
        key.extend(pairs.iter().flat_map(|(r, c)| [r.id(), c.id()]));
        let inner = row_ds
            .set()
            .cache()
            .get_or_try_insert(CACHE_NAME, key, |_| {
                let sp = build(&what(), row_ds, col_ds, &pairs)?;
                let bytes = (sp.rowptr.len() * 8
                    + sp.colidx.len() * 4
                    + (sp.nnz_diag.len() + sp.nnz_offdiag.len()) * 4)
                    as u64
                    + sp.dist.as_ref().map_or(0, |d| d.bytes());
                Ok((sp, bytes))
            })?;
        Ok(Sparsity {
            inner,
            row_ds: row_ds.clone(),
            col_ds: col_ds.clone(),
            pairs: pairs.into(),
        })
    }

    /// The row DataSet.
    pub fn row_dataset(&self) -> &DataSet {
        &self.row_ds
    }
    /// The column DataSet.
    pub fn col_dataset(&self) -> &DataSet {
        &self.col_ds
    }
    /// The map pairs, in canonical order (sorted by identity, without repetitions).
    pub fn map_pairs(&self) -> &[(Map, Map)] {
        &self.pairs
    }
    /// Block dims: (row DataSet dim, column DataSet dim).
    pub fn dims(&self) -> (usize, usize) {
        self.inner.dims
    }
    /// Local block rows: owned plus halo elements of the row set.
    pub fn nrows(&self) -> usize {
        self.inner.nrows
    }
    /// Local block columns: owned plus halo elements of the column set, then (on a distributed
    /// mesh) the extra columns that other ranks' contributions added to owned rows.
    pub fn ncols(&self) -> usize {
        self.inner.ncols
    }
    /// Block rows owned by this rank (`[0, owned_rows())`).
    pub fn owned_rows(&self) -> usize {
        self.inner.owned_rows
    }
    /// Block row pointers (`nrows() + 1` entries): row `i`'s columns are
    /// `colidx()[rowptr()[i]..rowptr()[i + 1]]`.
    pub fn rowptr(&self) -> &[usize] {
        &self.inner.rowptr
    }
    /// Block column indices, sorted and unique within each row.
    pub fn colidx(&self) -> &[u32] {
        &self.inner.colidx
    }
    /// The sorted block columns of block row `i` (panics if `i >= nrows()`, like slice indexing).
    pub fn row(&self, i: usize) -> &[u32] {
        &self.inner.colidx[self.inner.rowptr[i]..self.inner.rowptr[i + 1]]
    }
    /// Number of non-zero blocks.
    pub fn block_nnz(&self) -> usize {
        self.inner.colidx.len()
    }
    /// Number of scalar non-zeros: `block_nnz() * rdim * cdim`.
    pub fn nnz(&self) -> usize {
        self.block_nnz() * self.inner.dims.0 * self.inner.dims.1
    }
    /// Per owned block row, the non-zero blocks in columns owned by this rank (PETSc's `d_nnz`
    /// for block matrices; a scalar AIJ matrix has `cdim` times as many in each of the `rdim`
    /// scalar rows).
    pub fn nnz_diag(&self) -> &[u32] {
        &self.inner.nnz_diag
    }
    /// Per owned block row, the non-zero blocks in columns owned by other ranks (halo and extra
    /// columns; PETSc's `o_nnz`).
    pub fn nnz_offdiag(&self) -> &[u32] {
        &self.inner.nnz_offdiag
    }
    /// The global id of every local block column (`ncols()` entries) when the Sparsity was
    /// built on a distributed mesh; `None` when local columns are the column set's own
    /// numbering (one rank, or sets built with [`crate::Set::new`] on each rank).
    ///
    /// ```
    /// # let s = op2::Set::new(2).unwrap();
    /// # let m = op2::Map::new(&s, &s, 1, vec![0, 1]).unwrap();
    /// # let ds = op2::DataSet::new(&s, 1).unwrap();
    /// let sp = op2::Sparsity::new(&ds, &ds, &[(m.clone(), m)]).unwrap();
    /// assert!(sp.col_global_ids().is_none()); // serial: local columns are global
    /// ```
    pub fn col_global_ids(&self) -> Option<&[u64]> {
        self.inner.dist.as_ref().map(|d| &d.col_gids[..])
    }
    /// Process-unique identity.
    pub fn id(&self) -> u64 {
        self.inner.id
    }
    /// Identity comparison (`sp is sp2`).
    pub fn ptr_eq(&self, other: &Sparsity) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
    /// A weak handle, to observe that the cached object is freed.
    pub fn downgrade(&self) -> WeakSparsity {
        WeakSparsity(Arc::downgrade(&self.inner))
    }

    /// The communication plan, on a distributed mesh.
    pub(crate) fn dist(&self) -> Option<&SparsityPlan> {
        self.inner.dist.as_ref()
    }

    /// Index of the first block of the first halo row (blocks from here on are halo rows').
    pub(crate) fn halo_block_start(&self) -> usize {
        self.inner.rowptr[self.inner.owned_rows]
    }

    /// Index of the pair `(rmap, cmap)` among [`Sparsity::map_pairs`].
    pub(crate) fn pair_index(&self, rmap: &Map, cmap: &Map) -> Option<usize> {
        self.pairs
            .iter()
            .position(|(r, c)| r.ptr_eq(rmap) && c.ptr_eq(cmap))
    }

    /// The position table of pair `k` (built on first use, then kept with the entry).
    pub(crate) fn positions(&self, k: usize) -> Arc<PosTable> {
        self.inner.positions[k]
            .get_or_init(|| {
                let (r, c) = &self.pairs[k];
                let table = position_table(&self.inner, r, c);
                let bytes = (table.len() * 4) as u64;
                stats::update(CACHE_NAME, |s| s.bytes += bytes);
                Arc::new(PosTable { table })
            })
            .clone()
    }
}

impl PartialEq for Sparsity {
    fn eq(&self, other: &Sparsity) -> bool {
        self.ptr_eq(other)
    }
}
impl Eq for Sparsity {}

impl std::fmt::Debug for Sparsity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sparsity#{}({:?} x {:?}, {} pair(s), {} block nnz)",
            self.inner.id,
            self.row_ds,
            self.col_ds,
            self.pairs.len(),
            self.block_nnz()
        )
    }
}

/// Weak reference to a Sparsity's cached object.
pub struct WeakSparsity(std::sync::Weak<Entry<SparsityInner>>);

impl WeakSparsity {
    /// True while the cached object is alive.
    pub fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// Rows per parallel task when building rows.
const ROW_CHUNK: usize = 4096;

/// Row -> (pair, element) adjacency of this rank's owned iteration elements, by counting sort
/// (no per-row allocation).
struct Adjacency<'a> {
    start: Vec<usize>,
    adj: Vec<u64>,
    cmaps: Vec<(&'a [i32], usize)>,
}

impl<'a> Adjacency<'a> {
    fn new(nrows: usize, pairs: &'a [(Map, Map)]) -> Self {
        let mut start = vec![0usize; nrows + 1];
        for (r, _) in pairs {
            let rv = &r.values()[..r.from_set().size() * r.arity()];
            for &v in rv.iter().filter(|&&v| v >= 0) {
                start[v as usize + 1] += 1;
            }
        }
        for i in 0..nrows {
            start[i + 1] += start[i];
        }
        let mut adj = vec![0u64; start[nrows]];
        let mut fill = start.clone();
        for (p, (r, _)) in pairs.iter().enumerate() {
            let ar = r.arity();
            let rv = &r.values()[..r.from_set().size() * ar];
            for (k, &v) in rv.iter().enumerate().filter(|(_, &v)| v >= 0) {
                let slot = &mut fill[v as usize];
                adj[*slot] = (p as u64) << 32 | (k / ar) as u64;
                *slot += 1;
            }
        }
        let cmaps = pairs.iter().map(|(_, c)| (c.values(), c.arity())).collect();
        Adjacency { start, adj, cmaps }
    }

    /// Append the (unsorted, repeated) columns of row `i` to `buf`.
    fn extend(&self, i: usize, buf: &mut Vec<u32>) {
        for &a in &self.adj[self.start[i]..self.start[i + 1]] {
            let (cv, ac) = self.cmaps[(a >> 32) as usize];
            let e = (a & 0xffff_ffff) as usize;
            // A negative column entry is "no entry" (skipped, as PETSc's MatSetValues does).
            let cols = cv[e * ac..(e + 1) * ac].iter().filter(|&&c| c >= 0);
            buf.extend(cols.map(|&c| c as u32));
        }
    }

    /// Replace `buf` with the sorted unique columns of row `i`.
    fn row(&self, i: usize, buf: &mut Vec<u32>) {
        buf.clear();
        self.extend(i, buf);
        buf.sort_unstable();
        buf.dedup();
    }
}

/// Build the block CSR structure (and, on a distributed mesh, merge halo rows into their
/// owners' rows: collective, see `matdist`).
fn build(
    what: &str,
    row_ds: &DataSet,
    col_ds: &DataSet,
    pairs: &[(Map, Map)],
) -> Result<SparsityInner> {
    let (row_set, col_set) = (row_ds.set(), col_ds.set());
    let nrows = row_set.total_size();
    let owned_rows = row_set.size();
    let owned_cols = col_set.size() as u32;
    // PETSc's convention: a square Sparsity over one DataSet reserves every owned row's
    // diagonal (local row i is local column i; an owned row's diagonal column is owned).
    let diagonal = row_ds.id() == col_ds.id();
    let adjacency = Adjacency::new(nrows, pairs);
    let merge = if matdist::needed(what, row_set, col_set)? {
        Some(matdist::merge(what, row_set, col_set, &|i, buf| {
            adjacency.row(i, buf)
        })?)
    } else {
        None
    };
    let extra = merge.as_ref().map(|m| &m.extra_rows);

    // Per row, in parallel over chunks of rows: gather the columns of every adjacent element
    // (and, for owned rows, those received from other ranks), sort, deduplicate.
    struct Chunk {
        counts: Vec<u32>,
        diag: Vec<u32>,
        cols: Vec<u32>,
    }
    let chunks: Vec<Chunk> = (0..nrows.div_ceil(ROW_CHUNK))
        .into_par_iter()
        .map(|ci| {
            let rows = ci * ROW_CHUNK..((ci + 1) * ROW_CHUNK).min(nrows);
            let mut out = Chunk {
                counts: Vec::with_capacity(rows.len()),
                diag: Vec::with_capacity(rows.len()),
                cols: Vec::new(),
            };
            let mut buf: Vec<u32> = Vec::new();
            for i in rows {
                buf.clear();
                adjacency.extend(i, &mut buf);
                if let Some(x) = extra.filter(|_| i < owned_rows) {
                    buf.extend_from_slice(x.row(i));
                }
                if diagonal && i < owned_rows {
                    buf.push(i as u32);
                }
                buf.sort_unstable();
                buf.dedup();
                out.counts.push(buf.len() as u32);
                out.diag
                    .push(buf.partition_point(|&c| c < owned_cols) as u32);
                out.cols.extend_from_slice(&buf);
            }
            out
        })
        .collect();
    drop(adjacency);

    let total: usize = chunks.iter().map(|c| c.cols.len()).sum();
    let fits = if total > i32::MAX as usize {
        Err(Error::invalid(
            what,
            format!("{total} non-zero blocks exceed the i32 range of generated code"),
        ))
    } else {
        Ok(())
    };
    let mut rowptr = Vec::with_capacity(nrows + 1);
    let mut colidx = Vec::with_capacity(if fits.is_ok() { total } else { 0 });
    let mut nnz_diag = Vec::with_capacity(owned_rows);
    let mut nnz_offdiag = Vec::with_capacity(owned_rows);
    if fits.is_ok() {
        rowptr.push(0);
        for c in &chunks {
            for (&n, &d) in c.counts.iter().zip(&c.diag) {
                rowptr.push(rowptr.last().copied().unwrap_or(0) + n as usize);
                if nnz_diag.len() < owned_rows {
                    nnz_diag.push(d);
                    nnz_offdiag.push(n - d);
                }
            }
            colidx.extend_from_slice(&c.cols);
        }
    }
    drop(chunks);
    let (dist, ncols) = match merge {
        Some(m) => {
            let ncols = m.ncols();
            (Some(m.finish(fits, &rowptr, &colidx)?), ncols)
        }
        None => {
            fits?;
            (None, col_set.total_size())
        }
    };
    Ok(SparsityInner {
        id: next_id(),
        dims: (row_ds.dim(), col_ds.dim()),
        nrows,
        ncols,
        owned_rows,
        rowptr,
        colidx,
        nnz_diag,
        nnz_offdiag,
        positions: pairs.iter().map(|_| OnceLock::new()).collect(),
        dist,
    })
}

/// For every owned element of the pair's iteration set and every (i, j) of its element matrix,
/// the index of block (rmap[e][i], cmap[e][j]) in the CSR arrays, or -1 where either entry is
/// negative (the generated code adds nothing there).
fn position_table(sp: &SparsityInner, rmap: &Map, cmap: &Map) -> Vec<i32> {
    let (ar, ac) = (rmap.arity(), cmap.arity());
    let n = rmap.from_set().size();
    let (rv, cv) = (rmap.values(), cmap.values());
    let mut table = vec![0i32; n * ar * ac];
    table
        .par_chunks_mut(ar * ac)
        .enumerate()
        .for_each(|(e, t)| {
            for i in 0..ar {
                let row = rv[e * ar + i];
                if row < 0 {
                    t[i * ac..(i + 1) * ac].fill(-1);
                    continue;
                }
                let (lo, hi) = (sp.rowptr[row as usize], sp.rowptr[row as usize + 1]);
                let cols = &sp.colidx[lo..hi];
                for j in 0..ac {
                    let c = cv[e * ac + j];
                    if c < 0 {
                        t[i * ac + j] = -1;
                        continue;
                    }
                    let c = c as u32;
                    // Invariant of `build`: every (row, col) an element reaches is in the row.
                    let k = cols
                        .binary_search(&c)
                        .expect("element entry is in the sparsity");
                    t[i * ac + j] = (lo + k) as i32;
                }
            }
        });
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::set::Set;
    use crate::mpi::comm::Comm;

    /// A set of `owned` elements plus `halo` halo copies, with an empty exchange plan on a
    /// serial communicator: structure only (nothing is merged or exchanged).
    fn with_halo(name: &str, owned: usize, halo: usize) -> Set {
        Set::from_parts(
            name,
            Comm::serial(),
            owned,
            owned,
            owned + halo,
            Some(Arc::new(crate::mpi::halo::Halo::default())),
            None,
            owned,
        )
    }

    #[test]
    fn halo_columns_count_as_off_diagonal_and_halo_rows_are_not_owned() {
        // Rows 0..3 owned, 3..5 halo; columns 0..4 owned, 4..6 halo.
        let cells = Set::new(3).unwrap();
        let rows = with_halo("rows", 3, 2);
        let cols = with_halo("cols", 4, 2);
        let r = Map::new(&cells, &rows, 2, vec![0, 3, 1, 4, 2, 2]).unwrap();
        let c = Map::new(&cells, &cols, 2, vec![0, 4, 1, 5, 3, 2]).unwrap();
        let (rds, cds) = (
            DataSet::new(&rows, 1).unwrap(),
            DataSet::new(&cols, 2).unwrap(),
        );
        let sp = Sparsity::new(&rds, &cds, &[(r, c)]).unwrap();
        assert_eq!((sp.nrows(), sp.ncols(), sp.owned_rows()), (5, 6, 3));
        assert_eq!(sp.row(0), &[0, 4]);
        assert_eq!(sp.row(1), &[1, 5]);
        assert_eq!(sp.row(2), &[2, 3]);
        assert_eq!(
            sp.row(3),
            &[0, 4],
            "halo row: contributions for another rank"
        );
        assert_eq!(sp.row(4), &[1, 5]);
        assert_eq!(sp.nnz_diag(), &[1, 1, 2]);
        assert_eq!(sp.nnz_offdiag(), &[1, 1, 0]);
    }

    #[test]
    fn a_square_sparsity_over_one_dataset_reserves_its_diagonal() {
        // PyOP2's test_sparsity_has_diagonal_space.
        let (s, d, d2) = (
            Set::new(1).unwrap(),
            Set::new(4).unwrap(),
            Set::new(4).unwrap(),
        );
        let m = Map::new(&s, &d, 2, vec![1, 3]).unwrap();
        let m2 = Map::new(&s, &d2, 3, vec![1, 2, 3]).unwrap();
        let ds = DataSet::new(&d, 1).unwrap();
        let sq = Sparsity::new(&ds, &ds, &[(m.clone(), m.clone())]).unwrap();
        assert_eq!(sq.nnz_diag(), &[1, 2, 1, 2]);
        assert_eq!(
            (sq.row(0), sq.row(1), sq.row(2)),
            (&[0][..], &[1, 3][..], &[2][..])
        );
        let ds2 = DataSet::new(&d2, 1).unwrap();
        let rect = Sparsity::new(&ds, &ds2, &[(m.clone(), m2)]).unwrap();
        assert_eq!(rect.nnz_diag(), &[0, 3, 0, 3]);
        // The same set with another dim is another DataSet: no diagonal is reserved.
        let wide = DataSet::new(&d, 2).unwrap();
        let other = Sparsity::new(&ds, &wide, &[(m.clone(), m)]).unwrap();
        assert_eq!(other.nnz_diag(), &[0, 2, 0, 2]);
        // Without map pairs: the diagonal alone when square, refused otherwise.
        let diag = Sparsity::new(&wide, &wide, &[]).unwrap();
        assert_eq!((diag.nnz_diag(), diag.nnz()), (&[1, 1, 1, 1][..], 16));
        let e = Sparsity::new(&ds, &ds2, &[]).unwrap_err().to_string();
        assert!(e.contains("at least one map pair"), "{e}");
    }

    #[test]
    fn negative_entries_are_skipped_in_rows_columns_and_position_tables() {
        let (cells, rows, cols) = (
            Set::new(3).unwrap(),
            Set::new(4).unwrap(),
            Set::new(4).unwrap(),
        );
        let r = Map::new(&cells, &rows, 2, vec![0, 1, -1, 2, 3, -1]).unwrap();
        let c = Map::new(&cells, &cols, 2, vec![1, -1, 2, 3, -5, 0]).unwrap();
        let (rds, cds) = (
            DataSet::new(&rows, 1).unwrap(),
            DataSet::new(&cols, 1).unwrap(),
        );
        let sp = Sparsity::new(&rds, &cds, &[(r, c)]).unwrap();
        let got: Vec<&[u32]> = (0..4).map(|i| sp.row(i)).collect();
        assert_eq!(got, vec![&[1][..], &[1], &[2, 3], &[0]]);
        assert_eq!(sp.nnz_diag(), &[1, 1, 2, 1]);
        // Element matrix entries at a negative row or column have no block (-1).
        assert_eq!(
            sp.positions(0).table,
            vec![0, -1, 1, -1, -1, -1, 2, 3, -1, 4, -1, -1]
        );
    }
}
