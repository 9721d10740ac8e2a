//! The NACA0012 Airfoil mesh generator (OP2's `new_grid.dat`), written from
//! `/work/shared/airfoil/MESH.md`.
//!
//! Owns the geometry (aerofoil surface, complex square-root transform, the not-a-knot cubic
//! spline of MATLAB's `spline` with its own tridiagonal solve) and the 0-based numbering of
//! nodes, cells, interior edges and boundary edges. Coordinates are rounded to six decimals
//! exactly as OP2's file holds them, because OP2's published residual history was computed
//! from the file.

use crate::error::{Error, Result};
use crate::mesh::airfoil::{round6, AirfoilMesh};

/// The standard size of OP2's Airfoil benchmark mesh (`new_grid.dat`): `I = 400`.
pub const STANDARD_I: usize = 400;
/// The standard size of OP2's Airfoil benchmark mesh (`new_grid.dat`): `J = 600`.
pub const STANDARD_J: usize = 600;

/// Number of points on the aerofoil's upper surface.
const SURFACE_POINTS: usize = 100;
/// Leading-edge shift of the square-root transform.
const X0: f64 = 0.0077;

/// Generate OP2's NACA0012 Airfoil mesh of size `i` x `j` (OP2's standard `new_grid.dat` is
/// `naca0012(400, 600)`, see [`STANDARD_I`], [`STANDARD_J`]).
///
/// The mesh has `(3i+1)(j+1)` nodes, `3ij` quadrilateral cells, `(3i-1)j + 3i(j-1) + i`
/// interior edges and `4i + 2j` boundary edges (`i` on the aerofoil wall, bound 1; the rest on
/// the far field, bound 2). Coordinates are rounded to six decimals, as OP2's file holds them.
/// Sizes below 2, or so large that an index would not fit C's `int`, are rejected with
/// [`Error::InvalidArgument`]; a mesh too large for memory is an error, not an abort.
///
/// ```
/// let m = op2::mesh::naca0012(4, 6).unwrap();
/// assert_eq!((m.nnode, m.ncell, m.nedge, m.nbedge), (13 * 7, 72, 11 * 6 + 12 * 5 + 4, 28));
/// assert_eq!(m.bound.iter().filter(|&&b| b == 1).count(), 4); // the aerofoil wall
/// assert!(op2::mesh::naca0012(1, 6).is_err());
/// ```
pub fn naca0012(i: usize, j: usize) -> Result<AirfoilMesh> {
    let what = || format!("mesh::naca0012({i}, {j})");
    if i < 2 || j < 2 {
        return Err(Error::invalid(
            what(),
            "both sizes must be at least 2 (OP2's standard mesh is 400 x 600)",
        ));
    }
    let sizes = Sizes::new(i, j).ok_or_else(|| {
        Error::invalid(
            what(),
            format!(
                "the mesh would have more than {} nodes, cells or edges (C `int` indices)",
                i32::MAX
            ),
        )
    })?;

    let curve = transformed_surface();
    let spline = NotAKnotSpline::new(&curve.0, &curve.1)?;

    // The grid line j = 0 in the transformed plane: straight except along the aerofoil.
    let ni = 3 * i; // cells per grid row
    let xb: Vec<f64> = (0..=ni)
        .map(|k| -3.0 + 6.0 * k as f64 / ni as f64)
        .collect();
    let yb: Vec<f64> = xb
        .iter()
        .enumerate()
        .map(|(k, &x)| {
            if k > i && k < 2 * i {
                spline.eval(x)
            } else {
                0.0
            }
        })
        .collect();

    let mut m = AirfoilMesh::reserved(sizes.nnode, sizes.ncell, sizes.nedge, sizes.nbedge, &what)?;

    for jj in 0..=j {
        for ii in 0..=ni {
            let xg = xb[ii];
            let yg = yb[ii] + (3.0 - yb[ii]) * jj as f64 / j as f64;
            // (x + iy) = (xg + i yg)^2
            m.x.push(round6(xg * xg - yg * yg));
            m.x.push(round6(2.0 * xg * yg));
        }
    }

    // Indices fit i32: Sizes::new checked every count against i32::MAX.
    let node = |ii: usize, jj: usize| (ii + jj * (ni + 1)) as i32;
    let cell = |ii: usize, jj: usize| (ii + jj * ni) as i32;

    for jj in 0..j {
        for ii in 0..ni {
            m.cell.extend_from_slice(&[
                node(ii, jj),
                node(ii + 1, jj),
                node(ii + 1, jj + 1),
                node(ii, jj + 1),
            ]);
        }
    }

    for jj in 0..j {
        for ii in 0..ni {
            if jj == 0 && ii < i {
                // the cut line behind the trailing edge: cells on either side of it
                m.edge.extend_from_slice(&[node(ii, 0), node(ii + 1, 0)]);
                m.ecell
                    .extend_from_slice(&[cell(ni - 1 - ii, 0), cell(ii, 0)]);
            }
            if jj + 1 < j {
                m.edge
                    .extend_from_slice(&[node(ii, jj + 1), node(ii + 1, jj + 1)]);
                m.ecell.extend_from_slice(&[cell(ii, jj), cell(ii, jj + 1)]);
            }
            if ii + 1 < ni {
                m.edge
                    .extend_from_slice(&[node(ii + 1, jj), node(ii + 1, jj + 1)]);
                m.ecell.extend_from_slice(&[cell(ii + 1, jj), cell(ii, jj)]);
            }
        }
    }

    let mut bedge = |n1: i32, n2: i32, c: i32, b: i32| {
        m.bedge.extend_from_slice(&[n1, n2]);
        m.becell.push(c);
        m.bound.push(b);
    };
    for ii in i..2 * i {
        bedge(node(ii + 1, 0), node(ii, 0), cell(ii, 0), 1);
    }
    for jj in 0..j {
        bedge(node(ni, jj + 1), node(ni, jj), cell(ni - 1, jj), 2);
    }
    for ii in (0..ni).rev() {
        bedge(node(ii, j), node(ii + 1, j), cell(ii, j - 1), 2);
    }
    for jj in (0..j).rev() {
        bedge(node(0, jj), node(0, jj + 1), cell(0, jj), 2);
    }

    debug_assert_eq!(m.x.len(), 2 * m.nnode);
    debug_assert_eq!(m.cell.len(), 4 * m.ncell);
    debug_assert_eq!(m.edge.len(), 2 * m.nedge);
    debug_assert_eq!(m.becell.len(), m.nbedge);
    Ok(m)
}

