//! Results out: VTK XML unstructured grids (ParaView, VisIt, meshio).
//!
//! Two layers. [`Piece`] + [`write_piece`] write one `.vtu` from plain arrays (points,
//! connectivity, point and cell fields) and know nothing of Sets or MPI. [`Output`] writes
//! distributed Dats over a mesh given by a cell-to-node [`Map`] and a coordinate [`Dat`]:
//!
//! * [`Output::write_vtu`]: one `.vtu` on rank 0 in global numbering (the mesh and every field
//!   gathered there);
//! * [`Output::write_pvtu`]: ParaView's parallel format, `name.pvtu` (written by rank 0) listing
//!   one piece `name_<rank>.vtu` per rank: the rank's owned cells and every node they touch
//!   (owned and halo, so pieces share their interface nodes), with no communication beyond a
//!   refresh of halo copies.
//!
//! Both are collective over the mesh's communicator and return the same result on every rank
//! (a write error on one rank is reported by all). Fields are `f64` Dats on the cell set
//! (cell data) or the node set (point data), named by their Dat name. Files are ASCII.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! let m = op2::mesh::unit_square(2, 0.0).unwrap();
//! let cells = op2::Set::new(m.ncells()).unwrap();
//! let nodes = op2::Set::new(m.nnodes()).unwrap();
//! let c2n = op2::Map::new(&cells, &nodes, 3, m.cells.clone()).unwrap();
//! let xy = op2::Dat::new(&op2::DataSet::new(&nodes, 2).unwrap(), m.coords.clone()).unwrap();
//! let u = op2::Dat::named("u", &op2::DataSet::new(&nodes, 1).unwrap(), vec![1.0f64; 9]).unwrap();
//! let out = op2::mesh::vtu::Output::new(&c2n, &xy).unwrap();
//! out.write_vtu(&dir.path().join("u.vtu"), &[&u]).unwrap();
//! let text = std::fs::read_to_string(dir.path().join("u.vtu")).unwrap();
//! assert!(text.contains("NumberOfPoints=\"9\" NumberOfCells=\"8\""));
//! ```
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::data::dat::{update_halo, Dat};
use crate::data::dataset::DataSet;
use crate::data::map::Map;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::mpi::agree::{agree, Share};
use crate::mpi::comm::Comm;

/// A named field: `components` values per point or cell.
#[derive(Clone, Debug)]
pub struct Field<'a> {
    /// The field's name in the file.
    pub name: &'a str,
    /// Values per point or cell (1: scalar, 2 or 3: vector).
    pub components: usize,
    /// `components` values per point or cell, point- or cell-major.
    pub values: &'a [f64],
}

/// One unstructured grid of a single cell kind, as plain arrays.
#[derive(Clone, Debug)]
pub struct Piece<'a> {
    /// `point_dim` coordinates per point (2 or 3).
    pub points: &'a [f64],
    /// Coordinates per point (2 or 3).
    pub point_dim: usize,
    /// `nodes_per_cell` point indices per cell (2: line, 3: triangle, 4: quad).
    pub connectivity: &'a [i64],
    /// Points per cell.
    pub nodes_per_cell: usize,
    /// Fields with values per point.
    pub point_data: Vec<Field<'a>>,
    /// Fields with values per cell.
    pub cell_data: Vec<Field<'a>>,
}

/// VTK cell type of a cell with `n` nodes (2D meshes of one kind).
fn cell_type(n: usize) -> Option<u8> {
    match n {
        2 => Some(3), // VTK_LINE
        3 => Some(5), // VTK_TRIANGLE
        4 => Some(9), // VTK_QUAD
        _ => None,
    }
}

impl Piece<'_> {
    fn npoints(&self) -> usize {
        self.points.len() / self.point_dim.max(1)
    }
    fn ncells(&self) -> usize {
        self.connectivity.len() / self.nodes_per_cell.max(1)
    }
    fn check(&self) -> std::result::Result<(), String> {
        if !(2..=3).contains(&self.point_dim) || !self.points.len().is_multiple_of(self.point_dim) {
            return Err(format!(
                "{} coordinates for dimension {}",
                self.points.len(),
                self.point_dim
            ));
        }
        if cell_type(self.nodes_per_cell).is_none() {
            return Err(format!(
                "cells of {} nodes (2, 3 or 4 supported)",
                self.nodes_per_cell
            ));
        }
        if !self.connectivity.len().is_multiple_of(self.nodes_per_cell) {
            return Err("connectivity is not a whole number of cells".into());
        }
        let np = self.npoints() as i64;
        if let Some(bad) = self.connectivity.iter().find(|&&v| v < 0 || v >= np) {
            return Err(format!("point index {bad} out of range (0..{np})"));
        }
        for (fs, n, what) in [
            (&self.point_data, self.npoints(), "point"),
            (&self.cell_data, self.ncells(), "cell"),
        ] {
            for f in fs {
                if f.components == 0 || f.values.len() != n * f.components {
                    return Err(format!(
                        "{what} field {}: {} values for {n} x {}",
                        f.name,
                        f.values.len(),
                        f.components
                    ));
                }
            }
        }
        Ok(())
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io("write VTU", path, e)
}

