//! The distributed mesh on one rank ([`DistributedMesh`]: local Sets and Maps by name) and the
//! movement of Dat values between global numbering and distributed storage: from every rank's
//! block ([`DistributedMesh::dat_from_block`]; rank 0's whole array is first cut into blocks,
//! [`DistributedMesh::scatter_dat`]), and back to one rank ([`Dat::gather`]).

use crate::data::dat::Dat;
use crate::data::dataset::DataSet;
use crate::data::map::Map;
use crate::data::set::Set;
use crate::dtype::Scalar;
use crate::error::{Error, Result};
use crate::mesh::global::{GMap, GSet};
use crate::mesh::wire::{block_parts, by_rank, bytes_to_vec, check_scatter_size, root_verdict};
use crate::mpi::agree::{agree, Share};
use crate::mpi::comm::{Comm, ReduceOp};

/// The local part of a distributed mesh on this rank: Sets and Maps by name.
///
/// ```
/// let mesh = op2::GlobalMesh::new().add_set("nodes", 3).add_set("edges", 2)
///     .add_map("edge_nodes", "edges", "nodes", 2, vec![0, 1, 1, 2]);
/// let m = op2::distribute(op2::Comm::serial(), Some(mesh)).unwrap();
/// assert_eq!(m.set("nodes").unwrap().size(), 3);
/// assert_eq!(m.map("edge_nodes").unwrap().values(), &[0, 1, 1, 2]); // serial: identity
/// assert!(m.set("cells").is_err());
/// ```
pub struct DistributedMesh {
    pub(crate) comm: Comm,
    pub(crate) sets: Vec<Set>,
    pub(crate) maps: Vec<Map>,
    /// More than one rank: per set, where this rank's block went.
    pub(crate) blocks: Option<Vec<BlockInfo>>,
}

/// Where the elements of this rank's block of a set live after distribution.
pub(crate) struct BlockInfo {
    /// Owner of each element of this rank's block.
    pub(crate) owners: Vec<i32>,
}

/// Local index of owned element `gid` of a set distributed from blocks: its owned elements are
/// laid out as core then boundary, each part in global-id order, so two binary searches of
/// the set's global ids find it (no per-element table kept for it).
pub(crate) fn local_index(set: &Set, gid: u64) -> Option<usize> {
    let gids = set.global_ids()?;
    two_run_index(gids.get(..set.size())?, set.core_size(), &gid)
}

/// Position of `g` in `ids`, which is sorted in two runs, `..core` and `core..`.
pub(crate) fn two_run_index<T: Ord>(ids: &[T], core: usize, g: &T) -> Option<usize> {
    let (c, b) = (ids.get(..core)?, ids.get(core..)?);
    c.binary_search(g)
        .ok()
        .or_else(|| b.binary_search(g).ok().map(|i| core + i))
}

impl std::fmt::Debug for DistributedMesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistributedMesh")
            .field("rank", &self.comm.rank())
            .field("sets", &self.sets)
            .field("maps", &self.maps)
            .finish()
    }
}

impl DistributedMesh {
    /// The communicator the mesh is distributed over.
    ///
    /// ```
    /// let m = op2::distribute(op2::Comm::serial(), Some(op2::GlobalMesh::new())).unwrap();
    /// assert_eq!(m.comm().size(), 1);
    /// ```
    pub fn comm(&self) -> Comm {
        self.comm
    }

    /// The local part of the set called `name`.
    ///
    /// ```
    /// let mesh = op2::GlobalMesh::new().add_set("cells", 5);
    /// let m = op2::distribute(op2::Comm::serial(), Some(mesh)).unwrap();
    /// assert_eq!(m.set("cells").unwrap().global_size(), 5);
    /// ```
    pub fn set(&self, name: &str) -> Result<&Set> {
        self.sets.iter().find(|s| s.name() == name).ok_or_else(|| {
            Error::invalid(
                format!("DistributedMesh::set({name})"),
                format!(
                    "no such set; the mesh has {:?}",
                    self.sets.iter().map(|s| s.name()).collect::<Vec<_>>()
                ),
            )
        })
    }

