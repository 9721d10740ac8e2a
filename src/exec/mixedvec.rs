//! Vector operations on MixedDats (PyOP2's `MixedDat.zero`, `copy`, `inner`, `axpy`), block by
//! block through the generated vector operations of `vecops.rs`.
//!
//! Owns only the per-block iteration and the checks that two MixedDats have the same shape. It
//! never generates code of its own. Each operation is collective on a distributed mesh exactly
//! as its per-block `vecops` counterpart (`inner` reduces once per block).

use crate::data::mixed::MixedDat;
use crate::error::{Error, Result};
use crate::exec::vecops;

impl MixedDat {
    /// Check that `other` has this MixedDat's MixedDataSet.
    fn same_shape(&self, what: &str, other: &MixedDat) -> Result<()> {
        if self.dataset() != other.dataset() {
            return Err(Error::invalid(
                format!("MixedDat::{what}"),
                format!("{other:?} is not on the MixedDataSet of {self:?}"),
            ));
        }
        Ok(())
    }
    /// Set every block to zero.
    pub fn zero(&self) -> Result<()> {
        self.split().iter().try_for_each(vecops::zero)
    }
    /// Copy `self` into `dst` block by block (same MixedDataSet).
    pub fn copy(&self, dst: &MixedDat) -> Result<()> {
        self.same_shape("copy", dst)?;
        self.split()
            .iter()
            .zip(dst.split())
            .try_for_each(|(s, d)| vecops::copy(s, d))
    }
    /// The l2 inner product `sum_i self_i . other_i` over every rank's owned entries
    /// (collective: one reduction per block).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # std::env::set_var("OP2_CACHE_DIR", dir.path());
    /// let mds = op2::MixedDataSet::from_sets(&[op2::Set::new(2).unwrap(), op2::Set::new(1).unwrap()]).unwrap();
    /// let x = op2::MixedDat::zeros(&mds, op2::DType::F64).unwrap();
    /// x.set_values(&[vec![1.0f64, 2.0], vec![3.0]]).unwrap();
    /// let y = op2::MixedDat::zeros(&mds, op2::DType::F64).unwrap();
    /// y.axpy(2.0, &x).unwrap();
    /// assert_eq!(x.inner(&y).unwrap(), 28.0);
    /// ```
    pub fn inner(&self, other: &MixedDat) -> Result<f64> {
        self.same_shape("inner", other)?;
        let mut sum = 0.0;
        for (a, b) in self.split().iter().zip(other.split()) {
            sum += vecops::dot(a, b)?;
        }
        Ok(sum)
    }
    /// `self += alpha * x`, block by block (same MixedDataSet).
    pub fn axpy(&self, alpha: f64, x: &MixedDat) -> Result<()> {
        self.same_shape("axpy", x)?;
        self.split()
            .iter()
            .zip(x.split())
            .try_for_each(|(y, x)| vecops::axpy(alpha, x, y))
    }
}