/// The `NumberOfComponents` attribute: omitted for scalars (VTK's default), so readers give
/// scalar fields as plain arrays.
fn components(n: usize) -> String {
    if n == 1 {
        String::new()
    } else {
        format!(" NumberOfComponents=\"{n}\"")
    }
}

fn escape(name: &str) -> String {
    name.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Write `piece` as a `.vtu` file (VTK XML UnstructuredGrid, ASCII).
pub fn write_piece(path: &Path, piece: &Piece) -> Result<()> {
    piece
        .check()
        .map_err(|d| Error::invalid(format!("VTU output {}", path.display()), d))?;
    let f = std::fs::File::create(path).map_err(io_err(path))?;
    let mut w = std::io::BufWriter::new(f);
    let (np, nc, k) = (piece.npoints(), piece.ncells(), piece.nodes_per_cell);
    let arrays = |w: &mut std::io::BufWriter<std::fs::File>, fs: &[Field]| -> std::io::Result<()> {
        for f in fs {
            writeln!(
                w,
                "<DataArray type=\"Float64\" Name=\"{}\"{} format=\"ascii\">",
                escape(f.name),
                components(f.components)
            )?;
            for v in f.values.chunks_exact(f.components) {
                let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                writeln!(w, "{}", s.join(" "))?;
            }
            writeln!(w, "</DataArray>")?;
        }
        Ok(())
    };
    (|| -> std::io::Result<()> {
        writeln!(w, "<?xml version=\"1.0\"?>")?;
        writeln!(w, "<VTKFile type=\"UnstructuredGrid\" version=\"0.1\" byte_order=\"LittleEndian\">")?;
        writeln!(w, "<UnstructuredGrid><Piece NumberOfPoints=\"{np}\" NumberOfCells=\"{nc}\">")?;
        writeln!(w, "<PointData>")?;
        arrays(&mut w, &piece.point_data)?;
        writeln!(w, "</PointData>\n<CellData>")?;
        arrays(&mut w, &piece.cell_data)?;
        writeln!(w, "</CellData>")?;
        writeln!(w, "<Points><DataArray type=\"Float64\" NumberOfComponents=\"3\" format=\"ascii\">")?;
        for p in piece.points.chunks_exact(piece.point_dim) {
            let z = if piece.point_dim == 3 { p[2] } else { 0.0 };
            writeln!(w, "{} {} {z}", p[0], p[1])?;
        }
        writeln!(w, "</DataArray></Points>\n<Cells>\n<DataArray type=\"Int64\" Name=\"connectivity\" format=\"ascii\">")?;
        for c in piece.connectivity.chunks_exact(k) {
            let s: Vec<String> = c.iter().map(|x| x.to_string()).collect();
            writeln!(w, "{}", s.join(" "))?;
        }
        writeln!(w, "</DataArray>\n<DataArray type=\"Int64\" Name=\"offsets\" format=\"ascii\">")?;
        for i in 1..=nc {
            writeln!(w, "{}", k * i)?;
        }
        writeln!(w, "</DataArray>\n<DataArray type=\"UInt8\" Name=\"types\" format=\"ascii\">")?;
        let t = cell_type(k).expect("checked");
        for _ in 0..nc {
            writeln!(w, "{t}")?;
        }
        writeln!(w, "</DataArray>\n</Cells>\n</Piece></UnstructuredGrid>\n</VTKFile>")?;
        w.flush()
    })()
    .map_err(io_err(path))
}

/// Write the `.pvtu` index of `pieces` (file names relative to it), declaring the fields
/// `(name, components)` every piece holds.
pub fn write_index(
    path: &Path,
    pieces: &[String],
    point_fields: &[(&str, usize)],
    cell_fields: &[(&str, usize)],
) -> Result<()> {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<VTKFile type=\"PUnstructuredGrid\" version=\"0.1\" byte_order=\"LittleEndian\">\n<PUnstructuredGrid GhostLevel=\"0\">\n<PPointData>\n");
    let decl = |s: &mut String, fs: &[(&str, usize)]| {
        for (n, c) in fs {
            s.push_str(&format!(
                "<PDataArray type=\"Float64\" Name=\"{}\"{}/>\n",
                escape(n),
                components(*c)
            ));
        }
    };
    decl(&mut s, point_fields);
    s.push_str("</PPointData>\n<PCellData>\n");
    decl(&mut s, cell_fields);
    s.push_str("</PCellData>\n<PPoints><PDataArray type=\"Float64\" NumberOfComponents=\"3\"/></PPoints>\n");
    for p in pieces {
        s.push_str(&format!("<Piece Source=\"{}\"/>\n", escape(p)));
    }
    s.push_str("</PUnstructuredGrid>\n</VTKFile>\n");
    std::fs::write(path, s).map_err(io_err(path))
}