    /// The local part of the map called `name`.
    ///
    /// ```
    /// let mesh = op2::GlobalMesh::new().add_set("a", 1).add_map("self", "a", "a", 1, vec![0]);
    /// let m = op2::distribute(op2::Comm::serial(), Some(mesh)).unwrap();
    /// assert_eq!(m.map("self").unwrap().arity(), 1);
    /// assert!(m.map("other").is_err());
    /// ```
    pub fn map(&self, name: &str) -> Result<&Map> {
        self.maps.iter().find(|m| m.name() == name).ok_or_else(|| {
            Error::invalid(
                format!("DistributedMesh::map({name})"),
                format!(
                    "no such map; the mesh has {:?}",
                    self.maps.iter().map(|m| m.name()).collect::<Vec<_>>()
                ),
            )
        })
    }

    /// All sets, in the order they were added.
    ///
    /// ```
    /// let mesh = op2::GlobalMesh::new().add_set("a", 1).add_set("b", 2);
    /// let m = op2::distribute(op2::Comm::serial(), Some(mesh)).unwrap();
    /// assert_eq!(m.sets().iter().map(|s| s.name()).collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn sets(&self) -> &[Set] {
        &self.sets
    }

    /// All maps, in the order they were added.
    ///
    /// ```
    /// let m = op2::distribute(op2::Comm::serial(), Some(op2::GlobalMesh::new())).unwrap();
    /// assert!(m.maps().is_empty());
    /// ```
    pub fn maps(&self) -> &[Map] {
        &self.maps
    }

    /// A Dat called `name` on set `set` with `dim` values per element, from `values_on_root`
    /// (global numbering, `global_size * dim` values, read on rank 0 only; other ranks pass
    /// `None`). Every rank gets its owned values, and the halo copies are filled (the Dat's
    /// halo is valid). Collective; errors are decided on rank 0 and returned by every rank.
    ///
    /// ```
    /// let mesh = op2::GlobalMesh::new().add_set("nodes", 3);
    /// let m = op2::distribute(op2::Comm::serial(), Some(mesh)).unwrap();
    /// let x = m.scatter_dat("x", "nodes", 2, Some(vec![0.0f64, 1.0, 2.0, 3.0, 4.0, 5.0])).unwrap();
    /// assert_eq!(x.gather::<f64>(0).unwrap().unwrap(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    /// assert!(m.scatter_dat("y", "nodes", 2, Some(vec![0.0f64; 5])).is_err()); // wrong length
    /// ```
    pub fn scatter_dat<T: Scalar>(
        &self,
        name: &str,
        set: &str,
        dim: usize,
        values_on_root: Option<Vec<T>>,
    ) -> Result<Dat> {
        let what = format!("DistributedMesh::scatter_dat({name} on {set})");
        // Local checks give the same answer on every rank (same sets, same arguments).
        let s = self.set(set)?.clone();
        let ds = DataSet::new(&s, dim)?;
        let want = s.global_size() * dim;
        let check_root = |v: Option<Vec<T>>| -> Result<Vec<T>> {
            let v = v.ok_or_else(|| Error::invalid(&what, "rank 0 passed no values"))?;
            if v.len() != want {
                return Err(Error::invalid(
                    &what,
                    format!(
                        "{} values given, expected {want} ({} elements x dim {dim})",
                        v.len(),
                        s.global_size()
                    ),
                ));
            }
            Ok(v)
        };
        let comm = self.comm;
        if comm.size() == 1 {
            return Dat::named(name, &ds, check_root(values_on_root)?);
        }
        let p = comm.size() as usize;
        let parts = comm.is_root().then(|| {
            let v = check_root(values_on_root)?;
            check_scatter_size(&what, v.len() * std::mem::size_of::<T>())?;
            Ok(block_parts(&v, s.global_size(), dim, p))
        });
        let parts = root_verdict(comm, parts)?;
        let block = bytes_to_vec::<T>(&comm.scatter_bytes(0, parts)?);
        self.dat_from_block(name, set, dim, block)
    }
}

