//! op2's parallel mesh file: a binary layout that every rank reads its own block of, with
//! positioned reads (no rank reads the whole file).
//!
//! Layout (all integers little-endian):
//! ```text
//! bytes 0..8    magic "OP2MESH1"
//! bytes 8..16   header offset H (u64)      bytes 16..24  header length L (u64)
//! bytes 24..H   arrays, each contiguous, row-major, little-endian
//! bytes H..H+L  header, UTF-8 text, one entry per line:
//!                 set NAME SIZE
//!                 map NAME FROM TO ARITY OFFSET        (i32 rows, SIZE(FROM) x ARITY)
//!                 dat NAME SET DIM DTYPE OFFSET        (DTYPE: double, float, int, ...)
//!                 coords DATNAME                       (a double dat of dim 1..3: for RCB)
//! ```
//! Like OP2's HDF5 layout (one dataset per set size, map and dat), with the sets, maps and
//! dats in one file; `op2 mesh convert` writes it from OP2's ASCII `new_grid.dat`.
//! Everything read is checked (magic, header syntax, names, array extents against the file
//! length); a bad file is an [`Error::InvalidArgument`] naming the file and the entry.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::dtype::{DType, Scalar};
use crate::error::{Error, Result};
use crate::mesh::block::{block_range, MeshBlock};
use crate::mesh::global::GlobalMesh;
use crate::mpi::agree::{agree, Share};
use crate::mpi::comm::Comm;

const MAGIC: &[u8; 8] = b"OP2MESH1";

#[derive(Clone, Debug)]
struct FMap {
    name: String,
    from: usize,
    to: usize,
    arity: usize,
    offset: u64,
}

/// One dat stored in a [`MeshFile`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDat {
    /// Its name.
    pub name: String,
    /// The set it lives on.
    pub set: String,
    /// Values per element.
    pub dim: usize,
    /// Element type, as its C name (`double`, `int`, ...).
    pub dtype: String,
    offset: u64,
}

/// An open mesh file (header read; arrays are read per block on demand).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("two.op2mesh");
/// let mesh = op2::GlobalMesh::new().add_set("nodes", 4).add_set("cells", 2)
///     .add_map("cell_nodes", "cells", "nodes", 3, vec![0, 1, 2, 1, 3, 2]);
/// let x = vec![0.0f64, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
/// op2::mesh::MeshFile::write(&path, &mesh, |w| w.dat("x", "nodes", 2, &x), Some("x")).unwrap();
///
/// let comm = op2::Comm::serial();
/// let f = op2::mesh::MeshFile::open(comm, &path).unwrap();
/// assert_eq!(f.sets(), vec![("nodes".to_string(), 4), ("cells".to_string(), 2)]);
/// let m = op2::mesh::distribute_blocks(comm, f.block(comm).unwrap()).unwrap();
/// let xd = m.dat_from_block("x", "nodes", 2, f.dat_block::<f64>(comm, "x").unwrap()).unwrap();
/// assert_eq!(xd.gather::<f64>(0).unwrap().unwrap(), x);
/// assert!(f.dat_block::<i32>(comm, "x").is_err()); // stored as double
/// ```
#[derive(Clone, Debug)]
pub struct MeshFile {
    path: PathBuf,
    sets: Vec<(String, usize)>,
    maps: Vec<FMap>,
    dats: Vec<FileDat>,
    coords: Option<usize>,
}

/// Writes the arrays of a [`MeshFile`] (see [`MeshFile::write`]).
pub struct MeshFileWriter<'a> {
    out: BufWriter<File>,
    at: u64,
    mesh: &'a GlobalMesh,
    dats: Vec<FileDat>,
}

