//! Distributed Sparsities and Mats: what makes a matrix assembled by owner-compute loops on a
//! distributed mesh equal the serial matrix.
//!
//! Owns, for a Sparsity whose row or column set was distributed over more than one rank
//! ([`crate::distribute()`]):
//! * the **pattern merge**, once, when the Sparsity is built: every rank sends the column
//!   pattern of its *halo rows* (rows owned elsewhere that its owned iteration elements
//!   contribute to) to their owners, naming each column by global id and owner rank, and every
//!   owner merges them into its owned rows, so an owned row holds every non-zero of the global
//!   row;
//! * the **local column numbering** of such a Sparsity: `[0, col total)` are the column set's
//!   local elements (owned, then halo), followed by *extra columns*: columns that only arrived
//!   with merged rows (elements this rank neither owns nor holds a halo copy of), in increasing
//!   (owner rank, global id). Every local column has a global id ([`SparsityPlan::col_gids`]): the
//!   CSR stays `u32`-local (position tables and mult index arrays directly) while PETSc-style
//!   global columns are one lookup away;
//! * the plans built with the merge and the exchanges that use them: halo-row values sent to
//!   and added into (INC) or stored over (WRITE) their owners' rows after a par_loop
//!   ([`SparsityPlan::reverse_add`], [`SparsityPlan::reverse_write`]), and the vector values of extra
//!   columns imported by `Mat::mult` ([`SparsityPlan::import`]).
//!
//! Rules: messages go through [`Comm::exchange`] with the tags of [`crate::mpi::halo`]; the build is
//! collective over the row set's communicator and runs inside the object cache's miss path,
//! which every rank takes together (SPMD). Every point-to-point step of the build comes after
//! an agreement (an allreduce of "ok", [`crate::mpi::agree::agree`]), so an error on one rank
//! makes every rank return an error instead of leaving a neighbour waiting.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use crate::data::set::Set;
use crate::error::{Error, Result};
use crate::mpi::agree::{agree, Share};
use crate::mpi::comm::Comm;
use crate::mpi::exchange::Exchange;
use crate::mpi::halo::{TAG_MAT_EXPORT_ADD, TAG_MAT_IMPORT, TAG_MAT_REVERSE, TAG_SPARSITY_BUILD};

/// The communication plan of a distributed Sparsity (see the module documentation).
pub(crate) struct SparsityPlan {
    comm: Comm,
    /// Global id of every local row (owned, then halo).
    pub(crate) row_gids: Vec<u64>,
    /// Global id of every local column (the column set's elements, then extra columns).
    pub(crate) col_gids: Vec<u64>,
    /// Per row-set neighbour: the halo rows it owns, in its order (the halo `recv` list).
    rows_out: Vec<(i32, Vec<u32>)>,
    /// Per row-set neighbour: for every block it sends, the index of the block it lands in.
    rows_in: Vec<(i32, Vec<u32>)>,
    /// Extra columns imported for mult: (owner rank, local columns), increasing owner.
    import: Vec<(i32, Range<usize>)>,
    /// Owned columns whose vector values go to other ranks in mult: (rank, local columns).
    export: Vec<(i32, Vec<u32>)>,
}

/// Owned rows' columns received from other ranks (resolved to local columns), CSR by row.
pub(crate) struct RowLists {
    start: Vec<usize>,
    cols: Vec<u32>,
}

impl RowLists {
    /// The received columns of owned row `i` (unsorted, possibly repeated).
    pub(crate) fn row(&self, i: usize) -> &[u32] {
        &self.cols[self.start[i]..self.start[i + 1]]
    }
}

/// A pattern merge in progress: everything but the positions of received blocks, which need
/// the final CSR.
pub(crate) struct Merge {
    comm: Comm,
    row_gids: Vec<u64>,
    col_gids: Vec<u64>,
    rows_out: Vec<(i32, Vec<u32>)>,
    /// Per row-set neighbour: (owned row, local column) of every received block, in order.
    blocks_in: Vec<(i32, Vec<(u32, u32)>)>,
    /// Received columns of owned rows.
    pub(crate) extra_rows: RowLists,
    import: Vec<(i32, Range<usize>)>,
    /// Decided after the import requests arrived; reported in the final agreement.
    export: Result<Vec<(i32, Vec<u32>)>>,
}

