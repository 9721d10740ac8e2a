//! Halo plans: which owned elements each neighbour needs, and where its copies live here.
//!
//! Owns the per-set exchange lists built when a mesh is distributed (see
//! [`crate::distribute()`]), the byte-level packing/unpacking of a Dat's storage along those
//! lists, and the MPI tags of halo messages.
//! Exchanges along these lists are `exchange.rs`'s `Exchange` (begin, overlap, finish).
//! This module never calls MPI and never decides *when* to exchange (par_loop does, from Dat
//! validity flags).
//!
//! # Order of the lists
//! On rank `r`, halo elements of a set are numbered after the owned ones, grouped by owner
//! rank (increasing) and, within one owner, by increasing global id. `recv` from neighbour `q`
//! lists the local indices of the halo elements `q` owns, in increasing global id; `q`'s `send`
//! to `r` lists its local indices of the same elements in the same order. Both sides therefore
//! agree on the position of every element in a message without sending any index.
//!
//! # Directions
//! * **forward** (owner -> copies): pack `send`, unpack into `recv`. Before a loop reads a Dat
//!   through a map.
//! * **reverse** (copies -> owner): pack `recv`, unpack into `send`, either summing
//!   (`ReverseMode::Add`, after an indirect INC whose halo copies started at zero) or
//!   overwriting (`ReverseMode::Copy`, after an indirect WRITE/RW).

use crate::dtype::Scalar;
use crate::error::{Error, Result};

/// MPI tag of forward halo messages (owner values to halo copies). All of op2's point-to-point
/// tags are defined here, below MPI's guaranteed minimum tag bound of 32767.
///
/// ```
/// assert_ne!(op2::mpi::halo::TAG_HALO_FORWARD, op2::mpi::halo::TAG_HALO_REVERSE);
/// assert!(op2::mpi::halo::TAG_HALO_FORWARD <= 32767);
/// ```
pub const TAG_HALO_FORWARD: i32 = 20_001;
/// MPI tag of reverse halo messages (halo contributions back to their owners).
///
/// ```
/// assert!(op2::mpi::halo::TAG_HALO_REVERSE <= 32767);
/// ```
pub const TAG_HALO_REVERSE: i32 = 20_002;
/// MPI tag of the messages that build a distributed Sparsity: halo-row patterns sent to their
/// owners, and requests for the column values `Mat::mult` will import.
///
/// ```
/// assert!(op2::mpi::halo::TAG_SPARSITY_BUILD <= 32767);
/// ```
pub const TAG_SPARSITY_BUILD: i32 = 20_003;
/// MPI tag of a Mat's halo-row values sent to their owners after a par_loop assembled them.
///
/// ```
/// assert!(op2::mpi::halo::TAG_MAT_REVERSE <= 32767);
/// ```
pub const TAG_MAT_REVERSE: i32 = 20_004;
/// MPI tag of the vector values `Mat::mult` imports for columns that are neither owned nor
/// halo elements of the column set on this rank.
///
/// ```
/// assert!(op2::mpi::halo::TAG_MAT_IMPORT <= 32767);
/// ```
pub const TAG_MAT_IMPORT: i32 = 20_005;

/// MPI tag of the checked mode's second forward exchange (owners' values with their global
/// ids, compared with the halo copies; `OP2_CHECK`).
///
/// ```
/// assert!(op2::mpi::halo::TAG_HALO_CHECK <= 32767);
/// ```
pub const TAG_HALO_CHECK: i32 = 20_006;

/// A halo copy that differs from its owner's value (checked mode).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Difference {
    /// Owner rank.
    pub(crate) owner: i32,
    /// Local index of the halo copy here.
    pub(crate) local: u32,
    /// Global id of the element (as numbered here) and as the owner sent it.
    pub(crate) gid: u64,
    pub(crate) owner_gid: u64,
    /// The copy's bytes here and the owner's.
    pub(crate) copy: Vec<u8>,
    pub(crate) owned: Vec<u8>,
}

/// Tag of the reverse of [`TAG_MAT_IMPORT`]: `Mat::mult_transpose` sends the sums it made for
/// extra columns back to their owners.
///
/// ```
/// assert!(op2::mpi::halo::TAG_MAT_EXPORT_ADD <= 32767);
/// ```
pub const TAG_MAT_EXPORT_ADD: i32 = 20_007;