impl MeshFileWriter<'_> {
    /// Append dat `name` on set `set` (`dim` values per element, global order).
    pub fn dat<T: Scalar>(
        &mut self,
        name: &str,
        set: &str,
        dim: usize,
        values: &[T],
    ) -> Result<()> {
        let what = format!("MeshFile::write: dat `{name}`");
        let n = self
            .mesh
            .sets
            .iter()
            .find(|s| s.name == set)
            .map(|s| s.size)
            .ok_or_else(|| Error::invalid(&what, format!("no set named `{set}`")))?;
        if values.len() != n * dim || dim == 0 || name.contains(char::is_whitespace) {
            return Err(Error::invalid(
                &what,
                format!("{} values for {n} elements x dim {dim}", values.len()),
            ));
        }
        let offset = self.at;
        let bytes = le_bytes(values);
        self.out.write_all(&bytes).map_err(io_err(&what))?;
        self.at += bytes.len() as u64;
        self.dats.push(FileDat {
            name: name.into(),
            set: set.into(),
            dim,
            dtype: T::DTYPE.to_string(),
            offset,
        });
        Ok(())
    }
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::invalid(what, e.to_string())
}

/// Values as little-endian bytes.
fn le_bytes<T: Scalar>(v: &[T]) -> Vec<u8> {
    let mut b: Vec<u8> = bytemuck::cast_slice(v).to_vec();
    if cfg!(target_endian = "big") {
        for c in b.chunks_mut(std::mem::size_of::<T>()) {
            c.reverse();
        }
    }
    b
}

impl MeshFile {
    /// Write `mesh` (validated first) and the dats `dats` adds, to `path`; `coords` names a
    /// dat of doubles (dim 1 to 3) used for RCB on reading. One process writes (a converter).
    pub fn write(
        path: impl AsRef<Path>,
        mesh: &GlobalMesh,
        dats: impl FnOnce(&mut MeshFileWriter) -> Result<()>,
        coords: Option<&str>,
    ) -> Result<()> {
        let path = path.as_ref();
        let what = format!("MeshFile::write({})", path.display());
        let ends = mesh.check()?;
        let f = File::create(path).map_err(io_err(&what))?;
        let mut w = MeshFileWriter {
            out: BufWriter::with_capacity(1 << 20, f),
            at: 24,
            mesh,
            dats: Vec::new(),
        };
        w.out.write_all(&[0u8; 24]).map_err(io_err(&what))?;
        let mut header = String::new();
        for s in &mesh.sets {
            header += &format!("set {} {}\n", s.name, s.size);
        }
        for (m, &(f, t)) in mesh.maps.iter().zip(&ends) {
            header += &format!(
                "map {} {} {} {} {}\n",
                m.name, mesh.sets[f].name, mesh.sets[t].name, m.arity, w.at
            );
            let b = le_bytes(&m.values);
            w.out.write_all(&b).map_err(io_err(&what))?;
            w.at += b.len() as u64;
        }
        dats(&mut w)?;
        for d in &w.dats {
            header += &format!(
                "dat {} {} {} {} {}\n",
                d.name, d.set, d.dim, d.dtype, d.offset
            );
        }
        if let Some(c) = coords {
            if !w.dats.iter().any(|d| d.name == c) {
                return Err(Error::invalid(&what, format!("coords: no dat named `{c}`")));
            }
            header += &format!("coords {c}\n");
        }
        let (hoff, hlen) = (w.at, header.len() as u64);
        w.out.write_all(header.as_bytes()).map_err(io_err(&what))?;
        let mut f = w
            .out
            .into_inner()
            .map_err(|e| Error::invalid(&what, e.to_string()))?;
        f.seek(SeekFrom::Start(0)).map_err(io_err(&what))?;
        let mut head = MAGIC.to_vec();
        head.extend_from_slice(&hoff.to_le_bytes());
        head.extend_from_slice(&hlen.to_le_bytes());
        f.write_all(&head).map_err(io_err(&what))?;
        f.sync_all().map_err(io_err(&what))?;
        Ok(())
    }

    /// Open `path` on every rank of `comm` and read its header. Collective: if any rank fails
    /// (missing or bad file) every rank returns an error.
    pub fn open(comm: Comm, path: impl AsRef<Path>) -> Result<MeshFile> {
        agree(comm, Share::Status, MeshFile::open_local(path.as_ref()))
    }

    /// True if `path` starts like an op2 mesh file (its magic bytes).
    pub fn is_mesh_file(path: impl AsRef<Path>) -> bool {
        let mut head = [0u8; 8];
        File::open(path)
            .and_then(|f| f.read_exact_at(&mut head, 0))
            .is_ok()
            && &head == MAGIC
    }

