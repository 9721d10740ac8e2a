//! Distribution: from a global mesh on rank 0 to distributed Sets, Maps and Dats on every rank.
//!
//! Owns the path global -> local: validation of a [`GlobalMesh`] (on rank 0 only), the
//! partition (through [`crate::mesh::partition`]), every rank's local numbering, local maps, halo
//! plans and global ids, and the movement of Dat values between the global numbering on one
//! rank and distributed storage ([`DistributedMesh::scatter_dat`], [`Dat::gather`]).
//!
//! Rules this module keeps:
//! * It talks to other ranks only through [`Comm`]'s collectives (`broadcast_bytes`,
//!   `scatter_bytes`, `gather_bytes`, `allreduce`) and [`crate::update_halo`]; it never
//!   calls MPI itself.
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

use std::sync::Arc;

use rayon::prelude::*;

use crate::data::map::Map;
use crate::data::set::Set;
use crate::error::{Error, Result};
use crate::mesh::global::GlobalMesh;
use crate::mesh::local::DistributedMesh;
use crate::mesh::metis;
use crate::mesh::partition::{self, MapSpec, Partitioner};
use crate::mesh::wire::{check_scatter_size, root_verdict, R, W};
use crate::mpi::agree::{agree, Share};
use crate::mpi::comm::Comm;
use crate::mpi::halo::{Halo, Neighbour};

const WHAT: &str = "distribute";
/// Distribute `mesh` (given on rank 0; other ranks pass `None`, and anything they pass is
/// ignored) over `comm`: partition it (see [`crate::mesh::partition`]), and build on every rank its
/// local Sets (with halo plans and global ids), local Maps, in the numbering described in the
/// module documentation. Collective. Input errors are decided on rank 0 and returned by every
/// rank (as [`Error::Remote`] naming rank 0, when there is more than one rank).
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
    if comm.size() == 1 {
        return serial(comm, mesh);
    }
    let nparts = comm.size() as usize;
    let plan = comm.is_root().then(|| {
        let mesh = mesh.ok_or_else(|| Error::invalid(WHAT, "rank 0 passed no mesh"))?;
        Plan::build(mesh, nparts)
    });
    // Rank 0 may work for a while: let the others wait without taking its CPUs.
    comm.idle_barrier(std::time::Duration::from_millis(1))?;
    let mut plan = root_verdict(comm, plan)?;
    let schema = comm.broadcast_bytes(
        0,
        plan.as_ref().map(|p| p.schema.clone()).unwrap_or_default(),
    )?;
    let schema = Schema::decode(&schema)?;
    // One scatter per set and per map keeps each under MPI's 2^31-byte count limit.
    let mut set_msgs = Vec::with_capacity(schema.sets.len());
    for i in 0..schema.sets.len() {
        let parts = plan.as_mut().map(|p| std::mem::take(&mut p.set_parts[i]));
        set_msgs.push(comm.scatter_bytes(0, parts)?);
    }
    let mut map_msgs = Vec::with_capacity(schema.maps.len());
    for i in 0..schema.maps.len() {
        let parts = plan.as_mut().map(|p| std::mem::take(&mut p.map_parts[i]));
        map_msgs.push(comm.scatter_bytes(0, parts)?);
    }
    let built = build_local(comm, &schema, &set_msgs, map_msgs);
    let (sets, maps) = agree(comm, Share::Status, built)?;
    Ok(DistributedMesh {
        comm,
        sets,
        maps,
        root_owned: plan.map(|p| p.owned),
        blocks: None,
    })
}

fn serial(comm: Comm, mesh: Option<GlobalMesh>) -> Result<DistributedMesh> {
    let mesh = mesh.ok_or_else(|| Error::invalid(WHAT, "rank 0 passed no mesh"))?;
    let ends = mesh.check()?;
    if let Some((set, own)) = &mesh.owners {
        let n = mesh.set_index(set).map(|s| mesh.sets[s].size).unwrap_or(0);
        partition::check_owners(&format!("{WHAT}: owners of `{set}`"), own, n, 1)?;
    }
    DistributedMesh::identity(comm, &mesh.sets, mesh.maps, &ends)
}

