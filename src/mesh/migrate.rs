//! The parallel path: from every rank's block of a mesh ([`MeshBlock`]) to distributed Sets
//! and Maps, without any rank holding the whole mesh.
//!
//! Steps (all collective, through [`Comm::alltoallv`] and `allreduce`):
//! 1. **partition**: owners of this rank's block of the primary set, from the user
//!    ([`MeshBlock::owners`]), parallel RCB ([`crate::mesh::prcb`]), METIS on rank 0 (the rows
//!    of one map gathered there: for meshes whose dual graph fits on rank 0) or blocks;
//! 2. **derived owners**: the rules of [`crate::mesh::partition`] (source rule, then target
//!    rule, then blocks), applied to blocks: an owner that lives in another rank's block is
//!    asked of that rank (a *directory*: rank `r` answers for its block of every set);
//! 3. **migration**: every element, with its map rows, goes to its owner;
//! 4. **local numbering**: owners of referenced elements are asked of the directory; core,
//!    boundary and halo are laid out as the module documentation of [`crate::distribute()`]
//!    says, and halo send lists are agreed with the neighbours.
//!
//! [`crate::distribute()`] is this path on rank 0's mesh cut into blocks. Memory per rank: its block plus its owned and halo
//! elements, never the whole mesh (with METIS, rank 0 also holds the one map it partitions).
//! Every exchange is one flat buffer with counts per rank ([`by_rank`]), received into one
//! buffer; block rows are dropped once sent, migrated rows once renumbered.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

use crate::data::map::Map;
use crate::data::set::Set;
use crate::error::{Error, Result};
use crate::mesh::block::{block_range, MeshBlock};
use crate::mesh::local::{local_index, two_run_index, BlockInfo, DistributedMesh};
use crate::mesh::metis;
use crate::mesh::partition::MapSpec;
use crate::mesh::partition::Partitioner;
use crate::mesh::prcb;
use crate::mesh::wire::{by_rank, bytes_to_vec, offsets, root_verdict};
use crate::mpi::agree::{agree, Share};
use crate::mpi::comm::Comm;
use crate::mpi::halo::{Halo, Neighbour};

/// Rank holding global element `g` of a set of `n` in its block.
fn holder(g: usize, n: usize, nranks: usize) -> usize {
    crate::mesh::partition::block_owner(g, n, nranks) as usize
}

/// Ask the directory: the values (`dir` = this rank's block of some per-element array of a set
/// of `n`) of the `nq` global elements `query(0..nq)`, in query order. Collective.
fn lookup(
    comm: Comm,
    n: usize,
    dir: &[i32],
    nq: usize,
    query: impl Fn(usize) -> u32,
) -> Result<Vec<i32>> {
    let p = comm.size() as usize;
    let dest = |i: usize| holder(query(i) as usize, n, p);
    let (ask, counts) = by_rank(p, nq, 1, dest, |i, out: &mut [u32]| out[0] = query(i));
    let (asked, asked_counts) = comm.alltoallv(ask, &counts)?;
    let start = block_range(n, p, comm.rank() as usize).start;
    let answers: Vec<i32> = asked
        .iter()
        .map(|&g| {
            dir.get((g as usize).wrapping_sub(start))
                .copied()
                .unwrap_or(-1)
        })
        .collect();
    drop(asked);
    let (back, _) = comm.alltoallv(answers, &asked_counts)?;
    // Answers come back grouped by holder, each group in query order.
    let mut pos = offsets(&counts);
    let res = (0..nq)
        .map(|i| {
            let r = dest(i);
            let v = back.get(pos[r]).copied().unwrap_or(-1);
            pos[r] += 1;
            if v < 0 {
                return Err(Error::Mpi(format!(
                    "distribute_blocks: rank {r} gave no owner for element {}",
                    query(i)
                )));
            }
            Ok(v)
        })
        .collect();
    // Only the asking rank can see a missing answer: agree before the callers' next collective.
    agree(comm, Share::Status, res)
}

