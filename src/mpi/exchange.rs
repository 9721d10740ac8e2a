//! One halo exchange: the begin / overlap / finish type every exchange along halo lists uses.
//!
//! Owns how several Dats' parts share one message per neighbour and are cut apart again, and the
//! size-then-data exchange of messages whose lengths the receiver does not know. The blocking
//! conveniences [`crate::update_halo`] and [`crate::reverse_halo`] (with `Dat`), par_loop's run
//! step, the checked mode's halo comparison and the distributed Sparsity/Mat exchanges all
//! exchange through it. Messages go through [`crate::Comm::exchange`]; this module never calls
//! MPI itself, packs nothing (the [`Halo`] lists do) and never decides when to exchange.

use std::collections::BTreeMap;

use crate::dtype::DType;
use crate::error::Result;
use crate::mpi::comm::{Comm, ReduceOp};
use crate::mpi::halo::Halo;

/// One halo exchange with every neighbour, for one or several Dats at once (parts).
///
/// Begin: each part (one Dat's messages, packed along its halo lists by the caller or by
/// [`Exchange::forward`] / [`Exchange::reverse`]) is appended to one message per neighbour rank.
/// [`Exchange::overlap`]: every receive and send is posted, the caller's computation runs while
/// they are in flight, then they are waited for. Finish: [`Arrived`] cuts each part out of the
/// arrived messages, in the order the parts were added (both sides add the same parts in the
/// same order, so no part boundary travels).
pub(crate) struct Exchange {
    tag: i32,
    sends: BTreeMap<i32, Vec<u8>>,
    lens: BTreeMap<i32, usize>,
    /// Per part, the bytes it expects from each neighbour, in the part's neighbour order.
    parts: Vec<Vec<(i32, usize)>>,
}

impl Exchange {
    /// An exchange of messages with MPI tag `tag`, with no part yet.
    pub(crate) fn begin(tag: i32) -> Exchange {
        Exchange {
            tag,
            sends: BTreeMap::new(),
            lens: BTreeMap::new(),
            parts: Vec::new(),
        }
    }

    /// Add a part: its message to each neighbour and the bytes it expects from each. Returns
    /// the part's number for [`Arrived::part`].
    pub(crate) fn add(
        &mut self,
        sends: Vec<(i32, Vec<u8>)>,
        recv_lens: Vec<(i32, usize)>,
    ) -> usize {
        for (r, b) in sends {
            self.sends.entry(r).or_default().extend(b);
        }
        for &(r, n) in &recv_lens {
            *self.lens.entry(r).or_default() += n;
        }
        self.parts.push(recv_lens);
        self.parts.len() - 1
    }

    /// Add a forward part: the owned elements of `data` (a Dat's storage as bytes,
    /// `elem_bytes` per element) that each neighbour holds copies of.
    pub(crate) fn forward(&mut self, halo: &Halo, data: &[u8], elem_bytes: usize) -> usize {
        self.add(
            halo.forward_sends(data, elem_bytes),
            halo.forward_recv_lens(elem_bytes),
        )
    }

    /// Add a reverse part: this rank's halo copies in `data`, to their owners.
    pub(crate) fn reverse(&mut self, halo: &Halo, data: &[u8], elem_bytes: usize) -> usize {
        self.add(
            halo.reverse_sends(data, elem_bytes),
            halo.reverse_recv_lens(elem_bytes),
        )
    }

    /// Post every receive and send, run `during` while the messages are in flight, wait for
    /// all of them. Collective over the neighbours: each must run the matching exchange.
    pub(crate) fn overlap<R>(self, comm: Comm, during: impl FnOnce() -> R) -> Result<(Arrived, R)> {
        let sends: Vec<(i32, Vec<u8>)> = self.sends.into_iter().collect();
        let lens: Vec<(i32, usize)> = self.lens.into_iter().collect();
        let (recvs, r) = comm.exchange(self.tag, &sends, &lens, during)?;
        let parts = cut_parts(&self.parts, &lens, &recvs);
        Ok((Arrived { parts }, r))
    }

    /// A one-part exchange whose lengths the receivers do not know: each message's length
    /// travels first (a u64), then the messages. `sends`: one message (possibly empty) to each
    /// rank this one sends to; `ranks`: the ranks that send to this one. Returns the message
    /// from each, in `ranks` order.
    pub(crate) fn sized(
        comm: Comm,
        tag: i32,
        sends: Vec<(i32, Vec<u8>)>,
        ranks: &[i32],
    ) -> Result<Vec<Vec<u8>>> {
        let mut sizes = Exchange::begin(tag);
        sizes.add(
            (sends.iter())
                .map(|(r, b)| (*r, (b.len() as u64).to_le_bytes().to_vec()))
                .collect(),
            ranks.iter().map(|&r| (r, 8)).collect(),
        );
        let sizes = sizes.run(comm)?;
        let lens: Vec<(i32, usize)> = (ranks.iter().zip(sizes.part(0)))
            .map(|(&r, s)| {
                let n = s.get(..8).map_or(0, |b| {
                    u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize
                });
                (r, n)
            })
            .collect();
        let mut messages = Exchange::begin(tag);
        messages.add(sends, lens);
        let mut arrived = messages.run(comm)?;
        Ok(std::mem::take(&mut arrived.parts[0]))
    }