    fn open_local(path: &Path) -> Result<MeshFile> {
        let what = format!("MeshFile({})", path.display());
        let bad = |d: String| Error::invalid(&what, d);
        let f = File::open(path).map_err(io_err(&what))?;
        let flen = f.metadata().map_err(io_err(&what))?.len();
        let mut head = [0u8; 24];
        f.read_exact_at(&mut head, 0)
            .map_err(|_| bad("too short for an op2 mesh file".into()))?;
        if &head[..8] != MAGIC {
            return Err(bad("not an op2 mesh file (bad magic)".into()));
        }
        let u = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().unwrap_or([0; 8]));
        let (hoff, hlen) = (u(8), u(16));
        if hoff.checked_add(hlen).is_none_or(|e| e > flen) || hlen > 1 << 30 {
            return Err(bad(format!(
                "header [{hoff}, +{hlen}) outside the file ({flen} bytes)"
            )));
        }
        let mut text = vec![0u8; hlen as usize];
        f.read_exact_at(&mut text, hoff).map_err(io_err(&what))?;
        let text = String::from_utf8(text).map_err(|_| bad("header is not UTF-8".into()))?;
        let mut mf = MeshFile {
            path: path.to_path_buf(),
            sets: Vec::new(),
            maps: Vec::new(),
            dats: Vec::new(),
            coords: None,
        };
        for (ln, line) in text.lines().enumerate() {
            let w: Vec<&str> = line.split_whitespace().collect();
            let at = |d: &str| bad(format!("header line {}: {d}: `{line}`", ln + 1));
            let num = |s: &str| s.parse::<u64>().map_err(|_| at("bad number"));
            let set = |n: &str, sets: &[(String, usize)]| {
                sets.iter()
                    .position(|s| s.0 == n)
                    .ok_or_else(|| at(&format!("no set `{n}`")))
            };
            let extent = |off: u64, n: u64, width: u64| {
                let len = n.checked_mul(width).ok_or_else(|| at("size overflows"))?;
                match off.checked_add(len) {
                    Some(e) if off >= 24 && e <= hoff => Ok(()),
                    _ => Err(at("array outside the data section")),
                }
            };
            match w.as_slice() {
                ["set", name, size] => mf.sets.push((name.to_string(), num(size)? as usize)),
                ["map", name, from, to, arity, off] => {
                    let (f, t, a, o) = (
                        set(from, &mf.sets)?,
                        set(to, &mf.sets)?,
                        num(arity)?,
                        num(off)?,
                    );
                    let width = a.checked_mul(4).ok_or_else(|| at("size overflows"))?;
                    extent(o, mf.sets[f].1 as u64, width)?;
                    mf.maps.push(FMap {
                        name: name.to_string(),
                        from: f,
                        to: t,
                        arity: a as usize,
                        offset: o,
                    });
                }
                ["dat", name, s, dim, dtype, off] => {
                    let (si, d, o) = (set(s, &mf.sets)?, num(dim)?, num(off)?);
                    let size = dtype_size(dtype).ok_or_else(|| at("unknown dtype"))?;
                    let width = d.checked_mul(size).ok_or_else(|| at("size overflows"))?;
                    extent(o, mf.sets[si].1 as u64, width)?;
                    mf.dats.push(FileDat {
                        name: name.to_string(),
                        set: s.to_string(),
                        dim: d as usize,
                        dtype: dtype.to_string(),
                        offset: o,
                    });
                }
                ["coords", name] => {
                    let i = mf
                        .dats
                        .iter()
                        .position(|d| d.name == *name)
                        .ok_or_else(|| at("no such dat"))?;
                    if mf.dats[i].dtype != DType::F64.to_string()
                        || !(1..=3).contains(&mf.dats[i].dim)
                    {
                        return Err(at("coordinates must be doubles of dim 1 to 3"));
                    }
                    mf.coords = Some(i);
                }
                [] => {}
                _ => return Err(at("unknown entry")),
            }
        }
        Ok(mf)
    }

    /// Sets and their global sizes, in file order.
    pub fn sets(&self) -> Vec<(String, usize)> {
        self.sets.clone()
    }

    /// The dats stored in the file.
    pub fn dats(&self) -> &[FileDat] {
        &self.dats
    }

    /// Read `count` rows of `width` little-endian values of `T` from `offset + first * row`,
    /// straight into the returned vector.
    fn read_rows<T: Scalar>(
        &self,
        offset: u64,
        first: usize,
        count: usize,
        width: usize,
    ) -> Result<Vec<T>> {
        let what = format!("MeshFile({})", self.path.display());
        let f = File::open(&self.path).map_err(io_err(&what))?;
        let mut v = vec![T::zero(); count * width];
        let row = (width * std::mem::size_of::<T>()) as u64;
        let b: &mut [u8] = bytemuck::cast_slice_mut(&mut v);
        f.read_exact_at(b, offset + first as u64 * row)
            .map_err(io_err(&what))?;
        if cfg!(target_endian = "big") {
            for c in b.chunks_mut(std::mem::size_of::<T>()) {
                c.reverse();
            }
        }
        Ok(v)
    }

    /// This rank's block of every set's maps (and of the coordinates, if the file names them),
    /// ready for [`crate::mesh::distribute_blocks`]. Each rank reads only its rows. Collective
    /// (an I/O error on any rank fails every rank).
    pub fn block(&self, comm: Comm) -> Result<MeshBlock> {
        let r = self.block_local(comm);
        agree(comm, Share::Status, r)
    }

    fn block_local(&self, comm: Comm) -> Result<MeshBlock> {
        let (p, me) = (comm.size() as usize, comm.rank() as usize);
        let mut b = MeshBlock::new();
        for (n, s) in &self.sets {
            b = b.add_set(n, *s);
        }
        for m in &self.maps {
            let r = block_range(self.sets[m.from].1, p, me);
            let rows = self.read_rows::<i32>(m.offset, r.start, r.len(), m.arity)?;
            b = b.add_map(
                &m.name,
                &self.sets[m.from].0,
                &self.sets[m.to].0,
                m.arity,
                rows,
            );
        }
        if let Some(c) = self.coords {
            let d = &self.dats[c];
            b = b.coordinates(&d.set, d.dim, self.dat_block_local::<f64>(comm, &d.name)?);
        }
        Ok(b)
    }

    /// This rank's block of dat `name` (for [`crate::DistributedMesh::dat_from_block`]); the
    /// type must be the stored one. Collective.
    pub fn dat_block<T: Scalar>(&self, comm: Comm, name: &str) -> Result<Vec<T>> {
        let r = self.dat_block_local(comm, name);
        agree(comm, Share::Status, r)
    }

    fn dat_block_local<T: Scalar>(&self, comm: Comm, name: &str) -> Result<Vec<T>> {
        let what = format!("MeshFile({}): dat `{name}`", self.path.display());
        let d = self
            .dats
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::invalid(&what, "no such dat"))?;
        if d.dtype != T::DTYPE.to_string() {
            return Err(Error::invalid(
                &what,
                format!("stored as {}, read as {}", d.dtype, T::DTYPE),
            ));
        }
        let n = self.sets.iter().find(|s| s.0 == d.set).map_or(0, |s| s.1);
        let r = block_range(n, comm.size() as usize, comm.rank() as usize);
        self.read_rows(d.offset, r.start, r.len(), d.dim)
    }
}

