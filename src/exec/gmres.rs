//! Restarted GMRES(m) on assembled Mats, preconditioned on the right or the left, with
//! classical Gram-Schmidt (the projections and the new vector's norm in one fused reduction
//! per Arnoldi step, a second pass when the DGKS test finds cancellation) or modified
//! Gram-Schmidt.
//!
//! Owns the Arnoldi cycle, the Givens rotations of the small Hessenberg least-squares problem
//! and the update of `x` at each restart; the options, the preconditioner and the stopping
//! test come from `krylov.rs` (`Work`). Each cycle ends by recomputing the true (or, on the
//! left, the preconditioned) residual, and convergence is judged on that, so a converged
//! answer is never only an estimate. Every decision is taken from reduced values every rank
//! holds alike.

use crate::data::dat::Dat;
use crate::error::Result;
use crate::exec::krylov::{Orthogonalization, PcSide, SolveInfo, Work};
use crate::exec::vecops;
use crate::mpi::comm::Comm;

/// Below this ratio of `|w - V h|^2` to `|w|^2` (the DGKS test, eta = 1/sqrt 2) classical
/// Gram-Schmidt has cancelled too much for the new vector to be orthogonal (and its
/// Pythagorean norm accurate): orthogonalize a second time. A single pass with a looser test
/// (1e-2) left GMRES stagnating at 1e-7 on op2-solver-check's non-symmetric matrix.
const REORTHOGONALIZE: f64 = 0.5;

/// The small dense least-squares problem of one cycle: Hessenberg columns already rotated,
/// the rotations, and the rotated right-hand side `g`.
struct Hessenberg {
    h: Vec<Vec<f64>>,
    cs: Vec<(f64, f64)>,
    g: Vec<f64>,
}

impl Hessenberg {
    fn new(beta: f64) -> Hessenberg {
        Hessenberg {
            h: Vec::new(),
            cs: Vec::new(),
            g: vec![beta],
        }
    }

    /// Add column `col` (`j + 2` entries), rotate it; returns the new residual estimate.
    fn push(&mut self, mut col: Vec<f64>) -> f64 {
        let j = self.h.len();
        for (i, &(c, s)) in self.cs.iter().enumerate() {
            let (a, b) = (col[i], col[i + 1]);
            col[i] = c * a + s * b;
            col[i + 1] = -s * a + c * b;
        }
        let (a, b) = (col[j], col[j + 1]);
        let r = a.hypot(b);
        let (c, s) = if r == 0.0 { (1.0, 0.0) } else { (a / r, b / r) };
        col[j] = r;
        col[j + 1] = 0.0;
        self.cs.push((c, s));
        let gj = self.g[j];
        self.g[j] = c * gj;
        self.g.push(-s * gj);
        self.h.push(col);
        self.g[j + 1].abs()
    }

    /// `y` solving the rotated upper-triangular system; `None` if it is singular.
    fn solve(&self) -> Option<Vec<f64>> {
        let k = self.h.len();
        let mut y = vec![0.0; k];
        for i in (0..k).rev() {
            let s: f64 = (i + 1..k).map(|j| self.h[j][i] * y[j]).sum();
            let d = self.h[i][i];
            if d == 0.0 || !d.is_finite() {
                return None;
            }
            y[i] = (self.g[i] - s) / d;
        }
        Some(y)
    }
}

