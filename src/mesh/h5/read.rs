//! Reading OP2's HDF5 mesh layout in parallel: every rank reads only its own contiguous block
//! ([`block_range`]) of each map and dat, with one collective MPI-IO read per dataset, into a
//! [`MeshBlock`] for [`crate::mesh::distribute_blocks`].
//!
//! Every step is agreed across ranks before the next collective: a missing file, dataset or
//! attribute, a wrong shape or type, a map value outside its target set is an
//! [`Error::InvalidArgument`] naming the file and the dataset, returned by every rank (as
//! [`Error::Remote`] naming the rank that found it, on more than one rank).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use hdf5::types::{FloatSize, IntSize, TypeDescriptor};
use hdf5::{Dataset, File, H5Type};

use crate::dtype::{with_scalar, DType, Scalar};
use crate::error::{Error, Result};
use crate::mesh::block::{block_range, MeshBlock};
use crate::mesh::h5::{ffi, op2_c_type};
use crate::mpi::agree::{agree, Share};
use crate::mpi::comm::Comm;

/// HDF5's file signature (at offset 0, or 512, 1024, ... after a user block).
const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Which datasets of an OP2 HDF5 file make the mesh. OP2's files do not say which sets a map
/// joins (the program declares it: `op_decl_map_hdf5(edges, nodes, 2, file, "pedge")`), so the
/// reader is told, with each map's arity (checked against the dataset's shape).
///
/// ```
/// let airfoil = op2::mesh::H5Layout::new()
///     .set("nodes").set("cells")
///     .map("pcell", "cells", "nodes", 4)
///     .coordinates("p_x", "nodes");
/// assert_eq!(airfoil.sets(), ["nodes", "cells"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct H5Layout {
    sets: Vec<String>,
    maps: Vec<(String, String, String, usize)>,
    coords: Option<(String, String)>,
}

impl H5Layout {
    /// An empty layout.
    pub fn new() -> H5Layout {
        H5Layout::default()
    }

    /// A set: a dataset `name` holding its size (OP2: `op_decl_set_hdf5(file, name)`).
    pub fn set(mut self, name: &str) -> Self {
        self.sets.push(name.into());
        self
    }

    /// A map `from -> to` with `arity` targets per element: a dataset `name` of integers,
    /// shape `[size(from), arity]` (OP2: `op_decl_map_hdf5(from, to, arity, file, name)`).
    pub fn map(mut self, name: &str, from: &str, to: &str, arity: usize) -> Self {
        self.maps.push((name.into(), from.into(), to.into(), arity));
        self
    }

    /// The coordinates for RCB: dat `dat` of doubles on `set`, shape `[size(set), 1..=3]`.
    pub fn coordinates(mut self, dat: &str, set: &str) -> Self {
        self.coords = Some((dat.into(), set.into()));
        self
    }

    /// The set names, in order.
    pub fn sets(&self) -> Vec<&str> {
        self.sets.iter().map(String::as_str).collect()
    }
}

/// An OP2 HDF5 mesh file, open on every rank of a communicator (with HDF5's MPI-IO driver
/// on more than one rank). See `docs/MESH-INPUT.md` for the layout. Closing it (drop) is
/// collective on more than one rank: drop it on every rank at the same point, before the
/// runtime finalizes MPI (every method agrees on errors, so an early `?` return does).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("grid.h5");
/// op2::mesh::naca0012(3, 2).unwrap().write_h5(&path).unwrap();
///
/// let comm = op2::Comm::serial();
/// let f = op2::mesh::H5MeshFile::open(comm, &path).unwrap();
/// let dm = op2::mesh::distribute_blocks(comm, f.block(&op2::mesh::AirfoilMesh::h5_layout()).unwrap()).unwrap();
/// let x = f.dat_block::<f64>("p_x", "nodes", 2).unwrap();
/// assert_eq!(x.len(), 2 * dm.set("nodes").unwrap().global_size());
/// assert_eq!(f.constant::<f64>("qinf").unwrap().len(), 4);
/// assert!(f.dat_block::<i32>("p_x", "nodes", 2).is_err()); // stored as double
/// ```
pub struct H5MeshFile {
    comm: Comm,
    path: PathBuf,
    file: File,
    /// Collective transfers (the file is open with the MPI-IO driver).
    collective: bool,
}

