//! Halo plans: which owned elements each neighbour needs, and where its copies live here.
//!
//! Owns the per-set exchange lists built when a mesh is distributed, and the byte-level
//! packing of Dat storage for forward (owner -> copies) and reverse (copies -> owner)
//! exchanges. Messages go through [`crate::Comm::exchange`]; this module never decides *when*
//! to exchange (par_loop does, from Dat validity flags).

use crate::dtype::Scalar;

/// Tag of forward halo messages (owners' values to copies).
pub(crate) const TAG_FORWARD: i32 = 7001;
/// Tag of reverse halo messages (copies' contributions to owners).
pub(crate) const TAG_REVERSE: i32 = 7002;

/// Exchange lists of one set on one rank.
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

fn pack(data: &[u8], eb: usize, idx: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(idx.len() * eb);
    for &i in idx {
        out.extend_from_slice(&data[i as usize * eb..(i as usize + 1) * eb]);
    }
    out
}

impl Halo {
    /// Number of neighbouring ranks.
    pub fn neighbour_count(&self) -> usize {
        self.neighbours.len()
    }
    pub(crate) fn forward_sends(&self, data: &[u8], eb: usize) -> Vec<(i32, Vec<u8>)> {
        self.neighbours
            .iter()
            .map(|n| (n.rank, pack(data, eb, &n.send)))
            .collect()
    }
    pub(crate) fn forward_recv_lens(&self, eb: usize) -> Vec<(i32, usize)> {
        self.neighbours
            .iter()
            .map(|n| (n.rank, n.recv.len() * eb))
            .collect()
    }
    pub(crate) fn forward_unpack(&self, data: &mut [u8], eb: usize, recvs: &[Vec<u8>]) {
        for (n, buf) in self.neighbours.iter().zip(recvs) {
            for (k, &i) in n.recv.iter().enumerate() {
                data[i as usize * eb..(i as usize + 1) * eb]
                    .copy_from_slice(&buf[k * eb..(k + 1) * eb]);
            }
        }
    }
    pub(crate) fn reverse_sends(&self, data: &[u8], eb: usize) -> Vec<(i32, Vec<u8>)> {
        self.neighbours
            .iter()
            .map(|n| (n.rank, pack(data, eb, &n.recv)))
            .collect()
    }
    pub(crate) fn reverse_recv_lens(&self, eb: usize) -> Vec<(i32, usize)> {
        self.neighbours
            .iter()
            .map(|n| (n.rank, n.send.len() * eb))
            .collect()
    }
    pub(crate) fn reverse_unpack_add<T: Scalar + std::ops::AddAssign>(
        &self,
        data: &mut [T],
        dim: usize,
        recvs: &[Vec<u8>],
    ) {
        for (n, buf) in self.neighbours.iter().zip(recvs) {
            let vals: Vec<T> = bytemuck::pod_collect_to_vec(buf);
            for (k, &i) in n.send.iter().enumerate() {
                for d in 0..dim {
                    data[i as usize * dim + d] += vals[k * dim + d];
                }
            }
        }
    }
    /// Reverse messages carrying only the halo copies marked in `touched` (indexed by local
    /// element), as `(position in the recv list: u32, value)` pairs, so that copies a loop did
    /// not write never overwrite their owner's value.
    pub(crate) fn reverse_sends_touched(
        &self,
        data: &[u8],
        eb: usize,
        touched: &[bool],
    ) -> Vec<(i32, Vec<u8>)> {
        self.neighbours
            .iter()
            .map(|n| {
                let mut out = Vec::new();
                for (k, &i) in n.recv.iter().enumerate() {
                    if touched[i as usize] {
                        out.extend_from_slice(&(k as u32).to_le_bytes());
                        out.extend_from_slice(&data[i as usize * eb..(i as usize + 1) * eb]);
                    }
                }
                (n.rank, out)
            })
            .collect()
    }
    /// Apply [`Halo::reverse_sends_touched`] messages: overwrite the owned values they name.
    pub(crate) fn reverse_unpack_touched(&self, data: &mut [u8], eb: usize, recvs: &[Vec<u8>]) {
        for (n, buf) in self.neighbours.iter().zip(recvs) {
            for rec in buf.chunks_exact(4 + eb) {
                let k = u32::from_le_bytes(rec[..4].try_into().expect("4 bytes")) as usize;
                let i = n.send[k] as usize;
                data[i * eb..(i + 1) * eb].copy_from_slice(&rec[4..]);
            }
        }
    }
    /// Reverse message sizes are data-dependent for touched-only sends: exchange them first.
    pub(crate) fn neighbour_ranks(&self) -> impl Iterator<Item = i32> + '_ {
        self.neighbours.iter().map(|n| n.rank)
    }
    pub(crate) fn reverse_unpack_copy(&self, data: &mut [u8], eb: usize, recvs: &[Vec<u8>]) {
        for (n, buf) in self.neighbours.iter().zip(recvs) {
            for (k, &i) in n.send.iter().enumerate() {
                data[i as usize * eb..(i as usize + 1) * eb]
                    .copy_from_slice(&buf[k * eb..(k + 1) * eb]);
            }
        }
    }
}
