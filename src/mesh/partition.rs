//! Partitioning: which rank owns each element of a global mesh.
//!
//! Owns the serial partitioners (recursive coordinate bisection [`rcb`], the index-block
//! fallback [`block`]), the check of a user partition, and the documentation of the rules that
//! carry a partition of one set through maps to every other set (applied over the ranks' blocks
//! by [`crate::mesh::distribute_blocks`]). Pure computation on whole arrays: this module never
//! calls MPI, never builds Sets or Maps, and never panics on bad input (it returns
//! [`Error::InvalidArgument`]).
//!
//! # Balance
//! Both partitioners give part `p` of `n` elements exactly `n / nparts + (p < n % nparts)`
//! elements, so part sizes differ by at most one, for any number of parts (powers of two or
//! not). RCB splits a box holding parts `[a, b)` into `[a, m)` and `[m, b)`, `m = (a + b) / 2`,
//! at the position that gives each side the exact sum of its parts' sizes, across the box's
//! longest extent. Ties in a coordinate are broken by element index, so the result is
//! deterministic. Cost: `O(n log nparts)` (linear-time selection per level), halves run in
//! parallel with rayon.
//!
//! # Derived owners (documented rule)
//! Starting from the sets that already have owners (the partitioned primary set), repeat until
//! nothing changes:
//! 1. **source rule**: take the first map (in the order maps were added) whose source set `S`
//!    has no owners yet and whose target set has; `S` gets its owners through the first map
//!    from `S` (in the same order) whose target has owners: `owner(s) = owner(first target
//!    of s)`.
//! 2. only when no source rule applies, **target rule**: take the first map whose target set
//!    `T` has no owners and whose source set has; `owner(t) = min owner(s)` over the elements
//!    `s` of every already-owned source set with a map to `T` that references `t`. Elements of
//!    `T` no such map references get the [`block`] owner of their index.
//!
//! Sets never reached are partitioned by [`block`].

use rayon::prelude::*;

use crate::error::{Error, Result};

/// How a mesh is partitioned when no owners are given.
///
/// * `Rcb`: recursive coordinate bisection of the set with coordinates (on the parallel path,
///   in parallel over the ranks' blocks; same result as on rank 0). Without coordinates, `Block`.
/// * `Block`: the first set added, by index into contiguous blocks ([`block`]).
/// * `Metis`: METIS (k-way) on the dual graph of the first map added whose arity is at least 2
///   (its source set's elements are adjacent when they share `min(2, arity - 1)` targets), on
///   rank 0; on the parallel path that map's rows are gathered to rank 0 for it (meshes whose
///   dual graph fits on rank 0) and each rank gets its block's owners back.
///
/// ```
/// use op2::mesh::Partitioner;
/// assert_eq!("metis".parse::<Partitioner>().unwrap(), Partitioner::Metis);
/// assert_eq!("parallel-rcb".parse::<Partitioner>().unwrap(), Partitioner::Rcb);
/// assert!("scotch".parse::<Partitioner>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Partitioner {
    /// Recursive coordinate bisection on the cells' centroids (parallel; the default).
    #[default]
    Rcb,
    /// Contiguous blocks of the global numbering.
    Block,
    /// METIS's k-way partition of the cell graph.
    Metis,
}

impl std::str::FromStr for Partitioner {
    type Err = Error;
    fn from_str(s: &str) -> Result<Partitioner> {
        match s {
            "rcb" | "parallel-rcb" => Ok(Partitioner::Rcb),
            "block" => Ok(Partitioner::Block),
            "metis" => Ok(Partitioner::Metis),
            _ => Err(Error::invalid(
                "partitioner",
                format!("`{s}`: expected rcb, parallel-rcb, block or metis"),
            )),
        }
    }
}

/// Check a user partition: `owners.len() == n`, every owner in `[0, nparts)`.
pub(crate) fn check_owners(what: &str, owners: &[i32], n: usize, nparts: usize) -> Result<()> {
    if owners.len() != n {
        return Err(Error::invalid(
            what,
            format!("{} owners given for {n} elements", owners.len()),
        ));
    }
    if let Some(i) = first_where(owners, |&o| o < 0 || o as usize >= nparts) {
        return Err(Error::invalid(
            what,
            format!(
                "owner {} of element {i} is not a rank of a {nparts}-rank communicator",
                owners[i]
            ),
        ));
    }
    Ok(())
}

/// Index of the first element of `v` for which `bad` holds (parallel over large chunks).
pub(crate) fn first_where<T: Sync>(v: &[T], bad: impl Fn(&T) -> bool + Sync) -> Option<usize> {
    const CHUNK: usize = 1 << 16;
    let c = v.par_chunks(CHUNK).position_first(|c| c.iter().any(&bad))?;
    let at = c * CHUNK;
    v[at..].iter().position(&bad).map(|i| at + i)
}