/// Element type of a dataset, as op2's [`DType`] (None: a type op2 does not read).
fn dtype_of(ds: &Dataset) -> std::result::Result<Option<DType>, String> {
    let d = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| e.to_string())?;
    Ok(match d {
        TypeDescriptor::Float(FloatSize::U8) => Some(DType::F64),
        TypeDescriptor::Float(FloatSize::U4) => Some(DType::F32),
        TypeDescriptor::Integer(IntSize::U4) => Some(DType::I32),
        TypeDescriptor::Integer(IntSize::U8) => Some(DType::I64),
        TypeDescriptor::Unsigned(IntSize::U4) => Some(DType::U32),
        TypeDescriptor::Unsigned(IntSize::U8) => Some(DType::U64),
        _ => None,
    })
}

impl H5MeshFile {
    /// Open `path` on every rank of `comm`. Collective: a missing file or one that is not
    /// HDF5 fails every rank (checked by each rank before HDF5's collective open).
    pub fn open(comm: Comm, path: impl AsRef<Path>) -> Result<H5MeshFile> {
        let path = path.as_ref().to_path_buf();
        let what = format!("H5MeshFile({})", path.display());
        let looked = std::fs::File::open(&path)
            .map_err(|e| Error::io("open", &path, e))
            .and_then(|f| {
                // At 0, or after a user block of 512, 1024, 2048, ... bytes.
                let found = std::iter::once(0u64)
                    .chain((9..40).map(|k| 1u64 << k))
                    .map_while(|at| {
                        let mut sig = [0u8; 8];
                        f.read_exact_at(&mut sig, at).ok().map(|()| sig)
                    })
                    .any(|sig| &sig == SIGNATURE);
                if found {
                    Ok(())
                } else {
                    Err(Error::invalid(
                        &what,
                        "not an HDF5 file (no HDF5 signature)",
                    ))
                }
            });
        agree(comm, Share::Detail, looked)?;
        let raw = comm.raw_mpi()?;
        let opened = match raw {
            Some(c) => File::with_options()
                .with_fapl(|p| p.mpio(c, None))
                .open(&path),
            None => File::open(&path),
        }
        .map_err(|e| Error::invalid(&what, format!("HDF5 cannot open it: {e}")));
        let file = agree(comm, Share::Detail, opened)?;
        Ok(H5MeshFile {
            comm,
            path,
            file,
            collective: raw.is_some(),
        })
    }

    fn err(&self, dataset: &str, detail: impl std::fmt::Display) -> Error {
        Error::invalid(
            format!("H5MeshFile({})", self.path.display()),
            format!("dataset `{dataset}`: {detail}"),
        )
    }

    /// Open dataset `name`; its shape and element type.
    fn dataset(&self, name: &str) -> Result<(Dataset, Vec<usize>, Option<DType>)> {
        if !self.file.link_exists(name) {
            return Err(self.err(name, "not in the file"));
        }
        let ds = self
            .file
            .dataset(name)
            .map_err(|e| self.err(name, format!("not a dataset ({e})")))?;
        let shape = ds.shape();
        let t = dtype_of(&ds).map_err(|e| self.err(name, e))?;
        Ok((ds, shape, t))
    }