/// What every rank learns first: names, sizes and map shapes.
struct Schema {
    sets: Vec<(String, usize)>,
    /// name, from, to, arity
    maps: Vec<(String, usize, usize, usize)>,
}

impl Schema {
    fn encode(&self) -> Vec<u8> {
        let mut w = W::default();
        w.u64(self.sets.len() as u64);
        for (n, s) in &self.sets {
            w.str(n);
            w.u64(*s as u64);
        }
        w.u64(self.maps.len() as u64);
        for (n, f, t, a) in &self.maps {
            w.str(n);
            w.u64(*f as u64);
            w.u64(*t as u64);
            w.u64(*a as u64);
        }
        w.0
    }

    fn decode(b: &[u8]) -> Result<Schema> {
        let mut r = R::new(b);
        let ns = r.u64()?;
        let mut sets = Vec::new();
        for _ in 0..ns {
            sets.push((r.str()?, r.u64()? as usize));
        }
        let nm = r.u64()?;
        let mut maps = Vec::new();
        for _ in 0..nm {
            let name = r.str()?;
            let (f, t, a) = (r.u64()? as usize, r.u64()? as usize, r.u64()? as usize);
            if f >= sets.len() || t >= sets.len() {
                return Err(r.corrupt("map endpoints"));
            }
            maps.push((name, f, t, a));
        }
        Ok(Schema { sets, maps })
    }
}

/// One rank's messages: one per set, one per map.
type RankParts = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// Rank 0's work: every rank's part, ready to send.
struct Plan {
    schema: Vec<u8>,
    /// [set][rank]
    set_parts: Vec<Vec<Vec<u8>>>,
    /// [map][rank]
    map_parts: Vec<Vec<Vec<u8>>>,
    /// [set][rank]: owned global ids in local order.
    owned: Vec<Vec<Vec<u32>>>,
}

/// Per set, on rank 0: who owns what, and where it lives on its owner.
struct Layout {
    /// [rank]: owned global ids in local order (core, then boundary).
    owned: Vec<Vec<u32>>,
    /// [rank]: core size.
    core: Vec<usize>,
    /// [global id]: (owner rank, local index there), together so one lookup finds both.
    place: Vec<(i32, u32)>,
}

fn row<'a>(m: &MapSpec<'a>, s: usize) -> &'a [i32] {
    &m.values[s * m.arity..(s + 1) * m.arity]
}