/// METIS on the parallel path, for meshes whose dual graph fits on rank 0: the rows of the map
/// `spec` = (source set size, source, target, arity) are gathered to rank 0 (in block order,
/// i.e. global order), partitioned there by one call of METIS
/// ([`metis::part_dual`]), and each rank gets the owners of its block back. Collective; a
/// failure on rank 0 fails every rank.
fn metis_on_root(comm: Comm, spec: (usize, usize, usize, usize), rows: &[i32]) -> Result<Vec<i32>> {
    let (n, _, _, arity) = spec;
    let p = comm.size() as usize;
    let gathered = comm.gather_bytes(0, bytemuck::cast_slice(rows))?;
    let parts = gathered.map(|parts| -> Result<Vec<Vec<u8>>> {
        let mut all: Vec<i32> = Vec::with_capacity(n * arity);
        for b in parts {
            all.extend(bytes_to_vec::<i32>(&b));
        }
        let map = MapSpec {
            arity,
            values: &all,
        };
        let own = metis::part_dual(n, &map, p)?;
        drop(all);
        Ok((0..p)
            .map(|r| bytemuck::cast_slice(&own[block_range(n, p, r)]).to_vec())
            .collect())
    });
    let parts = root_verdict(comm, parts)?;
    Ok(bytes_to_vec::<i32>(&comm.scatter_bytes(0, parts)?))
}

/// One map as this rank sees it: block rows, and later owned rows.
struct BMap {
    from: usize,
    to: usize,
    arity: usize,
}

/// Distribute a mesh given as every rank's block ([`MeshBlock`]) over `comm`: partition it in
/// parallel (or take the user's owners), migrate every element to its owner, and build local
/// Sets (halo plans, global ids) and Maps in the numbering of [`crate::distribute()`]. Collective; a
/// problem in any rank's block is returned by every rank (as [`Error::Remote`] on the others).
/// Dats follow with [`DistributedMesh::dat_from_block`].
///
/// ```
/// use op2::mesh::{block_range, distribute_blocks, MeshBlock};
/// let comm = op2::Comm::serial();
/// let (p, r) = (comm.size() as usize, comm.rank() as usize);
/// // A chain of 5 nodes and 4 edges; each rank adds its block of the edges' rows.
/// let e2n: Vec<i32> = block_range(4, p, r).flat_map(|e| [e as i32, e as i32 + 1]).collect();
/// let b = MeshBlock::new().add_set("nodes", 5).add_set("edges", 4)
///     .add_map("e2n", "edges", "nodes", 2, e2n);
/// let m = distribute_blocks(comm, b).unwrap();
/// assert_eq!(m.set("edges").unwrap().global_size(), 4);
/// let x = m.dat_from_block("x", "nodes", 1, block_range(5, p, r).map(|i| i as f64).collect())
///     .unwrap();
/// assert_eq!(x.gather::<f64>(0).unwrap().unwrap(), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
/// ```
pub fn distribute_blocks(comm: Comm, mut block: MeshBlock) -> Result<DistributedMesh> {
    let ends = check_blocks(comm, &block)?;
    if comm.size() == 1 {
        // The block is the whole mesh and everything is owned here.
        return serial(comm, block, &ends);
    }
    let sh = Shape::new(comm, &block, &ends);
    // 1. Owners of the primary set's block; 2. derived owners of the other sets.
    let owners = primary_owners(&sh, &mut block)?;
    let block_owners = derive_owners(&sh, &block, owners)?;
    // 3. Migration of every element and map row to its owner.
    let (own_gids, mut own_rows) = migrate(&sh, &mut block, &block_owners)?;
    // 4. Owners of every referenced element not owned here (the halo candidates).
    let remote = remote_owners(&sh, &block_owners, &own_gids, &own_rows)?;
    let (core, order) = layout(&sh, own_gids, &own_rows, &remote);
    // Halo lists sorted by (owner, gid).
    let halos: Vec<Vec<(i32, u32)>> = remote
        .iter()
        .map(|r| {
            let mut h: Vec<(i32, u32)> = r.iter().map(|(&g, &o)| (o, g)).collect();
            h.sort_unstable();
            h
        })
        .collect();
    drop(remote);
    let sets = local_sets(&sh, &block, &core, order, &halos)?;
    let out_maps = local_maps(&sh, &block, &sets, &halos, &mut own_rows)?;
    let blocks = block_owners
        .into_iter()
        .map(|owners| BlockInfo { owners })
        .collect();
    Ok(DistributedMesh {
        comm,
        sets,
        maps: out_maps,
        blocks: Some(blocks),
    })
}

