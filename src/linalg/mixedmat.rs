//! Mixed Sparsities and Mats: PyOP2's `Sparsity` and `MixedMat` on MixedDataSets, a grid of
//! ordinary block Sparsities and Mats, one per (row component i, column component j).
//!
//! Owns the grid, the mixed Sparsity's cache entry and the mixed mat-vec. Block (i, j) is an
//! ordinary [`Sparsity`] from row DataSet i to column DataSet j through the pairs
//! `(rmap.split()[i], cmap.split()[j])` of every mixed map pair, so each block is built once
//! and cached on its own row set (serial or distributed, with block dims > 1 as any Sparsity),
//! and a block Mat is assembled, distributed and multiplied by the ordinary Mat code. This
//! module never generates code: `MixedMat::arg` (`exec/mixedarg.rs`) expands into one
//! `Mat::arg` per block.
//!
//! # Caching
//! A MixedSparsity is cached on the first row component's set, keyed by the row and column
//! MixedDataSets' ids and its mixed map pairs (sorted by identity, repetitions removed), as
//! `Sparsity` is: the same MixedDataSets and map pairs give the same object. The entry holds
//! only an id; the handle holds the block Sparsities (each a cached object itself), so there
//! is no cycle and the entry is freed with its owner set.

use std::sync::Arc;

use crate::cache::object::{next_id, Entry};
use crate::data::dat::Dat;
use crate::data::map::Map;
use crate::data::mixed::{cached, MixedDat, MixedDataSet, MixedId, MixedMap};
use crate::dtype::{self, DType};
use crate::error::{Error, Result};
use crate::linalg::mat::Mat;
use crate::linalg::sparsity::Sparsity;

/// Cache name of mixed Sparsities in reports.
pub const MIXED_SPARSITY_CACHE: &str = "object:MixedSparsity";

/// A Sparsity on MixedDataSets: block (i, j) is the [`Sparsity`] from row component i to
/// column component j.
///
/// ```
/// let cells = op2::Set::new(2).unwrap();
/// let (p, q) = (op2::Set::new(3).unwrap(), op2::Set::new(2).unwrap());
/// let c2p = op2::Map::new(&cells, &p, 2, vec![0, 1, 1, 2]).unwrap();
/// let c2q = op2::Map::new(&cells, &q, 1, vec![0, 1]).unwrap();
/// let mm = op2::MixedMap::new(&[c2p, c2q]).unwrap();
/// let mds = op2::MixedDataSet::new(&[op2::DataSet::new(&p, 1).unwrap(), op2::DataSet::new(&q, 2).unwrap()]).unwrap();
/// let sp = op2::MixedSparsity::new(&mds, &mds, &[(mm.clone(), mm.clone())]).unwrap();
/// assert_eq!(sp.shape(), (2, 2));
/// assert_eq!(sp.block(1, 1).unwrap().dims(), (2, 2));
/// assert_eq!(sp.block(0, 1).unwrap().row(1), &[0, 1]); // p1 is in cells 0 and 1
/// assert_eq!(sp, op2::MixedSparsity::new(&mds, &mds, &[(mm.clone(), mm)]).unwrap());
/// ```
#[derive(Clone)]
pub struct MixedSparsity {
    entry: Arc<Entry<MixedId>>,
    rows: MixedDataSet,
    cols: MixedDataSet,
    blocks: Arc<[Option<Sparsity>]>,
}

/// Block (i, j)'s map pairs, for [`MixedSparsity::from_blocks`].
pub type BlockPairs = ((usize, usize), Vec<(Map, Map)>);

