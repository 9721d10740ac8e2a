//! Mixed (block) Sparsities and Mats: op2's `MixedSparsity` and `MixedMat` under PyOP2's
//! `Sparsity((mds, mds), {(i, j): [(rmap, cmap, None)], ...})` and `Mat(mixed sparsity)`.
//!
//! Owns the native half: building op2's MixedSparsity from the block map pairs (each block is
//! the ordinary Python `Sparsity` of its DataSets and pairs, so `ms[i, j]` is the same object
//! as `Sparsity((rds_i, cds_j), pairs_ij)`), the MixedMat with one Python `Mat` per present
//! block, and a loop argument `mat(access, (rmmap, cmmap))` as one argument per present block
//! (op2's `MixedMat::arg`). PyOP2's API around them (indexing, iteration, str/repr, the
//! object cache) is `op2/_mixedmat.py`. Never generates code and never runs a loop.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::errors::{raise, to_py};
use crate::linalg::{PyMat, PySparsity};
use crate::loops::{PyAccess, PyArg};
use crate::sets::{PyDataSet, PyMap};

/// op2 DataSets of a list of Python DataSets.
fn datasets(list: &[Bound<'_, PyDataSet>]) -> Vec<op2::DataSet> {
    list.iter().map(|d| d.get().ds.clone()).collect()
}

/// op2 MixedMap of a list of Python Maps.
fn mixed_map(maps: &[Bound<'_, PyMap>]) -> PyResult<op2::MixedMap> {
    let maps: Vec<op2::Map> = maps
        .iter()
        .map(|m| m.get().current(m.py()))
        .collect::<PyResult<_>>()?;
    op2::MixedMap::new(&maps).map_err(to_py)
}

/// op2's MixedSparsity with the Python Sparsity of every present block.
#[pyclass(module = "op2._op2", name = "_MixedSparsity", frozen)]
pub(crate) struct PyMixedSparsity {
    sparsity: op2::MixedSparsity,
    /// Row-major, `None` for an absent (zero) block.
    blocks: Vec<Option<Py<PySparsity>>>,
}

#[pymethods]
impl PyMixedSparsity {
    /// `rows`, `cols`: the components' DataSets; `blocks`: `{(i, j): [(rmap, cmap, region),
    /// ...]}` (PyOP2's `maps_and_regions`). Collective on a distributed mesh the first time.
    #[new]
    fn new(
        py: Python<'_>,
        rows: Vec<Bound<'_, PyDataSet>>,
        cols: Vec<Bound<'_, PyDataSet>>,
        blocks: &Bound<'_, PyDict>,
    ) -> PyResult<Self> {
        let (n, m) = (rows.len(), cols.len());
        let mut grid: Vec<Option<Py<PySparsity>>> = (0..n * m).map(|_| None).collect();
        let mut pairs: Vec<op2::BlockPairs> = Vec::new();
        for (key, val) in blocks.iter() {
            let (i, j): (usize, usize) = key.extract()?;
            if i >= n || j >= m {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "(i, j) must be < ({n}, {m}): got ({i}, {j})"
                )));
            }
            if val.len()? == 0 {
                continue;
            }
            let dsets = PyTuple::new(py, [&rows[i], &cols[j]])?;
            let sp = PySparsity::new(py, dsets.as_any(), &val, None, None, None, true)?;
            pairs.push(((i, j), sp.get().op2().map_pairs().to_vec()));
            grid[i * m + j] = Some(sp);
        }
        let (r, c) = (datasets(&rows), datasets(&cols));
        let (rows_py, cols_py) = (rows, cols);
        let rows = op2::MixedDataSet::new(&r).map_err(to_py)?;
        let cols = op2::MixedDataSet::new(&c).map_err(to_py)?;
        let sparsity = op2::MixedSparsity::from_blocks(&rows, &cols, &pairs).map_err(to_py)?;
        // A square mixed Sparsity's diagonal blocks are present without map pairs (their
        // diagonal only): the Python Sparsity of the block's DataSets and no pairs.
        for (k, slot) in grid.iter_mut().enumerate() {
            if slot.is_none() && sparsity.block(k / m, k % m).is_some() {
                let dsets = PyTuple::new(py, [&rows_py[k / m], &cols_py[k % m]])?;
                let none = PyList::empty(py);
                *slot = Some(PySparsity::new(
                    py,
                    dsets.as_any(),
                    &none,
                    None,
                    None,
                    None,
                    true,
                )?);
            }
        }
        Ok(PyMixedSparsity {
            sparsity,
            blocks: grid,
        })
    }
    /// Block (i, j): the Python Sparsity, `None` when absent.
    fn block(&self, py: Python<'_>, i: usize, j: usize) -> Option<Py<PySparsity>> {
        let m = self.sparsity.shape().1;
        self.blocks
            .get(i * m + j)?
            .as_ref()
            .map(|b| b.clone_ref(py))
    }
    /// op2's identity of the mixed Sparsity (equal for the same DataSets and block pairs).
    #[getter]
    fn id(&self) -> u64 {
        self.sparsity.id()
    }
}