/// Writes Dats over a mesh of cells (the map's source set) and nodes (its target set, with
/// coordinates). See the module documentation.
#[derive(Clone)]
pub struct Output {
    c2n: Map,
    coords: Dat,
}

/// Where a field lives.
enum Centre {
    Point,
    Cell,
}

impl Output {
    /// Output over the cells of `c2n` (2, 3 or 4 nodes each) with node coordinates `coords`
    /// (an `f64` Dat of dim 2 or 3 on the map's target set).
    pub fn new(c2n: &Map, coords: &Dat) -> Result<Output> {
        let what = || format!("vtu::Output::new({}, {})", c2n.name(), coords.name());
        if cell_type(c2n.arity()).is_none() {
            return Err(Error::invalid(
                what(),
                format!("cells of {} nodes (2, 3 or 4 supported)", c2n.arity()),
            ));
        }
        if coords.set() != c2n.to_set() {
            return Err(Error::invalid(
                what(),
                "the coordinates are not on the map's target set",
            ));
        }
        if coords.dtype() != DType::F64 || !(2..=3).contains(&coords.dim()) {
            return Err(Error::invalid(
                what(),
                format!(
                    "coordinates must be f64 of dim 2 or 3, not {} dim {}",
                    coords.dtype(),
                    coords.dim()
                ),
            ));
        }
        Ok(Output {
            c2n: c2n.clone(),
            coords: coords.clone(),
        })
    }

    fn comm(&self) -> Comm {
        self.c2n.from_set().comm()
    }

    /// Check the fields (the same metadata on every rank, so every rank agrees).
    fn centres(&self, fields: &[&Dat]) -> Result<Vec<Centre>> {
        fields
            .iter()
            .map(|d| {
                let what = || format!("VTU output of Dat {}", d.name());
                if d.dtype() != DType::F64 {
                    return Err(Error::invalid(
                        what(),
                        format!("holds {}, not f64", d.dtype()),
                    ));
                }
                if d.set() == self.c2n.from_set() {
                    Ok(Centre::Cell)
                } else if d.set() == self.c2n.to_set() {
                    Ok(Centre::Point)
                } else {
                    Err(Error::invalid(
                        what(),
                        format!(
                            "is on set {}, neither the cells ({}) nor the nodes ({})",
                            d.set().name(),
                            self.c2n.from_set().name(),
                            self.c2n.to_set().name()
                        ),
                    ))
                }
            })
            .collect()
    }

    /// The piece of `points`, `conn` and the fields' `values` (in the order of `fields`).
    fn piece<'a>(
        &self,
        points: &'a [f64],
        conn: &'a [i64],
        fields: &[&'a Dat],
        centres: &[Centre],
        values: &[&'a [f64]],
    ) -> Piece<'a> {
        let (mut pd, mut cd) = (Vec::new(), Vec::new());
        for ((d, c), v) in fields.iter().zip(centres).zip(values) {
            let f = Field {
                name: d.name(),
                components: d.dim(),
                values: v,
            };
            match c {
                Centre::Point => pd.push(f),
                Centre::Cell => cd.push(f),
            }
        }
        Piece {
            points,
            point_dim: self.coords.dim(),
            connectivity: conn,
            nodes_per_cell: self.c2n.arity(),
            point_data: pd,
            cell_data: cd,
        }
    }

