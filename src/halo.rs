//! Halo plans: which owned elements each neighbour needs, and where its copies live here.
//!
//! Owns the per-set exchange lists built when a mesh is distributed (see
//! [`crate::distribute`]), the byte-level packing/unpacking of a Dat's storage along those
//! lists, the MPI tags of halo messages, and two blocking conveniences ([`update_halo`],
//! [`reverse_halo`]). Messages themselves go through [`crate::Comm::exchange`]; this module
//! never calls MPI and never decides *when* to exchange (par_loop does, from Dat validity
//! flags).
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
//!   ([`ReverseMode::Add`], after an indirect INC whose halo copies started at zero) or
//!   overwriting ([`ReverseMode::Copy`], after an indirect WRITE/RW).

use crate::comm::Comm;
use crate::dat::Dat;
use crate::dtype::{self, DType, Scalar};
use crate::error::{Error, Result};

/// MPI tag of forward halo messages (owner values to halo copies). All of op2's point-to-point
/// tags are defined here, below MPI's guaranteed minimum tag bound of 32767.
///
/// ```
/// assert_ne!(op2::halo::TAG_HALO_FORWARD, op2::halo::TAG_HALO_REVERSE);
/// assert!(op2::halo::TAG_HALO_FORWARD <= 32767);
/// ```
pub const TAG_HALO_FORWARD: i32 = 20_001;
/// MPI tag of reverse halo messages (halo contributions back to their owners).
///
/// ```
/// assert!(op2::halo::TAG_HALO_REVERSE <= 32767);
/// ```
pub const TAG_HALO_REVERSE: i32 = 20_002;
/// MPI tag of the messages that build a distributed Sparsity: halo-row patterns sent to their
/// owners, and requests for the column values `Mat::mult` will import.
///
/// ```
/// assert!(op2::halo::TAG_SPARSITY_BUILD <= 32767);
/// ```
pub const TAG_SPARSITY_BUILD: i32 = 20_003;
/// MPI tag of a Mat's halo-row values sent to their owners after a par_loop assembled them.
///
/// ```
/// assert!(op2::halo::TAG_MAT_REVERSE <= 32767);
/// ```
pub const TAG_MAT_REVERSE: i32 = 20_004;
/// MPI tag of the vector values `Mat::mult` imports for columns that are neither owned nor
/// halo elements of the column set on this rank.
///
/// ```
/// assert!(op2::halo::TAG_MAT_IMPORT <= 32767);
/// ```
pub const TAG_MAT_IMPORT: i32 = 20_005;

/// Exchange lists of one set on one rank.
///
/// ```
/// // Sets built without `distribute` have no halo.
/// let s = op2::Set::new(4).unwrap();
/// assert!(s.halo().is_none());
/// assert_eq!(op2::halo::Halo::default().neighbour_count(), 0);
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

/// How [`reverse_halo`] combines halo contributions with the owner's value.
///
/// ```
/// assert_ne!(op2::halo::ReverseMode::Add, op2::halo::ReverseMode::Copy);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReverseMode {
    /// The owner adds every copy's value to its own (indirect INC).
    Add,
    /// The owner takes the copy's value; with several copies the one from the highest
    /// neighbour rank wins. Every copy is sent, touched or not, so this is only right when every
    /// copy holds a value to keep; par_loop's indirect WRITE/RW sends only the copies its map
    /// reached (`reverse_sends_touched`).
    Copy,
}

impl Halo {
    /// Number of neighbouring ranks.
    ///
    /// ```
    /// assert_eq!(op2::halo::Halo::default().neighbour_count(), 0);
    /// ```
    pub fn neighbour_count(&self) -> usize {
        self.neighbours.len()
    }

    /// Neighbouring ranks, increasing.
    ///
    /// ```
    /// assert!(op2::halo::Halo::default().neighbour_ranks().is_empty());
    /// ```
    pub fn neighbour_ranks(&self) -> Vec<i32> {
        self.neighbours.iter().map(|n| n.rank).collect()
    }