fn dtype_size(name: &str) -> Option<u64> {
    [DType::F64, DType::F32, DType::I32, DType::I64, DType::U32]
        .into_iter()
        .find(|d| d.to_string() == name)
        .map(|d| d.size() as u64)
}

impl crate::mesh::airfoil::AirfoilMesh {
    /// The mesh as a [`GlobalMesh`] with OP2's Airfoil names: sets `nodes`, `cells`, `edges`,
    /// `bedges`; maps `pcell`, `pedge`, `pecell`, `pbedge`, `pbecell`; node coordinates.
    ///
    /// ```
    /// let g = op2::mesh::naca0012(2, 2).unwrap().to_global_mesh();
    /// assert!(g.validate().is_ok());
    /// ```
    pub fn to_global_mesh(&self) -> GlobalMesh {
        self.clone().take_global_mesh()
    }

    /// As [`Self::to_global_mesh`], moving the maps and coordinates out of `self` instead of
    /// copying them (they are left empty): for a caller that needs the mesh only to distribute.
    /// Coordinates are left out if `x` is already empty (taken by a caller that needs no
    /// geometric partitioner, e.g. on one rank).
    pub fn take_global_mesh(&mut self) -> GlobalMesh {
        use std::mem::take;
        let g = GlobalMesh::new()
            .add_set("nodes", self.nnode)
            .add_set("cells", self.ncell)
            .add_set("edges", self.nedge)
            .add_set("bedges", self.nbedge)
            .add_map("pcell", "cells", "nodes", 4, take(&mut self.cell))
            .add_map("pedge", "edges", "nodes", 2, take(&mut self.edge))
            .add_map("pecell", "edges", "cells", 2, take(&mut self.ecell))
            .add_map("pbedge", "bedges", "nodes", 2, take(&mut self.bedge))
            .add_map("pbecell", "bedges", "cells", 1, take(&mut self.becell));
        match self.x.is_empty() && self.nnode > 0 {
            true => g,
            false => g.coordinates("nodes", 2, take(&mut self.x)),
        }
    }

