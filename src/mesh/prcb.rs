//! Parallel recursive coordinate bisection: RCB over coordinates distributed across the ranks
//! (each rank holds a contiguous block of elements, global ids `first..first + n`).
//!
//! Gives exactly the partition of [`crate::mesh::partition::rcb`] on the whole array: the same
//! part sizes (`N / nparts + (p < N % nparts)`), the same split axis (longest extent of the
//! box, lowest axis on ties) and the same order (coordinate, then global id). Each split finds
//! its position by building the 128-bit key `(coordinate as ordered bits, global id)` of the
//! k-th element a byte at a time, with one `allreduce` of a 256-bin histogram per byte for all
//! boxes of a level together: `O(n_local * 16 * log nparts)` work, `16 * log nparts`
//! collectives, no element ever moves. Every rank enters every collective (the box tree depends only on
//! `nparts` and the global count).

use crate::error::{Error, Result};
use crate::mpi::comm::{Comm, ReduceOp};

/// Order-preserving map of an `f64` to `u64` (the order of `f64::total_cmp`).
fn ordered(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// Part of each local element (global ids `first..`) when the distributed coordinates
/// `coords` (`dim` per element) are split into `nparts` parts. Collective.
pub(crate) fn rcb(
    comm: Comm,
    coords: &[f64],
    dim: usize,
    first: u64,
    nparts: usize,
) -> Result<Vec<i32>> {
    let what = "parallel rcb";
    if !(1..=3).contains(&dim) || !coords.len().is_multiple_of(dim) {
        return Err(Error::invalid(
            what,
            format!("{} coordinates, dim {dim}", coords.len()),
        ));
    }
    let n = coords.len() / dim;
    let total = comm.allreduce_u64(n as u64, ReduceOp::Sum)? as usize;
    let prefix = part_prefix(total, nparts);
    // Every element's box, as an index into `boxes` ([p0, p1) part ranges).
    let mut boxes: Vec<(usize, usize)> = vec![(0, nparts)];
    let mut at = vec![0u32; n];
    loop {
        let active: Vec<usize> = (0..boxes.len())
            .filter(|&b| boxes[b].1 - boxes[b].0 > 1)
            .collect();
        if active.is_empty() {
            break;
        }
        let nb = boxes.len();
        let axis = split_axes(comm, coords, dim, &at, nb)?;
        let key = |e: usize| -> u128 {
            let b = at[e] as usize;
            ((ordered(coords[e * dim + axis[b]]) as u128) << 64) | (first + e as u64) as u128
        };
        // Left count wanted in each box.
        let want: Vec<u64> = boxes
            .iter()
            .map(|&(p0, p1)| (prefix[p0 + (p1 - p0) / 2] - prefix[p0]) as u64)
            .collect();
        let keys: Vec<u128> = (0..n).map(key).collect();
        let thr = thresholds(comm, &keys, &at, &active, &want)?;
        let (next, child) = split_boxes(&boxes);
        for (e, b) in at.iter_mut().enumerate() {
            let (l, r) = child[*b as usize];
            *b = if keys[e] < thr[*b as usize] { l } else { r };
        }
        boxes = next;
    }
    Ok(at.iter().map(|&b| boxes[b as usize].0 as i32).collect())
}

/// Where each part's elements start in the global order (`nparts + 1` offsets, parts as equal
/// as `total` allows, the first ones one larger).
fn part_prefix(total: usize, nparts: usize) -> Vec<usize> {
    let mut prefix = Vec::with_capacity(nparts + 1);
    prefix.push(0usize);
    for p in 0..nparts {
        prefix.push(prefix[p] + total / nparts + usize::from(p < total % nparts));
    }
    prefix
}

/// Per box (of `nb`; `at`: every element's box), the axis along which its global bounding box
/// is longest (the lowest such axis on a tie).
fn split_axes(comm: Comm, coords: &[f64], dim: usize, at: &[u32], nb: usize) -> Result<Vec<usize>> {
    // Bounding boxes of every box.
    let mut lo = vec![f64::INFINITY; nb * dim];
    let mut hi = vec![f64::NEG_INFINITY; nb * dim];
    for (e, &b) in at.iter().enumerate() {
        let b = b as usize;
        for d in 0..dim {
            let c = coords[e * dim + d];
            lo[b * dim + d] = lo[b * dim + d].min(c);
            hi[b * dim + d] = hi[b * dim + d].max(c);
        }
    }
    let lo = comm.allreduce(&lo, ReduceOp::Min)?;
    let hi = comm.allreduce(&hi, ReduceOp::Max)?;
    Ok((0..nb)
        .map(|b| {
            let mut a = 0;
            for d in 1..dim {
                if hi[b * dim + d] - lo[b * dim + d] > hi[b * dim + a] - lo[b * dim + a] {
                    a = d;
                }
            }
            a
        })
        .collect())
}

/// Largest threshold T per box with #(key < T) <= want: then exactly `want` are below.
/// T is found a byte at a time from the top: per box, count the keys below the prefix found so
/// far and histogram the next byte of the keys that share it (one allreduce of 257 counts per
/// box and byte, 16 per level). Boxes not `active` keep threshold 0.
fn thresholds(
    comm: Comm,
    keys: &[u128],
    at: &[u32],
    active: &[usize],
    want: &[u64],
) -> Result<Vec<u128>> {
    let nb = want.len();
    let mut thr = vec![0u128; nb];
    for byte in (0..16).rev() {
        let shift = 8 * byte;
        let mut cnt = vec![0i64; nb * 257];
        for (e, &k) in keys.iter().enumerate() {
            let b = at[e] as usize;
            let t = thr[b];
            // Keys whose bits above `shift + 8` equal t's; below that prefix: counted in 256.
            let high = |x: u128| {
                if shift + 8 == 128 {
                    0
                } else {
                    x >> (shift + 8)
                }
            };
            if high(k) == high(t) {
                cnt[b * 257 + ((k >> shift) & 0xff) as usize] += 1;
            } else if k < t {
                cnt[b * 257 + 256] += 1;
            }
        }
        let cnt = comm.allreduce(&cnt, ReduceOp::Sum)?;
        for &b in active {
            let mut below = cnt[b * 257 + 256] as u64;
            let mut v = 0u128;
            for u in 1..256u128 {
                below += cnt[b * 257 + (u as usize - 1)] as u64;
                if below <= want[b] {
                    v = u;
                } else {
                    break;
                }
            }
            thr[b] |= v << shift;
        }
    }
    Ok(thr)
}

/// Children: box b splits into (p0, mid) and (mid, p1); finished boxes carry over. Returns the
/// next boxes and each box's (left, right) child.
fn split_boxes(boxes: &[(usize, usize)]) -> (Vec<(usize, usize)>, Vec<(u32, u32)>) {
    let nb = boxes.len();
    let mut next = Vec::new();
    let mut child = vec![(0u32, 0u32); nb];
    for (b, &(p0, p1)) in boxes.iter().enumerate() {
        if p1 - p0 > 1 {
            let mid = p0 + (p1 - p0) / 2;
            child[b] = (next.len() as u32, next.len() as u32 + 1);
            next.push((p0, mid));
            next.push((mid, p1));
        } else {
            child[b] = (next.len() as u32, next.len() as u32);
            next.push((p0, p1));
        }
    }
    (next, child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rank_matches_serial_rcb() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let c: Vec<f64> = (0..2 * 3001)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 1000) as f64 / 7.0 - 50.0
            })
            .collect();
        for nparts in [1, 2, 3, 4, 7] {
            let serial = crate::mesh::partition::rcb(&c, 2, nparts).unwrap();
            assert_eq!(
                rcb(Comm::serial(), &c, 2, 0, nparts).unwrap(),
                serial,
                "{nparts}"
            );
        }
        assert!(ordered(-1.0) < ordered(-0.5) && ordered(-0.0) < ordered(0.0));
        assert!(ordered(0.0) < ordered(2.0));
    }
}
