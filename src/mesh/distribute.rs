//! Distribution from rank 0: a whole [`GlobalMesh`] on rank 0 becomes distributed Sets, Maps
//! and Dats on every rank through the one distribution path, [`distribute_blocks`].
//!
//! Owns only the step before it: validation of the [`GlobalMesh`] (on rank 0), and cutting it
//! into the ranks' blocks ([`crate::mesh::block_range`]: the layout a mesh file is read in) which rank 0
//! scatters. From there partition, migration, local numbering and halo plans are those of
//! blocks read from a file, so both entry points give the same [`DistributedMesh`] for the same
//! mesh. [`DistributedMesh::scatter_dat`] moves Dat values the same way: rank 0's global array
//! cut into blocks, then [`DistributedMesh::dat_from_block`].
//!
//! Rules this module keeps:
//! * It talks to other ranks only through [`Comm`]'s collectives (`broadcast_bytes`,
//!   `scatter_bytes`) and [`distribute_blocks`]; it never calls MPI itself.
//! * Errors in the input are decided on rank 0 and broadcast before any other collective, so
//!   every rank returns the same [`Error::Remote`] (`rank 0 failed: ...`), which
//!   [`crate::run`] treats as collective: all ranks print it and finalize, none hangs. On a
//!   one-rank communicator the original error is returned as is.
//! * Sets and then Maps are created in the order they were added to the [`GlobalMesh`], on
//!   every rank, so their ids (a process-wide counter) agree across ranks.
//!
//! # Local numbering (per rank, per set)
//! `[0, core)` owned elements whose targets through *every* map from the set are owned here,
//! `[core, owned)` the other owned elements, both in increasing global id; then the halo
//! `[owned, total)`: copies of the elements that this rank's owned elements reference through
//! maps but other ranks own, grouped by owner rank and then in increasing global id (the order
//! of [`crate::mpi::halo`]'s lists). Local maps hold, for each owned source element, local target
//! indices into owned + halo elements. On one rank the numbering is the identity, there is no
//! halo and no global-id array.

use crate::error::{Error, Result};
use crate::mesh::block::MeshBlock;
use crate::mesh::global::{GCoords, GMap, GSet, GlobalMesh};
use crate::mesh::local::DistributedMesh;
use crate::mesh::migrate::distribute_blocks;
use crate::mesh::partition::{self, Partitioner};
use crate::mesh::wire::{block_parts, bytes_to_vec, check_scatter_size, root_verdict, R, W};
use crate::mpi::comm::Comm;

const WHAT: &str = "distribute";

/// Distribute `mesh` (given on rank 0; other ranks pass `None`, and anything they pass is
/// ignored) over `comm`: partition it (see [`crate::mesh::partition`]), and build on every rank its
/// local Sets (with halo plans and global ids), local Maps, in the numbering described in the
/// module documentation. Collective. Input errors are decided on rank 0 and returned by every
/// rank (as [`Error::Remote`] naming rank 0, when there is more than one rank).
///
/// Rank 0 validates the mesh and sends every rank its block ([`crate::mesh::block_range`]) of each map,
/// of the coordinates and of the owners; the rest is [`distribute_blocks`].
///
/// ```
/// // Serial: the identity numbering, no halo.
/// let mesh = op2::GlobalMesh::new()
///     .add_set("nodes", 3)
///     .add_set("cells", 1)
///     .add_map("cell_nodes", "cells", "nodes", 3, vec![2, 0, 1])
///     .coordinates("nodes", 2, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
/// let m = op2::distribute(op2::Comm::serial(), Some(mesh)).unwrap();
/// let nodes = m.set("nodes").unwrap();
/// assert_eq!((nodes.core_size(), nodes.size(), nodes.total_size()), (3, 3, 3));
/// assert!(nodes.halo().is_none());
/// assert_eq!(m.map("cell_nodes").unwrap().values(), &[2, 0, 1]);
/// assert!(op2::distribute(op2::Comm::serial(), None).is_err());
/// ```
pub fn distribute(comm: Comm, mesh: Option<GlobalMesh>) -> Result<DistributedMesh> {
    let nparts = comm.size() as usize;
    let checked = comm.is_root().then(|| check(mesh, nparts));
    if nparts == 1 {
        // The whole mesh is the one block; errors are returned as they are.
        let mesh = checked.unwrap_or_else(|| Err(Error::invalid(WHAT, "no rank 0")))?;
        return distribute_blocks(comm, into_block(mesh));
    }
    // Rank 0 may validate a large mesh for a while: the others wait without taking its CPUs.
    comm.idle_barrier(std::time::Duration::from_millis(1))?;
    let mesh = root_verdict(comm, checked)?;
    distribute_blocks(comm, scatter_blocks(comm, mesh)?)
}