/// The counts of a mesh of size `i` x `j`, each checked to fit a C `int`.
pub(crate) struct Sizes {
    pub(crate) nnode: usize,
    pub(crate) ncell: usize,
    pub(crate) nedge: usize,
    pub(crate) nbedge: usize,
}

impl Sizes {
    fn new(i: usize, j: usize) -> Option<Sizes> {
        let ni = i.checked_mul(3)?;
        let nnode = ni.checked_add(1)?.checked_mul(j.checked_add(1)?)?;
        let ncell = ni.checked_mul(j)?;
        let nedge = (ni - 1)
            .checked_mul(j)?
            .checked_add(ni.checked_mul(j - 1)?)?
            .checked_add(i)?;
        let nbedge = i.checked_add(ni)?.checked_add(j.checked_mul(2)?)?;
        let max = i32::MAX as usize;
        // Every array length (at most 4 per cell, 2 per node/edge) must fit usize too.
        if nnode > max || ncell > max || nedge > max || nbedge > max {
            return None;
        }
        ncell.checked_mul(4)?;
        Some(Sizes {
            nnode,
            ncell,
            nedge,
            nbedge,
        })
    }
}

/// The aerofoil surface mapped through `z -> sqrt(z - x0)`: 199 points `(X, Y)`, X increasing,
/// from the lower trailing edge through the leading edge to the upper trailing edge.
fn transformed_surface() -> (Vec<f64>, Vec<f64>) {
    let last = (SURFACE_POINTS - 1) as f64;
    let z: Vec<(f64, f64)> = (0..SURFACE_POINTS)
        .map(|k| {
            let t = k as f64 * std::f64::consts::FRAC_PI_2 / last;
            let s = t.sin();
            let x = s * s;
            let y = if k == SURFACE_POINTS - 1 {
                0.0
            } else {
                let (x2, x3, x4) = (x * x, x * x * x, x * x * x * x);
                0.594689181
                    * (0.298222773 * x.sqrt() - 0.127125232 * x - 0.357907906 * x2
                        + 0.291984971 * x3
                        - 0.105174696 * x4)
            };
            complex_sqrt(x - X0, y)
        })
        .collect();
    // [-conj(z_99), ..., -conj(z_0), z_1, ..., z_99]; -conj(a + ib) = -a + ib.
    let w = z
        .iter()
        .rev()
        .map(|&(a, b)| (-a, b))
        .chain(z.iter().skip(1).copied());
    w.unzip()
}

