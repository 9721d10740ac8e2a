//! Meshes: the standard benchmark meshes as plain arrays, their generators and file formats.
//!
//! Owns [`AirfoilMesh`] (OP2's Airfoil mesh: node coordinates and the five connectivity tables
//! OP2's Airfoil declares as maps and data), its generator [`crate::mesh::naca0012`] (OP2's `new_grid.dat`
//! for `I = 400, J = 600`) and OP2's ASCII mesh format ([`AirfoilMesh::write_op2`],
//! [`AirfoilMesh::read_op2`]). It knows nothing of Sets, Maps or MPI: callers build those from
//! the arrays. Indices are 0-based C `int`s, as OP2 and generated C code use them.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// OP2's Airfoil mesh: quadrilateral cells, interior edges with their two cells, and boundary
/// edges with their one cell and a boundary flag (1: aerofoil wall, 2: far field).
///
/// Every table is row-major: `x` has 2 values per node, `cell` 4 nodes per cell
/// (anticlockwise), `edge` 2 nodes and `ecell` 2 cells per interior edge, `bedge` 2 nodes,
/// `becell` 1 cell and `bound` 1 flag per boundary edge. [`AirfoilMesh::validate`] checks that
/// lengths match the counts and that every index is in range.
///
/// ```
/// let m = op2::mesh::naca0012(2, 2).unwrap();
/// assert_eq!(m.cell.len(), 4 * m.ncell);
/// assert_eq!(&m.cell[..4], &[0, 1, 8, 7]); // node(i, j) = i + j * (3I + 1)
/// m.validate().unwrap();
/// ```
#[derive(Clone, PartialEq)]
pub struct AirfoilMesh {
    /// Number of nodes.
    pub nnode: usize,
    /// Number of (quadrilateral) cells.
    pub ncell: usize,
    /// Number of interior edges.
    pub nedge: usize,
    /// Number of boundary edges.
    pub nbedge: usize,
    /// Node coordinates, `x y` per node.
    pub x: Vec<f64>,
    /// Cell to nodes, 4 per cell.
    pub cell: Vec<i32>,
    /// Interior edge to nodes, 2 per edge.
    pub edge: Vec<i32>,
    /// Interior edge to cells, 2 per edge.
    pub ecell: Vec<i32>,
    /// Boundary edge to nodes, 2 per boundary edge.
    pub bedge: Vec<i32>,
    /// Boundary edge to its cell, 1 per boundary edge.
    pub becell: Vec<i32>,
    /// Boundary flag, 1 per boundary edge (OP2's Airfoil: 1 wall, 2 far field).
    pub bound: Vec<i32>,
}

impl fmt::Debug for AirfoilMesh {
    /// Counts only: the tables of a real mesh have millions of entries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AirfoilMesh")
            .field("nnode", &self.nnode)
            .field("ncell", &self.ncell)
            .field("nedge", &self.nedge)
            .field("nbedge", &self.nbedge)
            .finish_non_exhaustive()
    }
}

/// Round to six decimals exactly as C's `printf("%f")` followed by `strtod` would: Rust's
/// `{:.6}` rounds the exact binary value correctly (ties to even, like glibc), and `parse`
/// is correctly rounded like `strtod`.
pub(crate) fn round6(v: f64) -> f64 {
    format!("{v:.6}").parse().unwrap_or(v)
}

/// Reserve `n` more elements, turning an impossible allocation into an error.
fn reserve<T>(v: &mut Vec<T>, n: usize, what: &dyn Fn() -> String) -> Result<()> {
    v.try_reserve_exact(n).map_err(|e| {
        Error::invalid(
            what(),
            format!("cannot allocate {n} elements of a mesh table: {e}"),
        )
    })
}

impl AirfoilMesh {
    /// Empty tables with room for a mesh of the given counts.
    pub(crate) fn reserved(
        nnode: usize,
        ncell: usize,
        nedge: usize,
        nbedge: usize,
        what: &dyn Fn() -> String,
    ) -> Result<AirfoilMesh> {
        let mut m = AirfoilMesh {
            nnode,
            ncell,
            nedge,
            nbedge,
            x: Vec::new(),
            cell: Vec::new(),
            edge: Vec::new(),
            ecell: Vec::new(),
            bedge: Vec::new(),
            becell: Vec::new(),
            bound: Vec::new(),
        };
        reserve(&mut m.x, 2 * nnode, what)?;
        reserve(&mut m.cell, 4 * ncell, what)?;
        reserve(&mut m.edge, 2 * nedge, what)?;
        reserve(&mut m.ecell, 2 * nedge, what)?;
        reserve(&mut m.bedge, 2 * nbedge, what)?;
        reserve(&mut m.becell, nbedge, what)?;
        reserve(&mut m.bound, nbedge, what)?;
        Ok(m)
    }