    /// Total number of owned elements sent forward (counted once per neighbour).
    ///
    /// ```
    /// assert_eq!(op2::halo::Halo::default().send_count(), 0);
    /// ```
    pub fn send_count(&self) -> usize {
        self.neighbours.iter().map(|n| n.send.len()).sum()
    }

    /// Total number of halo elements received forward (the set's halo size).
    ///
    /// ```
    /// assert_eq!(op2::halo::Halo::default().recv_count(), 0);
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
    /// values they name.
    pub(crate) fn reverse_unpack_touched(
        &self,
        data: &mut [u8],
        elem_bytes: usize,
        recvs: &[Vec<u8>],
    ) -> Result<()> {
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
                dst.copy_from_slice(&rec[4..]);
            }
        }
        Ok(())
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

/// Refresh the halo copies of `dat` from their owners (a blocking forward exchange) and mark
/// its halo valid. Collective over the Dat's communicator: every rank must call it, always
/// (whatever its local validity flag says), or neighbours wait forever. A Dat on a set
/// without halo only has its flag set.
///
/// ```
/// let s = op2::Set::new(3).unwrap();
/// let d = op2::Dat::new(&op2::DataSet::new(&s, 1).unwrap(), vec![1.0f64, 2.0, 3.0]).unwrap();
/// op2::halo::update_halo(&d).unwrap();
/// assert_eq!(d.to_vec::<f64>().unwrap(), vec![1.0, 2.0, 3.0]);
/// ```
pub fn update_halo(dat: &Dat) -> Result<()> {
    let set = dat.set().clone();
    let Some(halo) = set.halo() else {
        dat.set_halo_valid(true);
        return Ok(());
    };
    let eb = dat.dim() * dat.dtype().size();
    let sends = halo.forward_sends(bytemuck::cast_slice::<u64, u8>(&dat.read()[..]), eb);
    let (recvs, ()) = exchange(
        set.comm(),
        TAG_HALO_FORWARD,
        &sends,
        &halo.forward_recv_lens(eb),
    )?;
    halo.forward_unpack(
        bytemuck::cast_slice_mut::<u64, u8>(&mut dat.write()[..]),
        eb,
        &recvs,
    )?;
    dat.set_halo_valid(true);
    Ok(())
}

/// Send the halo copies of `dat` back to their owners (a blocking reverse exchange) and
/// combine them there by `mode`; afterwards the halo copies are stale. Collective like
/// [`update_halo`]. The halo values themselves are left as they were.
///
/// ```
/// use op2::halo::{reverse_halo, ReverseMode};
/// let s = op2::Set::new(2).unwrap();
/// let d = op2::Dat::new(&op2::DataSet::new(&s, 1).unwrap(), vec![5i32, 6]).unwrap();
/// reverse_halo(&d, ReverseMode::Add).unwrap(); // no halo: nothing moves
/// assert_eq!(d.to_vec::<i32>().unwrap(), vec![5, 6]);
/// ```
pub fn reverse_halo(dat: &Dat, mode: ReverseMode) -> Result<()> {
    let set = dat.set().clone();
    let Some(halo) = set.halo() else {
        return Ok(());
    };
    let eb = dat.dim() * dat.dtype().size();
    let sends = halo.reverse_sends(bytemuck::cast_slice::<u64, u8>(&dat.read()[..]), eb);
    let (recvs, ()) = exchange(
        set.comm(),
        TAG_HALO_REVERSE,
        &sends,
        &halo.reverse_recv_lens(eb),
    )?;
    {
        let mut w = dat.write();
        let n = set.total_size() * dat.dim();
        let dim = dat.dim();
        match mode {
            ReverseMode::Copy => halo.reverse_unpack_copy(
                bytemuck::cast_slice_mut::<u64, u8>(&mut w[..]),
                eb,
                &recvs,
            )?,
            ReverseMode::Add => match dat.dtype() {
                DType::F64 => {
                    halo.reverse_unpack_add(dtype::view_mut::<f64>(&mut w, n), dim, &recvs)?
                }
                DType::F32 => {
                    halo.reverse_unpack_add(dtype::view_mut::<f32>(&mut w, n), dim, &recvs)?
                }
                DType::I32 => {
                    halo.reverse_unpack_add(dtype::view_mut::<i32>(&mut w, n), dim, &recvs)?
                }
                DType::I64 => {
                    halo.reverse_unpack_add(dtype::view_mut::<i64>(&mut w, n), dim, &recvs)?
                }
                DType::U32 => {
                    halo.reverse_unpack_add(dtype::view_mut::<u32>(&mut w, n), dim, &recvs)?
                }
            },
        }
    }
    dat.set_halo_valid(false);
    Ok(())
}