/// Exchange lists of one set on one rank.
///
/// ```
/// // Sets built without `distribute` have no halo.
/// let s = op2::Set::new(4).unwrap();
/// assert!(s.halo().is_none());
/// assert_eq!(op2::mpi::halo::Halo::default().neighbour_count(), 0);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Halo {
    /// One entry per neighbouring rank, in increasing rank order.
    pub(crate) neighbours: Vec<Neighbour>,
}

/// What this rank exchanges with one neighbour.
#[derive(Debug, Default, Clone)]
pub(crate) struct Neighbour {
    pub(crate) rank: i32,
    /// Local indices of owned elements the neighbour holds copies of (sent forward).
    pub(crate) send: Vec<u32>,
    /// Local indices of halo elements owned by the neighbour (received forward).
    pub(crate) recv: Vec<u32>,
}

impl Halo {
    /// Number of neighbouring ranks.
    ///
    /// ```
    /// assert_eq!(op2::mpi::halo::Halo::default().neighbour_count(), 0);
    /// ```
    pub fn neighbour_count(&self) -> usize {
        self.neighbours.len()
    }

    /// Neighbouring ranks, increasing.
    ///
    /// ```
    /// assert!(op2::mpi::halo::Halo::default().neighbour_ranks().is_empty());
    /// ```
    pub fn neighbour_ranks(&self) -> Vec<i32> {
        self.neighbours.iter().map(|n| n.rank).collect()
    }

    /// Every neighbour's (rank, send list, receive list), by increasing rank (for inspection
    /// and tests).
    ///
    /// ```
    /// assert!(op2::mpi::halo::Halo::default().lists().is_empty());
    /// ```
    pub fn lists(&self) -> Vec<(i32, &[u32], &[u32])> {
        self.neighbours
            .iter()
            .map(|n| (n.rank, &n.send[..], &n.recv[..]))
            .collect()
    }

    /// Total number of owned elements sent forward (counted once per neighbour).
    ///
    /// ```
    /// assert_eq!(op2::mpi::halo::Halo::default().send_count(), 0);
    /// ```
    pub fn send_count(&self) -> usize {
        self.neighbours.iter().map(|n| n.send.len()).sum()
    }

    /// Total number of halo elements received forward (the set's halo size).
    ///
    /// ```
    /// assert_eq!(op2::mpi::halo::Halo::default().recv_count(), 0);
    /// ```
    pub fn recv_count(&self) -> usize {
        self.neighbours.iter().map(|n| n.recv.len()).sum()
    }

    /// Forward messages: for every neighbour, the owned elements it holds copies of, packed
    /// from `data` (a Dat's storage as bytes, `elem_bytes` = dim x dtype size per element).
    pub(crate) fn forward_sends(&self, data: &[u8], elem_bytes: usize) -> Vec<(i32, Vec<u8>)> {
        self.neighbours
            .iter()
            .map(|n| (n.rank, pack(data, elem_bytes, &n.send)))
            .collect()
    }

    /// Forward receive lengths in bytes, one per neighbour (same order as `forward_sends`).
    pub(crate) fn forward_recv_lens(&self, elem_bytes: usize) -> Vec<(i32, usize)> {
        self.neighbours
            .iter()
            .map(|n| (n.rank, n.recv.len() * elem_bytes))
            .collect()
    }

    /// Write forward messages (in `forward_recv_lens` order) into the halo copies.
    pub(crate) fn forward_unpack(
        &self,
        data: &mut [u8],
        elem_bytes: usize,
        recvs: &[Vec<u8>],
    ) -> Result<()> {
        self.check_recvs("forward", recvs, elem_bytes, |n| &n.recv)?;
        for (n, buf) in self.neighbours.iter().zip(recvs) {
            unpack_copy(data, elem_bytes, &n.recv, buf)?;
        }
        Ok(())
    }

    /// Reverse messages: for every neighbour, this rank's halo copies of its elements.
    pub(crate) fn reverse_sends(&self, data: &[u8], elem_bytes: usize) -> Vec<(i32, Vec<u8>)> {
        self.neighbours
            .iter()
            .map(|n| (n.rank, pack(data, elem_bytes, &n.recv)))
            .collect()
    }