/// op2's MixedMat with the Python Mat of every present block.
#[pyclass(module = "op2._op2", name = "_MixedMat", frozen)]
pub(crate) struct PyMixedMat {
    mat: op2::MixedMat,
    blocks: Vec<Option<Py<PyMat>>>,
}

#[pymethods]
impl PyMixedMat {
    #[new]
    #[pyo3(signature = (sparsity, name))]
    fn new(py: Python<'_>, sparsity: &Bound<'_, PyMixedSparsity>, name: &str) -> PyResult<Self> {
        let msp = sparsity.get();
        let mat = op2::MixedMat::named(name, &msp.sparsity, op2::DType::F64).map_err(to_py)?;
        let blocks = (msp.blocks.iter().zip(mat.blocks()))
            .map(|(sp, b)| match (sp, b) {
                (Some(sp), Some(b)) => {
                    Py::new(py, PyMat::wrap(sp.clone_ref(py), b.clone())).map(Some)
                }
                _ => Ok(None),
            })
            .collect::<PyResult<_>>()?;
        Ok(PyMixedMat { mat, blocks })
    }
    /// Block (i, j): the Python Mat, `None` when absent.
    fn block(&self, py: Python<'_>, i: usize, j: usize) -> Option<Py<PyMat>> {
        let m = self.mat.sparsity().shape().1;
        self.blocks
            .get(i * m + j)?
            .as_ref()
            .map(|b| b.clone_ref(py))
    }
    /// The loop arguments of `mat(access, (rmaps, cmaps))`: one per present block, row-major
    /// (op2's `MixedMat::arg`); the maps are the components of the row and column MixedMaps.
    fn args<'py>(
        &self,
        py: Python<'py>,
        access: &Bound<'py, PyAccess>,
        rmaps: Vec<Bound<'py, PyMap>>,
        cmaps: Vec<Bound<'py, PyMap>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let access = access.get().mode;
        if !matches!(access, op2::Access::Inc | op2::Access::Write) {
            return Err(raise(
                "ModeValueError",
                format!("Mat {}: loops INC or WRITE a Mat", self.mat.name()),
            ));
        }
        let (rm, cm) = (mixed_map(&rmaps)?, mixed_map(&cmaps)?);
        let from = rm.split()[0].from_set().clone();
        let out = PyList::empty(py);
        for arg in self.mat.arg(access, (&rm, &cm)).map_err(to_py)? {
            out.append(PyArg {
                from_set: Some(from.clone()),
                arg,
                xarg: None,
            })?;
        }
        Ok(out)
    }
    /// Zero every block.
    fn zero(&self) -> PyResult<()> {
        self.mat.zero().map_err(to_py)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMixedSparsity>()?;
    m.add_class::<PyMixedMat>()?;
    Ok(())
}