/// Rank 0's checks: a mesh was given, it is valid, its owners name ranks of `nparts`, and
/// each of its arrays fits one scatter.
fn check(mesh: Option<GlobalMesh>, nparts: usize) -> Result<GlobalMesh> {
    let mesh = mesh.ok_or_else(|| Error::invalid(WHAT, "rank 0 passed no mesh"))?;
    mesh.check()?;
    if let Some((set, own)) = &mesh.owners {
        let n = mesh.set_index(set).map(|s| mesh.sets[s].size).unwrap_or(0);
        partition::check_owners(&format!("{WHAT}: owners of `{set}`"), own, n, nparts)?;
        check_scatter_size(&format!("{WHAT}: owners of `{set}`"), own.len() * 4)?;
    }
    for m in &mesh.maps {
        check_scatter_size(&format!("{WHAT}: map `{}`", m.name), m.values.len() * 4)?;
    }
    if let Some(c) = &mesh.coords {
        let what = format!("{WHAT}: coordinates of `{}`", c.set);
        check_scatter_size(&what, c.values.len() * 8)?;
    }
    Ok(mesh)
}

/// The whole mesh as the block of a one-rank communicator.
fn into_block(mesh: GlobalMesh) -> MeshBlock {
    MeshBlock {
        sets: mesh.sets,
        maps: mesh.maps,
        coords: mesh.coords,
        owners: mesh.owners,
        partitioner: mesh.partitioner,
    }
}

/// Every rank's block of rank 0's (checked) mesh: the schema by broadcast, then one scatter
/// per map, for the coordinates and for the owners, each array dropped on rank 0 once sent.
/// One scatter per array keeps each under MPI's 2^31-byte count limit. Collective.
fn scatter_blocks(comm: Comm, mut mesh: Option<GlobalMesh>) -> Result<MeshBlock> {
    let p = comm.size() as usize;
    let schema = comm.broadcast_bytes(0, mesh.as_ref().map(encode_schema).unwrap_or_default())?;
    // Every rank decodes the same bytes, so all fail or none does.
    let mut block = decode_schema(&schema)?;
    let sets = block.sets.clone();
    let size = |set: &str| sets.iter().find(|s| s.name == set).map_or(0, |s| s.size);
    for k in 0..block.maps.len() {
        let (n, a) = (size(&block.maps[k].from), block.maps[k].arity);
        let parts = mesh.as_mut().map(|m| {
            let rows = std::mem::take(&mut m.maps[k].values);
            block_parts(&rows, n, a, p)
        });
        block.maps[k].values = bytes_to_vec(&comm.scatter_bytes(0, parts)?);
    }
    if let Some(c) = &mut block.coords {
        let n = size(&c.set);
        let parts = mesh
            .as_mut()
            .and_then(|m| m.coords.take())
            .map(|mc| block_parts(&mc.values, n, c.dim, p));
        c.values = bytes_to_vec(&comm.scatter_bytes(0, parts)?);
    }
    if let Some((set, own)) = &mut block.owners {
        let n = size(set);
        let parts = mesh
            .as_mut()
            .and_then(|m| m.owners.take())
            .map(|(_, o)| block_parts(&o, n, 1, p));
        *own = bytes_to_vec(&comm.scatter_bytes(0, parts)?);
    }
    Ok(block)
}

/// Names, sizes, map shapes, which set has coordinates or owners, and the partitioner.
fn encode_schema(mesh: &GlobalMesh) -> Vec<u8> {
    let mut w = W::default();
    w.u64(mesh.sets.len() as u64);
    for s in &mesh.sets {
        w.str(&s.name);
        w.u64(s.size as u64);
    }
    w.u64(mesh.maps.len() as u64);
    for m in &mesh.maps {
        w.str(&m.name);
        w.str(&m.from);
        w.str(&m.to);
        w.u64(m.arity as u64);
    }
    match &mesh.coords {
        Some(c) => {
            w.u64(1);
            w.str(&c.set);
            w.u64(c.dim as u64);
        }
        None => w.u64(0),
    }
    match &mesh.owners {
        Some((set, _)) => {
            w.u64(1);
            w.str(set);
        }
        None => w.u64(0),
    }
    w.u64(match mesh.partitioner {
        Partitioner::Rcb => 0,
        Partitioner::Block => 1,
        Partitioner::Metis => 2,
    });
    w.0
}

