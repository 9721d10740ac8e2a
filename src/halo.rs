//! Halo plans: which owned elements each neighbour needs, and where its copies live here.
//!
//! Owns the per-set exchange lists built when a mesh is distributed. Exchanges themselves go
//! through [`crate::Comm::exchange`]; this module never decides *when* to exchange (par_loop
//! does, from Dat validity flags).

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

impl Halo {
    /// Number of neighbouring ranks.
    pub fn neighbour_count(&self) -> usize {
        self.neighbours.len()
    }
}
