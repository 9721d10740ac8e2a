//! Shared by the Mat check examples (`op2-mat-check`, `op2-mixed-check`): a serial reference
//! matrix as a map (global block row, global block column) -> block values, its mat-vec, and
//! the comparisons of a gathered Mat or vector with it (structure exactly, values to 1e-12), and
//! rank 0's verdict shared with every rank.
use std::collections::BTreeMap;

/// Serial reference: block -> values, per Mat.
pub type Blocks = BTreeMap<(u64, u64), Vec<f64>>;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()) || (a - b).abs() < 1e-14
}

/// Structure exactly, values to 1e-12 relative; returns the number of values checked.
pub fn compare_mat(
    name: &str,
    got: &op2::GatheredMat,
    want: &Blocks,
    nrows: usize,
) -> std::result::Result<usize, String> {
    if got.nrows != nrows {
        return Err(format!("{name}: {} rows, serial {nrows}", got.nrows));
    }
    let bs = got.dims.0 * got.dims.1;
    let mut n = 0;
    let mut w = want.iter();
    for i in 0..got.nrows {
        for (k, &c) in got.row(i).iter().enumerate() {
            let Some((&(wr, wc), wv)) = w.next() else {
                return Err(format!("{name}: extra block ({i}, {c})"));
            };
            if (wr, wc) != (i as u64, c) {
                return Err(format!(
                    "{name}: block ({i}, {c}) where the serial matrix has ({wr}, {wc})"
                ));
            }
            let off = (got.rowptr[i] + k) * bs;
            for (q, (&gv, &sv)) in got.values[off..off + bs].iter().zip(wv).enumerate() {
                if !close(gv, sv) {
                    return Err(format!(
                        "{name}: block ({i}, {c}) value {q}: {gv:e}, serial {sv:e}"
                    ));
                }
                n += 1;
            }
        }
    }
    if let Some((&(r, c), _)) = w.next() {
        return Err(format!("{name}: missing block ({r}, {c})"));
    }
    Ok(n)
}

pub fn matvec(want: &Blocks, (rd, cd): (usize, usize), x: &[f64], nrows: usize) -> Vec<f64> {
    let mut y = vec![0.0; nrows * rd];
    for (&(i, j), v) in want {
        for r in 0..rd {
            for c in 0..cd {
                y[i as usize * rd + r] += v[r * cd + c] * x[j as usize * cd + c];
            }
        }
    }
    y
}

pub fn compare_vec(name: &str, got: &[f64], want: &[f64]) -> std::result::Result<usize, String> {
    if got.len() != want.len() {
        return Err(format!(
            "{name}: {} values, serial {}",
            got.len(),
            want.len()
        ));
    }
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        // Mat-vec sums cancel: compare against the size of the terms, not of the result.
        if (a - b).abs() > 1e-12 * (1.0 + b.abs()) {
            return Err(format!("{name}[{i}] = {a:e}, serial {b:e}"));
        }
    }
    Ok(got.len())
}

/// Rank 0's verdict (the comparison's outcome there; ignored elsewhere) on every rank:
/// `ok: K values checked`, or the same `Error::Remote` on every rank.
pub fn verdict(
    comm: op2::Comm,
    outcome: Option<std::result::Result<usize, String>>,
) -> op2::Result<String> {
    let v = match outcome {
        Some(Ok(n)) => format!("ok: {n} values checked"),
        Some(Err(e)) => format!("FAIL {e}"),
        None => String::new(),
    };
    let v = String::from_utf8_lossy(&comm.broadcast_bytes(0, v.into_bytes())?).into_owned();
    if let Some(msg) = v.strip_prefix("FAIL ") {
        return Err(op2::Error::Remote {
            rank: 0,
            detail: msg.to_string(),
        }
        .on_every_rank());
    }
    Ok(v)
}