    /// Check that every table's length matches the counts, that counts fit C's `int`, that
    /// every node and cell index is in range and that every coordinate is finite.
    ///
    /// ```
    /// let mut m = op2::mesh::naca0012(2, 3).unwrap();
    /// assert!(m.validate().is_ok());
    /// m.ecell[5] = m.ncell as i32; // one past the last cell
    /// let err = m.validate().unwrap_err().to_string();
    /// assert!(err.contains("ecell"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<()> {
        let what = "AirfoilMesh::validate";
        let max = i32::MAX as usize;
        for (name, n) in [
            ("nnode", self.nnode),
            ("ncell", self.ncell),
            ("nedge", self.nedge),
            ("nbedge", self.nbedge),
        ] {
            if n > max {
                return Err(Error::invalid(
                    what,
                    format!("{name} = {n} exceeds C's int range"),
                ));
            }
        }
        let tables: [(&str, usize, usize); 7] = [
            ("x", self.x.len(), 2 * self.nnode),
            ("cell", self.cell.len(), 4 * self.ncell),
            ("edge", self.edge.len(), 2 * self.nedge),
            ("ecell", self.ecell.len(), 2 * self.nedge),
            ("bedge", self.bedge.len(), 2 * self.nbedge),
            ("becell", self.becell.len(), self.nbedge),
            ("bound", self.bound.len(), self.nbedge),
        ];
        for (name, len, want) in tables {
            if len != want {
                return Err(Error::invalid(
                    what,
                    format!("`{name}` has {len} values, expected {want}"),
                ));
            }
        }
        if let Some(k) = self.x.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                what,
                format!("coordinate {} of node {} is {}", k % 2, k / 2, self.x[k]),
            ));
        }
        let ranged: [(&str, &[i32], usize, usize, &str); 5] = [
            ("cell", &self.cell, 4, self.nnode, "node"),
            ("edge", &self.edge, 2, self.nnode, "node"),
            ("ecell", &self.ecell, 2, self.ncell, "cell"),
            ("bedge", &self.bedge, 2, self.nnode, "node"),
            ("becell", &self.becell, 1, self.ncell, "cell"),
        ];
        for (name, table, arity, n, target) in ranged {
            if let Some(k) = table.iter().position(|&v| v < 0 || v as usize >= n) {
                return Err(Error::invalid(
                    what,
                    format!(
                        "`{name}` entry {} of row {} is {target} {}, outside 0..{n}",
                        k % arity,
                        k / arity,
                        table[k]
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Write the mesh in OP2's ASCII format (`new_grid.dat`), byte for byte as OP2's MATLAB
    /// generator writes it: a header `" nnode ncell nedge nbedge \n"`, then one line per node
    /// (`" %f %f \n"`), cell (`" %d %d %d %d \n"`), interior edge (nodes, then cells) and
    /// boundary edge (nodes, cell, bound). The mesh is validated first.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("grid.dat");
    /// let m = op2::mesh::naca0012(2, 2).unwrap();
    /// m.write_op2(&path).unwrap();
    /// let text = std::fs::read_to_string(&path).unwrap();
    /// assert!(text.starts_with(" 21 12 18 12 \n 9.000000 -0.000000 \n"));
    /// ```
    pub fn write_op2(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.validate()?;
        let file = File::create(path).ctx("create", path)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        self.write_to(&mut w).ctx("write", path)?;
        w.into_inner()
            .map_err(|e| e.into_error())
            .ctx("write", path)?
            .sync_all()
            .ctx("write", path)
    }

    fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            w,
            " {} {} {} {} ",
            self.nnode, self.ncell, self.nedge, self.nbedge
        )?;
        for p in self.x.chunks_exact(2) {
            writeln!(w, " {:.6} {:.6} ", p[0], p[1])?;
        }
        for c in self.cell.chunks_exact(4) {
            writeln!(w, " {} {} {} {} ", c[0], c[1], c[2], c[3])?;
        }
        for (n, c) in self.edge.chunks_exact(2).zip(self.ecell.chunks_exact(2)) {
            writeln!(w, " {} {} {} {} ", n[0], n[1], c[0], c[1])?;
        }
        for (k, n) in self.bedge.chunks_exact(2).enumerate() {
            writeln!(
                w,
                " {} {} {} {} ",
                n[0], n[1], self.becell[k], self.bound[k]
            )?;
        }
        Ok(())
    }

    /// Read a mesh in OP2's ASCII format (see [`AirfoilMesh::write_op2`]). Records are one per
    /// line (blank lines are skipped); a truncated or garbled file, a count outside C's `int`
    /// range, a non-finite coordinate, an out-of-range index or trailing data is an
    /// [`Error::Format`] naming the file, the line and what was expected there.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("grid.dat");
    /// let m = op2::mesh::naca0012(3, 2).unwrap();
    /// m.write_op2(&path).unwrap();
    /// assert_eq!(op2::mesh::AirfoilMesh::read_op2(&path).unwrap(), m);
    ///
    /// std::fs::write(&path, " 4 1 0 0 \n 0.0 0.0 \n").unwrap();
    /// let err = op2::mesh::AirfoilMesh::read_op2(&path).unwrap_err().to_string();
    /// let want = "grid.dat:3: unexpected end of file: expected `x y` of node 1 (of 4)";
    /// assert!(err.ends_with(want), "{err}");
    /// ```
    pub fn read_op2(path: impl AsRef<Path>) -> Result<AirfoilMesh> {
        let path = path.as_ref();
        let file = File::open(path).ctx("open", path)?;
        let mut r = LineReader {
            inner: BufReader::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            line: 0,
            buf: String::new(),
        };

        let header: [i32; 4] = r.record(|| "the header `nnode ncell nedge nbedge`".into())?;
        let mut counts = [0usize; 4];
        for (k, name) in ["nnode", "ncell", "nedge", "nbedge"].iter().enumerate() {
            counts[k] = usize::try_from(header[k])
                .map_err(|_| r.error(format!("{name} = {} is negative", header[k])))?;
        }
        let [nnode, ncell, nedge, nbedge] = counts;
        if nnode == 0 || ncell == 0 {
            return Err(r.error(format!(
                "an empty mesh ({nnode} nodes, {ncell} cells): Airfoil needs at least one cell"
            )));
        }
        let what = || format!("AirfoilMesh::read_op2({})", path.display());
        let mut m = AirfoilMesh::reserved(nnode, ncell, nedge, nbedge, &what)?;

        for n in 0..nnode {
            let p: [f64; 2] = r.record(|| format!("`x y` of node {n} (of {nnode})"))?;
            if let Some(v) = p.iter().find(|v| !v.is_finite()) {
                return Err(r.error(format!("coordinate {v} of node {n} is not finite")));
            }
            m.x.extend_from_slice(&p);
        }
        for n in 0..ncell {
            let c: [i32; 4] = r.record(|| format!("4 node indices of cell {n} (of {ncell})"))?;
            r.check(&c, nnode, || format!("cell {n}: node"))?;
            if let Some(why) = degenerate(&c, &m.x) {
                return Err(r.error(format!("cell {n} is degenerate: {why}")));
            }
            m.cell.extend_from_slice(&c);
        }
        for n in 0..nedge {
            let e: [i32; 4] =
                r.record(|| format!("`node node cell cell` of interior edge {n} (of {nedge})"))?;
            r.check(&e[..2], nnode, || format!("interior edge {n}: node"))?;
            r.check(&e[2..], ncell, || format!("interior edge {n}: cell"))?;
            m.edge.extend_from_slice(&e[..2]);
            m.ecell.extend_from_slice(&e[2..]);
        }
        for n in 0..nbedge {
            let b: [i32; 4] =
                r.record(|| format!("`node node cell bound` of boundary edge {n} (of {nbedge})"))?;
            r.check(&b[..2], nnode, || format!("boundary edge {n}: node"))?;
            r.check(&b[2..3], ncell, || format!("boundary edge {n}: cell"))?;
            m.bedge.extend_from_slice(&b[..2]);
            m.becell.push(b[2]);
            m.bound.push(b[3]);
        }
        if r.next_line()? {
            return Err(r.error(format!(
                "unexpected data after the last of {nbedge} boundary edges: {:?}",
                r.buf.trim()
            )));
        }
        Ok(m)
    }
}

/// Why the quadrilateral with (in-range) nodes `c` and coordinates `x` is degenerate, if it
/// is: a repeated node, or an area that is zero or not finite (coordinates so large that the
/// solver's fluxes overflow). Such a cell makes Airfoil divide by zero.
fn degenerate(c: &[i32; 4], x: &[f64]) -> Option<String> {
    for i in 0..4 {
        if c[i + 1..].contains(&c[i]) {
            return Some(format!("node {} appears twice in `{c:?}`", c[i]));
        }
    }
    let p = |k: usize| (x[2 * c[k] as usize], x[2 * c[k] as usize + 1]);
    // Shoelace: twice the signed area.
    let area2: f64 = (0..4)
        .map(|k| {
            let ((x0, y0), (x1, y1)) = (p(k), p((k + 1) % 4));
            x0 * y1 - x1 * y0
        })
        .sum();
    if area2 == 0.0 || !area2.is_finite() {
        return Some(format!("its area is {}", area2 / 2.0));
    }
    None
}

/// A field of a mesh file, named for error messages.
trait Field: std::str::FromStr {
    const KIND: &'static str;
    const ONE: &'static str;
}

impl Field for f64 {
    const KIND: &'static str = "numbers";
    const ONE: &'static str = "a number";
}

impl Field for i32 {
    const KIND: &'static str = "integers";
    const ONE: &'static str = "an integer in C's int range";
}

/// Reads one record per non-blank line, counting lines for error messages.
struct LineReader<R> {
    inner: R,
    path: PathBuf,
    line: usize,
    buf: String,
}

impl<R: BufRead> LineReader<R> {
    fn error(&self, detail: String) -> Error {
        Error::Format {
            path: self.path.clone(),
            line: self.line,
            detail,
        }
    }

    /// Advance to the next non-blank line; false at end of file.
    fn next_line(&mut self) -> Result<bool> {
        loop {
            self.buf.clear();
            let n = self
                .inner
                .read_line(&mut self.buf)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::InvalidData => Error::Format {
                        path: self.path.clone(),
                        line: self.line + 1,
                        detail: "not UTF-8 text".into(),
                    },
                    _ => Error::io("read", &self.path, e),
                })?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            if !self.buf.trim().is_empty() {
                return Ok(true);
            }
        }
    }

    /// The next line as exactly `N` numbers.
    fn record<T: Field, const N: usize>(
        &mut self,
        expected: impl Fn() -> String,
    ) -> Result<[T; N]> {
        if !self.next_line()? {
            // Point at the line that is missing.
            self.line += 1;
            return Err(self.error(format!("unexpected end of file: expected {}", expected())));
        }
        let fields: Vec<&str> = self.buf.split_whitespace().collect();
        let kind = T::KIND;
        if fields.len() != N {
            let err = format!(
                "expected {} ({N} {kind}), found {} field{}: {:?}",
                expected(),
                fields.len(),
                if fields.len() == 1 { "" } else { "s" },
                self.buf.trim()
            );
            return Err(self.error(err));
        }
        let mut out = Vec::with_capacity(N);
        for f in &fields {
            match f.parse::<T>() {
                Ok(v) => out.push(v),
                Err(_) => {
                    let err = format!(
                        "expected {} ({N} {kind}), but {f:?} is not {}",
                        expected(),
                        T::ONE
                    );
                    return Err(self.error(err));
                }
            }
        }
        out.try_into()
            .map_err(|_| self.error(format!("expected {}", expected())))
    }

    /// Every index in `0..n`.
    fn check(&self, idx: &[i32], n: usize, what: impl Fn() -> String) -> Result<()> {
        match idx.iter().find(|&&v| v < 0 || v as usize >= n) {
            Some(v) => Err(self.error(format!("{} index {v} is outside 0..{n}", what()))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::naca0012;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn round6_matches_c_printf() {
        // Values checked against glibc's printf("%f"): exact binary ties round to even,
        // everything else to nearest; tiny negatives keep their sign.
        let cases = [
            (0.0078125, "0.007812"),
            (0.0234375, "0.023438"),
            (-0.0078125, "-0.007812"),
            (1.0000005, "1.000001"),
            (0.1234565, "0.123456"),
            (8.9999995, "8.999999"),
            (-17.99999949999, "-17.999999"),
            (-1e-9, "-0.000000"),
            (-0.0, "-0.000000"),
        ];
        for (v, c) in cases {
            assert_eq!(format!("{v:.6}"), c);
            assert_eq!(round6(v).to_bits(), c.parse::<f64>().unwrap().to_bits());
        }
    }

    #[test]
    fn write_read_round_trip() {
        let d = tmp();
        let p = d.path().join("m.dat");
        let m = naca0012(7, 5).unwrap();
        m.write_op2(&p).unwrap();
        let r = AirfoilMesh::read_op2(&p).unwrap();
        assert_eq!(r, m);
        // Bit for bit, signs of zero included: the in-memory coordinates are the file's.
        assert!(r
            .x
            .iter()
            .zip(&m.x)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        // Writing what was read gives the same bytes.
        let p2 = d.path().join("m2.dat");
        r.write_op2(&p2).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&p2).unwrap());
    }

    #[test]
    fn file_layout_is_op2s() {
        let d = tmp();
        let p = d.path().join("m.dat");
        let m = naca0012(2, 2).unwrap();
        m.write_op2(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        assert_eq!(lines.len(), 1 + m.nnode + m.ncell + m.nedge + m.nbedge);
        assert_eq!(lines[0], " 21 12 18 12 \n");
        // node(0, 0) = (-3 + 0i)^2: y = 2 * -3 * 0 = -0, printed by C's %f as "-0.000000".
        assert_eq!(lines[1], " 9.000000 -0.000000 \n");
        assert_eq!(lines[1 + m.nnode], " 0 1 8 7 \n");
        // First interior edge: the cut line at i = 0, between cell(3I-1, 0) and cell(0, 0).
        assert_eq!(lines[1 + m.nnode + m.ncell], " 0 1 5 0 \n");
        // First boundary edge: the aerofoil wall at i = I.
        let b0 = lines[1 + m.nnode + m.ncell + m.nedge];
        assert_eq!(b0, " 3 2 2 1 \n");
    }

    /// Write `text` to a file and return the error message of reading it.
    fn read_err(text: &str) -> String {
        let d = tmp();
        let p = d.path().join("bad.dat");
        std::fs::write(&p, text).unwrap();
        let e = AirfoilMesh::read_op2(&p).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e}");
        let s = e.to_string();
        assert!(s.contains("bad.dat:"), "{s}");
        s
    }

    #[test]
    fn read_errors_are_clear() {
        let good = {
            let d = tmp();
            let p = d.path().join("m.dat");
            naca0012(2, 2).unwrap().write_op2(&p).unwrap();
            std::fs::read_to_string(&p).unwrap()
        };
        let lines: Vec<&str> = good.lines().collect();
        let with = |k: usize, s: &str| {
            let mut v = lines.clone();
            v[k] = s;
            v.join("\n") + "\n"
        };

        let e = read_err("");
        assert!(
            e.contains(":1: unexpected end of file: expected the header"),
            "{e}"
        );
        let e = read_err(" 21 12 20 \n");
        assert!(
            e.contains(":1: expected the header") && e.contains("found 3 fields"),
            "{e}"
        );
        let e = read_err(" 21 -12 20 12 \n");
        assert!(e.contains(":1: ncell = -12 is negative"), "{e}");
        let e = read_err(" 21 12 20 99999999999 \n");
        assert!(e.contains("\"99999999999\" is not an integer"), "{e}");

        // Truncated in each section.
        let cut = |n: usize| lines[..n].join("\n") + "\n";
        let e = read_err(&cut(5));
        assert!(
            e.contains(":6: unexpected end of file: expected `x y` of node 4"),
            "{e}"
        );
        let e = read_err(&cut(1 + 21 + 3));
        assert!(e.contains(":26: unexpected end of file: expected 4 node indices of cell 3"));
        let e = read_err(&cut(1 + 21 + 12));
        assert!(e.contains("interior edge 0 (of 18)"), "{e}");
        let e = read_err(&cut(1 + 21 + 12 + 18 + 11));
        assert!(e.contains(":64: unexpected end of file") && e.contains("boundary edge 11"));

        // Garbled.
        let e = read_err(&with(3, " 1.5 abc "));
        assert!(
            e.contains(":4: expected `x y` of node 2") && e.contains("\"abc\" is not a number")
        );
        let e = read_err(&with(3, " nan 0.0 "));
        assert!(
            e.contains(":4: coordinate NaN of node 2 is not finite"),
            "{e}"
        );
        let e = read_err(&with(30, " 1 2 3 4.5 "));
        assert!(
            e.contains(":31:") && e.contains("\"4.5\" is not an integer"),
            "{e}"
        );
        let e = read_err(&with(30, " 1 2 3 "));
        assert!(e.contains(":31:") && e.contains("found 3 fields"), "{e}");

        // Out of range.
        let e = read_err(&with(22, " 0 1 21 7 "));
        assert!(
            e.contains(":23: cell 0: node index 21 is outside 0..21"),
            "{e}"
        );
        let e = read_err(&with(34, " 0 1 12 0 "));
        assert!(
            e.contains(":35: interior edge 0: cell index 12 is outside 0..12"),
            "{e}"
        );
        let e = read_err(&with(34, " -1 1 5 0 "));
        assert!(e.contains("interior edge 0: node index -1"), "{e}");
        let e = read_err(&with(52, " 3 2 -2 1 "));
        assert!(e.contains(":53: boundary edge 0: cell index -2"), "{e}");

        // Trailing data.
        let e = read_err(&(good.clone() + " 1 2 3 4 \n"));
        assert!(e.contains(":65: unexpected data after the last of 12 boundary edges"));

        // Blank lines and CRLF are tolerated, as fscanf would.
        let d = tmp();
        let p = d.path().join("crlf.dat");
        std::fs::write(&p, good.replace('\n', "\r\n\n")).unwrap();
        assert_eq!(AirfoilMesh::read_op2(&p).unwrap(), naca0012(2, 2).unwrap());
    }

    /// Issue 22 (12): meshes Airfoil cannot solve (it divided by zero and printed `rms NaN`).
    #[test]
    fn empty_meshes_and_degenerate_cells_are_errors_naming_the_line() {
        let e = read_err(" 0 0 0 0 \n");
        assert!(
            e.contains("bad.dat:1: an empty mesh (0 nodes, 0 cells)"),
            "{e}"
        );
        let e = read_err(" 4 0 0 0 \n 0 0 \n 1 0 \n 1 1 \n 0 1 \n");
        assert!(
            e.contains("bad.dat:1: an empty mesh (4 nodes, 0 cells)"),
            "{e}"
        );
        let square = " 0 0 \n 1 0 \n 1 1 \n 0 1 \n";
        let e = read_err(&format!(" 4 1 0 0 \n{square} 0 0 0 0 \n"));
        assert!(
            e.contains("bad.dat:6: cell 0 is degenerate: node 0 appears twice"),
            "{e}"
        );
        let e = read_err(" 4 1 0 0 \n 0 0 \n 1 0 \n 2 0 \n 3 0 \n 0 1 2 3 \n");
        assert!(
            e.contains("bad.dat:6: cell 0 is degenerate: its area is 0"),
            "{e}"
        );
        let e = read_err(" 4 1 0 0 \n 0 0 \n 1e308 0 \n 1e308 1e308 \n 0 1e308 \n 0 1 2 3 \n");
        assert!(e.contains("its area is inf"), "{e}");
        // Every one of the standard mesh's cells passes.
        let d = tmp();
        let p = d.path().join("m.dat");
        naca0012(6, 4).unwrap().write_op2(&p).unwrap();
        AirfoilMesh::read_op2(&p).unwrap();
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let d = tmp();
        let e = AirfoilMesh::read_op2(d.path().join("nope.dat")).unwrap_err();
        assert!(matches!(e, Error::Io { op: "open", .. }), "{e}");
    }

    #[test]
    fn write_refuses_an_inconsistent_mesh() {
        let d = tmp();
        let mut m = naca0012(2, 2).unwrap();
        m.x[3] = f64::INFINITY;
        assert!(m.write_op2(d.path().join("a.dat")).is_err());
        let mut m = naca0012(2, 2).unwrap();
        m.bound.pop();
        let e = m.write_op2(d.path().join("b.dat")).unwrap_err().to_string();
        assert!(e.contains("`bound` has 11 values, expected 12"), "{e}");
        assert!(!d.path().join("b.dat").exists());
    }
}
