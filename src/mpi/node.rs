//! Which ranks share a node: groups the ranks of a communicator by their processor name (one
//! allgather) or into fake fixed-size nodes for tests. The node cache (`cache/node.rs`) and
//! `OP2_THREADS`' default build on it. Calls MPI only through [`Comm`].

use crate::error::Result;
use crate::mpi::comm::Comm;

/// Which node a rank is on, and which rank leads each node (the same on every rank).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLayout {
    /// This rank's node, numbered 0.. in the order of the nodes' lowest ranks (rank 0's
    /// node is node 0).
    pub node: usize,
    /// Number of nodes.
    pub nodes: usize,
    /// True on the lowest rank of each node (its leader).
    pub leader: bool,
    /// The leaders' ranks, by node.
    pub leaders: Vec<i32>,
    /// True when the nodes are fake (fixed-size blocks of consecutive ranks).
    pub fake: bool,
}

impl Comm {
    /// Collective: group the ranks into nodes. `fake_size` > 0 makes every `fake_size`
    /// consecutive ranks one node (testing on one machine); 0 groups ranks by their MPI
    /// processor name (the host name), one allgather.
    ///
    /// ```
    /// let l = op2::Comm::serial().node_layout(0).unwrap();
    /// assert_eq!((l.node, l.nodes, l.leader), (0, 1, true));
    /// ```
    pub fn node_layout(&self, fake_size: usize) -> Result<NodeLayout> {
        let size = self.size() as usize;
        if fake_size > 0 || size == 1 {
            let k = if fake_size > 0 { fake_size } else { size };
            let me = self.rank() as usize;
            return Ok(NodeLayout {
                node: me / k,
                nodes: size.div_ceil(k),
                leader: me.is_multiple_of(k),
                leaders: (0..size).step_by(k).map(|r| r as i32).collect(),
                fake: fake_size > 0,
            });
        }
        // Ranks with the same processor name (MPI_Get_processor_name: the host name) share a
        // node. Not MPI_Comm_split_type(SHARED): MPICH sets up shared memory for the new
        // communicator, which cost ~0.4 s per job here (measured: 4 ranks, warm cache), and
        // the layout is all op2 needs. Leaders: each name's lowest rank; nodes numbered in
        // the order of their leaders.
        let name = self.processor_name()?;
        let names = self.allgather_bytes(name.as_bytes())?;
        let mut leaders: Vec<i32> = Vec::new();
        let mut leader = 0;
        for (r, n) in names.iter().enumerate() {
            let first = names.iter().position(|m| m == n).expect("present") as i32;
            if first == r as i32 {
                leaders.push(first);
            }
            if r == self.rank() as usize {
                leader = first;
            }
        }
        let is_leader = leader == self.rank();
        let node = leaders
            .binary_search(&leader)
            .expect("my leader is a leader");
        Ok(NodeLayout {
            node,
            nodes: leaders.len(),
            leader: is_leader,
            leaders,
            fake: false,
        })
    }
}