    /// Reverse receive lengths in bytes, one per neighbour (same order as `reverse_sends`).
    pub(crate) fn reverse_recv_lens(&self, elem_bytes: usize) -> Vec<(i32, usize)> {
        self.neighbours
            .iter()
            .map(|n| (n.rank, n.send.len() * elem_bytes))
            .collect()
    }

    /// Add reverse messages (in `reverse_recv_lens` order) into the owned elements: `data` is
    /// the Dat's storage as `T`, `dim` values per element.
    #[cfg(test)]
    pub(crate) fn reverse_unpack_add<T: Scalar>(
        &self,
        data: &mut [T],
        dim: usize,
        recvs: &[Vec<u8>],
    ) -> Result<()> {
        self.reverse_unpack_with(data, dim, recvs, |d, x| *d += x)
    }

    /// Fold reverse messages (in `reverse_recv_lens` order) into the owned elements with
    /// `combine(owned value, arrived value)`: `data` is the Dat's storage as `T`, `dim` values
    /// per element.
    pub(crate) fn reverse_unpack_with<T: Scalar>(
        &self,
        data: &mut [T],
        dim: usize,
        recvs: &[Vec<u8>],
        combine: impl Fn(&mut T, T),
    ) -> Result<()> {
        let eb = dim * std::mem::size_of::<T>();
        self.check_recvs("reverse", recvs, eb, |n| &n.send)?;
        for (n, buf) in self.neighbours.iter().zip(recvs) {
            let vals: std::borrow::Cow<[T]> = match bytemuck::try_cast_slice::<u8, T>(buf) {
                Ok(v) => v.into(),
                Err(_) => buf
                    .chunks_exact(std::mem::size_of::<T>())
                    .map(bytemuck::pod_read_unaligned::<T>)
                    .collect::<Vec<T>>()
                    .into(),
            };
            for (&i, v) in n.send.iter().zip(vals.chunks_exact(dim.max(1))) {
                let at = i as usize * dim;
                let dst = data.get_mut(at..at + dim).ok_or_else(|| out_of_range(i))?;
                for (d, &x) in dst.iter_mut().zip(v) {
                    combine(d, x);
                }
            }
        }
        Ok(())
    }

    /// Overwrite owned elements with reverse messages (in `reverse_recv_lens` order).
    pub(crate) fn reverse_unpack_copy(
        &self,
        data: &mut [u8],
        elem_bytes: usize,
        recvs: &[Vec<u8>],
    ) -> Result<()> {
        self.check_recvs("reverse", recvs, elem_bytes, |n| &n.send)?;
        for (n, buf) in self.neighbours.iter().zip(recvs) {
            unpack_copy(data, elem_bytes, &n.send, buf)?;
        }
        Ok(())
    }

    /// Reverse messages carrying only the halo copies marked in `touched` (indexed by local
    /// element), as `(position in the recv list: u32 LE, value)` records, so that copies a loop
    /// did not write never overwrite their owner's value (par_loop's indirect WRITE/RW).
    pub(crate) fn reverse_sends_touched(
        &self,
        data: &[u8],
        elem_bytes: usize,
        touched: &[bool],
    ) -> Vec<(i32, Vec<u8>)> {
        self.neighbours
            .iter()
            .map(|n| {
                let mut out = Vec::new();
                for (k, &i) in n.recv.iter().enumerate() {
                    if touched[i as usize] {
                        out.extend_from_slice(&(k as u32).to_le_bytes());
                        out.extend_from_slice(
                            &data[i as usize * elem_bytes..(i as usize + 1) * elem_bytes],
                        );
                    }
                }
                (n.rank, out)
            })
            .collect()
    }