/// Same schema everywhere (rank 0's is the reference), each block valid: every map's (from,
/// to) set indices, agreed.
fn check_blocks(comm: Comm, block: &MeshBlock) -> Result<Vec<(usize, usize)>> {
    let (p, me) = (comm.size() as usize, comm.rank() as usize);
    let schema = block.schema_bytes();
    let reference = comm.broadcast_bytes(0, schema.clone())?;
    let checked = if reference != schema {
        Err(Error::invalid(
            "distribute_blocks",
            format!("rank {me}'s sets, maps or partitioner differ from rank 0's"),
        ))
    } else {
        block.check(p, me)
    };
    agree(comm, Share::Status, checked)
}

/// What every phase of [`distribute_blocks`] knows: the communicator, every set's global
/// size and the start of this rank's block of it, every map's sets and arity.
struct Shape {
    comm: Comm,
    p: usize,
    me: usize,
    sizes: Vec<usize>,
    starts: Vec<usize>,
    maps: Vec<BMap>,
}

impl Shape {
    fn new(comm: Comm, block: &MeshBlock, ends: &[(usize, usize)]) -> Shape {
        let (p, me) = (comm.size() as usize, comm.rank() as usize);
        let sizes: Vec<usize> = block.sets.iter().map(|s| s.size).collect();
        let starts: Vec<usize> = sizes.iter().map(|&n| block_range(n, p, me).start).collect();
        let maps: Vec<BMap> = block
            .maps
            .iter()
            .zip(ends)
            .map(|(m, &(from, to))| BMap {
                from,
                to,
                arity: m.arity,
            })
            .collect();
        Shape {
            comm,
            p,
            me,
            sizes,
            starts,
            maps,
        }
    }
}

/// Owners of the primary set's block: the user's, parallel RCB on the coordinates, METIS on
/// rank 0, or every element where its block is (the coordinates are not needed after this).
fn primary_owners(sh: &Shape, block: &mut MeshBlock) -> Result<Vec<Option<Vec<i32>>>> {
    let (comm, p, me) = (sh.comm, sh.p, sh.me);
    let (sizes, starts, maps) = (&sh.sizes, &sh.starts, &sh.maps);
    let set_index = |name: &str| block.sets.iter().position(|s| s.name == name);
    let mut owners: Vec<Option<Vec<i32>>> = vec![None; sizes.len()];
    let coords = block.coords.take();
    if let Some((set, own)) = block.owners.take() {
        owners[set_index(&set).unwrap_or(0)] = Some(own);
    } else if let (Some(c), Partitioner::Rcb) = (&coords, block.partitioner) {
        let s = set_index(&c.set).unwrap_or(0);
        owners[s] = Some(prcb::rcb(comm, &c.values, c.dim, starts[s] as u64, p)?);
    } else if let (Partitioner::Metis, Some(k)) =
        (block.partitioner, maps.iter().position(|m| m.arity >= 2))
    {
        let m = &maps[k];
        let spec = (sizes[m.from], m.from, m.to, m.arity);
        owners[m.from] = Some(metis_on_root(comm, spec, &block.maps[k].values)?);
    } else if !sizes.is_empty() {
        owners[0] = Some(vec![me as i32; block_range(sizes[0], p, me).len()]);
    }
    drop(coords);
    Ok(owners)
}

