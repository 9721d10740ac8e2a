//! `par_loop`: run a kernel over every owned element of a set.
//!
//! Owns argument validation, the per-loop cache key, the class-cache -> disk-cache lookup, and
//! execution: halo exchanges (overlapped with the core elements), the call of the generated
//! code, reverse exchanges of indirect writes and reductions of Globals. It never generates or
//! compiles code itself and never touches MPI except through `Comm`.
//!
//! Semantics match a straightforward serial loop over all elements of the set, on any number
//! of ranks: each element is executed once, by its owner; indirect READs see the owners' current
//! values; indirect INCs from every rank are summed at the owner; Globals are reduced over all
//! ranks (INC sums into the Global's value, MIN/MAX combine with it).

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::Arc;

use crate::cache::key::{self, ArgShape, Signature};
use crate::cache::{disk, memory};
use crate::data::access::Access;
use crate::data::dat::Dat;
use crate::data::map::Map;
use crate::data::set::Set;
use crate::dtype::{DType, Scalar};
use crate::error::Result;
use crate::exec::arg::{shapes, Arg, ArgKind, Path};
use crate::jit::ffi::LoadedKernel;
use crate::jit::kernel::Kernel;
use crate::linalg::mat::Mat;
use crate::linalg::sparsity::PosTable;
use crate::mpi::comm::{Comm, ReduceOp};
use crate::mpi::halo::{Halo, TAG_HALO_FORWARD as TAG_FORWARD, TAG_HALO_REVERSE as TAG_REVERSE};

/// Time spent in one kernel's loops on this rank.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoopTiming {
    /// Kernel name.
    pub kernel: String,
    /// Number of par_loop calls.
    pub calls: u64,
    /// Wall seconds in those calls (lookup, compute and communication).
    pub seconds: f64,
    /// Of which: halo exchanges and Global reductions (not overlapped with compute).
    pub comm_seconds: f64,
}

static TIMINGS: std::sync::Mutex<Vec<LoopTiming>> = std::sync::Mutex::new(Vec::new());

fn record(kernel: &str, seconds: f64, comm_seconds: f64) {
    let mut t = TIMINGS.lock().unwrap_or_else(|e| e.into_inner());
    let i = match t.iter().position(|x| x.kernel == kernel) {
        Some(i) => i,
        None => {
            t.push(LoopTiming {
                kernel: kernel.to_string(),
                ..Default::default()
            });
            t.len() - 1
        }
    };
    t[i].calls += 1;
    t[i].seconds += seconds;
    t[i].comm_seconds += comm_seconds;
}

