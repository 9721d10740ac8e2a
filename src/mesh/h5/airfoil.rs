//! Airfoil in OP2's HDF5 layout: the names of OP2's `new_grid.h5` and its flow constants.

use std::path::Path;

use crate::error::Result;
use crate::mesh::airfoil::AirfoilMesh;
use crate::mesh::h5::{H5Layout, H5Writer};

/// OP2 Airfoil's global constants as its `convert_mesh` writes them into `new_grid.h5`:
/// `gam`, `gm1`, `cfl`, `eps`, `mach`, `alpha`, `qinf`, computed as OP2 does (single-precision
/// literals widened to double).
///
/// ```
/// let c = op2::mesh::airfoil_constants();
/// assert_eq!(c[0], ("gam", vec![1.4f32 as f64]));
/// assert_eq!(c[6].1[0], 1.0); // qinf: density
/// ```
pub fn airfoil_constants() -> Vec<(&'static str, Vec<f64>)> {
    let gam = 1.4f32 as f64;
    let gm1 = gam - 1.0;
    let (cfl, eps, mach) = (0.9f32 as f64, 0.05f32 as f64, 0.4f32 as f64);
    let alpha = (3.0f32 * 1.0f32.atan() / 45.0f32) as f64;
    let (p, r) = (1.0f64, 1.0f64);
    let u = (gam * p / r).sqrt() * mach;
    let e = p / (r * gm1) + 0.5 * u * u;
    vec![
        ("gam", vec![gam]),
        ("gm1", vec![gm1]),
        ("cfl", vec![cfl]),
        ("eps", vec![eps]),
        ("mach", vec![mach]),
        ("alpha", vec![alpha]),
        ("qinf", vec![r, r * u, 0.0, r * e]),
    ]
}

impl AirfoilMesh {
    /// OP2 Airfoil's sets and maps in its HDF5 file (`new_grid.h5`), with the node
    /// coordinates `p_x` for RCB.
    ///
    /// ```
    /// assert_eq!(op2::mesh::AirfoilMesh::h5_layout().sets(), ["nodes", "edges", "bedges", "cells"]);
    /// ```
    pub fn h5_layout() -> H5Layout {
        H5Layout::new()
            .set("nodes")
            .set("edges")
            .set("bedges")
            .set("cells")
            .map("pedge", "edges", "nodes", 2)
            .map("pecell", "edges", "cells", 2)
            .map("pbedge", "bedges", "nodes", 2)
            .map("pbecell", "bedges", "cells", 1)
            .map("pcell", "cells", "nodes", 4)
            .coordinates("p_x", "nodes")
    }

    /// Write the mesh as OP2's `new_grid.h5` (what OP2's Airfoil `convert_mesh` writes): sets
    /// `nodes`, `edges`, `bedges`, `cells`; maps `pedge`, `pecell`, `pbedge`, `pbecell`,
    /// `pcell`; dats `p_bound`, `p_x`, `p_q` (the free stream), `p_qold`, `p_adt`, `p_res`
    /// (zeros); the constants of [`airfoil_constants`]. The mesh is validated first.
    pub fn write_h5(&self, path: impl AsRef<Path>) -> Result<()> {
        self.validate()?;
        let consts = airfoil_constants();
        let qinf = &consts[6].1;
        let mut w = H5Writer::create(path)?;
        for (name, n) in [
            ("nodes", self.nnode),
            ("edges", self.nedge),
            ("bedges", self.nbedge),
            ("cells", self.ncell),
        ] {
            w.set(name, n)?;
        }
        w.map("pedge", 2, &self.edge)?;
        w.map("pecell", 2, &self.ecell)?;
        w.map("pbedge", 2, &self.bedge)?;
        w.map("pbecell", 1, &self.becell)?;
        w.map("pcell", 4, &self.cell)?;
        w.dat("p_bound", 1, &self.bound)?;
        w.dat("p_x", 2, &self.x)?;
        let q: Vec<f64> = qinf.iter().copied().cycle().take(4 * self.ncell).collect();
        w.dat("p_q", 4, &q)?;
        w.dat("p_qold", 4, &vec![0.0f64; 4 * self.ncell])?;
        w.dat("p_adt", 1, &vec![0.0f64; self.ncell])?;
        w.dat("p_res", 4, &vec![0.0f64; 4 * self.ncell])?;
        for (name, v) in &consts {
            w.constant(name, v)?;
        }
        w.finish()
    }
}