impl Plan {
    fn build(mesh: GlobalMesh, nparts: usize) -> Result<Plan> {
        let ends = mesh.check()?;
        let sizes: Vec<usize> = mesh.sets.iter().map(|s| s.size).collect();
        let specs: Vec<MapSpec> = mesh
            .maps
            .iter()
            .zip(&ends)
            .map(|(m, &(from, to))| MapSpec {
                from,
                to,
                arity: m.arity,
                values: &m.values,
            })
            .collect();
        let mut given = vec![None; sizes.len()];
        match (&mesh.owners, &mesh.coords, mesh.partitioner) {
            (Some((set, own)), _, _) => {
                let s = mesh.set_index(set).unwrap_or(0);
                let what = format!("{WHAT}: owners of `{set}`");
                partition::check_owners(&what, own, sizes[s], nparts)?;
                given[s] = Some(own.clone());
            }
            (None, _, Partitioner::Metis) => {
                if let Some(m) = specs.iter().find(|m| m.arity >= 2) {
                    given[m.from] = Some(metis::part_dual(sizes[m.from], m, nparts)?);
                } else if !sizes.is_empty() {
                    given[0] = Some(partition::block(sizes[0], nparts)?);
                }
            }
            (None, Some(c), Partitioner::Rcb) => {
                let s = mesh.set_index(&c.set).unwrap_or(0);
                given[s] = Some(partition::rcb(&c.values, c.dim, nparts)?);
            }
            (None, _, _) if !sizes.is_empty() => {
                given[0] = Some(partition::block(sizes[0], nparts)?)
            }
            (None, _, _) => {}
        }
        let owners = partition::derive_owners(&sizes, &specs, given, nparts);
        let layouts: Vec<Layout> = (0..sizes.len())
            .map(|s| layout(s, sizes[s], &specs, &owners, nparts))
            .collect();
        // halos[rank][set]: (owner, global id) of every halo element, sorted.
        let halos: Vec<Vec<Vec<(i32, u32)>>> = (0..nparts)
            .into_par_iter()
            .map(|r| {
                let mut acc = vec![Vec::new(); sizes.len()];
                for m in &specs {
                    let lay = &layouts[m.from];
                    let to_own = &owners[m.to];
                    for &s in &lay.owned[r][lay.core[r]..] {
                        for &t in row(m, s as usize) {
                            let o = to_own[t as usize];
                            if o as usize != r {
                                acc[m.to].push((o, t as u32));
                            }
                        }
                    }
                }
                for a in &mut acc {
                    a.sort_unstable();
                    a.dedup();
                }
                acc
            })
            .collect();
        let per_rank: Vec<RankParts> = (0..nparts)
            .into_par_iter()
            .map(|r| {
                let sets = (0..sizes.len())
                    .map(|s| encode_set(r, s, &layouts[s], &halos))
                    .collect();
                let maps = specs
                    .iter()
                    .map(|m| encode_map(r, m, &layouts, &halos))
                    .collect();
                (sets, maps)
            })
            .collect();
        let mut set_parts = vec![Vec::with_capacity(nparts); sizes.len()];
        let mut map_parts = vec![Vec::with_capacity(nparts); specs.len()];
        for (sets, maps) in per_rank {
            for (i, p) in sets.into_iter().enumerate() {
                set_parts[i].push(p);
            }
            for (i, p) in maps.into_iter().enumerate() {
                map_parts[i].push(p);
            }
        }
        for (i, p) in set_parts.iter().enumerate() {
            check_scatter_size(&format!("{WHAT}: set `{}`", mesh.sets[i].name), p)?;
        }
        for (i, p) in map_parts.iter().enumerate() {
            check_scatter_size(&format!("{WHAT}: map `{}`", mesh.maps[i].name), p)?;
        }
        let schema = Schema {
            sets: mesh.sets.iter().map(|s| (s.name.clone(), s.size)).collect(),
            maps: mesh
                .maps
                .iter()
                .zip(&ends)
                .map(|(m, &(f, t))| (m.name.clone(), f, t, m.arity))
                .collect(),
        }
        .encode();
        Ok(Plan {
            schema,
            set_parts,
            map_parts,
            owned: layouts.into_iter().map(|l| l.owned).collect(),
        })
    }
}

/// Owned lists (core first) of set `s` on every rank.
fn layout(s: usize, n: usize, specs: &[MapSpec], owners: &[Vec<i32>], nparts: usize) -> Layout {
    let own = &owners[s];
    let from: Vec<&MapSpec> = specs.iter().filter(|m| m.from == s).collect();
    let remote: Vec<bool> = (0..n)
        .into_par_iter()
        .map(|e| {
            let o = own[e];
            from.iter()
                .any(|m| row(m, e).iter().any(|&t| owners[m.to][t as usize] != o))
        })
        .collect();
    let mut count = vec![0usize; nparts];
    for &o in own {
        count[o as usize] += 1;
    }
    let mut core: Vec<Vec<u32>> = count.iter().map(|&c| Vec::with_capacity(c)).collect();
    let mut bnd: Vec<Vec<u32>> = vec![Vec::new(); nparts];
    for e in 0..n {
        let o = own[e] as usize;
        if remote[e] {
            bnd[o].push(e as u32);
        } else {
            core[o].push(e as u32);
        }
    }
    let core_sizes: Vec<usize> = core.iter().map(|c| c.len()).collect();
    let owned: Vec<Vec<u32>> = core
        .into_iter()
        .zip(bnd)
        .map(|(mut c, b)| {
            c.extend_from_slice(&b);
            c
        })
        .collect();
    let mut place = vec![(0i32, 0u32); n];
    for (r, list) in owned.iter().enumerate() {
        for (i, &g) in list.iter().enumerate() {
            place[g as usize] = (r as i32, i as u32);
        }
    }
    Layout {
        owned,
        core: core_sizes,
        place,
    }
}