    /// Check a `[n, dim]` dataset (`[n]` when `dim` is 1 is accepted too) and its optional
    /// OP2 attributes `size` and `dim`; returns `dim`.
    fn check_rows(&self, name: &str, ds: &Dataset, shape: &[usize], n: usize) -> Result<usize> {
        let dim = match shape {
            [rows, dim] if *rows == n && *dim >= 1 => *dim,
            [rows] if *rows == n => 1,
            _ => {
                return Err(self.err(
                    name,
                    format!(
                        "shape {shape:?}, expected [{n}, dim] (one row per element of its set)"
                    ),
                ))
            }
        };
        for (attr, want) in [("size", n), ("dim", dim)] {
            if let Ok(a) = ds.attr(attr) {
                let v = a
                    .read_raw::<i64>()
                    .map_err(|e| self.err(name, format!("attribute `{attr}`: {e}")))?;
                if v.len() != 1 || v[0] != want as i64 {
                    return Err(self.err(
                        name,
                        format!("attribute `{attr}` is {v:?} but the dataset's shape says {want}"),
                    ));
                }
            }
        }
        Ok(dim)
    }

    /// Size of set `name`: dataset `name`, one integer (OP2 writes shape `[1]`). Collective.
    pub fn set_size(&self, name: &str) -> Result<usize> {
        let r = (|| {
            let (ds, shape, t) = self.dataset(name)?;
            if shape.iter().product::<usize>() != 1 || !matches!(t, Some(DType::I32 | DType::I64)) {
                return Err(self.err(
                    name,
                    format!("a set size is one integer; found shape {shape:?} of {t:?}"),
                ));
            }
            let v = ds
                .read_raw::<i64>()
                .map_err(|e| self.err(name, format!("reading it failed: {e}")))?;
            usize::try_from(v[0])
                .map_err(|_| self.err(name, format!("set size {} is negative", v[0])))
        })();
        agree(self.comm, Share::Detail, r)
    }

    /// This rank's block of every map of `layout` (and of its coordinates), read collectively;
    /// ready for [`crate::mesh::distribute_blocks`]. Collective.
    pub fn block(&self, layout: &H5Layout) -> Result<MeshBlock> {
        let (p, me) = (self.comm.size() as usize, self.comm.rank() as usize);
        let mut sizes = Vec::with_capacity(layout.sets.len());
        let mut b = MeshBlock::new();
        for s in &layout.sets {
            let n = self.set_size(s)?;
            sizes.push((s.as_str(), n));
            b = b.add_set(s, n);
        }
        let size_of = |set: &str, what: &str| {
            sizes
                .iter()
                .find(|(s, _)| *s == set)
                .map(|&(_, n)| n)
                .ok_or_else(|| {
                    Error::invalid("H5Layout", format!("{what}: no set `{set}` in the layout"))
                })
        };
        for (name, from, to, want) in &layout.maps {
            let what = format!("map `{name}`");
            let (nf, nt) = (size_of(from, &what)?, size_of(to, &what)?);
            let r = (|| {
                let (ds, shape, t) = self.dataset(name)?;
                if !matches!(t, Some(DType::I32 | DType::I64 | DType::U32)) {
                    return Err(self.err(name, format!("a map holds integers, found {t:?}")));
                }
                let arity = self.check_rows(name, &ds, &shape, nf)?;
                if arity != *want {
                    return Err(self.err(
                        name,
                        format!("shape {shape:?}: arity {arity}, the program expects {want}"),
                    ));
                }
                Ok((ds, arity))
            })();
            let (ds, arity) = agree(self.comm, Share::Detail, r)?;
            let rows = block_range(nf, p, me);
            let read = ffi::read_rows::<i32>(&ds, rows.start, rows.len(), arity, self.collective)
                .map_err(|e| self.err(name, e))
                .and_then(|v| {
                    match v.iter().position(|&x| x < 0 || x as usize >= nt) {
                        Some(i) => Err(self.err(
                            name,
                            format!(
                                "value {} at element {}, slot {} is outside the target set `{to}` [0, {nt})",
                                v[i],
                                rows.start + i / arity,
                                i % arity
                            ),
                        )),
                        None => Ok(v),
                    }
                });
            let values = agree(self.comm, Share::Detail, read)?;
            b = b.add_map(name, from, to, arity, values);
        }
        if let Some((dat, set)) = &layout.coords {
            let n = size_of(set, "coordinates")?;
            let r = (|| {
                let (ds, shape, _) = self.dataset(dat)?;
                let dim = self.check_rows(dat, &ds, &shape, n)?;
                if !(1..=3).contains(&dim) {
                    return Err(self.err(dat, format!("coordinates have dim 1 to 3, not {dim}")));
                }
                Ok(dim)
            })();
            let dim = agree(self.comm, Share::Detail, r)?;
            b = b.coordinates(set, dim, self.dat_block::<f64>(dat, set, dim)?);
        }
        Ok(b)
    }