fn exchange(
    comm: Comm,
    tag: i32,
    sends: &[(i32, Vec<u8>)],
    recv_lens: &[(i32, usize)],
) -> Result<(Vec<Vec<u8>>, ())> {
    comm.exchange(tag, sends, recv_lens, || ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two "ranks" of a 1D chain of 4 elements: rank 0 owns g0 g1, rank 1 owns g2 g3; each
    /// holds a copy of the other's element next to the cut.
    fn pair() -> (Halo, Halo) {
        let h0 = Halo {
            neighbours: vec![Neighbour {
                rank: 1,
                send: vec![1],
                recv: vec![2],
            }],
        };
        let h1 = Halo {
            neighbours: vec![Neighbour {
                rank: 0,
                send: vec![0],
                recv: vec![2],
            }],
        };
        (h0, h1)
    }

    #[test]
    fn forward_moves_owner_values_into_copies() {
        let (h0, h1) = pair();
        let d0: Vec<f64> = vec![0.0, 1.0, -1.0];
        let mut d1: Vec<f64> = vec![2.0, 3.0, -1.0];
        let s0 = h0.forward_sends(bytemuck::cast_slice(&d0), 8);
        assert_eq!(s0[0].0, 1);
        assert_eq!(h1.forward_recv_lens(8), vec![(0, 8)]);
        h1.forward_unpack(bytemuck::cast_slice_mut(&mut d1), 8, &[s0[0].1.clone()])
            .unwrap();
        assert_eq!(d1, vec![2.0, 3.0, 1.0]);
    }

    #[test]
    fn reverse_adds_or_copies_into_owners() {
        let (h0, h1) = pair();
        let mut d0: Vec<i32> = vec![10, 20, 0];
        let d1: Vec<i32> = vec![1, 1, 5];
        let s1 = h1.reverse_sends(bytemuck::cast_slice(&d1), 4);
        assert_eq!(h0.reverse_recv_lens(4), vec![(1, 4)]);
        h0.reverse_unpack_add(&mut d0, 1, &[s1[0].1.clone()])
            .unwrap();
        assert_eq!(d0, vec![10, 25, 0]);
        h0.reverse_unpack_copy(bytemuck::cast_slice_mut(&mut d0), 4, &[s1[0].1.clone()])
            .unwrap();
        assert_eq!(d0, vec![10, 5, 0]);
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let (h0, _) = pair();
        let mut d: Vec<f64> = vec![0.0; 3];
        assert!(h0
            .forward_unpack(bytemuck::cast_slice_mut(&mut d), 8, &[vec![0u8; 3]])
            .is_err());
        assert!(h0
            .forward_unpack(bytemuck::cast_slice_mut(&mut d), 8, &[])
            .is_err());
        let mut short: Vec<f64> = vec![0.0; 2];
        assert!(h0
            .forward_unpack(bytemuck::cast_slice_mut(&mut short), 8, &[vec![0u8; 8]])
            .is_err());
    }

    #[test]
    fn unaligned_receive_buffers_are_added_correctly() {
        let h = Halo {
            neighbours: vec![Neighbour {
                rank: 1,
                send: vec![0, 1],
                recv: vec![],
            }],
        };
        let mut d = vec![1.0f64, 2.0];
        // A buffer whose data starts at an odd address.
        let mut raw = [0u8; 17];
        raw[1..9].copy_from_slice(&0.5f64.to_ne_bytes());
        raw[9..17].copy_from_slice(&0.25f64.to_ne_bytes());
        let odd = raw[1..].to_vec();
        h.reverse_unpack_add(&mut d, 1, &[odd]).unwrap();
        assert_eq!(d, vec![1.5, 2.25]);
    }
}