/// Range of entries owned by `q` in a halo list sorted by (owner, gid).
fn owner_range(list: &[(i32, u32)], q: i32) -> std::ops::Range<usize> {
    list.partition_point(|x| x.0 < q)..list.partition_point(|x| x.0 <= q)
}

fn encode_set(r: usize, s: usize, lay: &Layout, halos: &[Vec<Vec<(i32, u32)>>]) -> Vec<u8> {
    let owned = &lay.owned[r];
    let halo = &halos[r][s];
    let mut w = W::default();
    w.u64(lay.core[r] as u64);
    w.u64(owned.len() as u64);
    let gids: Vec<u32> = owned
        .iter()
        .copied()
        .chain(halo.iter().map(|&(_, g)| g))
        .collect();
    w.u32s(&gids);
    let mut neighbours = Vec::new();
    for (q, qhalos) in halos.iter().enumerate() {
        if q == r {
            continue;
        }
        let recv = owner_range(halo, q as i32);
        let theirs = &qhalos[s];
        let send = owner_range(theirs, r as i32);
        if recv.is_empty() && send.is_empty() {
            continue;
        }
        let send: Vec<u32> = theirs[send]
            .iter()
            .map(|&(_, g)| lay.place[g as usize].1)
            .collect();
        let recv: Vec<u32> = recv.map(|i| (owned.len() + i) as u32).collect();
        neighbours.push((q as i32, send, recv));
    }
    w.u64(neighbours.len() as u64);
    for (q, send, recv) in &neighbours {
        w.u64(*q as u64);
        w.u32s(send);
        w.u32s(recv);
    }
    w.0
}

fn encode_map(
    r: usize,
    m: &MapSpec,
    layouts: &[Layout],
    halos: &[Vec<Vec<(i32, u32)>>],
) -> Vec<u8> {
    let src = &layouts[m.from].owned[r];
    let lt = &layouts[m.to];
    let n_owned_t = lt.owned[r].len();
    let halo = &halos[r][m.to];
    let mut vals = vec![0i32; src.len() * m.arity];
    vals.par_chunks_mut(m.arity)
        .zip(src.par_iter())
        .with_min_len(1024)
        .for_each(|(out, &s)| {
            for (o, &t) in out.iter_mut().zip(row(m, s as usize)) {
                let (owner, local) = lt.place[t as usize];
                *o = if owner as usize == r {
                    local as i32
                } else {
                    // Always found by construction; -1 would be rejected by Map::new.
                    halo.binary_search(&(owner, t as u32))
                        .map(|i| (n_owned_t + i) as i32)
                        .unwrap_or(-1)
                };
            }
        });
    let mut w = W::default();
    w.i32s(&vals);
    w.0
}