impl DistributedMesh {
    /// One rank: sets and maps as given, in their own numbering (no halo, no global ids).
    pub(crate) fn identity(
        comm: Comm,
        sets: &[GSet],
        maps: Vec<GMap>,
        ends: &[(usize, usize)],
    ) -> Result<DistributedMesh> {
        let sets: Vec<Set> = sets
            .iter()
            .map(|s| Set::from_parts(&s.name, comm, s.size, s.size, s.size, None, None, s.size))
            .collect();
        let maps = maps
            .into_iter()
            .zip(ends)
            .map(|(m, &(f, t))| Map::named(&m.name, &sets[f], &sets[t], m.arity, m.values))
            .collect::<Result<Vec<_>>>()?;
        Ok(DistributedMesh {
            comm,
            sets,
            maps,
            blocks: None,
        })
    }

    /// A Dat called `name` on set `set` with `dim` values per element, from this rank's block
    /// of values (the elements [`crate::mesh::block_range`] gives this rank, in global order,
    /// `dim` each), on a mesh from [`crate::distribute()`] or [`crate::mesh::distribute_blocks`].
    /// The values migrate to their owners and the halo copies are filled. Collective; a wrong
    /// length on any rank is returned by every rank.
    ///
    /// ```
    /// let b = op2::mesh::MeshBlock::new().add_set("cells", 3);
    /// let m = op2::mesh::distribute_blocks(op2::Comm::serial(), b).unwrap();
    /// let d = m.dat_from_block("q", "cells", 1, vec![1i32, 2, 3]).unwrap();
    /// assert_eq!(d.to_vec::<i32>().unwrap(), [1, 2, 3]);
    /// assert!(m.dat_from_block("q", "cells", 2, vec![1i32, 2, 3]).is_err());
    /// ```
    pub fn dat_from_block<T: Scalar>(
        &self,
        name: &str,
        set: &str,
        dim: usize,
        block_values: Vec<T>,
    ) -> Result<Dat> {
        let what = format!("DistributedMesh::dat_from_block({name} on {set})");
        let s = self.set(set)?.clone();
        let si = self.sets.iter().position(|x| x.ptr_eq(&s)).unwrap_or(0);
        let ds = DataSet::new(&s, dim)?;
        let comm = self.comm;
        let (p, me) = (comm.size() as usize, comm.rank() as usize);
        let n = s.global_size();
        let want = crate::mesh::block::block_range(n, p, me).len() * dim;
        let len_ok = if block_values.len() == want {
            Ok(())
        } else {
            Err(Error::invalid(
                &what,
                format!(
                    "{} values in rank {me}'s block, expected {want} (x dim {dim})",
                    block_values.len()
                ),
            ))
        };
        agree(comm, Share::Status, len_ok)?;
        if p == 1 {
            return Dat::named(name, &ds, block_values);
        }
        let info = self
            .blocks
            .as_ref()
            .and_then(|b| b.get(si))
            .ok_or_else(|| {
                Error::invalid(
                    &what,
                    "the mesh's sets were not distributed by this runtime",
                )
            })?;
        // Global ids and values to the owners, each in one flat buffer.
        let start = crate::mesh::block::block_range(n, p, me).start as u32;
        let own = &info.owners;
        let dest = |i: usize| own[i] as usize;
        let (out, counts) = by_rank(p, own.len(), 1, dest, |i, r: &mut [u32]| {
            r[0] = start + i as u32
        });
        let (gids, _) = comm.alltoallv(out, &counts)?;
        let (out, counts) = by_rank(p, own.len(), dim, dest, |i, r: &mut [T]| {
            r.copy_from_slice(&block_values[i * dim..(i + 1) * dim])
        });
        drop(block_values);
        let (vals, _) = comm.alltoallv(out, &counts)?;
        let mut local = vec![T::zero(); s.total_size() * dim];
        let mut placed = 0usize;
        let mut bad = (vals.len() != gids.len() * dim)
            .then(|| format!("{} ids but {} values arrived", gids.len(), vals.len()));
        if bad.is_none() {
            for (j, gid) in gids.iter().enumerate() {
                match local_index(&s, u64::from(*gid)) {
                    Some(l) => {
                        local[l * dim..(l + 1) * dim]
                            .copy_from_slice(&vals[j * dim..(j + 1) * dim]);
                        placed += 1;
                    }
                    None => {
                        bad = Some(format!("element {gid} arrived, not owned here"));
                        break;
                    }
                }
            }
        }
        drop((gids, vals));
        let dat = match bad {
            None if placed == s.size() => Dat::named(name, &ds, local),
            None => Err(Error::Mpi(format!(
                "{what}: {placed} of {} owned values arrived",
                s.size()
            ))),
            Some(d) => Err(Error::Mpi(format!("{what}: {d}"))),
        };
        let dat = agree(comm, Share::Status, dat)?;
        crate::data::dat::update_halo(&dat)?;
        Ok(dat)
    }