impl Merge {
    /// Number of local columns (column set elements plus extra columns).
    pub(crate) fn ncols(&self) -> usize {
        self.col_gids.len()
    }
}

/// Whether a Sparsity from `rows` to `cols` needs a plan: its sets were distributed over more
/// than one rank. Decided from the sets alone, so every rank agrees.
pub(crate) fn needed(what: &str, rows: &Set, cols: &Set) -> Result<bool> {
    if rows.comm() != cols.comm() {
        return Err(Error::invalid(
            what,
            format!(
                "row set {} and column set {} live on different communicators",
                rows.name(),
                cols.name()
            ),
        ));
    }
    for s in [rows, cols] {
        if s.halo().is_none() && s.total_size() != s.size() {
            return Err(Error::invalid(
                what,
                format!(
                    "set {} has {} halo elements but no halo exchange plan (sets with halo \
                     elements come from op2::distribute)",
                    s.name(),
                    s.total_size() - s.size()
                ),
            ));
        }
    }
    Ok(rows.comm().size() > 1 && (rows.halo().is_some() || cols.halo().is_some()))
}

/// Global ids of a set's local elements: its distribution's, or, for a set built on each rank
/// with `Set::new`, this rank's elements numbered after those of lower ranks (as
/// `Dat::gather` concatenates them). Collective when the set has no global ids.
pub(crate) fn global_ids(set: &Set) -> Result<Vec<u64>> {
    if let Some(g) = set.global_ids() {
        return Ok(g.to_vec());
    }
    let comm = set.comm();
    let sizes = comm.allgather_bytes(&(set.size() as u64).to_ne_bytes())?;
    let mut offset = 0u64;
    for b in &sizes[..comm.rank() as usize] {
        offset += read_u64(b, 0).ok_or_else(|| Error::Mpi("set size message".into()))?;
    }
    Ok((0..set.total_size() as u64).map(|i| offset + i).collect())
}

/// Local index of an owned element by global id. Owned elements are in increasing global id
/// within core and within the boundary (see `distribute`); if they ever are not, a sorted
/// copy is used.
struct OwnedIndex<'a> {
    gids: &'a [u64],
    runs: [Range<usize>; 2],
    sorted: Option<Vec<(u64, u32)>>,
}

impl<'a> OwnedIndex<'a> {
    fn new(gids: &'a [u64], core: usize, owned: usize) -> Self {
        let runs = [0..core, core..owned];
        let ok = runs
            .iter()
            .all(|r| gids[r.clone()].windows(2).all(|w| w[0] < w[1]));
        let sorted = (!ok).then(|| {
            let mut v: Vec<(u64, u32)> = gids[..owned]
                .iter()
                .enumerate()
                .map(|(i, &g)| (g, i as u32))
                .collect();
            v.sort_unstable();
            v
        });
        OwnedIndex { gids, runs, sorted }
    }

    fn find(&self, g: u64) -> Option<u32> {
        if let Some(v) = &self.sorted {
            return v.binary_search_by_key(&g, |&(x, _)| x).ok().map(|k| v[k].1);
        }
        self.runs.iter().find_map(|r| {
            self.gids[r.clone()]
                .binary_search(&g)
                .ok()
                .map(|k| (r.start + k) as u32)
        })
    }
}