/// This rank's Sets and Maps from its parts.
fn build_local(
    comm: Comm,
    schema: &Schema,
    set_msgs: &[Vec<u8>],
    map_msgs: Vec<Vec<u8>>,
) -> Result<(Vec<Set>, Vec<Map>)> {
    let mut sets = Vec::with_capacity(schema.sets.len());
    for ((name, gsize), msg) in schema.sets.iter().zip(set_msgs) {
        let mut r = R::new(msg);
        let core = r.u64()? as usize;
        let owned = r.u64()? as usize;
        let gids = r.u32s()?;
        let nn = r.u64()?;
        let total = gids.len();
        let mut neighbours = Vec::new();
        for _ in 0..nn {
            let rank = r.u64()? as i32;
            let send = r.u32s()?;
            let recv = r.u32s()?;
            if send.iter().any(|&i| i as usize >= owned)
                || recv
                    .iter()
                    .any(|&i| (i as usize) < owned || i as usize >= total)
            {
                return Err(r.corrupt("halo lists"));
            }
            neighbours.push(Neighbour { rank, send, recv });
        }
        if !(core <= owned && owned <= total) {
            return Err(r.corrupt("set sizes"));
        }
        let gids: Vec<u64> = gids.into_par_iter().map(u64::from).collect();
        sets.push(Set::from_parts(
            name,
            comm,
            core,
            owned,
            total,
            Some(Arc::new(Halo { neighbours })),
            Some(Arc::new(gids)),
            *gsize,
        ));
    }
    let mut maps = Vec::with_capacity(schema.maps.len());
    for ((name, f, t, arity), msg) in schema.maps.iter().zip(map_msgs) {
        let mut r = R::new(&msg);
        let values = r.i32s()?;
        maps.push(Map::named(name, &sets[*f], &sets[*t], *arity, values)?);
    }
    Ok((sets, maps))
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

    /// Rank 0's plan for 3 ranks, decoded as each rank would, without MPI.
    #[test]
    fn plan_gives_consistent_halos_and_maps() {
        let mesh = square(12);
        let global_c2n = mesh.maps[0].values.clone();
        let mut plan = Plan::build(mesh, 3).unwrap();
        let schema = Schema::decode(&plan.schema).unwrap();
        let mut ranks = Vec::new();
        for r in 0..3 {
            let sm: Vec<Vec<u8>> = (0..2)
                .map(|s| std::mem::take(&mut plan.set_parts[s][r]))
                .collect();
            let mm = vec![std::mem::take(&mut plan.map_parts[0][r])];
            ranks.push(build_local(Comm::serial(), &schema, &sm, mm).unwrap());
        }
        let mut owned_total = [0usize; 2];
        for (r, (sets, maps)) in ranks.iter().enumerate() {
            for (k, s) in sets.iter().enumerate() {
                owned_total[k] += s.size();
                let h = s.halo().unwrap();
                assert_eq!(h.recv_count(), s.total_size() - s.size());
                // Every send list matches the neighbour's receive list element by element.
                for n in &h.neighbours {
                    let other = &ranks[n.rank as usize].0[k];
                    let back = other
                        .halo()
                        .unwrap()
                        .neighbours
                        .iter()
                        .find(|m| m.rank == r as i32)
                        .unwrap();
                    let mine: Vec<u64> = n
                        .send
                        .iter()
                        .map(|&i| s.global_ids().unwrap()[i as usize])
                        .collect();
                    let theirs: Vec<u64> = back
                        .recv
                        .iter()
                        .map(|&i| other.global_ids().unwrap()[i as usize])
                        .collect();
                    assert_eq!(mine, theirs);
                }
            }
            let (nodes, cells) = (&sets[0], &sets[1]);
            let m = &maps[0];
            for c in 0..cells.size() {
                let gc = cells.global_ids().unwrap()[c] as usize;
                for k in 0..4 {
                    let l = m.values()[c * 4 + k] as usize;
                    assert_eq!(
                        nodes.global_ids().unwrap()[l],
                        global_c2n[gc * 4 + k] as u64
                    );
                    if c < cells.core_size() {
                        assert!(l < nodes.size());
                    }
                }
            }
        }
        assert_eq!(owned_total, [13 * 13, 144]);
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