impl MixedSparsity {
    /// The Sparsity from `rows` to `cols` assembled through the mixed map pairs `pairs` (each a
    /// row MixedMap with one map per row component and a column MixedMap with one per column
    /// component, from one iteration set): every block (i, j) is present, through the pairs
    /// `(rmap.split()[i], cmap.split()[j])`. Pairs are a set, as for [`Sparsity::new`]; the
    /// same as [`MixedSparsity::from_blocks`] with those block pairs (the same object).
    /// Collective on a distributed mesh the first time (each block's build).
    pub fn new(
        rows: &MixedDataSet,
        cols: &MixedDataSet,
        pairs: &[(MixedMap, MixedMap)],
    ) -> Result<MixedSparsity> {
        let what = || format!("MixedSparsity::new({rows:?} x {cols:?})");
        if pairs.is_empty() {
            return Err(Error::invalid(what(), "at least one map pair is required"));
        }
        for (k, (r, c)) in pairs.iter().enumerate() {
            if r.len() != rows.len() || c.len() != cols.len() {
                return Err(Error::invalid(
                    what(),
                    format!(
                        "pair {k}: maps of {} x {} components for {} x {} DataSets",
                        r.len(),
                        c.len(),
                        rows.len(),
                        cols.len()
                    ),
                ));
            }
        }
        let mut blocks = Vec::with_capacity(rows.len() * cols.len());
        for i in 0..rows.len() {
            for j in 0..cols.len() {
                let bp = pairs
                    .iter()
                    .map(|(r, c)| (r.split()[i].clone(), c.split()[j].clone()));
                blocks.push(((i, j), bp.collect()));
            }
        }
        MixedSparsity::from_blocks(rows, cols, &blocks)
    }

    /// PyOP2's `Sparsity(dsets, {(i, j): [(rmap, cmap, None), ...]})`: block (i, j) through its
    /// own map pairs (into row component i and column component j); blocks not listed are
    /// absent (zero), except the diagonal blocks (i, i) when `rows` and `cols` are the same
    /// MixedDataSet: those are diagonal-only Sparsities (no map pairs; `MixedMat::arg` skips
    /// them). Cached by the identity of the MixedDataSets and of every block's pairs
    /// (blocks and pairs in any order, repetitions ignored).
    pub fn from_blocks(
        rows: &MixedDataSet,
        cols: &MixedDataSet,
        blocks: &[BlockPairs],
    ) -> Result<MixedSparsity> {
        let what = || format!("MixedSparsity::from_blocks({rows:?} x {cols:?})");
        let (n, m) = (rows.len(), cols.len());
        let mut pairs: Vec<Vec<(Map, Map)>> = vec![Vec::new(); n * m];
        for ((i, j), bp) in blocks {
            if *i >= n || *j >= m {
                return Err(Error::invalid(
                    what(),
                    format!("block ({i}, {j}) outside the {n} x {m} grid"),
                ));
            }
            pairs[i * m + j].extend(bp.iter().cloned());
        }
        if pairs.iter().all(Vec::is_empty) {
            return Err(Error::invalid(
                what(),
                "at least one block needs a map pair",
            ));
        }
        // A square mixed Sparsity (one MixedDataSet) reserves the diagonal of every diagonal
        // block, so those are present even without map pairs (PyOP2's convention).
        let square = rows.id() == cols.id();
        let mut key = vec![rows.id(), cols.id()];
        let mut grid = Vec::with_capacity(n * m);
        for (k, bp) in pairs.iter_mut().enumerate() {
            bp.sort_by_key(|(r, c)| (r.id(), c.id()));
            bp.dedup();
            let (i, j) = (k / m, k % m);
            if bp.is_empty() && !(square && i == j) {
                grid.push(None);
                continue;
            }
            key.extend([k as u64, bp.len() as u64]);
            key.extend(bp.iter().flat_map(|(r, c)| [r.id(), c.id()]));
            let sp = Sparsity::new(&rows.split()[i], &cols.split()[j], bp)
                .map_err(|e| Error::invalid(what(), format!("block ({i}, {j}): {e}")))?;
            grid.push(Some(sp));
        }
        // The entry after the blocks: a failed block build leaves no entry behind.
        let entry = cached(rows.split()[0].set(), MIXED_SPARSITY_CACHE, &key)?;
        Ok(MixedSparsity {
            entry,
            rows: rows.clone(),
            cols: cols.clone(),
            blocks: grid.into(),
        })
    }
    /// (row components, column components).
    pub fn shape(&self) -> (usize, usize) {
        (self.rows.len(), self.cols.len())
    }
    /// Block (i, j), `None` when it is absent (zero) or out of range.
    pub fn block(&self, i: usize, j: usize) -> Option<&Sparsity> {
        if i >= self.rows.len() || j >= self.cols.len() {
            return None;
        }
        self.blocks[i * self.cols.len() + j].as_ref()
    }
    /// The row MixedDataSet.
    pub fn row_dataset(&self) -> &MixedDataSet {
        &self.rows
    }
    /// The column MixedDataSet.
    pub fn col_dataset(&self) -> &MixedDataSet {
        &self.cols
    }
    /// Process-unique identity of the cached object.
    pub fn id(&self) -> u64 {
        self.entry.0
    }
    /// Identity comparison (`sp is sp2`).
    pub fn ptr_eq(&self, other: &MixedSparsity) -> bool {
        self == other
    }
}