/// Exact size of part `p` when `n` elements are split into `nparts` parts.
pub(crate) fn part_size(n: usize, nparts: usize, p: usize) -> usize {
    n / nparts + usize::from(p < n % nparts)
}

fn check_nparts(what: &str, nparts: usize) -> Result<()> {
    if nparts == 0 || nparts > i32::MAX as usize {
        return Err(Error::invalid(
            what,
            format!("{nparts} parts: need between 1 and {}", i32::MAX),
        ));
    }
    Ok(())
}

/// Owner of each of `n` elements when split by index into `nparts` contiguous blocks whose
/// sizes differ by at most one (the first `n % nparts` blocks are one larger).
///
/// ```
/// assert_eq!(op2::mesh::partition::block(7, 3).unwrap(), vec![0, 0, 0, 1, 1, 2, 2]);
/// assert!(op2::mesh::partition::block(7, 0).is_err());
/// ```
pub fn block(n: usize, nparts: usize) -> Result<Vec<i32>> {
    check_nparts("partition::block", nparts)?;
    Ok(block_unchecked(n, nparts))
}

fn block_unchecked(n: usize, nparts: usize) -> Vec<i32> {
    (0..n)
        .into_par_iter()
        .map(|i| block_owner(i, n, nparts))
        .collect()
}

/// Block owner of index `i` among `n` (see [`block`]), in O(1).
pub(crate) fn block_owner(i: usize, n: usize, nparts: usize) -> i32 {
    let (q, r) = (n / nparts, n % nparts);
    // The first r blocks have q + 1 elements.
    let big = r * (q + 1);
    if i < big {
        (i / (q + 1)) as i32
    } else {
        (r + (i - big) / q.max(1)) as i32
    }
}

/// Recursive coordinate bisection of `coords` (`dim` values per element, row-major) into
/// `nparts` parts whose sizes differ by at most one. Returns each element's part.
///
/// ```
/// // Eight points on a line, three parts: sizes 3, 3, 2, in coordinate order.
/// let x = vec![7.0, 0.0, 6.0, 1.0, 5.0, 2.0, 4.0, 3.0];
/// let p = op2::mesh::partition::rcb(&x, 1, 3).unwrap();
/// assert_eq!(p, vec![2, 0, 2, 0, 1, 0, 1, 1]);
/// assert!(op2::mesh::partition::rcb(&[0.0, f64::NAN], 2, 2).is_err());
/// ```
pub fn rcb(coords: &[f64], dim: usize, nparts: usize) -> Result<Vec<i32>> {
    check_nparts("partition::rcb", nparts)?;
    if dim == 0 || !coords.len().is_multiple_of(dim) {
        return Err(Error::invalid(
            "partition::rcb",
            format!(
                "{} coordinates are not a multiple of dim {dim}",
                coords.len()
            ),
        ));
    }
    let n = coords.len() / dim;
    if n > u32::MAX as usize {
        return Err(Error::invalid(
            "partition::rcb",
            format!("{n} elements exceed {}", u32::MAX),
        ));
    }
    if let Some(i) = first_where(coords, |c| !c.is_finite()) {
        return Err(Error::invalid(
            "partition::rcb",
            format!(
                "coordinate {} of element {} is {} (must be finite)",
                i % dim,
                i / dim,
                coords[i]
            ),
        ));
    }
    // prefix[p] = first position of part p once `idx` is arranged.
    let mut prefix = Vec::with_capacity(nparts + 1);
    prefix.push(0usize);
    for p in 0..nparts {
        prefix.push(prefix[p] + part_size(n, nparts, p));
    }
    let mut idx: Vec<u32> = (0..n as u32).collect();
    bisect(&mut idx, coords, dim, 0, nparts, &prefix);
    let mut owner = vec![0i32; n];
    for p in 0..nparts {
        for &i in &idx[prefix[p]..prefix[p + 1]] {
            owner[i as usize] = p as i32;
        }
    }
    Ok(owner)
}