    /// Partition quality, for reports: per set (in order) the halo sizes summed over ranks
    /// and their maximum. Collective.
    ///
    /// ```
    /// let m = op2::distribute(op2::Comm::serial(), Some(op2::GlobalMesh::new().add_set("a", 2)))
    ///     .unwrap();
    /// assert_eq!(m.halo_sizes().unwrap(), vec![("a".to_string(), 0, 0)]);
    /// ```
    pub fn halo_sizes(&self) -> Result<Vec<(String, u64, u64)>> {
        let mut out = Vec::new();
        for s in &self.sets {
            let h = (s.total_size() - s.size()) as u64;
            out.push((
                s.name().to_string(),
                self.comm.allreduce_u64(h, ReduceOp::Sum)?,
                self.comm.allreduce_u64(h, ReduceOp::Max)?,
            ));
        }
        Ok(out)
    }

    /// Edge cut through map `map`: the number of its source elements (over all ranks) whose
    /// targets are not all owned by one rank. For a map from faces to the two cells beside them
    /// (Airfoil's `pecell`) this is the edge cut of the cells' dual graph. Collective.
    ///
    /// ```
    /// let mesh = op2::GlobalMesh::new().add_set("c", 2).add_set("f", 1)
    ///     .add_map("f2c", "f", "c", 2, vec![0, 1]);
    /// let m = op2::distribute(op2::Comm::serial(), Some(mesh)).unwrap();
    /// assert_eq!(m.cut("f2c").unwrap(), 0);
    /// ```
    pub fn cut(&self, map: &str) -> Result<u64> {
        let m = self.map(map)?;
        let to = m.to_set();
        // Owner of every local element of the target set: me, or a halo neighbour.
        let mut owner = vec![self.comm.rank(); to.total_size()];
        if let Some(h) = to.halo() {
            for n in &h.neighbours {
                for &i in &n.recv {
                    owner[i as usize] = n.rank;
                }
            }
        }
        let a = m.arity();
        let cut = m.values()[..m.from_set().size() * a]
            .chunks(a)
            .filter(|row| {
                let o = owner[row[0] as usize];
                row.iter().any(|&t| owner[t as usize] != o)
            })
            .count();
        self.comm.allreduce_u64(cut as u64, ReduceOp::Sum)
    }
}

