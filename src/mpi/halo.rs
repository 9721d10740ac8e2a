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
    pub(crate) fn reverse_unpack_add<T: Scalar>(
        &self,
        data: &mut [T],
        dim: usize,
        recvs: &[Vec<u8>],
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
                    *d += x;
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

#[cfg(test)]
mod tests {
    use super::*;

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