/// Arrange `idx` (the elements of parts `[p0, p1)`) so that part `p` lies at positions
/// `prefix[p] - prefix[p0] ..`.
fn bisect(idx: &mut [u32], coords: &[f64], dim: usize, p0: usize, p1: usize, prefix: &[usize]) {
    if p1 - p0 <= 1 || idx.len() <= 1 {
        return;
    }
    let mid = p0 + (p1 - p0) / 2;
    let k = prefix[mid] - prefix[p0];
    let axis = longest_axis(idx, coords, dim);
    let key = |i: u32| coords[i as usize * dim + axis];
    if k > 0 && k < idx.len() {
        idx.select_nth_unstable_by(k, |&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
    }
    let (l, r) = idx.split_at_mut(k);
    if l.len() + r.len() > 4096 {
        rayon::join(
            || bisect(l, coords, dim, p0, mid, prefix),
            || bisect(r, coords, dim, mid, p1, prefix),
        );
    } else {
        bisect(l, coords, dim, p0, mid, prefix);
        bisect(r, coords, dim, mid, p1, prefix);
    }
}

fn longest_axis(idx: &[u32], coords: &[f64], dim: usize) -> usize {
    let bbox = |chunk: &[u32]| {
        let mut lo = vec![f64::INFINITY; dim];
        let mut hi = vec![f64::NEG_INFINITY; dim];
        for &i in chunk {
            let c = &coords[i as usize * dim..(i as usize + 1) * dim];
            for d in 0..dim {
                lo[d] = lo[d].min(c[d]);
                hi[d] = hi[d].max(c[d]);
            }
        }
        (lo, hi)
    };
    let merge = |(mut l1, mut h1): (Vec<f64>, Vec<f64>), (l2, h2): (Vec<f64>, Vec<f64>)| {
        for d in 0..l1.len() {
            l1[d] = l1[d].min(l2[d]);
            h1[d] = h1[d].max(h2[d]);
        }
        (l1, h1)
    };
    let (lo, hi) = if idx.len() > 65_536 {
        idx.par_chunks(16_384).map(bbox).reduce(
            || (vec![f64::INFINITY; dim], vec![f64::NEG_INFINITY; dim]),
            merge,
        )
    } else {
        bbox(idx)
    };
    let mut axis = 0;
    for d in 1..dim {
        if hi[d] - lo[d] > hi[axis] - lo[axis] {
            axis = d;
        }
    }
    axis
}

/// One map of a whole mesh, as METIS's dual graph sees it (values validated by the caller:
/// `arity` target numbers per source element, each inside the target set).
#[derive(Clone, Copy, Debug)]
pub(crate) struct MapSpec<'a> {
    pub(crate) arity: usize,
    pub(crate) values: &'a [i32],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(owner: &[i32], nparts: usize) -> Vec<usize> {
        let mut s = vec![0; nparts];
        for &o in owner {
            s[o as usize] += 1;
        }
        s
    }

    fn balanced(owner: &[i32], nparts: usize) -> bool {
        let s = sizes(owner, nparts);
        s.iter().max().unwrap() - s.iter().min().unwrap() <= 1
    }

    /// A pseudo-random point cloud (no external RNG needed, reproducible).
    fn cloud(n: usize, dim: usize) -> Vec<f64> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..n * dim)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    #[test]
    fn rcb_is_balanced_for_any_number_of_parts() {
        for dim in [2, 3] {
            let c = cloud(10_007, dim);
            for nparts in [1, 2, 3, 4, 5, 6, 7, 8, 13, 64, 100] {
                let p = rcb(&c, dim, nparts).unwrap();
                assert!(
                    balanced(&p, nparts),
                    "dim {dim}, {nparts} parts: {:?}",
                    sizes(&p, nparts)
                );
            }
        }
    }

    #[test]
    fn rcb_balances_degenerate_inputs() {
        // All points equal: ties broken by index, still balanced.
        let c = vec![1.0; 2 * 1000];
        assert!(balanced(&rcb(&c, 2, 7).unwrap(), 7));
        // Fewer elements than parts: sizes 1 and 0.
        let c = cloud(3, 2);
        let p = rcb(&c, 2, 5).unwrap();
        assert_eq!(sizes(&p, 5).iter().sum::<usize>(), 3);
        assert!(balanced(&p, 5));
        // Empty input.
        assert!(rcb(&[], 3, 4).unwrap().is_empty());
    }

    #[test]
    fn rcb_parts_are_spatially_compact() {
        // A 64 x 64 grid in 4 parts: each part is a 32 x 32 quadrant.
        let mut c = Vec::new();
        for j in 0..64 {
            for i in 0..64 {
                c.push(i as f64);
                c.push(j as f64);
            }
        }
        let p = rcb(&c, 2, 4).unwrap();
        for j in 0..64 {
            for i in 0..64 {
                let q = p[j * 64 + i];
                let quadrant = p[(j / 32) * 32 * 64 + (i / 32) * 32];
                assert_eq!(q, quadrant, "({i},{j})");
            }
        }
        assert!(balanced(&p, 4));
    }

    #[test]
    fn rcb_rejects_bad_input() {
        assert!(rcb(&[0.0, 1.0, 2.0], 2, 2).is_err());
        assert!(rcb(&[0.0, 1.0], 2, 0).is_err());
        assert!(rcb(&[0.0, f64::INFINITY], 2, 2).is_err());
    }

    #[test]
    fn block_is_balanced() {
        for n in [0, 1, 5, 100, 101] {
            for nparts in [1, 2, 3, 7] {
                let p = block(n, nparts).unwrap();
                assert!(balanced(&p, nparts) || n == 0);
                assert!(p.windows(2).all(|w| w[0] <= w[1]));
            }
        }
    }
}