/// Build this rank's part of the merge. Collective over the row set's communicator; call
/// only when [`needed`] says so. `row_cols(i, buf)` replaces `buf` with the sorted, unique
/// local columns that this rank's own elements put in local row `i`.
pub(crate) fn merge(
    what: &str,
    rows: &Set,
    cols: &Set,
    row_cols: &(dyn Fn(usize, &mut Vec<u32>) + Sync),
) -> Result<Merge> {
    let comm = rows.comm();
    let me = comm.rank();
    let (col_owned, col_total) = (cols.size(), cols.total_size());
    let row_gids = global_ids(rows)?;
    let col_gids = global_ids(cols)?;

    let (halo_owner, halo_index) = halo_columns(cols, &col_gids, me);

    // 1. The pattern of every halo row, for its owner: per row (in the owner's order) a u32
    //    count, then (global id u64, owner i32) per column.
    let row_nbrs: Vec<(i32, &[u32], &[u32])> = rows
        .halo()
        .map(|h| {
            h.neighbours
                .iter()
                .map(|n| (n.rank, &n.send[..], &n.recv[..]))
                .collect()
        })
        .unwrap_or_default();
    let sends = halo_row_patterns(&row_nbrs, row_cols, col_owned, &col_gids, &halo_owner, me);
    let rows_out: Vec<(i32, Vec<u32>)> = row_nbrs
        .iter()
        .map(|&(q, _, recv)| (q, recv.to_vec()))
        .collect();

    // 2. Sizes, then patterns.
    let from: Vec<i32> = row_nbrs.iter().map(|&(q, _, _)| q).collect();
    let patterns = Exchange::sized(comm, TAG_SPARSITY_BUILD, sends, &from)?;

    // 3. Resolve received columns to local ones; unknown ones become extra columns.
    let owned_index = OwnedIndex::new(&col_gids, cols.core_size(), col_owned);
    let decoded = decode_patterns(
        what,
        me,
        comm.size(),
        &row_nbrs,
        &patterns,
        &owned_index,
        &halo_index,
    );
    drop(patterns);
    let (keyed, mut extras) = agree(comm, Share::Status, decoded)?;
    extras.sort_unstable();
    extras.dedup();
    let resolve = |k: &Key| -> u32 {
        match *k {
            Key::Local(c) => c,
            Key::Extra(o, g) => {
                (col_total + extras.binary_search(&(o, g)).expect("collected above")) as u32
            }
        }
    };
    let blocks_in: Vec<(i32, Vec<(u32, u32)>)> = keyed
        .iter()
        .map(|(q, blocks)| (*q, blocks.iter().map(|(i, k)| (*i, resolve(k))).collect()))
        .collect();
    let extra_rows = row_lists(&blocks_in, rows.size());

    // 4. Extra columns: ask their owners for them (mult imports their vector values).
    let (import, export) = import_extras(what, comm, cols, &extras, col_total, &owned_index)?;
    let mut col_gids = col_gids;
    col_gids.extend(extras.iter().map(|&(_, g)| g));
    Ok(Merge {
        comm,
        row_gids,
        col_gids,
        rows_out,
        blocks_in,
        extra_rows,
        import,
        export,
    })
}

/// Owner rank of every halo column (indexed from the first halo column), and the local index
/// of every halo column by global id.
fn halo_columns(cols: &Set, col_gids: &[u64], me: i32) -> (Vec<i32>, HashMap<u64, u32>) {
    let (col_owned, col_total) = (cols.size(), cols.total_size());
    let mut halo_owner = vec![me; col_total - col_owned];
    let mut halo_index: HashMap<u64, u32> = HashMap::with_capacity(col_total - col_owned);
    if let Some(h) = cols.halo() {
        for n in &h.neighbours {
            for &i in &n.recv {
                halo_owner[i as usize - col_owned] = n.rank;
                halo_index.insert(col_gids[i as usize], i);
            }
        }
    }
    (halo_owner, halo_index)
}

/// Per row neighbour, the pattern of the halo rows it owns: per row (in the owner's order) a
/// u32 count, then (global id u64, owner i32) per column.
fn halo_row_patterns(
    row_nbrs: &[(i32, &[u32], &[u32])],
    row_cols: &(dyn Fn(usize, &mut Vec<u32>) + Sync),
    col_owned: usize,
    col_gids: &[u64],
    halo_owner: &[i32],
    me: i32,
) -> Vec<(i32, Vec<u8>)> {
    let mut sends: Vec<(i32, Vec<u8>)> = Vec::with_capacity(row_nbrs.len());
    let mut buf = Vec::new();
    for &(q, _, recv) in row_nbrs {
        let mut w = Vec::new();
        for &i in recv {
            row_cols(i as usize, &mut buf);
            w.extend_from_slice(&(buf.len() as u32).to_ne_bytes());
            for &c in &buf {
                let c = c as usize;
                let owner = if c < col_owned {
                    me
                } else {
                    halo_owner[c - col_owned]
                };
                w.extend_from_slice(&col_gids[c].to_ne_bytes());
                w.extend_from_slice(&owner.to_ne_bytes());
            }
        }
        sends.push((q, w));
    }
    sends
}

