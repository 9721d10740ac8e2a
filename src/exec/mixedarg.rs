//! Mixed par_loop arguments: a MixedDat or MixedMat argument expanded into one ordinary
//! argument per block, in PyOP2's order (components in order; a MixedMat's blocks row-major),
//! before validation and code generation.
//!
//! Owns only the expansion. The kernel receives one pointer per block, exactly as if the user
//! had passed the blocks' arguments one by one, so plans, halo exchanges (one per block Dat),
//! Mat assembly and the generated code are the ordinary ones. It never runs a loop.

use crate::data::access::Access;
use crate::data::mixed::{MixedDat, MixedMap};
use crate::error::{Error, Result};
use crate::exec::arg::Arg;
use crate::linalg::mixedmat::MixedMat;

fn check_len(what: &str, want: usize, map: &MixedMap) -> Result<()> {
    if map.len() != want {
        return Err(Error::invalid(
            what,
            format!(
                "MixedMap {map:?} has {} maps for {want} components",
                map.len()
            ),
        ));
    }
    Ok(())
}

impl MixedDat {
    /// Every block accessed at the iteration element itself (each block must be on the
    /// iteration set): one argument per block.
    pub fn arg(&self, access: Access) -> Vec<Arg> {
        self.split().iter().map(|d| d.arg(access)).collect()
    }
    /// Block `i` accessed through every entry of `map.split()[i]` ([`crate::Dat::arg_vec`]):
    /// one argument per block, in order; the kernel gets one packed array per block.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # std::env::set_var("OP2_CACHE_DIR", dir.path());
    /// use op2::{Access, DType, Kernel, Map, MixedDat, MixedDataSet, MixedMap, Set};
    /// let cells = Set::new(2).unwrap();
    /// let (p, q) = (Set::new(3).unwrap(), Set::new(2).unwrap());
    /// let mm = MixedMap::new(&[
    ///     Map::new(&cells, &p, 2, vec![0, 1, 1, 2]).unwrap(),
    ///     Map::new(&cells, &q, 1, vec![0, 1]).unwrap(),
    /// ]).unwrap();
    /// let md = MixedDat::zeros(&MixedDataSet::from_sets(&[p, q]).unwrap(), DType::F64).unwrap();
    /// let k = Kernel::new("count", "void count(double *u, double *v) { u[0] += 1; u[1] += 1; v[0] += 2; }").unwrap();
    /// op2::par_loop(&k, &cells, &md.arg_vec(Access::Inc, &mm).unwrap()).unwrap();
    /// assert_eq!(md.to_vecs::<f64>().unwrap(), vec![vec![1.0, 2.0, 1.0], vec![2.0, 2.0]]);
    /// ```
    pub fn arg_vec(&self, access: Access, map: &MixedMap) -> Result<Vec<Arg>> {
        check_len("MixedDat::arg_vec", self.len(), map)?;
        Ok(self
            .split()
            .iter()
            .zip(map.split())
            .map(|(d, m)| d.arg_vec(access, m))
            .collect())
    }
    /// Block `i` accessed at entry `idx` of `map.split()[i]`: one argument per block.
    pub fn arg_map(&self, access: Access, map: &MixedMap, idx: usize) -> Result<Vec<Arg>> {
        check_len("MixedDat::arg_map", self.len(), map)?;
        Ok(self
            .split()
            .iter()
            .zip(map.split())
            .map(|(d, m)| d.arg_map(access, m, idx))
            .collect())
    }
}

impl MixedMat {
    /// Assemble every present block in one par_loop through the mixed map pair `maps`: block
    /// (i, j) becomes `block(i, j).arg(access, (rmap[i], cmap[j]))`, in row-major order, absent
    /// blocks and diagonal-only blocks (a Sparsity without map pairs) skipped, so the kernel receives one dense element matrix per present block
    /// (`A_ij[arity_ri * rdim_i][arity_cj * cdim_j]`; see [`crate::Mat::arg`]). Every present
    /// block's Sparsity must have the pair `(rmap[i], cmap[j])`.
    pub fn arg(&self, access: Access, maps: (&MixedMap, &MixedMap)) -> Result<Vec<Arg>> {
        let (n, m) = self.sparsity().shape();
        check_len("MixedMat::arg (row map)", n, maps.0)?;
        check_len("MixedMat::arg (column map)", m, maps.1)?;
        let mut out = Vec::with_capacity(n * m);
        for (i, rm) in maps.0.split().iter().enumerate() {
            for (j, cm) in maps.1.split().iter().enumerate() {
                let Some(a) = self.block(i, j) else { continue };
                if a.sparsity().map_pairs().is_empty() {
                    continue;
                }
                if a.sparsity().pair_index(rm, cm).is_none() {
                    return Err(Error::invalid(
                        format!("MixedMat::arg({})", self.name()),
                        format!(
                            "block ({i}, {j}): the map pair ({}, {}) is not one of the pairs of its sparsity",
                            rm.name(),
                            cm.name()
                        ),
                    ));
                }
                out.push(a.arg(access, (rm, cm)));
            }
        }
        Ok(out)
    }
}