/// Per-kernel loop timings of this rank, in order of first use.
///
/// ```
/// let t = op2::timings();
/// assert!(t.iter().all(|l| l.comm_seconds <= l.seconds + 1e-9));
/// ```
pub fn timings() -> Vec<LoopTiming> {
    TIMINGS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Run `kernel` once for every owned element of `set`, with `args`.
///
/// Collective over the set's communicator: every rank must run the same par_loops in the same
/// order (SPMD). The first run of a loop compiles it (rank 0, once, into the shared disk cache)
/// unless some earlier job already did.
///
/// ```
/// let s = op2::Set::new(4).unwrap();
/// let ds = op2::DataSet::new(&s, 1).unwrap();
/// let x = op2::Dat::new(&ds, vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
/// let sum = op2::Global::new(vec![0.0f64]).unwrap();
/// let k = op2::Kernel::new("add", "void add(const double *x, double *s) { s[0] += x[0]; }").unwrap();
/// # let dir = tempfile::tempdir().unwrap();
/// # std::env::set_var("OP2_CACHE_DIR", dir.path());
/// op2::par_loop(&k, &s, &[x.arg(op2::Access::Read), sum.arg(op2::Access::Inc)]).unwrap();
/// assert_eq!(sum.value::<f64>().unwrap(), vec![10.0]);
/// ```
pub fn par_loop(kernel: &Kernel, set: &Set, args: &[Arg]) -> Result<()> {
    let t0 = std::time::Instant::now();
    crate::mpi::comm::watch_context(kernel.name());
    let shapes = shapes(kernel, set, args)?;
    let loaded = lookup(kernel, set.comm(), &shapes)?;
    let comm_seconds = execute(&loaded, set, args)?;
    record(kernel.name(), t0.elapsed().as_secs_f64(), comm_seconds);
    crate::mpi::comm::watch_context("");
    Ok(())
}

/// Class cache, then (collectively, on a miss) the disk cache.
fn lookup(kernel: &Kernel, comm: Comm, shapes: &[ArgShape]) -> Result<Arc<LoadedKernel>> {
    let config = crate::config::current()?;
    let toolchain = key::toolchain_words(&config.cc, &config.cflags);
    let class_key = Signature {
        kernel,
        args: shapes,
    }
    .class_key(toolchain, comm.id());
    if let Some(k) = memory::get(class_key) {
        return Ok(k);
    }
    let req = disk::Request {
        kernel,
        shapes,
        class_key,
        toolchain,
    };
    let loaded = disk::fetch_or_compile(comm, &config, &req)?;
    memory::insert(
        class_key,
        loaded.clone(),
        0,
        config.memory_cache_max_entries,
    );
    Ok(loaded)
}

/// How one unique Dat takes part in the loop.
struct DatUse {
    dat: Dat,
    access: Access,
    /// Maps through which it is reached indirectly (empty: direct only).
    maps: Vec<Map>,
}

/// The halo plan an indirect access of `u` exchanges along, on more than one rank.
fn halo_of(parallel: bool, u: &DatUse) -> Option<&Halo> {
    if parallel && !u.maps.is_empty() {
        u.dat.set().halo()
    } else {
        None
    }
}

fn elem_bytes(d: &Dat) -> usize {
    d.dim() * d.dtype().size()
}

/// Run the loop; returns the seconds spent communicating (not overlapped with compute).
fn execute(loaded: &LoadedKernel, set: &Set, args: &[Arg]) -> Result<f64> {
    let comm = set.comm();
    let mut comm_seconds = 0.0;
    // Unique Dats (a Dat may appear several times, e.g. through two map indices).
    let mut uses: Vec<DatUse> = Vec::new();
    for a in args {
        if let ArgKind::Dat { dat, path, access } = &a.0 {
            let pos = uses
                .iter()
                .position(|u| u.dat.ptr_eq(dat))
                .unwrap_or_else(|| {
                    uses.push(DatUse {
                        dat: dat.clone(),
                        access: *access,
                        maps: Vec::new(),
                    });
                    uses.len() - 1
                });
            if let Path::Index(m, _) | Path::Vector(m) = path {
                if !uses[pos].maps.iter().any(|x| x.ptr_eq(m)) {
                    uses[pos].maps.push(m.clone());
                }
            }
        }
    }
    let parallel = comm.size() > 1;

    let mut guards: Vec<_> = uses.iter().map(|u| u.dat.write()).collect();
    // Unique Mats (one lock each, with their access) and the position tables of their map
    // pairs.
    let mut mats: Vec<Mat> = Vec::new();
    let mut mat_access: Vec<Access> = Vec::new();
    let mut tables: Vec<Option<Arc<PosTable>>> = Vec::with_capacity(args.len());
    for a in args {
        tables.push(match &a.0 {
            ArgKind::Mat {
                mat,
                rmap,
                cmap,
                access,
            } => {
                if !mats.iter().any(|m| m.ptr_eq(mat)) {
                    mats.push(mat.clone());
                    mat_access.push(*access);
                }
                let k = mat
                    .sparsity()
                    .pair_index(rmap, cmap)
                    .expect("checked by arg_shape");
                Some(mat.sparsity().positions(k))
            }
            _ => None,
        });
    }
    let mut mat_guards: Vec<_> = mats.iter().map(|m| m.write()).collect();
    // On a distributed mesh halo rows collect this loop's contributions for their owners.
    for (m, g) in mats.iter().zip(mat_guards.iter_mut()) {
        if m.sparsity().dist().is_some() {
            let bs = m.sparsity().dims().0 * m.sparsity().dims().1;
            g[m.sparsity().halo_block_start() * bs..].fill(0.0);
        }
    }

    // Before: indirect INC starts from zero halo copies; indirect READ/RW need fresh copies.
    let mut forward: Vec<usize> = Vec::new();
    for (i, u) in uses.iter().enumerate() {
        if halo_of(parallel, u).is_none() {
            continue;
        }
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut guards[i][..]);
        let eb = elem_bytes(&u.dat);
        match u.access {
            Access::Inc => bytes[u.dat.set().size() * eb..u.dat.set().total_size() * eb].fill(0),
            Access::Read | Access::RW if !u.dat.halo_valid() => forward.push(i),
            _ => {}
        }
    }

    // Global reduction buffers.
    let mut gbufs: Vec<Vec<u64>> = args
        .iter()
        .map(|a| match &a.0 {
            ArgKind::Global {
                global,
                access: Access::Inc,
            } => vec![0u64; global.read().len()],
            ArgKind::Global { global, .. } => global.read().clone(),
            _ => Vec::new(),
        })
        .collect();

    // Argument and map pointers, in argument order.
    let mut ptrs: Vec<*mut c_void> = Vec::with_capacity(args.len());
    let mut maps: Vec<*const i32> = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        match &a.0 {
            ArgKind::Dat { dat, path, .. } => {
                let u = uses
                    .iter()
                    .position(|u| u.dat.ptr_eq(dat))
                    .expect("collected above");
                ptrs.push(guards[u].as_mut_ptr() as *mut c_void);
                maps.push(match path {
                    Path::Direct => std::ptr::null(),
                    Path::Index(m, _) | Path::Vector(m) => m.values().as_ptr(),
                });
            }
            ArgKind::Global { .. } => {
                ptrs.push(gbufs[i].as_mut_ptr() as *mut c_void);
                maps.push(std::ptr::null());
            }
            ArgKind::Mat { mat, .. } => {
                let m = mats
                    .iter()
                    .position(|m| m.ptr_eq(mat))
                    .expect("collected above");
                ptrs.push(mat_guards[m].as_mut_ptr() as *mut c_void);
                maps.push(tables[i].as_ref().expect("Mat argument").table.as_ptr());
            }
        }
    }

    let (core, owned) = (set.core_size(), set.size());
    // SAFETY (the three calls below): every Dat pointer comes from a write guard held until after the
    // calls, over storage of `total_size * dim` elements of the Dat's dtype; map values were
    // validated at Map construction to index [0, total_size) of the Dat's set and cover every
    // owned element of the iteration set (arity each); direct arguments are on the iteration set
    // so [0, owned) is in range; Global buffers hold `dim` values of their dtype. The generated
    // code was produced for exactly these shapes (they are its cache key). A Mat pointer comes
    // from a write guard on its values (held until after the calls) holding block_nnz * rdim *
    // cdim doubles; its position table holds, for every owned element of the iteration set (the
    // pair's maps start there) and every (i, j) of the element matrix, a block index below
    // block_nnz, built from the same maps.
    if forward.is_empty() {
        unsafe { loaded.call(0, owned, &ptrs, &maps) };
    } else {
        // Pack every stale Dat for every neighbour into one message per neighbour, run the core
        // elements while the messages fly, unpack, then run the elements that touch the halo.
        let mut sends: BTreeMap<i32, Vec<u8>> = BTreeMap::new();
        let mut lens: BTreeMap<i32, usize> = BTreeMap::new();
        for &i in &forward {
            let halo = halo_of(parallel, &uses[i]).expect("forward implies halo");
            let eb = elem_bytes(&uses[i].dat);
            for (r, b) in halo.forward_sends(bytemuck::cast_slice(&guards[i][..]), eb) {
                sends.entry(r).or_default().extend(b);
            }
            for (r, n) in halo.forward_recv_lens(eb) {
                *lens.entry(r).or_default() += n;
            }
        }
        let sends: Vec<(i32, Vec<u8>)> = sends.into_iter().collect();
        let lens: Vec<(i32, usize)> = lens.into_iter().collect();
        let tx = std::time::Instant::now();
        let (recvs, core_seconds) = comm.exchange(TAG_FORWARD, &sends, &lens, || {
            let tc = std::time::Instant::now();
            unsafe { loaded.call(0, core, &ptrs, &maps) };
            tc.elapsed().as_secs_f64()
        })?;
        comm_seconds += (tx.elapsed().as_secs_f64() - core_seconds).max(0.0);

        let mut offset: BTreeMap<i32, usize> = BTreeMap::new();
        let by_rank: BTreeMap<i32, &Vec<u8>> =
            lens.iter().map(|(r, _)| *r).zip(recvs.iter()).collect();
        for &i in &forward {
            let halo = halo_of(parallel, &uses[i]).expect("forward implies halo");
            let eb = elem_bytes(&uses[i].dat);
            let parts: Vec<Vec<u8>> = halo
                .forward_recv_lens(eb)
                .into_iter()
                .map(|(r, n)| {
                    let o = offset.entry(r).or_default();
                    let part = by_rank[&r][*o..*o + n].to_vec();
                    *o += n;
                    part
                })
                .collect();
            halo.forward_unpack(bytemuck::cast_slice_mut(&mut guards[i][..]), eb, &parts)?;
            uses[i].dat.set_halo_valid(true);
        }
        unsafe { loaded.call(core, owned, &ptrs, &maps) };
    }

    // After: indirect writes travel back to owners; any write leaves halo copies stale.
    let tx = std::time::Instant::now();
    for (i, u) in uses.iter().enumerate() {
        if !u.access.writes() {
            continue;
        }
        if let Some(halo) = halo_of(parallel, u) {
            let eb = elem_bytes(&u.dat);
            if u.access == Access::Inc {
                let sends = halo.reverse_sends(bytemuck::cast_slice(&guards[i][..]), eb);
                let (recvs, ()) =
                    comm.exchange(TAG_REVERSE, &sends, &halo.reverse_recv_lens(eb), || ())?;
                add_received(&halo, &mut guards[i], u.dat.dtype(), u.dat.dim(), &recvs)?;
            } else {
                let touched = touched_halo(set, &u.maps, u.dat.set().total_size());
                let sends =
                    halo.reverse_sends_touched(bytemuck::cast_slice(&guards[i][..]), eb, &touched);
                let size_msgs: Vec<(i32, Vec<u8>)> = sends
                    .iter()
                    .map(|(r, b)| (*r, (b.len() as u64).to_le_bytes().to_vec()))
                    .collect();
                let size_lens: Vec<(i32, usize)> =
                    halo.neighbour_ranks().into_iter().map(|r| (r, 8)).collect();
                let (sizes, ()) = comm.exchange(TAG_REVERSE, &size_msgs, &size_lens, || ())?;
                let lens: Vec<(i32, usize)> = halo
                    .neighbour_ranks()
                    .into_iter()
                    .zip(&sizes)
                    .map(|(r, s)| {
                        (
                            r,
                            u64::from_le_bytes(s[..8].try_into().expect("8 bytes")) as usize,
                        )
                    })
                    .collect();
                let (recvs, ()) = comm.exchange(TAG_REVERSE, &sends, &lens, || ())?;
                halo.reverse_unpack_touched(
                    bytemuck::cast_slice_mut(&mut guards[i][..]),
                    eb,
                    &recvs,
                )?;
            }
        }
        u.dat.mark_halo_stale();
    }
    drop(guards);
    // Halo rows of Mats go to their owners: added (INC) or stored where touched (WRITE).
    for (k, (m, g)) in mats.iter().zip(mat_guards.iter_mut()).enumerate() {
        let sp = m.sparsity();
        let Some(plan) = sp.dist() else { continue };
        let bs = sp.dims().0 * sp.dims().1;
        if mat_access[k] == Access::Inc {
            plan.reverse_add(sp.rowptr(), bs, g)?;
        } else {
            let first = sp.halo_block_start();
            let mut touched = vec![false; sp.block_nnz() - first];
            for (a, t) in args.iter().zip(&tables) {
                if let (ArgKind::Mat { mat, .. }, Some(t)) = (&a.0, t) {
                    if mat.ptr_eq(m) {
                        for &b in &t.table {
                            if b as usize >= first {
                                touched[b as usize - first] = true;
                            }
                        }
                    }
                }
            }
            plan.reverse_write(sp.rowptr(), sp.owned_rows(), bs, g, &touched)?;
        }
    }
    drop(mat_guards);
    drop(tables);

    // Globals: combine this rank's result with every other rank's.
    for (i, a) in args.iter().enumerate() {
        if let ArgKind::Global { global, access } = &a.0 {
            if *access == Access::Read {
                continue;
            }
            let op = match access {
                Access::Inc => ReduceOp::Sum,
                Access::Min => ReduceOp::Min,
                _ => ReduceOp::Max,
            };
            let reduced = reduce_words(comm, global.dtype(), global.dim(), &gbufs[i], op)?;
            let mut g = global.write();
            if *access == Access::Inc {
                add_words(global.dtype(), global.dim(), &mut g, &reduced);
            } else {
                *g = reduced;
            }
        }
    }
    comm_seconds += if comm.size() > 1 {
        tx.elapsed().as_secs_f64()
    } else {
        0.0
    };
    Ok(comm_seconds)
}