    /// Apply [`Halo::reverse_sends_touched`] messages (in neighbour order): overwrite the owned
    /// values they name. `mine` flags the entries this rank wrote itself.
    ///
    /// Returns the first *conflict*: an owned entry (local index, sending rank) that this rank
    /// wrote or an earlier neighbour sent, arriving with another value. Elements on two ranks
    /// then wrote one entry differently, and with no exec halo the serial answer (the kernel
    /// applied in element order) cannot be formed here: the caller must fail, never keep one
    /// rank's value silently.
    pub(crate) fn reverse_unpack_touched(
        &self,
        data: &mut [u8],
        elem_bytes: usize,
        recvs: &[Vec<u8>],
        mine: &[bool],
    ) -> Result<Option<(usize, i32)>> {
        let mut written: Vec<bool> = mine.to_vec();
        let mut conflict = None;
        if recvs.len() != self.neighbours.len() {
            return Err(Error::invalid(
                "halo reverse (touched) unpack",
                format!(
                    "{} messages for {} neighbours",
                    recvs.len(),
                    self.neighbours.len()
                ),
            ));
        }
        for (n, buf) in self.neighbours.iter().zip(recvs) {
            if buf.len() % (4 + elem_bytes) != 0 {
                return Err(Error::invalid(
                    "halo reverse (touched) unpack",
                    format!(
                        "{} bytes from rank {} is not a whole number of records",
                        buf.len(),
                        n.rank
                    ),
                ));
            }
            for rec in buf.chunks_exact(4 + elem_bytes) {
                let k = u32::from_le_bytes(rec[..4].try_into().expect("4 bytes")) as usize;
                let i = *n.send.get(k).ok_or_else(|| out_of_range(k as u32))? as usize;
                let dst = data
                    .get_mut(i * elem_bytes..(i + 1) * elem_bytes)
                    .ok_or_else(|| out_of_range(i as u32))?;
                if written.get(i).copied().unwrap_or(false) && dst != &rec[4..] {
                    conflict.get_or_insert((i, n.rank));
                }
                dst.copy_from_slice(&rec[4..]);
                if let Some(w) = written.get_mut(i) {
                    *w = true;
                }
            }
        }
        Ok(conflict)
    }

    /// Checked mode: for every neighbour, (global id: u64 LE, value) of each owned element it
    /// holds a copy of, in its `recv` order (`gids`: this rank's global ids by local index).
    pub(crate) fn check_sends(
        &self,
        data: &[u8],
        elem_bytes: usize,
        gids: Option<&[u64]>,
    ) -> Vec<(i32, Vec<u8>)> {
        self.neighbours
            .iter()
            .map(|n| {
                let mut out = Vec::with_capacity(n.send.len() * (8 + elem_bytes));
                for &i in &n.send {
                    let g = gids.and_then(|g| g.get(i as usize)).copied().unwrap_or(0);
                    out.extend_from_slice(&g.to_le_bytes());
                    out.extend_from_slice(&pack(data, elem_bytes, &[i]));
                }
                (n.rank, out)
            })
            .collect()
    }

    /// Receive lengths of [`Halo::check_sends`] messages.
    pub(crate) fn check_recv_lens(&self, elem_bytes: usize) -> Vec<(i32, usize)> {
        self.forward_recv_lens(8 + elem_bytes)
    }

