//! Writing OP2's HDF5 mesh layout, from one process (a converter): the layout OP2's
//! `op_dump_to_hdf5` and `op_write_const_hdf5` write, which OP2's `op_decl_*_hdf5` read.

use std::path::{Path, PathBuf};

use hdf5::types::FixedAscii;
use hdf5::{Dataset, File, H5Type};

use crate::dtype::{with_scalar, DType, Scalar};
use crate::error::{Error, Result};
use crate::mesh::h5::op2_c_type;

/// Writes an OP2 HDF5 mesh file (see `docs/MESH-INPUT.md`). One process writes; the file is
/// complete when [`H5Writer::finish`] returns.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("two.h5");
/// let mut w = op2::mesh::H5Writer::create(&path).unwrap();
/// w.set("nodes", 4).unwrap();
/// w.set("cells", 2).unwrap();
/// w.map("cell_nodes", 3, &[0, 1, 2, 1, 3, 2]).unwrap();
/// w.dat("x", 2, &[0.0f64, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
/// w.constant("gam", &[1.4f64]).unwrap();
/// w.finish().unwrap();
///
/// let f = op2::mesh::H5MeshFile::open(op2::Comm::serial(), &path).unwrap();
/// assert_eq!(f.set_size("cells").unwrap(), 2);
/// assert_eq!(f.constant::<f64>("gam").unwrap(), [1.4]);
/// ```
pub struct H5Writer {
    path: PathBuf,
    file: File,
}

impl H5Writer {
    /// Create (or truncate) `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<H5Writer> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path)
            .map_err(|e| Error::invalid(format!("H5Writer({})", path.display()), e.to_string()))?;
        Ok(H5Writer { path, file })
    }

    fn err(&self, name: &str, e: impl std::fmt::Display) -> Error {
        Error::invalid(
            format!("H5Writer({})", self.path.display()),
            format!("dataset `{name}`: {e}"),
        )
    }

    /// Set `name` of `size` elements: an `int` dataset of shape `[1]` holding the size.
    pub fn set(&mut self, name: &str, size: usize) -> Result<()> {
        let n = i32::try_from(size).map_err(|_| self.err(name, "more than 2^31-1 elements"))?;
        self.file
            .new_dataset::<i32>()
            .shape([1])
            .create(name)
            .and_then(|d| d.write_raw(&[n]))
            .map_err(|e| self.err(name, e))
    }

    /// Map `name` with `dim` targets per source element: `int` of shape `[n, dim]`, with
    /// OP2's attributes `size`, `dim` and `type` (`"int"`).
    pub fn map(&mut self, name: &str, dim: usize, values: &[i32]) -> Result<()> {
        self.rows(name, dim, values)
    }

    /// Dat `name` with `dim` values per element: shape `[n, dim]` of `T`'s type, with OP2's
    /// attributes `size`, `dim` and `type` (`"double"`, `"int"`, ...).
    pub fn dat<T: Scalar>(&mut self, name: &str, dim: usize, values: &[T]) -> Result<()> {
        self.rows(name, dim, values)
    }

    /// Global constant `name` (OP2's `op_write_const_hdf5`): shape `[n]`, attributes `dim`
    /// and `type`.
    pub fn constant<T: Scalar>(&mut self, name: &str, values: &[T]) -> Result<()> {
        if values.is_empty() {
            return Err(self.err(name, "a constant has at least one value"));
        }
        let ds = create::<T>(&self.file, name, &[values.len()], values)
            .map_err(|e| self.err(name, e))?;
        attrs(&ds, None, values.len(), T::DTYPE).map_err(|e| self.err(name, e))
    }

    fn rows<T: Scalar>(&mut self, name: &str, dim: usize, values: &[T]) -> Result<()> {
        if dim == 0 || !values.len().is_multiple_of(dim) {
            return Err(self.err(
                name,
                format!("{} values are not rows of dim {dim}", values.len()),
            ));
        }
        let n = values.len() / dim;
        let ds = create::<T>(&self.file, name, &[n, dim], values).map_err(|e| self.err(name, e))?;
        attrs(&ds, Some(n), dim, T::DTYPE).map_err(|e| self.err(name, e))
    }

    /// Close the file (everything is on disk when this returns).
    pub fn finish(self) -> Result<()> {
        let H5Writer { path, file } = self;
        file.close()
            .map_err(|e| Error::invalid(format!("H5Writer({})", path.display()), e.to_string()))
    }
}

/// A dataset of `shape` holding `values` (row-major), in `T`'s HDF5 type.
fn create<T: Scalar>(
    file: &File,
    name: &str,
    shape: &[usize],
    values: &[T],
) -> hdf5::Result<Dataset> {
    fn go<U: H5Type + bytemuck::Pod>(
        file: &File,
        name: &str,
        shape: &[usize],
        bytes: &[u8],
    ) -> hdf5::Result<Dataset> {
        let v: Vec<U> = bytemuck::pod_collect_to_vec(bytes);
        let ds = file.new_dataset::<U>().shape(shape).create(name)?;
        if !v.is_empty() {
            ds.write_raw(&v)?;
        }
        Ok(ds)
    }
    let b: &[u8] = bytemuck::cast_slice(values);
    with_scalar!(T::DTYPE, U => go::<U>(file, name, shape, b))
}

/// OP2's attributes: `size` (rows; not on constants), `dim` (`int`, shape `[1]`) and `type`
/// (a fixed-length string naming the C type).
fn attrs(ds: &Dataset, size: Option<usize>, dim: usize, t: DType) -> hdf5::Result<()> {
    if let Some(n) = size {
        ds.new_attr::<i32>()
            .shape([1])
            .create("size")?
            .write_raw(&[n as i32])?;
    }
    ds.new_attr::<i32>()
        .shape([1])
        .create("dim")?
        .write_raw(&[dim as i32])?;
    let name = FixedAscii::<20>::from_ascii(op2_c_type(t).as_bytes())
        .map_err(|e| hdf5::Error::from(e.to_string()))?;
    ds.new_attr::<FixedAscii<20>>()
        .create("type")?
        .write_scalar(&name)
}