    /// This rank's block of dat `name` on `set` (`dim` values per element), read collectively,
    /// for [`crate::DistributedMesh::dat_from_block`]. The stored type must be `T`'s (`int`
    /// for `i32`, `double` for `f64`, ...). Collective.
    pub fn dat_block<T: Scalar>(&self, name: &str, set: &str, dim: usize) -> Result<Vec<T>> {
        let n = self.set_size(set)?;
        let r = (|| {
            let (ds, shape, t) = self.dataset(name)?;
            if t != Some(T::DTYPE) {
                return Err(self.err(
                    name,
                    format!(
                        "stored as {}, read as {}",
                        type_name(t),
                        op2_c_type(T::DTYPE)
                    ),
                ));
            }
            let d = self.check_rows(name, &ds, &shape, n)?;
            if d != dim {
                return Err(self.err(name, format!("dim {d} in the file, {dim} expected")));
            }
            Ok(ds)
        })();
        let ds = agree(self.comm, Share::Detail, r)?;
        let rows = block_range(n, self.comm.size() as usize, self.comm.rank() as usize);
        let read = read_typed::<T>(&ds, rows.start, rows.len(), dim, self.collective)
            .map_err(|e| self.err(name, e));
        agree(self.comm, Share::Detail, read)
    }

    /// A global constant (OP2: `op_get_const_hdf5`): the whole one-dimensional dataset
    /// `name`, on every rank, of `T`'s stored type. Collective.
    pub fn constant<T: Scalar>(&self, name: &str) -> Result<Vec<T>> {
        let r = (|| {
            let (ds, shape, t) = self.dataset(name)?;
            if t != Some(T::DTYPE) || shape.len() != 1 || shape[0] == 0 {
                return Err(self.err(
                    name,
                    format!(
                        "a constant of {} is a non-empty [n] dataset; found shape {shape:?} of {}",
                        op2_c_type(T::DTYPE),
                        type_name(t)
                    ),
                ));
            }
            read_typed::<T>(&ds, 0, shape[0], 1, false).map_err(|e| self.err(name, e))
        })();
        agree(self.comm, Share::Detail, r)
    }
}

fn type_name(t: Option<DType>) -> String {
    t.map_or("a type op2 does not read".into(), |t| {
        op2_c_type(t).to_string()
    })
}

/// `read_rows` for an op2 scalar type (whose HDF5 type is its Rust type's).
fn read_typed<T: Scalar>(
    ds: &Dataset,
    first: usize,
    count: usize,
    width: usize,
    collective: bool,
) -> std::result::Result<Vec<T>, String> {
    fn go<U: H5Type + bytemuck::Pod, T: Scalar>(
        ds: &Dataset,
        a: (usize, usize, usize, bool),
    ) -> std::result::Result<Vec<T>, String> {
        let v = ffi::read_rows::<U>(ds, a.0, a.1, a.2, a.3)?;
        Ok(bytemuck::allocation::cast_vec::<U, T>(v))
    }
    let a = (first, count, width, collective);
    with_scalar!(T::DTYPE, U => go::<U, T>(ds, a))
}
