//! op2's mesh input from Python: `read_h5` reads an OP2 HDF5 mesh file (`new_grid.h5`
//! layout) with op2's parallel reader and hands back its Sets, Maps and Dats as the package's
//! Python objects, distributed with halos.
//!
//! Owns the step from a [`op2::DistributedMesh`] to Python objects (`op2/mesh.py` adds the
//! layouts and the `Mesh` record). Every rank reads its own block and the blocks migrate to
//! their owners exactly as `airfoil --mesh-h5` does (`H5MeshFile::block`,
//! `distribute_blocks`, `dat_from_block`): no rank holds the whole mesh. Never reads the file,
//! partitions or moves data itself; every step is op2's, collective and agreed across ranks.

use std::path::PathBuf;

use op2::mesh::{H5Layout, H5MeshFile};
use op2::{DType, DistributedMesh, Scalar};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::data::{dtype_of, PyDat};
use crate::errors::to_py;
use crate::sets::{PyDataSet, PyMap, PySet};

/// A map of the layout: (name, from set, to set, arity).
type MapSpec = (String, String, String, usize);

/// Collective: read the mesh of `path` (see `op2/mesh.py`'s `read_h5`). Returns a dict with
/// `sets`, `maps`, `dats` (name -> Python object) and `constants` (name -> list of floats).
#[pyfunction]
#[pyo3(signature = (path, sets, maps, dats, constants, coordinates=None, partitioner="rcb", comm=None))]
#[allow(clippy::too_many_arguments)]
fn read_h5<'py>(
    py: Python<'py>,
    path: PathBuf,
    sets: Vec<String>,
    maps: Vec<MapSpec>,
    dats: Vec<(String, String, usize, Bound<'py, PyAny>)>,
    constants: Vec<String>,
    coordinates: Option<(String, String)>,
    partitioner: &str,
    comm: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    crate::sets::check_comm(py, comm)?;
    // Checked on every rank alike before the first collective, so a mistake fails every rank.
    let partitioner: op2::mesh::Partitioner = partitioner.parse().map_err(to_py)?;
    let dtypes = (dats.iter())
        .map(|(_, _, _, d)| dtype_of(py, d))
        .collect::<PyResult<Vec<DType>>>()?;
    let mut layout = H5Layout::new();
    for s in &sets {
        layout = layout.set(s);
    }
    for (name, from, to, arity) in &maps {
        layout = layout.map(name, from, to, *arity);
    }
    if let Some((dat, set)) = &coordinates {
        layout = layout.coordinates(dat, set);
    }
    let comm = op2::Comm::current();
    let f = H5MeshFile::open(comm, &path).map_err(to_py)?;
    let consts = (constants.iter())
        .map(|c| Ok((c.clone(), f.constant::<f64>(c)?)))
        .collect::<op2::Result<Vec<_>>>()
        .map_err(to_py)?;
    let block = f.block(&layout).map_err(to_py)?.partitioner(partitioner);
    let dm = op2::mesh::distribute_blocks(comm, block).map_err(to_py)?;
    let mut read = Vec::with_capacity(dats.len());
    for ((name, set, dim, _), d) in dats.iter().zip(&dtypes) {
        read.push(read_dat(&f, &dm, *d, name, set, *dim).map_err(to_py)?);
    }
    drop(f); // collective: every rank closes the file here
    to_python(py, &dm, &maps, dats.iter().map(|d| d.2).zip(read), consts)
}

/// Dat `name` on `set` from the file, stored as `d`, distributed over `dm` (collective).
fn read_dat(
    f: &H5MeshFile,
    dm: &DistributedMesh,
    d: DType,
    name: &str,
    set: &str,
    dim: usize,
) -> op2::Result<op2::Dat> {
    fn go<T: Scalar>(
        f: &H5MeshFile,
        dm: &DistributedMesh,
        name: &str,
        set: &str,
        dim: usize,
    ) -> op2::Result<op2::Dat> {
        dm.dat_from_block(name, set, dim, f.dat_block::<T>(name, set, dim)?)
    }
    match d {
        DType::F64 => go::<f64>(f, dm, name, set, dim),
        DType::F32 => go::<f32>(f, dm, name, set, dim),
        DType::I32 => go::<i32>(f, dm, name, set, dim),
        DType::I64 => go::<i64>(f, dm, name, set, dim),
        DType::U32 => go::<u32>(f, dm, name, set, dim),
        DType::U64 => go::<u64>(f, dm, name, set, dim),
    }
}

/// The distributed mesh as Python objects: one Set object per op2 set (a Map and a Dat hold
/// their set's object, so `m.toset is mesh.sets[...]`).
fn to_python<'py>(
    py: Python<'py>,
    dm: &DistributedMesh,
    maps: &[MapSpec],
    dats: impl Iterator<Item = (usize, op2::Dat)>,
    consts: Vec<(String, Vec<f64>)>,
) -> PyResult<Bound<'py, PyDict>> {
    let py_sets = PyDict::new(py);
    let mut objs: Vec<(op2::Set, Py<PySet>)> = Vec::new();
    for s in dm.sets() {
        let obj = Py::new(py, PySet::wrap(s.clone()))?;
        py_sets.set_item(s.name(), obj.clone_ref(py))?;
        objs.push((s.clone(), obj));
    }
    let obj_of = |s: &op2::Set| -> PyResult<Py<PySet>> {
        (objs.iter())
            .find(|(x, _)| x.ptr_eq(s))
            .map(|(_, o)| o.clone_ref(py))
            .ok_or_else(|| {
                crate::errors::raise("Op2Error", format!("set {} is not the mesh's", s.name()))
            })
    };
    let py_maps = PyDict::new(py);
    for (name, ..) in maps {
        let map = dm.map(name).map_err(to_py)?.clone();
        let m = PyMap {
            iterset: obj_of(map.from_set())?,
            toset: obj_of(map.to_set())?,
            map,
            uninitialized: false,
            vals: Default::default(),
            extruded: None,
        };
        py_maps.set_item(name, Py::new(py, m)?)?;
    }
    let py_dats = PyDict::new(py);
    for (dim, dat) in dats {
        let set = obj_of(dat.set())?.into_bound(py).into_any();
        let dim = dim.into_pyobject(py)?.into_any();
        let ds = PyDataSet::cached(py, set, Some(&dim), None)?;
        let name = dat.name().to_string();
        py_dats.set_item(name, Py::new(py, PyDat::wrap(ds, dat))?)?;
    }
    let out = PyDict::new(py);
    out.set_item("sets", py_sets)?;
    out.set_item("maps", py_maps)?;
    out.set_item("dats", py_dats)?;
    out.set_item("constants", consts.into_iter().collect::<Vec<_>>())?;
    Ok(out)
}

/// Write the generated NACA0012 mesh of `i` x `j` cells to `path` in OP2's HDF5 layout, as
/// `op2 mesh convert --naca I J -o path` does (one process: call it on one rank).
#[pyfunction]
fn write_naca0012_h5(path: PathBuf, i: usize, j: usize) -> PyResult<()> {
    let mesh = op2::mesh::naca0012(i, j).map_err(to_py)?;
    mesh.write_h5(&path).map_err(to_py)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_h5, m)?)?;
    m.add_function(wrap_pyfunction!(write_naca0012_h5, m)?)?;
    Ok(())
}