    /// [`Exchange::overlap`] with nothing to overlap.
    pub(crate) fn run(self, comm: Comm) -> Result<Arrived> {
        Ok(self.overlap(comm, || ())?.0)
    }
}

/// Cut every part out of the messages `recvs` (one per rank of `lens`): per rank, the parts
/// follow one another in the order they were added. A message shorter than its parts gives
/// the parts it lacks empty (the unpack functions then refuse them by length).
fn cut_parts(
    parts: &[Vec<(i32, usize)>],
    lens: &[(i32, usize)],
    recvs: &[Vec<u8>],
) -> Vec<Vec<Vec<u8>>> {
    let by_rank: BTreeMap<i32, &Vec<u8>> = lens.iter().map(|(r, _)| *r).zip(recvs).collect();
    let mut offset: BTreeMap<i32, usize> = BTreeMap::new();
    parts
        .iter()
        .map(|part| {
            part.iter()
                .map(|&(r, n)| {
                    let o = offset.entry(r).or_default();
                    let bytes = (by_rank.get(&r))
                        .and_then(|m| m.get(*o..*o + n))
                        .unwrap_or_default()
                        .to_vec();
                    *o += n;
                    bytes
                })
                .collect()
        })
        .collect()
}

/// The messages of a finished [`Exchange`], cut into its parts.
pub(crate) struct Arrived {
    /// Per part, one message per neighbour in the part's neighbour order.
    parts: Vec<Vec<Vec<u8>>>,
}

impl Arrived {
    /// Part `k`'s messages, one per neighbour.
    pub(crate) fn part(&self, k: usize) -> &[Vec<u8>] {
        &self.parts[k]
    }

    /// Finish reverse part `k` by folding into the owned elements of `words` (a Dat's storage
    /// of `dtype`, `dim` values per element): `Sum` adds (indirect INC), `Min`/`Max` keep the
    /// smaller or larger value (indirect MIN/MAX).
    pub(crate) fn unpack_reverse_fold(
        &self,
        k: usize,
        halo: &Halo,
        words: &mut [u64],
        dtype: DType,
        dim: usize,
        op: ReduceOp,
    ) -> Result<()> {
        let recvs = self.part(k);
        crate::dtype::with_scalar!(dtype, T => {
            let data: &mut [T] = bytemuck::cast_slice_mut(words);
            match op {
                ReduceOp::Min => halo.reverse_unpack_with(data, dim, recvs, |d, x| if x < *d { *d = x }),
                ReduceOp::Max => halo.reverse_unpack_with(data, dim, recvs, |d, x| if x > *d { *d = x }),
                ReduceOp::Sum => halo.reverse_unpack_with(data, dim, recvs, |d, x| *d += x),
            }
        })
    }
}

impl Halo {
    /// Send the halo copies of `words` marked in `touched` back to their owners, who store them
    /// (par_loop's indirect WRITE/RW): a size exchange, then the records
    /// ([`Halo::reverse_sends_touched`]). Returns the first conflict found (see
    /// [`Halo::reverse_unpack_touched`]).
    pub(crate) fn reverse_touched(
        &self,
        comm: Comm,
        tag: i32,
        words: &mut [u64],
        elem_bytes: usize,
        touched: &[bool],
    ) -> Result<Option<(usize, i32)>> {
        let sends = self.reverse_sends_touched(bytemuck::cast_slice(words), elem_bytes, touched);
        let records = Exchange::sized(comm, tag, sends, &self.neighbour_ranks())?;
        self.reverse_unpack_touched(
            bytemuck::cast_slice_mut(words),
            elem_bytes,
            &records,
            touched,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_cut_in_the_order_they_were_added() {
        let mut x = Exchange::begin(crate::mpi::halo::TAG_HALO_FORWARD);
        // Part 0 expects 2 bytes from rank 1 and 1 from rank 3; part 1 expects 3 from rank 1.
        assert_eq!(x.add(vec![(1, vec![9])], vec![(1, 2), (3, 1)]), 0);
        assert_eq!(x.add(vec![(1, vec![8, 7])], vec![(1, 3)]), 1);
        // One message per rank: the parts appended in order.
        assert_eq!(x.sends.get(&1), Some(&vec![9, 8, 7]));
        assert_eq!(x.lens.get(&1), Some(&5));
        assert_eq!(x.lens.get(&3), Some(&1));
        let lens: Vec<(i32, usize)> = x.lens.iter().map(|(r, n)| (*r, *n)).collect();
        let recvs = vec![vec![1, 2, 3, 4, 5], vec![6]];
        let parts = cut_parts(&x.parts, &lens, &recvs);
        assert_eq!(parts[0], vec![vec![1, 2], vec![6]]);
        assert_eq!(parts[1], vec![vec![3, 4, 5]]);
        // A short message leaves the part it lacks empty, never a panic.
        let parts = cut_parts(&x.parts, &lens, &[vec![1, 2], vec![6]]);
        assert_eq!(parts[1], vec![Vec::<u8>::new()]);
    }
}