/// Derived owners, by the rules documented in crate::mesh::partition; sets still without owners stay
/// where their blocks are.
fn derive_owners(
    sh: &Shape,
    block: &MeshBlock,
    mut owners: Vec<Option<Vec<i32>>>,
) -> Result<Vec<Vec<i32>>> {
    let (comm, p, me) = (sh.comm, sh.p, sh.me);
    let (sizes, maps) = (&sh.sizes, &sh.maps);
    loop {
        let src = maps
            .iter()
            .find(|m| owners[m.from].is_none() && owners[m.to].is_some())
            .map(|m| m.from);
        if let Some(s) = src {
            if let Some((k, m)) = maps
                .iter()
                .enumerate()
                .find(|(_, m)| m.from == s && owners[m.to].is_some())
            {
                let rows = &block.maps[k].values;
                let dir = owners[m.to].as_deref().unwrap_or(&[]);
                let nq = rows.len() / m.arity;
                let first = |i: usize| rows[i * m.arity] as u32;
                owners[s] = Some(lookup(comm, sizes[m.to], dir, nq, first)?);
                continue;
            }
        }
        let tgt = maps
            .iter()
            .find(|m| owners[m.to].is_none() && owners[m.from].is_some())
            .map(|m| m.to);
        if let Some(t) = tgt {
            owners[t] = Some(lowest_row_owner(sh, block, &owners, t)?);
            continue;
        }
        break;
    }
    Ok(owners
        .into_iter()
        .enumerate()
        .map(|(s, o)| o.unwrap_or_else(|| vec![me as i32; block_range(sizes[s], p, me).len()]))
        .collect())
}

/// Owners of target set `t`'s block: every map into t from an owned set sends (element, owner
/// of the row) to the element's holder, which keeps the lowest owner.
fn lowest_row_owner(
    sh: &Shape,
    block: &MeshBlock,
    owners: &[Option<Vec<i32>>],
    t: usize,
) -> Result<Vec<i32>> {
    let (comm, p, me) = (sh.comm, sh.p, sh.me);
    let (sizes, starts, maps) = (&sh.sizes, &sh.starts, &sh.maps);
    let n = sizes[t];
    let mut best = vec![i32::MAX; block_range(n, p, me).len()];
    for (k, m) in maps.iter().enumerate() {
        if m.to != t || m.from == t || owners[m.from].is_none() {
            continue;
        }
        let from = owners[m.from].as_deref().unwrap_or(&[]);
        let vals = &block.maps[k].values;
        let (out, counts) = by_rank(
            p,
            vals.len(),
            2,
            |i| holder(vals[i] as usize, n, p),
            |i, rec: &mut [i32]| {
                rec[0] = vals[i];
                rec[1] = from[i / m.arity];
            },
        );
        let (got, _) = comm.alltoallv(out, &counts)?;
        for pair in got.chunks_exact(2) {
            let i = pair[0] as usize - starts[t];
            best[i] = best[i].min(pair[1]);
        }
    }
    for b in &mut best {
        if *b == i32::MAX {
            *b = me as i32; // the block owner of an element in my block is me
        }
    }
    Ok(best)
}

/// Migration: every element's global id, then each map's rows, to its owner; each block's
/// rows are dropped as soon as they are sent. Blocks are contiguous in rank order and sent in
/// order, so what arrives (in rank order) is sorted by global id. Returns the owned global ids
/// per set and the owned rows per map.
fn migrate(
    sh: &Shape,
    block: &mut MeshBlock,
    block_owners: &[Vec<i32>],
) -> Result<(Vec<Vec<u32>>, Vec<Vec<i32>>)> {
    let (comm, p) = (sh.comm, sh.p);
    let (sizes, starts, maps) = (&sh.sizes, &sh.starts, &sh.maps);
    let mut own_gids: Vec<Vec<u32>> = Vec::with_capacity(sizes.len());
    let mut own_rows: Vec<Vec<i32>> = vec![Vec::new(); maps.len()];
    for s in 0..sizes.len() {
        let own = &block_owners[s];
        let dest = |i: usize| own[i] as usize;
        let first = starts[s] as u32;
        let (out, counts) = by_rank(p, own.len(), 1, dest, |i, r: &mut [u32]| {
            r[0] = first + i as u32
        });
        let (gids, _) = comm.alltoallv(out, &counts)?;
        let sorted = gids.windows(2).all(|w| w[0] < w[1]);
        own_gids.push(agree(
            comm,
            Share::Status,
            if sorted {
                Ok(gids)
            } else {
                Err(Error::Mpi(format!(
                    "distribute_blocks: the elements of `{}` arrived out of order",
                    block.sets[s].name
                )))
            },
        )?);
        for k in (0..maps.len()).filter(|&k| maps[k].from == s) {
            let a = maps[k].arity;
            let rows = std::mem::take(&mut block.maps[k].values);
            let (out, counts) = by_rank(p, own.len(), a, dest, |i, r: &mut [i32]| {
                r.copy_from_slice(&rows[i * a..(i + 1) * a])
            });
            drop(rows);
            own_rows[k] = comm.alltoallv(out, &counts)?.0;
        }
    }
    Ok((own_gids, own_rows))
}