/// Principal square root of `a + ib`.
fn complex_sqrt(a: f64, b: f64) -> (f64, f64) {
    if a == 0.0 && b == 0.0 {
        return (0.0, b);
    }
    let r = a.hypot(b);
    if a >= 0.0 {
        let t = ((r + a) / 2.0).sqrt();
        (t, b / (2.0 * t))
    } else {
        let t = ((r - a) / 2.0).sqrt();
        (b.abs() / (2.0 * t), t.copysign(b))
    }
}

/// A cubic spline with MATLAB `spline`'s *not-a-knot* end conditions (the first and last
/// interior knots are not knots: the third derivative is continuous there), stored in
/// Hermite form: knots, values and slopes.
pub(crate) struct NotAKnotSpline {
    x: Vec<f64>,
    y: Vec<f64>,
    slope: Vec<f64>,
}

impl NotAKnotSpline {
    /// The spline through `(x[k], y[k])`; `x` strictly increasing, at least 4 finite points.
    pub(crate) fn new(x: &[f64], y: &[f64]) -> Result<NotAKnotSpline> {
        let what = "mesh::NotAKnotSpline::new";
        let n = x.len();
        if y.len() != n {
            return Err(Error::invalid(
                what,
                format!("{n} abscissae but {} values", y.len()),
            ));
        }
        if n < 4 {
            return Err(Error::invalid(
                what,
                format!("{n} points given, not-a-knot needs at least 4"),
            ));
        }
        if let Some(k) = (0..n).find(|&k| !x[k].is_finite() || !y[k].is_finite()) {
            return Err(Error::invalid(
                what,
                format!("point {k} ({}, {}) is not finite", x[k], y[k]),
            ));
        }
        if let Some(k) = (0..n - 1).find(|&k| x[k + 1] <= x[k]) {
            return Err(Error::invalid(
                what,
                format!(
                    "abscissae not strictly increasing at {k}: {} then {}",
                    x[k],
                    x[k + 1]
                ),
            ));
        }
        let h: Vec<f64> = (0..n - 1).map(|k| x[k + 1] - x[k]).collect();
        let del: Vec<f64> = (0..n - 1).map(|k| (y[k + 1] - y[k]) / h[k]).collect();

        // Slopes s solve a tridiagonal system: continuity of the second derivative at the
        // interior knots, and of the third derivative at x[1] and x[n-2] (not-a-knot).
        let mut sub = vec![0.0; n - 1]; // sub[k]: row k+1, column k
        let mut diag = vec![0.0; n];
        let mut sup = vec![0.0; n - 1]; // sup[k]: row k, column k+1
        let mut rhs = vec![0.0; n];

        let c0 = h[0] + h[1];
        diag[0] = h[1];
        sup[0] = c0;
        rhs[0] = ((h[0] + 2.0 * c0) * h[1] * del[0] + h[0] * h[0] * del[1]) / c0;
        for k in 1..n - 1 {
            sub[k - 1] = h[k];
            diag[k] = 2.0 * (h[k - 1] + h[k]);
            sup[k] = h[k - 1];
            rhs[k] = 3.0 * (h[k] * del[k - 1] + h[k - 1] * del[k]);
        }
        let cn = h[n - 2] + h[n - 3];
        sub[n - 2] = cn;
        diag[n - 1] = h[n - 3];
        rhs[n - 1] =
            (h[n - 2] * h[n - 2] * del[n - 3] + (2.0 * cn + h[n - 2]) * h[n - 3] * del[n - 2]) / cn;

        let slope = solve_tridiagonal(sub, diag, sup, rhs)
            .ok_or_else(|| Error::invalid(what, "the spline system is singular"))?;
        Ok(NotAKnotSpline {
            x: x.to_vec(),
            y: y.to_vec(),
            slope,
        })
    }

    /// The spline's value at `t`; outside the knots, the end pieces extended (as `ppval`).
    pub(crate) fn eval(&self, t: f64) -> f64 {
        let n = self.x.len();
        // The piece k with x[k] <= t < x[k+1], clamped to the first and last piece.
        let k = self
            .x
            .partition_point(|&xk| xk <= t)
            .saturating_sub(1)
            .min(n - 2);
        let h = self.x[k + 1] - self.x[k];
        let del = (self.y[k + 1] - self.y[k]) / h;
        let (s0, s1) = (self.slope[k], self.slope[k + 1]);
        let c2 = (3.0 * del - 2.0 * s0 - s1) / h;
        let c3 = (s0 + s1 - 2.0 * del) / (h * h);
        let d = t - self.x[k];
        self.y[k] + d * (s0 + d * (c2 + d * c3))
    }
}