impl PartialEq for MixedSparsity {
    fn eq(&self, other: &MixedSparsity) -> bool {
        Arc::ptr_eq(&self.entry, &other.entry)
    }
}
impl Eq for MixedSparsity {}
impl std::fmt::Debug for MixedSparsity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MixedSparsity#{}({:?} x {:?})",
            self.entry.0, self.rows, self.cols
        )
    }
}

/// PyOP2's `MixedMat`: one f64 [`Mat`] per present block of a [`MixedSparsity`], assembled by
/// par_loops through [`MixedMat::arg`] (every present block) or `block(i, j)` (one block).
#[derive(Clone)]
pub struct MixedMat {
    id: u64,
    name: String,
    sparsity: MixedSparsity,
    blocks: Arc<[Option<Mat>]>,
}

impl MixedMat {
    /// A zero matrix on `sparsity` (only `DType::F64`).
    pub fn new(sparsity: &MixedSparsity, dtype: DType) -> Result<MixedMat> {
        MixedMat::named("mixedmat", sparsity, dtype)
    }
    /// Like [`MixedMat::new`], with a name (block (i, j) is named `name[i,j]`).
    pub fn named(name: &str, sparsity: &MixedSparsity, dtype: DType) -> Result<MixedMat> {
        let (n, m) = sparsity.shape();
        let blocks: Result<Vec<Option<Mat>>> = (0..n * m)
            .map(|k| {
                sparsity
                    .block(k / m, k % m)
                    .map(|sp| Mat::named(&format!("{name}[{},{}]", k / m, k % m), sp, dtype))
                    .transpose()
            })
            .collect();
        Ok(MixedMat {
            id: next_id(),
            name: name.to_string(),
            sparsity: sparsity.clone(),
            blocks: blocks?.into(),
        })
    }
    /// The mixed Sparsity.
    pub fn sparsity(&self) -> &MixedSparsity {
        &self.sparsity
    }
    /// Block (i, j), `None` when it is absent (zero) or out of range.
    pub fn block(&self, i: usize, j: usize) -> Option<&Mat> {
        let (n, m) = self.sparsity.shape();
        if i >= n || j >= m {
            return None;
        }
        self.blocks[i * m + j].as_ref()
    }
    /// The blocks in row-major order (`None` for absent ones).
    pub fn blocks(&self) -> &[Option<Mat>] {
        &self.blocks
    }
    /// Name given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Process-unique identity.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Zero every block (structure kept).
    pub fn zero(&self) -> Result<()> {
        self.blocks.iter().flatten().try_for_each(Mat::zero)
    }

    /// `y = A x` for MixedDats: `y_i = sum_j A_ij x_j` over the present blocks, on the owned
    /// rows of each row block (zero for a row without blocks). Collective on a distributed
    /// mesh (each block's [`Mat::mult`]: stale halo copies of `x_j` are refreshed, extra
    /// columns imported); `y`'s halo copies are stale afterwards.
    pub fn mult(&self, x: &MixedDat, y: &MixedDat) -> Result<()> {
        let what = || format!("MixedMat::mult({}, x = {x:?}, y = {y:?})", self.name);
        if x.dataset() != *self.sparsity.col_dataset()
            || y.dataset() != *self.sparsity.row_dataset()
        {
            return Err(Error::invalid(
                what(),
                "x must be on the column MixedDataSet and y on the row MixedDataSet",
            ));
        }
        if let Some(d) = y
            .split()
            .iter()
            .find(|d| x.split().iter().any(|e| e.ptr_eq(d)))
        {
            return Err(Error::invalid(
                what(),
                format!("Dat {} is both in x and in y", d.name()),
            ));
        }
        let m = self.sparsity.shape().1;
        for (i, yi) in y.split().iter().enumerate() {
            let mut row = (0..m).filter_map(|j| self.block(i, j).map(|a| (a, &x.split()[j])));
            match row.next() {
                Some((a, xj)) => a.mult(xj, yi)?,
                None => {
                    yi.set_values(&vec![0.0f64; yi.set().size() * yi.dim()])?;
                    continue;
                }
            }
            let tmp = Dat::zeros(yi.dataset(), DType::F64);
            for (a, xj) in row {
                a.mult(xj, &tmp)?;
                add_owned(yi, &tmp);
            }
        }
        Ok(())
    }
}