/// Owners of every referenced element not owned here (the halo candidates), per set.
fn remote_owners(
    sh: &Shape,
    block_owners: &[Vec<i32>],
    own_gids: &[Vec<u32>],
    own_rows: &[Vec<i32>],
) -> Result<Vec<HashMap<u32, i32>>> {
    let comm = sh.comm;
    let (sizes, maps) = (&sh.sizes, &sh.maps);
    let mut remote: Vec<HashMap<u32, i32>> = vec![HashMap::new(); sizes.len()];
    for t in 0..sizes.len() {
        let mut want: Vec<u32> = Vec::new();
        for (k, m) in maps.iter().enumerate() {
            if m.to == t {
                want.extend(
                    own_rows[k]
                        .iter()
                        .map(|&v| v as u32)
                        .filter(|g| own_gids[t].binary_search(g).is_err()),
                );
            }
        }
        want.par_sort_unstable();
        want.dedup();
        let got = lookup(comm, sizes[t], &block_owners[t], want.len(), |i| want[i])?;
        remote[t] = want.into_iter().zip(got).collect();
    }
    Ok(remote)
}

/// Layout per set: core then boundary, each in gid order (so two binary searches find an
/// owned element's local index, [`two_run_index`]); the sorted owned ids are dropped. Returns
/// the core size and the owned global ids in local order, per set.
fn layout(
    sh: &Shape,
    mut own_gids: Vec<Vec<u32>>,
    own_rows: &[Vec<i32>],
    remote: &[HashMap<u32, i32>],
) -> (Vec<usize>, Vec<Vec<u32>>) {
    let (sizes, maps) = (&sh.sizes, &sh.maps);
    let mut core = vec![0usize; sizes.len()];
    let mut order: Vec<Vec<u32>> = Vec::with_capacity(sizes.len()); // local -> gid
    for s in 0..sizes.len() {
        let own = std::mem::take(&mut own_gids[s]);
        let n = own.len();
        let from: Vec<usize> = (0..maps.len()).filter(|&k| maps[k].from == s).collect();
        let is_bnd: Vec<bool> = (0..n)
            .map(|i| {
                from.iter().any(|&k| {
                    let a = maps[k].arity;
                    own_rows[k][i * a..(i + 1) * a]
                        .iter()
                        .any(|&v| remote[maps[k].to].contains_key(&(v as u32)))
                })
            })
            .collect();
        let mut ord = Vec::with_capacity(n);
        for pass in [false, true] {
            ord.extend((0..n).filter(|&i| is_bnd[i] == pass).map(|i| own[i]));
            if !pass {
                core[s] = ord.len();
            }
        }
        order.push(ord);
    }
    (core, order)
}