/// Solve a tridiagonal system by Gaussian elimination with partial pivoting (rows `k` and
/// `k+1` exchanged when the subdiagonal entry is larger, as LAPACK's `dgtsv` does), which
/// fills in one extra superdiagonal. `sub[k]` is entry (k+1, k), `sup[k]` entry (k, k+1).
/// Returns `None` when a pivot is zero or the inputs are inconsistent.
fn solve_tridiagonal(
    mut sub: Vec<f64>,
    mut diag: Vec<f64>,
    mut sup: Vec<f64>,
    mut rhs: Vec<f64>,
) -> Option<Vec<f64>> {
    let n = diag.len();
    if n == 0 || sub.len() + 1 != n || sup.len() + 1 != n || rhs.len() != n {
        return None;
    }
    let mut sup2 = vec![0.0; n.saturating_sub(2)]; // (k, k+2), fill-in from exchanges
    for k in 0..n - 1 {
        // Row k has entries in columns k, k+1 only; row k+1 in k, k+1, k+2.
        if diag[k].abs() >= sub[k].abs() {
            if diag[k] == 0.0 {
                return None;
            }
            let m = sub[k] / diag[k];
            diag[k + 1] -= m * sup[k];
            rhs[k + 1] -= m * rhs[k];
        } else {
            let m = diag[k] / sub[k];
            let row_sup = sup[k];
            diag[k] = sub[k];
            sup[k] = diag[k + 1];
            diag[k + 1] = row_sup - m * diag[k + 1];
            if k + 2 < n {
                sup2[k] = sup[k + 1];
                sup[k + 1] *= -m;
            }
            let pivot_rhs = rhs[k + 1];
            rhs[k + 1] = rhs[k] - m * pivot_rhs;
            rhs[k] = pivot_rhs;
        }
        sub[k] = 0.0;
    }
    if diag[n - 1] == 0.0 {
        return None;
    }
    let mut s = vec![0.0; n];
    for k in (0..n).rev() {
        let mut v = rhs[k];
        if k + 1 < n {
            v -= sup[k] * s[k + 1];
        }
        if k + 2 < n {
            v -= sup2[k] * s[k + 2];
        }
        s[k] = v / diag[k];
    }
    if s.iter().all(|v| v.is_finite()) {
        Some(s)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_formulas() {
        for &(i, j) in &[(2, 2), (3, 5), (7, 4), (10, 20)] {
            let m = naca0012(i, j).unwrap();
            assert_eq!(m.nnode, (3 * i + 1) * (j + 1));
            assert_eq!(m.ncell, 3 * i * j);
            assert_eq!(m.nedge, (3 * i - 1) * j + 3 * i * (j - 1) + i);
            assert_eq!(m.nbedge, 4 * i + 2 * j);
            assert_eq!(m.x.len(), 2 * m.nnode);
            assert_eq!(m.cell.len(), 4 * m.ncell);
            assert_eq!(m.edge.len(), 2 * m.nedge);
            assert_eq!(m.ecell.len(), 2 * m.nedge);
            assert_eq!(m.bedge.len(), 2 * m.nbedge);
            assert_eq!(m.becell.len(), m.nbedge);
            assert_eq!(m.bound.len(), m.nbedge);
            m.validate().unwrap();
        }
    }

    #[test]
    fn standard_mesh_counts_and_ranges() {
        let m = naca0012(STANDARD_I, STANDARD_J).unwrap();
        assert_eq!(m.nnode, 721_801);
        assert_eq!(m.ncell, 720_000);
        assert_eq!(m.nedge, 1_438_600);
        assert_eq!(m.nbedge, 2_800);
        m.validate().unwrap();
        let (nn, nc) = (m.nnode as i32, m.ncell as i32);
        assert!(m.edge.iter().all(|&v| (0..nn).contains(&v)));
        assert!(m.ecell.iter().all(|&v| (0..nc).contains(&v)));
        assert!(m.bedge.iter().all(|&v| (0..nn).contains(&v)));
        assert!(m.becell.iter().all(|&v| (0..nc).contains(&v)));
        assert!(m.cell.iter().all(|&v| (0..nn).contains(&v)));
        assert_eq!(m.bound.iter().filter(|&&b| b == 1).count(), 400);
        assert_eq!(m.bound.iter().filter(|&&b| b == 2).count(), 2_400);
        // The two cells of an interior edge differ; every cell has 4 edges in all.
        assert!(m.ecell.chunks(2).all(|c| c[0] != c[1]));
        let mut faces = vec![0u8; m.ncell];
        for &c in m.ecell.iter().chain(&m.becell) {
            faces[c as usize] += 1;
        }
        assert!(faces.iter().all(|&f| f == 4));
    }

    #[test]
    fn every_edge_is_a_side_of_its_cells() {
        let m = naca0012(6, 5).unwrap();
        let sides = |c: i32| {
            let q = &m.cell[4 * c as usize..4 * c as usize + 4];
            (0..4)
                .map(|k| {
                    let (a, b) = (q[k], q[(k + 1) % 4]);
                    (a.min(b), a.max(b))
                })
                .collect::<Vec<_>>()
        };
        let at = |n: i32| (m.x[2 * n as usize], m.x[2 * n as usize + 1]);
        for e in 0..m.nedge {
            let (a, b) = (m.edge[2 * e], m.edge[2 * e + 1]);
            let (c0, c1) = (m.ecell[2 * e], m.ecell[2 * e + 1]);
            assert!(sides(c1).contains(&(a.min(b), a.max(b))), "edge {e}");
            if sides(c0).contains(&(a.min(b), a.max(b))) {
                continue;
            }
            // The cut line behind the trailing edge: the cell below it numbers the same two
            // points with its own nodes (node(3I - i, 0) lies on node(i, 0)).
            let q = &m.cell[4 * c0 as usize..4 * c0 as usize + 4];
            assert!(m.cell[4 * c1 as usize] == a && c1 < 6, "edge {e}");
            assert_eq!((at(q[1]), at(q[0])), (at(a), at(b)), "edge {e}");
        }
        for e in 0..m.nbedge {
            let (a, b) = (m.bedge[2 * e], m.bedge[2 * e + 1]);
            assert!(sides(m.becell[e]).contains(&(a.min(b), a.max(b))));
        }
    }

    #[test]
    fn coordinates_are_six_decimal_values() {
        let m = naca0012(5, 4).unwrap();
        for &v in &m.x {
            assert_eq!(
                format!("{v:.6}").parse::<f64>().unwrap().to_bits(),
                v.to_bits()
            );
            let scaled = v * 1e6;
            assert!((scaled - scaled.round()).abs() < 1e-6);
        }
        // The far-field corner node(0, 0) is (-3, 0)^2 = (9, 0).
        assert_eq!((m.x[0], m.x[1]), (9.0, 0.0));
    }

    #[test]
    fn aerofoil_wall_lies_on_the_naca0012_section() {
        let m = naca0012(STANDARD_I, 6).unwrap();
        let naca = |x: f64| {
            0.594689181
                * (0.298222773 * x.sqrt() - 0.127125232 * x - 0.357907906 * x * x
                    + 0.291984971 * x.powi(3)
                    - 0.105174696 * x.powi(4))
        };
        for b in 0..m.nbedge {
            if m.bound[b] != 1 {
                continue;
            }
            let n = m.bedge[2 * b] as usize;
            let (x, y) = (m.x[2 * n] + X0, m.x[2 * n + 1]);
            assert!((-1e-6..=1.0 + X0).contains(&x), "x = {x}");
            if x > 1.0 {
                // xb = 1 lies just past the spline's last knot: the wall ends on y = 0.
                assert!(y == 0.0 && x == 1.0 + X0, "({x}, {y})");
                continue;
            }
            assert!((y.abs() - naca(x.max(0.0))).abs() < 2e-4, "({x}, {y})");
        }
    }

    #[test]
    fn rejects_silly_sizes() {
        for &(i, j) in &[
            (0, 5),
            (1, 5),
            (5, 1),
            (5, 0),
            (usize::MAX, 3),
            (3, usize::MAX),
        ] {
            match naca0012(i, j) {
                Err(Error::InvalidArgument { what, .. }) => assert!(what.contains("naca0012")),
                Err(e) => panic!("({i}, {j}): wrong error {e}"),
                Ok(_) => panic!("({i}, {j}) accepted"),
            }
        }
        // Counts past C's int are refused before any allocation.
        assert!(matches!(
            naca0012(40_000, 40_000),
            Err(Error::InvalidArgument { .. })
        ));
    }

    #[test]
    fn spline_reproduces_its_knots_and_cubics() {
        let (x, y) = transformed_surface();
        assert_eq!(x.len(), 199);
        let s = NotAKnotSpline::new(&x, &y).unwrap();
        for k in 0..x.len() {
            assert!((s.eval(x[k]) - y[k]).abs() <= 1e-15, "knot {k}");
        }
        // Not-a-knot reproduces any cubic exactly, on uneven knots.
        let f = |t: f64| 0.5 - 2.0 * t + 0.75 * t * t + 1.25 * t * t * t;
        let kx: Vec<f64> = (0..9).map(|k| (k as f64 * 0.37).powf(1.3) - 0.2).collect();
        let ky: Vec<f64> = kx.iter().map(|&t| f(t)).collect();
        let s = NotAKnotSpline::new(&kx, &ky).unwrap();
        for k in 0..=100 {
            let t = -0.5 + 4.0 * k as f64 / 100.0; // also outside the knots
            assert!((s.eval(t) - f(t)).abs() < 1e-10, "t = {t}");
        }
        // The two not-a-knot conditions: third derivative continuous at x[1] and x[n-2],
        // i.e. the first two (and last two) pieces are one cubic. Check with 4 points.
        let kx = [0.0, 1.0, 3.0, 4.0];
        let ky = [1.0, -1.0, 2.0, 0.0];
        let s = NotAKnotSpline::new(&kx, &ky).unwrap();
        // One cubic through 4 points: Lagrange form.
        let lag = |t: f64| {
            (0..4)
                .map(|a| {
                    ky[a]
                        * (0..4)
                            .filter(|&b| b != a)
                            .map(|b| (t - kx[b]) / (kx[a] - kx[b]))
                            .product::<f64>()
                })
                .sum::<f64>()
        };
        for k in 0..=40 {
            let t = k as f64 / 10.0;
            assert!((s.eval(t) - lag(t)).abs() < 1e-12, "t = {t}");
        }
    }

    #[test]
    fn spline_rejects_bad_knots() {
        assert!(NotAKnotSpline::new(&[0.0, 1.0, 2.0], &[0.0, 1.0, 2.0]).is_err());
        assert!(NotAKnotSpline::new(&[0.0, 1.0, 1.0, 2.0], &[0.0; 4]).is_err());
        assert!(NotAKnotSpline::new(&[0.0, 1.0, 2.0, 3.0], &[0.0; 3]).is_err());
        assert!(NotAKnotSpline::new(&[0.0, 1.0, f64::NAN, 3.0], &[0.0; 4]).is_err());
    }

    #[test]
    fn tridiagonal_solve_with_pivoting() {
        // A system whose first pivot is zero without row exchanges.
        let sub = vec![2.0, 1.0, 4.0];
        let diag = vec![0.0, 3.0, 1.0, 2.0];
        let sup = vec![1.0, 5.0, 1.0];
        let x = [1.0, -2.0, 0.5, 3.0];
        let rhs = vec![
            diag[0] * x[0] + sup[0] * x[1],
            sub[0] * x[0] + diag[1] * x[1] + sup[1] * x[2],
            sub[1] * x[1] + diag[2] * x[2] + sup[2] * x[3],
            sub[2] * x[2] + diag[3] * x[3],
        ];
        let s = solve_tridiagonal(sub, diag, sup, rhs).unwrap();
        for k in 0..4 {
            assert!((s[k] - x[k]).abs() < 1e-12, "{s:?}");
        }
        assert!(solve_tridiagonal(vec![0.0], vec![0.0, 1.0], vec![1.0], vec![1.0, 1.0]).is_none());
    }

    #[test]
    fn complex_sqrt_is_the_principal_root() {
        for &(a, b) in &[
            (4.0, 0.0),
            (-4.0, 0.0),
            (0.0, 2.0),
            (-0.0077, 0.0),
            (3.0, 4.0),
            (-3.0, 4.0),
        ] {
            let (re, im) = complex_sqrt(a, b);
            assert!(re >= 0.0);
            assert!((re * re - im * im - a).abs() < 1e-14 && (2.0 * re * im - b).abs() < 1e-14);
        }
        assert_eq!(complex_sqrt(-4.0, 0.0), (0.0, 2.0));
    }
}