    /// Compare [`Halo::check_sends`] messages (in neighbour order) with this rank's halo copies,
    /// bytewise and by global id: every copy that differs.
    pub(crate) fn check_compare(
        &self,
        data: &[u8],
        elem_bytes: usize,
        gids: Option<&[u64]>,
        recvs: &[Vec<u8>],
    ) -> Result<Vec<Difference>> {
        self.check_recvs("check", recvs, 8 + elem_bytes, |n| &n.recv)?;
        let mut out = Vec::new();
        for (n, buf) in self.neighbours.iter().zip(recvs) {
            for (&i, rec) in n.recv.iter().zip(buf.chunks_exact(8 + elem_bytes)) {
                let owner_gid = u64::from_le_bytes(rec[..8].try_into().expect("8 bytes"));
                let gid = gids.and_then(|g| g.get(i as usize)).copied().unwrap_or(0);
                let copy = pack(data, elem_bytes, &[i]);
                if gid != owner_gid || copy != rec[8..] {
                    out.push(Difference {
                        owner: n.rank,
                        local: i,
                        gid,
                        owner_gid,
                        copy,
                        owned: rec[8..].to_vec(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn check_recvs(
        &self,
        dir: &str,
        recvs: &[Vec<u8>],
        elem_bytes: usize,
        list: impl Fn(&Neighbour) -> &Vec<u32>,
    ) -> Result<()> {
        if recvs.len() != self.neighbours.len() {
            return Err(Error::invalid(
                format!("halo {dir} unpack"),
                format!(
                    "{} messages for {} neighbours",
                    recvs.len(),
                    self.neighbours.len()
                ),
            ));
        }
        for (n, b) in self.neighbours.iter().zip(recvs) {
            if b.len() != list(n).len() * elem_bytes {
                return Err(Error::invalid(
                    format!("halo {dir} unpack"),
                    format!(
                        "{} bytes from rank {}, expected {} elements x {elem_bytes} bytes",
                        b.len(),
                        n.rank,
                        list(n).len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn out_of_range(i: u32) -> Error {
    Error::invalid("halo unpack", format!("local index {i} is outside the Dat"))
}

fn pack(data: &[u8], eb: usize, idx: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(idx.len() * eb);
    for &i in idx {
        let at = i as usize * eb;
        // Lists are built with the set; a Dat on that set always covers them.
        if let Some(src) = data.get(at..at + eb) {
            out.extend_from_slice(src);
        } else {
            out.resize(out.len() + eb, 0);
        }
    }
    out
}

fn unpack_copy(data: &mut [u8], eb: usize, idx: &[u32], buf: &[u8]) -> Result<()> {
    for (&i, src) in idx.iter().zip(buf.chunks_exact(eb.max(1))) {
        let at = i as usize * eb;
        data.get_mut(at..at + eb)
            .ok_or_else(|| out_of_range(i))?
            .copy_from_slice(src);
    }
    Ok(())
}

/// Packing and unpacking along the exchange lists, without MPI: two (or three) ranks' views of
/// one set, messages handed from one [`Halo`] to the other as `Comm::exchange` would.
#[cfg(test)]
mod tests {
    use super::*;

    fn halo(neighbours: &[(i32, &[u32], &[u32])]) -> Halo {
        Halo {
            neighbours: neighbours
                .iter()
                .map(|&(rank, send, recv)| Neighbour {
                    rank,
                    send: send.to_vec(),
                    recv: recv.to_vec(),
                })
                .collect(),
        }
    }

    /// Rank 0 owns gids 0,1,2 (local 0..3) and holds copies of gids 3,4 (local 3,4) owned by
    /// rank 1; rank 1 owns gids 3,4,5 (local 0..3) and holds a copy of gid 2 (local 3).
    fn two_ranks() -> (Halo, Halo) {
        (halo(&[(1, &[2], &[3, 4])]), halo(&[(0, &[0, 1], &[3])]))
    }

    /// `n` elements of dim 2 (f64), element i = (10 i + base, 10 i + base + 1), as bytes.
    fn values(n: usize, base: f64) -> Vec<f64> {
        (0..n)
            .flat_map(|i| [10.0 * i as f64 + base, 10.0 * i as f64 + base + 1.0])
            .collect()
    }

    fn bytes(v: &[f64]) -> Vec<u8> {
        bytemuck::cast_slice(v).to_vec()
    }

    fn floats(b: &[u8]) -> Vec<f64> {
        b.chunks_exact(8)
            .map(bytemuck::pod_read_unaligned::<f64>)
            .collect()
    }

    const EB: usize = 16; // dim 2 x f64

    /// Messages of `from` addressed to `to` (rank number), in the receiver's neighbour order.
    fn deliver(sends: Vec<(i32, Vec<u8>)>, to: i32) -> Vec<Vec<u8>> {
        sends
            .into_iter()
            .filter(|(r, _)| *r == to)
            .map(|(_, m)| m)
            .collect()
    }

    #[test]
    fn forward_round_trip_writes_owner_values_into_the_halo_copies_only() {
        let (h0, h1) = two_ranks();
        let (mut d0, mut d1) = (bytes(&values(5, 0.0)), bytes(&values(4, 1000.0)));
        // Poison the copies: the exchange must overwrite exactly them.
        d0[3 * EB..].fill(0xff);
        d1[3 * EB..].fill(0xff);
        assert_eq!(h0.forward_recv_lens(EB), vec![(1, 2 * EB)]);
        assert_eq!(h1.forward_recv_lens(EB), vec![(0, EB)]);
        let (s0, s1) = (h0.forward_sends(&d0, EB), h1.forward_sends(&d1, EB));
        h1.forward_unpack(&mut d1, EB, &deliver(s0, 1)).unwrap();
        h0.forward_unpack(&mut d0, EB, &deliver(s1, 0)).unwrap();
        let (f0, f1) = (floats(&d0), floats(&d1));
        // Rank 0's copies of gids 3,4 are rank 1's local 0,1; its owned values are unchanged.
        assert_eq!(&f0[..6], &values(3, 0.0)[..]);
        assert_eq!(&f0[6..], &values(2, 1000.0)[..]);
        // Rank 1's copy of gid 2 is rank 0's local 2.
        assert_eq!(&f1[..6], &values(3, 1000.0)[..]);
        assert_eq!(&f1[6..], &[20.0, 21.0]);
    }

    #[test]
    fn reverse_add_sums_copies_into_their_owners_and_copy_overwrites_them() {
        let (h0, h1) = two_ranks();
        // Rank 1 holds contributions (1, 2) in its copy of gid 2; rank 0 in its copies of gids
        // 3 and 4.
        let mut d0 = values(5, 0.0);
        d0[6..].copy_from_slice(&[0.5, 0.25, 4.0, 8.0]);
        let mut d1 = values(4, 1000.0);
        d1[6..].copy_from_slice(&[1.0, 2.0]);
        assert_eq!(h0.reverse_recv_lens(EB), vec![(1, EB)]);
        assert_eq!(h1.reverse_recv_lens(EB), vec![(0, 2 * EB)]);
        let s0 = h0.reverse_sends(bytemuck::cast_slice(&d0), EB);
        let s1 = h1.reverse_sends(bytemuck::cast_slice(&d1), EB);
        let (m01, m10) = (deliver(s0, 1), deliver(s1, 0));
        let (mut a0, mut a1) = (d0.clone(), d1.clone());
        h0.reverse_unpack_add(&mut a0, 2, &m10).unwrap();
        h1.reverse_unpack_add(&mut a1, 2, &m01).unwrap();
        assert_eq!(&a0[4..6], &[21.0, 23.0]); // gid 2: (20, 21) + (1, 2)
        assert_eq!(&a1[..4], &[1000.5, 1001.25, 1014.0, 1019.0]);
        assert_eq!(&a0[..4], &d0[..4], "elements nobody copies are untouched");
        // Copy mode overwrites the owners instead.
        let mut c1 = bytes(&d1);
        h1.reverse_unpack_copy(&mut c1, EB, &m01).unwrap();
        assert_eq!(&floats(&c1)[..4], &[0.5, 0.25, 4.0, 8.0]);
        assert_eq!(&floats(&c1)[4..], &d1[4..]);
    }

    #[test]
    fn reverse_touched_sends_only_written_copies_and_reports_conflicts() {
        // Rank 2 owns gids 0,1 (local 0,1); ranks 0 and 1 both hold copies of both.
        let owner = halo(&[(0, &[0, 1], &[]), (1, &[0, 1], &[])]);
        let (c0, c1) = (halo(&[(2, &[], &[2, 3])]), halo(&[(2, &[], &[1, 2])]));
        let mut d0 = vec![0.0f64; 8];
        d0[4..].copy_from_slice(&[7.0, 7.5, 9.0, 9.5]);
        let mut d1 = vec![0.0f64; 6];
        d1[2..4].copy_from_slice(&[7.0, 7.5]);
        d1[4..].copy_from_slice(&[5.0, 5.5]);
        // Rank 0 wrote its copy of gid 0 only; rank 1 wrote both copies, gid 0 with the same
        // value as rank 0, gid 1 alone.
        let s0 =
            c0.reverse_sends_touched(bytemuck::cast_slice(&d0), EB, &[false, false, true, false]);
        let s1 = c1.reverse_sends_touched(bytemuck::cast_slice(&d1), EB, &[false, true, true]);
        assert_eq!(
            s0[0].1.len(),
            4 + EB,
            "one record: the untouched copy is not sent"
        );
        let msgs = vec![deliver(s0.clone(), 2).remove(0), deliver(s1, 2).remove(0)];
        let mut d2 = bytes(&[1.0, 1.5, 2.0, 2.5]);
        let conflict = owner
            .reverse_unpack_touched(&mut d2, EB, &msgs, &[false, false])
            .unwrap();
        assert_eq!(conflict, None);
        assert_eq!(floats(&d2), vec![7.0, 7.5, 5.0, 5.5]);
        // The owner wrote gid 0 itself with another value: a conflict naming it and rank 0.
        let mut d2 = bytes(&[1.0, 1.5, 2.0, 2.5]);
        let conflict = owner
            .reverse_unpack_touched(&mut d2, EB, &msgs, &[true, false])
            .unwrap();
        assert_eq!(conflict, Some((0, 0)));
        // Garbled messages are errors, never panics.
        let mut cut = msgs.clone();
        cut[0].pop();
        assert!(owner
            .reverse_unpack_touched(&mut d2, EB, &cut, &[false, false])
            .is_err());
        assert!(owner
            .reverse_unpack_touched(&mut d2, EB, &msgs[..1], &[false, false])
            .is_err());
        let mut far = msgs.clone();
        far[0][..4].copy_from_slice(&9u32.to_le_bytes());
        assert!(owner
            .reverse_unpack_touched(&mut d2, EB, &far, &[false, false])
            .is_err());
    }

    #[test]
    fn wrong_message_counts_lengths_and_indices_are_errors() {
        let (h0, h1) = two_ranks();
        let mut d0 = bytes(&values(5, 0.0));
        let good = deliver(h1.forward_sends(&bytes(&values(4, 1.0)), EB), 0);
        assert!(h0.forward_unpack(&mut d0, EB, &[]).is_err());
        assert!(h0
            .forward_unpack(&mut d0, EB, &[good[0].clone(), good[0].clone()])
            .is_err());
        let e = h0
            .forward_unpack(&mut d0, EB, &[good[0][..EB - 1].to_vec()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("from rank 1"), "{e}");
        // A Dat shorter than the lists: an error naming the index, not a panic.
        let mut short = bytes(&values(3, 0.0));
        let e = h0
            .forward_unpack(&mut short, EB, &good)
            .unwrap_err()
            .to_string();
        assert!(e.contains("local index 3"), "{e}");
        let mut short = values(1, 0.0);
        let m = deliver(h0.reverse_sends(&bytes(&values(5, 0.0)), EB), 1);
        assert!(h1.reverse_unpack_add(&mut short, 2, &m).is_err());
        assert!(h1.reverse_unpack_copy(&mut bytes(&short), EB, &m).is_err());
        // Packing past the end sends zeros (the lists are built with the set, so this only
        // guards a bug) rather than reading out of bounds.
        let s = h0.forward_sends(&[], EB);
        assert_eq!(s, vec![(1, vec![0; EB])]);
    }

    #[test]
    fn checked_mode_finds_exactly_the_copies_that_differ_from_their_owner() {
        let (h0, h1) = two_ranks();
        let (d0, d1) = (bytes(&values(5, 0.0)), bytes(&values(4, 1000.0)));
        let (g0, g1): (Vec<u64>, Vec<u64>) = (vec![0, 1, 2, 3, 4], vec![3, 4, 5, 2]);
        // Rank 0's copies equal rank 1's values after a forward exchange.
        let mut d0 = d0;
        h0.forward_unpack(&mut d0, EB, &deliver(h1.forward_sends(&d1, EB), 0))
            .unwrap();
        assert_eq!(h1.check_recv_lens(EB), vec![(0, 8 + EB)]);
        let checks = deliver(h1.check_sends(&d1, EB, Some(&g1)), 0);
        assert!(h0
            .check_compare(&d0, EB, Some(&g0), &checks)
            .unwrap()
            .is_empty());
        // A stale copy (gid 4) and a copy numbered differently (gid 3) are both reported.
        let mut stale = d0.clone();
        stale[4 * EB] ^= 1;
        let mut renumbered = g0.clone();
        renumbered[3] = 99;
        let diffs = h0
            .check_compare(&stale, EB, Some(&renumbered), &checks)
            .unwrap();
        assert_eq!(diffs.len(), 2, "{diffs:?}");
        assert_eq!(
            (diffs[0].local, diffs[0].gid, diffs[0].owner_gid),
            (3, 99, 3)
        );
        assert_eq!((diffs[1].owner, diffs[1].local), (1, 4));
        assert_ne!(diffs[1].copy, diffs[1].owned);
        assert!(h0.check_compare(&d0, EB, Some(&g0), &[]).is_err());
    }

    #[test]
    fn forward_unpack_refuses_a_part_of_the_wrong_length() {
        let halo = Halo {
            neighbours: vec![Neighbour {
                rank: 1,
                send: vec![0],
                recv: vec![1],
            }],
        };
        let mut data = vec![0u8; 16];
        assert!(halo.forward_unpack(&mut data, 8, &[vec![1; 8]]).is_ok());
        assert_eq!(&data[8..], &[1; 8]);
        assert!(halo.forward_unpack(&mut data, 8, &[vec![]]).is_err());
    }
}