/// Halo elements of the target set reached from owned iteration elements through `maps`.
fn touched_halo(set: &Set, maps: &[Map], total: usize) -> Vec<bool> {
    let mut t = vec![false; total];
    for m in maps {
        for &v in &m.values()[..set.size() * m.arity()] {
            t[v as usize] = true;
        }
    }
    t
}

macro_rules! by_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            DType::F64 => {
                type $T = f64;
                $body
            }
            DType::F32 => {
                type $T = f32;
                $body
            }
            DType::I32 => {
                type $T = i32;
                $body
            }
            DType::I64 => {
                type $T = i64;
                $body
            }
            DType::U32 => {
                type $T = u32;
                $body
            }
        }
    };
}

fn add_received(
    halo: &Halo,
    words: &mut [u64],
    dtype: DType,
    dim: usize,
    recvs: &[Vec<u8>],
) -> Result<()> {
    by_dtype!(dtype, T => halo.reverse_unpack_add::<T>(bytemuck::cast_slice_mut(words), dim, recvs))
}

fn reduce_words(
    comm: Comm,
    dtype: DType,
    dim: usize,
    words: &[u64],
    op: ReduceOp,
) -> Result<Vec<u64>> {
    by_dtype!(dtype, T => {
        let v: &[T] = &bytemuck::cast_slice::<u64, T>(words)[..dim];
        Ok(crate::dtype::to_words(&comm.allreduce(v, op)?))
    })
}

fn add_words(dtype: DType, dim: usize, into: &mut [u64], add: &[u64]) {
    fn go<T: Scalar + std::ops::AddAssign>(into: &mut [u64], add: &[u64], dim: usize) {
        let a: &[T] = &bytemuck::cast_slice::<u64, T>(add)[..dim];
        for (x, y) in bytemuck::cast_slice_mut::<u64, T>(into)[..dim]
            .iter_mut()
            .zip(a)
        {
            *x += *y;
        }
    }
    by_dtype!(dtype, T => go::<T>(into, add, dim))
}