    /// Collective: write `fields` and the mesh as one `.vtu` file on rank 0, in global
    /// numbering.
    pub fn write_vtu(&self, path: &Path, fields: &[&Dat]) -> Result<()> {
        let centres = self.centres(fields)?;
        let comm = self.comm();
        let (cells, nodes) = (self.c2n.from_set(), self.c2n.to_set());
        // Global node ids of the owned cells' corners, gathered like any Dat.
        let offset = if nodes.global_ids().is_none() && comm.size() > 1 {
            // Sets never distributed: gather concatenates the ranks' owned elements.
            let sizes = comm.allgather_bytes(&(nodes.size() as u64).to_le_bytes())?;
            sizes[..comm.rank() as usize]
                .iter()
                .map(|b| u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as i64)
                .sum()
        } else {
            0
        };
        let k = self.c2n.arity();
        let conn: Vec<i64> = self.c2n.values()[..cells.size() * k]
            .iter()
            .map(|&v| match nodes.global_ids() {
                Some(g) => g[v as usize] as i64,
                None => offset + v as i64,
            })
            .collect();
        let conn = Dat::new(&DataSet::new(cells, k)?, conn)?.gather::<i64>(0)?;
        let coords = self.coords.gather::<f64>(0)?;
        let mut gathered = Vec::with_capacity(fields.len());
        for d in fields {
            gathered.push(d.gather::<f64>(0)?);
        }
        let mut outcome = Ok(());
        if let (Some(conn), Some(coords)) = (conn, coords) {
            let values: Vec<&[f64]> = gathered
                .iter()
                .map(|v| v.as_deref().expect("gathered on rank 0"))
                .collect();
            let piece = self.piece(&coords, &conn, fields, &centres, &values);
            outcome = write_piece(path, &piece);
        }
        // Rank 0 wrote the file: its outcome is every rank's.
        agree(comm, Share::Root, outcome)
    }

    /// Collective: write ParaView's parallel format: `path` (a `.pvtu`, by rank 0) and one
    /// piece per rank beside it, `<stem>_<rank>.vtu`, holding the rank's owned cells and the
    /// nodes they touch. Returns the pieces' paths.
    pub fn write_pvtu(&self, path: &Path, fields: &[&Dat]) -> Result<Vec<PathBuf>> {
        let centres = self.centres(fields)?;
        let comm = self.comm();
        let stem = path
            .file_stem()
            .ok_or_else(|| {
                Error::invalid("VTU output", format!("{} has no file name", path.display()))
            })?
            .to_string_lossy()
            .into_owned();
        let dir = path.parent().unwrap_or(Path::new(""));
        let names: Vec<String> = (0..comm.size())
            .map(|r| format!("{stem}_{r}.vtu"))
            .collect();
        // Halo nodes carry their owners' values (collective refreshes).
        update_halo(&self.coords)?;
        for (d, c) in fields.iter().zip(&centres) {
            if matches!(c, Centre::Point) {
                update_halo(d)?;
            }
        }
        let cells = self.c2n.from_set();
        let k = self.c2n.arity();
        let coords = self.coords.to_vec_with_halo::<f64>()?;
        let conn: Vec<i64> = self.c2n.values()[..cells.size() * k]
            .iter()
            .map(|&v| v as i64)
            .collect();
        let mut values = Vec::with_capacity(fields.len());
        for (d, c) in fields.iter().zip(&centres) {
            values.push(match c {
                Centre::Point => d.to_vec_with_halo::<f64>()?,
                Centre::Cell => d.to_vec::<f64>()?,
            });
        }
        let values: Vec<&[f64]> = values.iter().map(Vec::as_slice).collect();
        let piece = self.piece(&coords, &conn, fields, &centres, &values);
        let pdecl: Vec<(&str, usize)> = piece
            .point_data
            .iter()
            .map(|f| (f.name, f.components))
            .collect();
        let cdecl: Vec<(&str, usize)> = piece
            .cell_data
            .iter()
            .map(|f| (f.name, f.components))
            .collect();
        let mine = dir.join(&names[comm.rank() as usize]);
        let mut result = write_piece(&mine, &piece);
        if result.is_ok() && comm.is_root() {
            result = write_index(path, &names, &pdecl, &cdecl);
        }
        // Every rank learns whether every rank succeeded (and the first failure's message).
        agree(comm, Share::Detail, result)?;
        Ok(names.iter().map(|n| dir.join(n)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_checked_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.vtu");
        let good = Piece {
            points: &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
            point_dim: 2,
            connectivity: &[0, 1, 2],
            nodes_per_cell: 3,
            point_data: vec![],
            cell_data: vec![Field {
                name: "a<b",
                components: 1,
                values: &[2.5],
            }],
        };
        write_piece(&p, &good).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("Name=\"a&lt;b\""), "{text}");
        assert!(
            text.contains("\n0 1 2\n") && text.contains("\n5\n"),
            "{text}"
        );
        let mut bad = good.clone();
        bad.connectivity = &[0, 1, 3];
        assert!(write_piece(&p, &bad)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        let mut bad = good.clone();
        bad.cell_data[0].values = &[1.0, 2.0];
        assert!(write_piece(&p, &bad).is_err());
        let mut bad = good;
        bad.nodes_per_cell = 5;
        bad.connectivity = &[0, 1, 2, 0, 1];
        assert!(write_piece(&p, &bad).is_err());
    }
}
