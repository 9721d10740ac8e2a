//! Messages between ranks during distribution: a writer and a checked reader of the schema rank
//! 0 broadcasts (native byte order: all ranks run the same build on the same kind of node),
//! rank 0's arrays cut into the ranks' blocks, records grouped by destination rank for
//! `alltoallv`, and rank 0's verdict broadcast to every rank.

use crate::dtype::Scalar;
use crate::error::{Error, Result};
use crate::mesh::block::block_range;
use crate::mpi::comm::Comm;

/// Bytes (any alignment) to values.
pub(crate) fn bytes_to_vec<T: Scalar>(b: &[u8]) -> Vec<T> {
    match bytemuck::try_cast_slice::<u8, T>(b) {
        Ok(v) => v.to_vec(),
        Err(_) => b
            .chunks_exact(std::mem::size_of::<T>())
            .map(bytemuck::pod_read_unaligned::<T>)
            .collect(),
    }
}

/// Message writer (native byte order: all ranks run the same build on the same kind of node).
#[derive(Default)]
pub(crate) struct W(pub(crate) Vec<u8>);

impl W {
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_ne_bytes());
    }
    pub(crate) fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Message reader; every read is checked.
pub(crate) struct R<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> R<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        R { b, at: 0 }
    }
    pub(crate) fn corrupt(&self, what: &str) -> Error {
        Error::Mpi(format!(
            "corrupt distribution message ({what}, at byte {} of {})",
            self.at,
            self.b.len()
        ))
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            return Err(self.corrupt("truncated"));
        };
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(bytemuck::pod_read_unaligned(self.take(8)?))
    }
    pub(crate) fn str(&mut self) -> Result<String> {
        let n = self.u64()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| self.corrupt("name"))
    }
}

/// Broadcast rank 0's verdict on `root` (`Some` on rank 0 only). An error there becomes
/// `Error::Remote { rank: 0 }` with its message on every rank; otherwise rank 0 gets its value
/// back and the other ranks `None`.
pub(crate) fn root_verdict<T>(comm: Comm, root: Option<Result<T>>) -> Result<Option<T>> {
    let r = match root {
        Some(r) => r.map(Some),
        None => Ok(None),
    };
    crate::mpi::agree::agree(comm, crate::mpi::agree::Share::Root, r)
}

/// `bytes` (what rank 0 scatters of one array, over all ranks) must fit one scatter.
pub(crate) fn check_scatter_size(what: &str, bytes: usize) -> Result<()> {
    if bytes > i32::MAX as usize {
        return Err(Error::invalid(
            what,
            format!(
                "{bytes} bytes exceed what one scatter can move ({}); distribute a smaller mesh \
                 or read it in blocks (distribute_blocks)",
                i32::MAX
            ),
        ));
    }
    Ok(())
}

/// Rank `r`'s block ([`block_range`]) of `v`, an array of `n` elements of `width` values each,
/// as bytes for every rank `r` of `nranks`: what rank 0 scatters. Callers check the length
/// first; a short `v` gives short parts, which the receivers' length checks report.
pub(crate) fn block_parts<T: bytemuck::Pod>(
    v: &[T],
    n: usize,
    width: usize,
    nranks: usize,
) -> Vec<Vec<u8>> {
    (0..nranks)
        .map(|r| {
            let b = block_range(n, nranks, r);
            let rows = v.get(b.start * width..b.end * width).unwrap_or_default();
            bytemuck::cast_slice(rows).to_vec()
        })
        .collect()
}

/// Records grouped by destination rank, for [`Comm::alltoallv`]: record `i` of `n` (`width`
/// values, written by `rec(i, out)`) goes to rank `dest(i)` (< `nranks`); records keep their
/// order within each rank. Returns the flat buffer and the number of values per rank. Two
/// passes over the records, one buffer: nothing is copied twice.
pub(crate) fn by_rank<T: bytemuck::Pod>(
    nranks: usize,
    n: usize,
    width: usize,
    dest: impl Fn(usize) -> usize,
    mut rec: impl FnMut(usize, &mut [T]),
) -> (Vec<T>, Vec<usize>) {
    let mut counts = vec![0usize; nranks];
    for i in 0..n {
        counts[dest(i)] += width;
    }
    let mut at = offsets(&counts);
    let mut buf = vec![T::zeroed(); n * width];
    for i in 0..n {
        let d = dest(i);
        rec(i, &mut buf[at[d]..at[d] + width]);
        at[d] += width;
    }
    (buf, counts)
}

/// Start of each rank's values in a buffer received with these counts.
pub(crate) fn offsets(counts: &[usize]) -> Vec<usize> {
    counts
        .iter()
        .scan(0, |acc, &c| {
            *acc += c;
            Some(*acc - c)
        })
        .collect()
}