impl Dat {
    /// The owned values of every rank, in global numbering, on rank `root` (`None` elsewhere).
    /// For a distributed set value `i` is global element `i`'s; a set that was never
    /// distributed gathers the ranks' owned values concatenated in rank order. Collective.
    ///
    /// ```
    /// let s = op2::Set::new(2).unwrap();
    /// let d = op2::Dat::new(&op2::DataSet::new(&s, 1).unwrap(), vec![4i32, 5]).unwrap();
    /// assert_eq!(d.gather::<i32>(0).unwrap(), Some(vec![4, 5]));
    /// assert!(d.gather::<f64>(0).is_err()); // wrong dtype
    /// assert!(d.gather::<i32>(1).is_err()); // no rank 1
    /// ```
    pub fn gather<T: Scalar>(&self, root: i32) -> Result<Option<Vec<T>>> {
        let what = format!("Dat::gather({})", self.name());
        let set = self.set().clone();
        let comm = set.comm();
        if T::DTYPE != self.dtype() {
            return Err(Error::invalid(
                &what,
                format!("the Dat holds {}, not {}", self.dtype(), T::DTYPE),
            ));
        }
        if root < 0 || root >= comm.size() {
            return Err(Error::invalid(
                &what,
                format!(
                    "root {root} is not a rank of a {}-rank communicator",
                    comm.size()
                ),
            ));
        }
        let dim = self.dim();
        let eb = dim * std::mem::size_of::<T>();
        let gids = set.global_ids();
        let mut payload: Vec<u8> = bytemuck::cast_slice(&self.to_vec::<T>()?).to_vec();
        if let Some(g) = gids {
            payload.extend_from_slice(bytemuck::cast_slice(&g[..set.size()]));
        }
        let total = comm.allreduce_u64(payload.len() as u64, ReduceOp::Sum)?;
        if total > i32::MAX as u64 {
            return Err(Error::invalid(
                &what,
                format!(
                    "{total} bytes exceed what one gather can move ({})",
                    i32::MAX
                ),
            ));
        }
        let Some(all) = comm.gather_bytes(root, &payload)? else {
            return Ok(None);
        };
        let Some(_) = gids else {
            let mut out = Vec::with_capacity(total as usize / std::mem::size_of::<T>());
            for b in &all {
                out.extend(bytes_to_vec::<T>(b));
            }
            return Ok(Some(out));
        };
        let n = set.global_size();
        let mut out = vec![T::zero(); n * dim];
        let mut seen = vec![false; n];
        let corrupt = |r: usize, d: String| Error::Mpi(format!("{what}: from rank {r}: {d}"));
        for (r, b) in all.iter().enumerate() {
            if b.len() % (eb + 8) != 0 {
                return Err(corrupt(r, format!("{} bytes", b.len())));
            }
            let k = b.len() / (eb + 8);
            let (vals, ids) = b.split_at(k * eb);
            let vals = bytes_to_vec::<T>(vals);
            for (j, id) in ids.chunks_exact(8).enumerate() {
                let g = bytemuck::pod_read_unaligned::<u64>(id) as usize;
                if g >= n || seen[g] {
                    return Err(corrupt(
                        r,
                        format!("global id {g} out of range or repeated"),
                    ));
                }
                seen[g] = true;
                out[g * dim..(g + 1) * dim].copy_from_slice(&vals[j * dim..(j + 1) * dim]);
            }
        }
        if let Some(g) = seen.iter().position(|&s| !s) {
            return Err(corrupt(0, format!("no rank owns global element {g}")));
        }
        Ok(Some(out))
    }

    /// The owned and halo values (`set.total_size() * dim`): halo copies as last refreshed
    /// (see [`crate::update_halo`]) or accumulated. For inspection and tests.
    ///
    /// ```
    /// let s = op2::Set::new(2).unwrap();
    /// let d = op2::Dat::new(&op2::DataSet::new(&s, 1).unwrap(), vec![1.0f32, 2.0]).unwrap();
    /// assert_eq!(d.to_vec_with_halo::<f32>().unwrap(), vec![1.0, 2.0]);
    /// ```
    pub fn to_vec_with_halo<T: Scalar>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype() {
            return Err(Error::invalid(
                format!("Dat::to_vec_with_halo({})", self.name()),
                format!("the Dat holds {}, not {}", self.dtype(), T::DTYPE),
            ));
        }
        let n = self.set().total_size() * self.dim();
        Ok(crate::dtype::view::<T>(&self.read(), n).to_vec())
    }
}
