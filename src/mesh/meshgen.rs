//! Deterministic triangle meshes of the unit square, for examples, tests and benchmarks.
//!
//! Owns plain connectivity and coordinate arrays (local numbering, no halos). It never creates
//! op2 objects (Sets, Maps, Dats) and never distributes: callers wrap the arrays themselves, so
//! the mesh stays independent of how a program partitions it.

use crate::error::{Error, Result};

/// A triangulated unit square: `n x n` squares, each split into two triangles along a diagonal
/// chosen by a hash of its position, with interior nodes displaced by a deterministic
/// pseudo-random offset, so node degrees and element shapes vary as in a genuinely unstructured
/// mesh while the result is identical on every run and every rank.
///
/// Node `(i, j)` (column `i`, row `j`) is numbered `j * (n + 1) + i`; cells are listed
/// counter-clockwise.
///
/// ```
/// let m = op2::mesh::meshgen::unit_square(4, 0.15).unwrap();
/// assert_eq!(m.ncells(), 32);
/// assert_eq!(m.nnodes(), 25);
/// assert_eq!(m.boundary.len(), 16);
/// assert!(m.min_area() > 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct TriMesh {
    /// Squares per side.
    pub n: usize,
    /// Two coordinates (x, y) per node.
    pub coords: Vec<f64>,
    /// Three node indices per cell, counter-clockwise.
    pub cells: Vec<i32>,
    /// Indices of the nodes on the boundary of the square, increasing.
    pub boundary: Vec<i32>,
}

impl TriMesh {
    /// Number of nodes, `(n + 1)^2`.
    pub fn nnodes(&self) -> usize {
        self.coords.len() / 2
    }
    /// Number of triangles, `2 n^2`.
    pub fn ncells(&self) -> usize {
        self.cells.len() / 3
    }
    /// Smallest signed cell area (positive when every cell is counter-clockwise and valid).
    ///
    /// ```
    /// let m = op2::mesh::meshgen::unit_square(3, 0.0).unwrap();
    /// assert!((m.min_area() - 1.0 / 18.0).abs() < 1e-15);
    /// ```
    pub fn min_area(&self) -> f64 {
        self.cells
            .chunks_exact(3)
            .map(|c| {
                let p = |k: usize| {
                    let v = c[k] as usize;
                    (self.coords[2 * v], self.coords[2 * v + 1])
                };
                let ((x0, y0), (x1, y1), (x2, y2)) = (p(0), p(1), p(2));
                0.5 * ((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0))
            })
            .fold(f64::INFINITY, f64::min)
    }
}

/// SplitMix64: a tiny, well-mixed, version-stable hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform in [-1, 1) from a hash.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// The mesh of `n x n` squares (n >= 1) with interior nodes moved by up to `perturb * h` in
/// each coordinate (`h = 1/n`; `0 <= perturb < 0.25` keeps every triangle valid).
///
/// ```
/// assert!(op2::mesh::meshgen::unit_square(0, 0.1).is_err());
/// assert!(op2::mesh::meshgen::unit_square(8, 0.3).is_err());
/// ```
pub fn unit_square(n: usize, perturb: f64) -> Result<TriMesh> {
    let what = format!("meshgen::unit_square(n = {n}, perturb = {perturb})");
    if n == 0 {
        return Err(Error::invalid(what, "n must be at least 1"));
    }
    if !(0.0..0.25).contains(&perturb) {
        return Err(Error::invalid(
            what,
            "perturb must lie in [0, 0.25) so that every triangle stays valid",
        ));
    }
    let np = n + 1;
    if np
        .checked_mul(np)
        .and_then(|v| v.checked_mul(2))
        .filter(|&v| v <= i32::MAX as usize)
        .is_none()
        || 6usize
            .checked_mul(n)
            .and_then(|v| v.checked_mul(n))
            .filter(|&v| v <= i32::MAX as usize)
            .is_none()
    {
        return Err(Error::invalid(
            what,
            "the mesh would exceed the i32 index range",
        ));
    }
    let h = 1.0 / n as f64;
    let mut coords = Vec::with_capacity(2 * np * np);
    let mut boundary = Vec::with_capacity(4 * n);
    for j in 0..np {
        for i in 0..np {
            let (mut x, mut y) = (i as f64 * h, j as f64 * h);
            let on_boundary = i == 0 || j == 0 || i == n || j == n;
            if on_boundary {
                boundary.push((j * np + i) as i32);
            } else {
                let k = mix((j * np + i) as u64);
                x += perturb * h * unit(k);
                y += perturb * h * unit(mix(k));
            }
            coords.extend([x, y]);
        }
    }
    let mut cells = Vec::with_capacity(6 * n * n);
    for j in 0..n {
        for i in 0..n {
            let v = |a: usize, b: usize| ((j + b) * np + i + a) as i32;
            let (n00, n10, n01, n11) = (v(0, 0), v(1, 0), v(0, 1), v(1, 1));
            if mix(0x5eed ^ (j * n + i) as u64) & 1 == 0 {
                cells.extend([n00, n10, n11, n00, n11, n01]);
            } else {
                cells.extend([n00, n10, n01, n10, n11, n01]);
            }
        }
    }
    Ok(TriMesh {
        n,
        coords,
        cells,
        boundary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_triangle_is_valid_and_the_area_sums_to_one() {
        let m = unit_square(17, 0.24).unwrap();
        assert!(m.min_area() > 0.0);
        let total: f64 = m
            .cells
            .chunks_exact(3)
            .map(|c| {
                let p = |k: usize| {
                    let v = c[k] as usize;
                    (m.coords[2 * v], m.coords[2 * v + 1])
                };
                let ((x0, y0), (x1, y1), (x2, y2)) = (p(0), p(1), p(2));
                0.5 * ((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0))
            })
            .sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        // Both diagonal directions occur, in roughly equal numbers.
        let along_main = (0..17 * 17)
            .filter(|&s| {
                let (i, j) = (s % 17, s / 17);
                m.cells[6 * s + 2] == ((j + 1) * 18 + i + 1) as i32
            })
            .count();
        assert!((100..190).contains(&along_main), "{along_main}");
    }
}