/// `y += t` on the owned values of two f64 Dats on one DataSet.
fn add_owned(y: &Dat, t: &Dat) {
    let n = y.set().size() * y.dim();
    {
        let tg = t.read();
        let mut yg = y.write();
        let tv = dtype::view::<f64>(&tg, n);
        for (a, b) in dtype::view_mut::<f64>(&mut yg, n).iter_mut().zip(tv) {
            *a += b;
        }
    }
    y.mark_halo_stale();
}

impl std::fmt::Debug for MixedMat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MixedMat({}#{}, {:?})",
            self.name, self.id, self.sparsity
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::DataSet;
    use crate::data::set::Set;

    #[test]
    fn diagonal_blocks_of_a_square_mixed_sparsity_are_present_without_maps() {
        // PyOP2's test_matrices_sparsity_blockwise_specification: node sets A (4) and B (3),
        // edge sets a (3) and b (2); ComposedMap(mapB, mapAB) is -1 where mapAB is.
        let (a, na, b, nb) = (
            Set::new(3).unwrap(),
            Set::new(4).unwrap(),
            Set::new(2).unwrap(),
            Set::new(3).unwrap(),
        );
        let map_a = Map::new(&a, &na, 2, vec![0, 1, 1, 2, 2, 3]).unwrap();
        let map_b = Map::new(&b, &nb, 2, vec![0, 1, 1, 2]).unwrap();
        let b_to_na = Map::new(&b, &na, 2, vec![1, 2, 2, 3]).unwrap(); // mapA . mapBA
        let a_to_nb = Map::new(&a, &nb, 2, vec![-1, -1, 0, 1, 1, 2]).unwrap(); // mapB . mapAB
        let ds = |s: &Set| DataSet::new(s, 1).unwrap();
        let mds = MixedDataSet::new(&[ds(&na), ds(&nb)]).unwrap();
        let blocks: Vec<BlockPairs> = vec![
            ((1, 0), vec![(map_b, b_to_na)]),
            ((0, 1), vec![(map_a, a_to_nb)]),
        ];
        let sp = MixedSparsity::from_blocks(&mds, &mds, &blocks).unwrap();
        let nnz = |i, j| sp.block(i, j).expect("present").nnz_diag().to_vec();
        assert_eq!(nnz(0, 0), vec![1, 1, 1, 1]);
        assert_eq!(nnz(0, 1), vec![0, 2, 3, 2]);
        assert_eq!(nnz(1, 0), vec![2, 3, 2]);
        assert_eq!(nnz(1, 1), vec![1, 1, 1]);
        assert!(sp.block(0, 0).unwrap().map_pairs().is_empty());
        // A Mat on it has the diagonal-only blocks too; a mixed Sparsity from one MixedDataSet
        // to another keeps unlisted blocks absent.
        let mat = MixedMat::new(&sp, DType::F64).unwrap();
        assert!(mat.block(1, 1).is_some());
        let other = MixedDataSet::new(&[ds(&na), DataSet::new(&nb, 2).unwrap()]).unwrap();
        let m2 = Map::new(&b, &nb, 2, vec![0, 1, 1, 2]).unwrap();
        let rect = MixedSparsity::from_blocks(&mds, &other, &[((1, 1), vec![(m2.clone(), m2)])]);
        assert!(rect.unwrap().block(0, 0).is_none());
    }
}