/// A block with the schema's sets, maps, coordinates and owners, and empty arrays.
fn decode_schema(b: &[u8]) -> Result<MeshBlock> {
    let mut r = R::new(b);
    let mut block = MeshBlock::new();
    for _ in 0..r.u64()? {
        let (name, size) = (r.str()?, r.u64()? as usize);
        block.sets.push(GSet { name, size });
    }
    for _ in 0..r.u64()? {
        let (name, from, to, arity) = (r.str()?, r.str()?, r.str()?, r.u64()? as usize);
        let values = Vec::new();
        block.maps.push(GMap {
            name,
            from,
            to,
            arity,
            values,
        });
    }
    if r.u64()? == 1 {
        let (set, dim, values) = (r.str()?, r.u64()? as usize, Vec::new());
        block.coords = Some(GCoords { set, dim, values });
    }
    if r.u64()? == 1 {
        block.owners = Some((r.str()?, Vec::new()));
    }
    block.partitioner = match r.u64()? {
        0 => Partitioner::Rcb,
        1 => Partitioner::Block,
        2 => Partitioner::Metis,
        _ => return Err(r.corrupt("partitioner")),
    };
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(n: usize) -> GlobalMesh {
        // n x n quads.
        let nn = n + 1;
        let mut c2n = Vec::new();
        for j in 0..n {
            for i in 0..n {
                let a = (j * nn + i) as i32;
                c2n.extend_from_slice(&[a, a + 1, a + 1 + nn as i32, a + nn as i32]);
            }
        }
        let mut xy = Vec::new();
        for j in 0..nn {
            for i in 0..nn {
                xy.push(i as f64);
                xy.push(j as f64);
            }
        }
        GlobalMesh::new()
            .add_set("nodes", nn * nn)
            .add_set("cells", n * n)
            .add_map("c2n", "cells", "nodes", 4, c2n)
            .coordinates("nodes", 2, xy)
    }

    /// What rank 0 broadcasts is what every rank rebuilds, and the blocks cut from the mesh
    /// are its rows in rank order.
    #[test]
    fn schema_and_blocks_round_trip() {
        let mesh = square(5)
            .owners("cells", (0..25).map(|c| c % 3).collect())
            .partitioner(Partitioner::Metis);
        let b = decode_schema(&encode_schema(&mesh)).unwrap();
        assert_eq!(b.schema_bytes(), into_block(mesh.clone()).schema_bytes());
        assert!(b.maps[0].values.is_empty() && b.coords.as_ref().unwrap().values.is_empty());
        assert!(decode_schema(&encode_schema(&mesh)[..20]).is_err());
        let c2n = &mesh.maps[0].values;
        let parts = block_parts(c2n, 25, 4, 3);
        assert_eq!(
            parts.iter().map(Vec::len).collect::<Vec<_>>(),
            [9 * 16, 8 * 16, 8 * 16]
        );
        let back: Vec<i32> = parts.iter().flat_map(|p| bytes_to_vec::<i32>(p)).collect();
        assert_eq!(&back, c2n);
        let big = GlobalMesh::new().add_set("a", 1);
        assert!(check(Some(big.clone()), 1).is_ok());
        assert!(check(None, 1)
            .unwrap_err()
            .to_string()
            .contains("rank 0 passed no mesh"));
        let bad = big.owners("a", vec![2]);
        assert!(check(Some(bad), 2)
            .unwrap_err()
            .to_string()
            .contains("2-rank"));
    }

    #[test]
    fn validation_names_the_problem() {
        let e = |m: GlobalMesh| m.validate().unwrap_err().to_string();
        assert!(e(GlobalMesh::new().add_set("", 1)).contains("empty name"));
        assert!(e(GlobalMesh::new()
            .add_set("a", 1)
            .add_map("m", "a", "b", 1, vec![0]))
        .contains("no set named `b`"));
        assert!(e(GlobalMesh::new()
            .add_set("a", 2)
            .add_map("m", "a", "a", 1, vec![0]))
        .contains("1 values given, expected 2"));
        assert!(e(GlobalMesh::new()
            .add_set("a", 1)
            .add_map("m", "a", "a", 0, vec![]))
        .contains("arity"));
        assert!(e(GlobalMesh::new()
            .add_set("a", 1)
            .add_map("m", "a", "a", 1, vec![-1]))
        .contains("value -1 at element 0, slot 0"));
        assert!(e(GlobalMesh::new()
            .add_set("a", 1)
            .add_map("m", "a", "a", 1, vec![0])
            .add_map("m", "a", "a", 1, vec![0]))
        .contains("duplicate map name"));
        assert!(e(GlobalMesh::new()
            .add_set("a", 1)
            .coordinates("b", 2, vec![0.0; 2]))
        .contains("no set named `b`"));
        assert!(e(GlobalMesh::new()
            .add_set("a", 1)
            .coordinates("a", 2, vec![0.0; 3]))
        .contains("3 values given"));
        assert!(e(GlobalMesh::new()
            .add_set("a", 1)
            .coordinates("a", 2, vec![0.0, f64::NAN]))
        .contains("must be finite"));
    }

    #[test]
    fn serial_distribution_is_the_identity() {
        let mesh = square(4);
        let c2n = mesh.maps[0].values.clone();
        let m = distribute(Comm::serial(), Some(mesh)).unwrap();
        let cells = m.set("cells").unwrap();
        assert_eq!(
            (cells.core_size(), cells.size(), cells.total_size()),
            (16, 16, 16)
        );
        assert!(cells.halo().is_none() && cells.global_ids().is_none());
        assert_eq!(m.map("c2n").unwrap().values(), &c2n[..]);
        let v: Vec<f64> = (0..25).map(|i| i as f64).collect();
        let d = m.scatter_dat("x", "nodes", 1, Some(v.clone())).unwrap();
        assert_eq!(d.gather::<f64>(0).unwrap().unwrap(), v);
    }
}