impl Work<'_> {
    /// Restarted GMRES(m).
    pub(crate) fn gmres(&self) -> Result<SolveInfo> {
        let m = self.s.restart;
        let left = self.s.side == PcSide::Left;
        let (r, t, u) = (self.vec("gm_r")?, self.vec("gm_t")?, self.vec("gm_u")?);
        let mut bnorm = self.residual(&r, &t)?;
        if bnorm == 0.0 {
            return Ok(SolveInfo::zero_rhs());
        }
        if left {
            self.pc.apply(self.b, &t)?;
            bnorm = vecops::norm(&t)?;
        }
        let v: Vec<Dat> = (0..=m)
            .map(|i| self.vec(&format!("gm_v{i}")))
            .collect::<Result<_>>()?;
        let mut beta = self.cycle_start(&r, &v[0], left)?;
        let (mut hist, mut it, mut counts) = (vec![beta], 0, Vec::new());
        loop {
            if let Some(mut info) = self.done(it, &hist, bnorm)? {
                info.allreduces = counts;
                return Ok(info);
            }
            let mut hs = Hessenberg::new(beta);
            vecops::scale(&v[0], 1.0 / beta)?;
            let mut c0 = Comm::allreduce_count();
            for j in 0..m {
                it += 1;
                // v[j + 1] = A M^-1 v[j] (right) or M^-1 A v[j] (left).
                if left {
                    self.a.mult(&v[j], &t)?;
                    self.pc.apply(&t, &v[j + 1])?;
                } else {
                    self.pc.apply(&v[j], &t)?;
                    self.a.mult(&t, &v[j + 1])?;
                }
                let col = self.orthogonalize(&v[..=j], &v[j + 1])?;
                let hn = col[j + 1];
                let est = hs.push(col);
                if !est.is_finite() {
                    let detail = format!("breakdown: the Arnoldi residual estimate is {est}");
                    return Err(self.fail(detail, true, it, est, bnorm));
                }
                hist.push(est);
                let last = hn == 0.0 || self.converged(est, bnorm) || it >= self.s.max_it;
                if !last {
                    vecops::scale(&v[j + 1], 1.0 / hn)?;
                }
                if last || j + 1 == m {
                    break;
                }
                counts.push(Comm::allreduce_count() - c0);
                c0 = Comm::allreduce_count();
            }
            // x += M^-1 V y (right) or V y (left); then the residual this cycle really left.
            let Some(y) = hs.solve() else {
                let rn = *hist.last().unwrap();
                let detail = "breakdown: the Hessenberg matrix is singular".to_string();
                return Err(self.fail(detail, true, it, rn, bnorm));
            };
            vecops::zero(&u)?;
            for (vi, yi) in v.iter().zip(&y) {
                vecops::axpy(*yi, vi, &u)?;
            }
            if left {
                vecops::axpy(1.0, &u, self.x)?;
            } else {
                self.pc.apply(&u, &t)?;
                vecops::axpy(1.0, &t, self.x)?;
            }
            self.residual(&r, &t)?;
            beta = self.cycle_start(&r, &v[0], left)?;
            *hist.last_mut().unwrap() = beta;
            counts.push(Comm::allreduce_count() - c0);
        }
    }

    /// `v0 = r` (right) or `M^-1 r` (left); returns `|v0|`.
    fn cycle_start(&self, r: &Dat, v0: &Dat, left: bool) -> Result<f64> {
        if left {
            self.pc.apply(r, v0)?;
        } else {
            vecops::copy(r, v0)?;
        }
        vecops::norm(v0)
    }

    /// Orthogonalize `w` against the orthonormal `vs` in place; returns the Hessenberg column
    /// (`vs.len()` projections, then `|w|` after).
    fn orthogonalize(&self, vs: &[Dat], w: &Dat) -> Result<Vec<f64>> {
        let mut h = vec![0.0; vs.len()];
        if self.s.ortho == Orthogonalization::Modified {
            for (vi, hi) in vs.iter().zip(h.iter_mut()) {
                *hi = vecops::dot(vi, w)?;
                vecops::axpy(-*hi, vi, w)?;
            }
            h.push(vecops::norm(w)?);
            return Ok(h);
        }
        // Classical: [v_i . w..., w . w] in one reduction; |w - V h|^2 = w.w - |h|^2. At most
        // two passes (a second pass leaves w orthogonal to rounding).
        for pass in 0.. {
            let mut pairs: Vec<(&Dat, &Dat)> = vs.iter().map(|vi| (vi, w)).collect();
            pairs.push((w, w));
            let d = vecops::dots(&pairs)?;
            let (proj, ww) = (&d[..vs.len()], d[vs.len()]);
            for (vi, p) in vs.iter().zip(proj) {
                vecops::axpy(-p, vi, w)?;
            }
            for (hi, p) in h.iter_mut().zip(proj) {
                *hi += p;
            }
            let left = ww - proj.iter().map(|p| p * p).sum::<f64>();
            if pass == 1 || left > REORTHOGONALIZE * ww || ww == 0.0 || !left.is_finite() {
                h.push(left.max(0.0).sqrt());
                break;
            }
        }
        Ok(h)
    }
}