    /// Read an Airfoil mesh back from an op2 mesh file written by [`Self::write_mesh_file`]
    /// (OP2's Airfoil names), whole, in this process: for converters.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let m = op2::mesh::naca0012(3, 2).unwrap();
    /// m.write_mesh_file(dir.path().join("g.op2mesh")).unwrap();
    /// let back = op2::mesh::AirfoilMesh::read_mesh_file(dir.path().join("g.op2mesh")).unwrap();
    /// assert!(back == m);
    /// ```
    pub fn read_mesh_file(path: impl AsRef<Path>) -> Result<crate::mesh::AirfoilMesh> {
        let path = path.as_ref();
        let what = format!("AirfoilMesh::read_mesh_file({})", path.display());
        let comm = Comm::serial();
        let f = MeshFile::open_local(path)?;
        let b = f.block_local(comm)?;
        let size = |n: &str| {
            b.sets
                .iter()
                .find(|s| s.name == n)
                .map(|s| s.size)
                .ok_or_else(|| Error::invalid(&what, format!("no set `{n}` (not an Airfoil mesh)")))
        };
        let map = |n: &str| {
            b.maps
                .iter()
                .find(|m| m.name == n)
                .map(|m| m.values.clone())
                .ok_or_else(|| Error::invalid(&what, format!("no map `{n}` (not an Airfoil mesh)")))
        };
        let m = crate::mesh::AirfoilMesh {
            nnode: size("nodes")?,
            ncell: size("cells")?,
            nedge: size("edges")?,
            nbedge: size("bedges")?,
            x: f.dat_block_local::<f64>(comm, "p_x")?,
            cell: map("pcell")?,
            edge: map("pedge")?,
            ecell: map("pecell")?,
            bedge: map("pbedge")?,
            becell: map("pbecell")?,
            bound: f.dat_block_local::<i32>(comm, "p_bound")?,
        };
        m.validate()?;
        Ok(m)
    }

    /// Write the mesh as an op2 mesh file ([`MeshFile`]): the sets and maps of
    /// [`Self::to_global_mesh`] and the dats `p_x` (coordinates, the RCB coordinates) and
    /// `p_bound`, OP2's `new_grid.h5` names.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let m = op2::mesh::naca0012(3, 2).unwrap();
    /// m.write_mesh_file(dir.path().join("g.op2mesh")).unwrap();
    /// let f = op2::mesh::MeshFile::open(op2::Comm::serial(), dir.path().join("g.op2mesh")).unwrap();
    /// assert_eq!(f.dats().len(), 2);
    /// ```
    pub fn write_mesh_file(&self, path: impl AsRef<Path>) -> Result<()> {
        MeshFile::write(
            path,
            &self.to_global_mesh(),
            |w| {
                w.dat("p_x", "nodes", 2, &self.x)?;
                w.dat("p_bound", "bedges", 1, &self.bound)
            },
            Some("p_x"),
        )
    }
}