/// The local Sets: owned elements in `order`, then the halo in (owner, gid) order; each
/// owner is asked for its send lists.
fn local_sets(
    sh: &Shape,
    block: &MeshBlock,
    core: &[usize],
    mut order: Vec<Vec<u32>>,
    halos: &[Vec<(i32, u32)>],
) -> Result<Vec<Set>> {
    let (comm, p, me) = (sh.comm, sh.p, sh.me);
    let sizes = &sh.sizes;
    let mut sets = Vec::with_capacity(sizes.len());
    for s in 0..sizes.len() {
        let n_owned = order[s].len();
        let h = &halos[s];
        let (ask, ask_counts) = by_rank(
            p,
            h.len(),
            1,
            |i| h[i].0 as usize,
            |i, r: &mut [u32]| r[0] = h[i].1,
        );
        let (asked, asked_counts) = comm.alltoallv(ask, &ask_counts)?;
        let mut neighbours = Vec::new();
        let mut bad = Ok(());
        let (mut at, mut at_asked) = (0usize, 0usize);
        for q in 0..p {
            let recv: Vec<u32> = (at..at + ask_counts[q])
                .map(|i| (n_owned + i) as u32)
                .collect();
            at += ask_counts[q];
            let mut send = Vec::with_capacity(asked_counts[q]);
            for &g in &asked[at_asked..at_asked + asked_counts[q]] {
                match two_run_index(&order[s], core[s], &g) {
                    Some(l) => send.push(l as u32),
                    None if bad.is_ok() => {
                        bad = Err(Error::Mpi(format!(
                            "distribute_blocks: rank {q} asked rank {me} for element {g} of `{}`, \
                             which it does not own",
                            block.sets[s].name
                        )))
                    }
                    None => {}
                }
            }
            at_asked += asked_counts[q];
            if q != me && !(send.is_empty() && recv.is_empty()) {
                neighbours.push(Neighbour {
                    rank: q as i32,
                    send,
                    recv,
                });
            }
        }
        // Only the asked rank sees a request it cannot answer: agree before the next set's
        // exchange.
        agree(comm, Share::Status, bad)?;
        let gids: Vec<u64> = std::mem::take(&mut order[s])
            .into_iter()
            .chain(halos[s].iter().map(|&(_, g)| g))
            .map(u64::from)
            .collect();
        let total = gids.len();
        sets.push(Set::from_parts(
            &block.sets[s].name,
            comm,
            core[s],
            n_owned,
            total,
            Some(Arc::new(Halo { neighbours })),
            Some(Arc::new(gids)),
            sizes[s],
        ));
    }
    Ok(sets)
}

/// Local maps, rows in local order; each map's global rows are dropped once renumbered. The
/// sets' global ids (core, then boundary, each sorted) now give every local index.
fn local_maps(
    sh: &Shape,
    block: &MeshBlock,
    sets: &[Set],
    halos: &[Vec<(i32, u32)>],
    own_rows: &mut [Vec<i32>],
) -> Result<Vec<Map>> {
    let (comm, maps) = (sh.comm, &sh.maps);
    let mut out_maps = Vec::with_capacity(maps.len());
    for (k, m) in maps.iter().enumerate() {
        let (s, t) = (m.from, m.to);
        let n_owned_t = sets[t].size();
        let halo_pos: HashMap<u32, u32> = halos[t]
            .iter()
            .enumerate()
            .map(|(i, &(_, g))| (g, (n_owned_t + i) as u32))
            .collect();
        let rows = std::mem::take(&mut own_rows[k]);
        let gids = sets[s].global_ids().unwrap_or(&[]);
        let (n, core) = (sets[s].size(), sets[s].core_size());
        let mut vals = vec![0i32; n * m.arity];
        // Rows arrived in global-id order: merging the core and boundary runs of the ids
        // gives each row's local index.
        let (mut ci, mut bi) = (0, core);
        for i in 0..n {
            let l = if bi >= n || (ci < core && gids[ci] < gids[bi]) {
                ci += 1;
                ci - 1
            } else {
                bi += 1;
                bi - 1
            };
            for j in 0..m.arity {
                let g = rows[i * m.arity + j] as u32;
                vals[l * m.arity + j] = match local_index(&sets[t], u64::from(g)) {
                    Some(pos) => pos as i32,
                    None => halo_pos.get(&g).map(|&x| x as i32).unwrap_or(-1),
                };
            }
        }
        drop(rows);
        out_maps.push(Map::named(
            &block.maps[k].name,
            &sets[s],
            &sets[t],
            m.arity,
            vals,
        ));
    }
    agree(
        comm,
        Share::Status,
        out_maps.into_iter().collect::<Result<Vec<_>>>(),
    )
}

/// One rank: the block is the whole mesh, numbered as given (no halo, no global ids).
fn serial(comm: Comm, mut block: MeshBlock, ends: &[(usize, usize)]) -> Result<DistributedMesh> {
    block.coords = None;
    block.owners = None;
    DistributedMesh::identity(comm, &block.sets, block.maps, ends)
}