/// The blocks received for owned rows as row lists (CSR over `nrows` owned rows).
fn row_lists(blocks_in: &[(i32, Vec<(u32, u32)>)], nrows: usize) -> RowLists {
    let mut start = vec![0usize; nrows + 1];
    for (_, blocks) in blocks_in {
        for &(i, _) in blocks {
            start[i as usize + 1] += 1;
        }
    }
    for i in 0..nrows {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut rcols = vec![0u32; start[nrows]];
    for (_, blocks) in blocks_in {
        for &(i, c) in blocks {
            rcols[fill[i as usize]] = c;
            fill[i as usize] += 1;
        }
    }
    RowLists { start, cols: rcols }
}

/// Extra columns (numbered from `col_total`, sorted by owner): the ranges imported from each
/// owner, and, per rank that asks this one, the owned columns it imports (an error names a
/// column this rank does not own). Collective.
fn import_extras(
    what: &str,
    comm: Comm,
    cols: &Set,
    extras: &[(i32, u64)],
    col_total: usize,
    owned_index: &OwnedIndex,
) -> Result<(Vec<(i32, Range<usize>)>, Result<Vec<(i32, Vec<u32>)>>)> {
    let me = comm.rank();
    let mut import: Vec<(i32, Range<usize>)> = Vec::new();
    for (k, &(o, _)) in extras.iter().enumerate() {
        match import.last_mut() {
            Some((q, r)) if *q == o => r.end = col_total + k + 1,
            _ => import.push((o, col_total + k..col_total + k + 1)),
        }
    }
    let p = comm.size() as usize;
    let mut counts = vec![0u64; p];
    for (q, r) in &import {
        counts[*q as usize] = r.len() as u64;
    }
    let all = comm.allgather_bytes(bytemuck::cast_slice(&counts))?;
    let asked: Vec<(i32, usize)> = all
        .iter()
        .enumerate()
        .filter_map(|(r, b)| {
            let n = read_u64(b, me as usize * 8).unwrap_or(0) as usize;
            (n > 0).then_some((r as i32, n * 8))
        })
        .collect();
    let requests: Vec<(i32, Vec<u8>)> = import
        .iter()
        .map(|(q, r)| {
            let gids: Vec<u64> = extras[r.start - col_total..r.end - col_total]
                .iter()
                .map(|&(_, g)| g)
                .collect();
            (*q, bytemuck::cast_slice(&gids).to_vec())
        })
        .collect();
    let (asks, ()) = comm.exchange(TAG_SPARSITY_BUILD, &requests, &asked, || ())?;
    let export = asked
        .iter()
        .zip(&asks)
        .map(|(&(r, _), b)| {
            let locals = (0..b.len() / 8)
                .map(|k| {
                    let g = read_u64(b, k * 8).unwrap_or(u64::MAX);
                    owned_index.find(g).ok_or_else(|| {
                        Error::invalid(
                            what,
                            format!(
                                "rank {r} asked for column {g} of set {}, which this rank does \
                                 not own",
                                cols.name()
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<u32>>>()?;
            Ok((r, locals))
        })
        .collect::<Result<Vec<_>>>();
    Ok((import, export))
}

/// A received column before extra columns are numbered.
enum Key {
    Local(u32),
    Extra(i32, u64),
}

type Decoded = (Vec<(i32, Vec<(u32, Key)>)>, Vec<(i32, u64)>);

fn decode_patterns(
    what: &str,
    me: i32,
    nranks: i32,
    row_nbrs: &[(i32, &[u32], &[u32])],
    patterns: &[Vec<u8>],
    owned: &OwnedIndex,
    halo: &HashMap<u64, u32>,
) -> Result<Decoded> {
    let mut extras = Vec::new();
    let mut out = Vec::with_capacity(row_nbrs.len());
    for (&(q, send, _), msg) in row_nbrs.iter().zip(patterns) {
        let bad = |d: String| Error::Mpi(format!("{what}: pattern from rank {q}: {d}"));
        let mut at = 0usize;
        let mut blocks = Vec::new();
        for &i in send {
            let n = read_u32(msg, at).ok_or_else(|| bad("truncated".into()))?;
            at += 4;
            for _ in 0..n {
                let (g, o) = match (read_u64(msg, at), read_u32(msg, at + 8)) {
                    (Some(g), Some(o)) => (g, o as i32),
                    _ => return Err(bad("truncated".into())),
                };
                at += 12;
                let key = if o == me {
                    Key::Local(owned.find(g).ok_or_else(|| {
                        bad(format!("column {g} is said to be owned here but is not"))
                    })?)
                } else if let Some(&c) = halo.get(&g) {
                    Key::Local(c)
                } else if (0..nranks).contains(&o) {
                    extras.push((o, g));
                    Key::Extra(o, g)
                } else {
                    return Err(bad(format!("owner rank {o} of column {g}")));
                };
                blocks.push((i, key));
            }
        }
        if at != msg.len() {
            return Err(bad(format!("{} trailing bytes", msg.len() - at)));
        }
        out.push((q, blocks));
    }
    Ok((out, extras))
}

impl Merge {
    /// Complete the plan from the final CSR (whose owned rows include the merged columns).
    /// `local` is this rank's verdict on its CSR (e.g. a size limit); collective: every rank
    /// returns an error if any rank failed anywhere in the build.
    pub(crate) fn finish(
        self,
        local: Result<()>,
        rowptr: &[usize],
        colidx: &[u32],
    ) -> Result<SparsityPlan> {
        let Merge {
            comm,
            row_gids,
            col_gids,
            rows_out,
            blocks_in,
            import,
            export,
            ..
        } = self;
        let done = local.and(export).and_then(|export| {
            let rows_in = blocks_in
                .into_iter()
                .map(|(q, blocks)| {
                    let pos = blocks
                        .into_iter()
                        .map(|(i, c)| {
                            let (lo, hi) = (rowptr[i as usize], rowptr[i as usize + 1]);
                            colidx[lo..hi]
                                .binary_search(&c)
                                .map(|k| (lo + k) as u32)
                                .map_err(|_| {
                                    Error::Mpi(format!(
                                        "merged row {i} lacks received column {c} (internal)"
                                    ))
                                })
                        })
                        .collect::<Result<Vec<u32>>>()?;
                    Ok((q, pos))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((rows_in, export))
        });
        let (rows_in, export) = agree(comm, Share::Status, done)?;
        Ok(SparsityPlan {
            comm,
            row_gids,
            col_gids,
            rows_out,
            rows_in,
            import,
            export,
        })
    }
}

impl SparsityPlan {
    /// Heap bytes held (for the cache report).
    pub(crate) fn bytes(&self) -> u64 {
        let lists = |v: &[(i32, Vec<u32>)]| v.iter().map(|(_, l)| l.len() * 4).sum::<usize>();
        ((self.row_gids.len() + self.col_gids.len()) * 8
            + lists(&self.rows_out)
            + lists(&self.rows_in)
            + lists(&self.export)) as u64
    }

    /// Number of extra columns (beyond the column set's local elements).
    pub(crate) fn extra_cols(&self) -> usize {
        self.import.iter().map(|(_, r)| r.len()).sum()
    }

    /// Send every halo row's values (`bs` per block) to its owner, which adds them into its
    /// rows. Collective over the neighbours.
    pub(crate) fn reverse_add(&self, rowptr: &[usize], bs: usize, vals: &mut [f64]) -> Result<()> {
        let sends: Vec<(i32, Vec<u8>)> = self
            .rows_out
            .iter()
            .map(|(q, rows)| {
                let mut b = Vec::new();
                for &i in rows {
                    let r = rowptr[i as usize] * bs..rowptr[i as usize + 1] * bs;
                    b.extend_from_slice(bytemuck::cast_slice(&vals[r]));
                }
                (*q, b)
            })
            .collect();
        let lens: Vec<(i32, usize)> = self
            .rows_in
            .iter()
            .map(|(q, pos)| (*q, pos.len() * bs * 8))
            .collect();
        let (recvs, ()) = self.comm.exchange(TAG_MAT_REVERSE, &sends, &lens, || ())?;
        for ((_, pos), buf) in self.rows_in.iter().zip(&recvs) {
            let v = f64s(buf);
            for (&p, blk) in pos.iter().zip(v.chunks_exact(bs)) {
                for (d, x) in vals[p as usize * bs..][..bs].iter_mut().zip(blk) {
                    *d += x;
                }
            }
        }
        Ok(())
    }

    /// Send the halo-row blocks marked in `touched` (indexed by block from the first halo
    /// row's) to their owners, which store them over their own. Collective over the neighbours.
    pub(crate) fn reverse_write(
        &self,
        rowptr: &[usize],
        owned_rows: usize,
        bs: usize,
        vals: &mut [f64],
        touched: &[bool],
    ) -> Result<()> {
        let first = rowptr[owned_rows];
        let sends: Vec<(i32, Vec<u8>)> = self
            .rows_out
            .iter()
            .map(|(q, rows)| {
                let mut b = Vec::new();
                let mut k = 0u32;
                for &i in rows {
                    for blk in rowptr[i as usize]..rowptr[i as usize + 1] {
                        if touched[blk - first] {
                            b.extend_from_slice(&k.to_ne_bytes());
                            b.extend_from_slice(bytemuck::cast_slice(&vals[blk * bs..][..bs]));
                        }
                        k += 1;
                    }
                }
                (*q, b)
            })
            .collect();
        let from: Vec<i32> = self.rows_in.iter().map(|(q, _)| *q).collect();
        let recvs = Exchange::sized(self.comm, TAG_MAT_REVERSE, sends, &from)?;
        let rec = 4 + 8 * bs;
        for ((q, pos), buf) in self.rows_in.iter().zip(&recvs) {
            if buf.len() % rec != 0 {
                return Err(Error::Mpi(format!(
                    "Mat WRITE: {} bytes from rank {q} is not a whole number of records",
                    buf.len()
                )));
            }
            for r in buf.chunks_exact(rec) {
                let k = read_u32(r, 0).unwrap_or(u32::MAX) as usize;
                let p = *pos.get(k).ok_or_else(|| {
                    Error::Mpi(format!("Mat WRITE: block {k} from rank {q} out of range"))
                })? as usize;
                vals[p * bs..][..bs].copy_from_slice(&f64s(&r[4..]));
            }
        }
        Ok(())
    }

    /// The vector values (`cd` per column) of the extra columns, in column order, from their
    /// owners; `x` holds this rank's values of the column set's local elements. Every rank
    /// must call it (it also sends this rank's exported values).
    pub(crate) fn import(&self, x: &[f64], cd: usize) -> Result<Vec<f64>> {
        let sends: Vec<(i32, Vec<u8>)> = self
            .export
            .iter()
            .map(|(r, cols)| {
                let mut b = Vec::with_capacity(cols.len() * cd * 8);
                for &c in cols {
                    b.extend_from_slice(bytemuck::cast_slice(&x[c as usize * cd..][..cd]));
                }
                (*r, b)
            })
            .collect();
        let lens: Vec<(i32, usize)> = self
            .import
            .iter()
            .map(|(q, r)| (*q, r.len() * cd * 8))
            .collect();
        let (recvs, ()) = self.comm.exchange(TAG_MAT_IMPORT, &sends, &lens, || ())?;
        let mut out = Vec::with_capacity(self.extra_cols() * cd);
        for b in &recvs {
            out.extend_from_slice(&f64s(b));
        }
        Ok(out)
    }
}

impl SparsityPlan {
    /// The reverse of [`SparsityPlan::import`]: `extra` holds this rank's values (`cd` per column)
    /// of its extra columns, in column order; each owner adds them into its owned columns of
    /// `y` (this rank's values of the column set's local elements). Every rank must call it.
    pub(crate) fn export_add(&self, extra: &[f64], y: &mut [f64], cd: usize) -> Result<()> {
        let start = self.col_gids.len() - self.extra_cols();
        let sends: Vec<(i32, Vec<u8>)> = self
            .import
            .iter()
            .map(|(q, r)| {
                let v = &extra[(r.start - start) * cd..(r.end - start) * cd];
                (*q, bytemuck::cast_slice::<f64, u8>(v).to_vec())
            })
            .collect();
        let lens: Vec<(i32, usize)> = self
            .export
            .iter()
            .map(|(r, cols)| (*r, cols.len() * cd * 8))
            .collect();
        let (recvs, ()) = self
            .comm
            .exchange(TAG_MAT_EXPORT_ADD, &sends, &lens, || ())?;
        for ((_, cols), b) in self.export.iter().zip(&recvs) {
            let v = f64s(b);
            for (n, &c) in cols.iter().enumerate() {
                for k in 0..cd {
                    y[c as usize * cd + k] += v[n * cd + k];
                }
            }
        }
        Ok(())
    }
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Bytes (any alignment) as f64 values.
fn f64s(b: &[u8]) -> Cow<'_, [f64]> {
    match bytemuck::try_cast_slice::<u8, f64>(b) {
        Ok(v) => v.into(),
        Err(_) => b
            .chunks_exact(8)
            .map(bytemuck::pod_read_unaligned::<f64>)
            .collect::<Vec<f64>>()
            .into(),
    }
}
