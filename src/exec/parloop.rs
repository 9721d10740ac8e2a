//! `par_loop`: run a kernel over every owned element of a set.
//!
//! Owns argument validation, the per-loop cache key, the class-cache -> disk-cache lookup, and
//! the run step over a loop plan (`plan.rs`, built once per loop and set): halo exchanges (overlapped with the core elements), the call of the generated
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

use crate::build::key::{self, ArgShape, Request, Signature};
use crate::build::{fetch, spmd, Held, CLASS};
use crate::cache::object::Entry;
use crate::config::Config;
use crate::data::access::Access;
use crate::data::dat::Dat;
use crate::data::set::Set;
use crate::dtype::{with_scalar, DType, Scalar};
use crate::error::{Error, Result};
use crate::exec::arg::{shapes, Arg, ArgKind, Path};
use crate::exec::blocks::Blocks;
use crate::exec::check;
use crate::exec::dispatch::{Ident, Words};
use crate::exec::plan::{plan_for, Plan, Slot};
use crate::jit::ffi::LoadedKernel;
use crate::jit::kernel::Kernel;
use crate::linalg::mat::Mat;
use crate::linalg::sparsity::PosTable;
use crate::mpi::comm::{Comm, ReduceOp};
use crate::mpi::halo::{Halo, TAG_HALO_FORWARD as TAG_FORWARD, TAG_HALO_REVERSE as TAG_REVERSE};

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
    let ctx = Context::enter(kernel);
    let mut words = Words::new();
    let ident = Ident::of(kernel, set, args, crate::config::epoch(), &mut words);
    let hit = ident.find();
    if hit.is_none() {
        ctx.register(kernel);
    }
    if check::on() {
        return checked(kernel, set, args, &ident, hit, ctx.0, t0);
    }
    let (class, plan) = match hit {
        Some(hit) => hit,
        None => resolve(kernel, set, args, &ident, false)?,
    };
    let comm_seconds = run(&class.kernel, &plan, set, args, None)?;
    plan.timing.record(t0.elapsed().as_secs_f64(), comm_seconds);
    Ok(())
}

/// The hang watchdog's context while a par_loop runs (`in loop `name``): one relaxed store on
/// entry and one on exit, the description registered on the loop's full path.
struct Context(u64);

impl Context {
    fn enter(kernel: &Kernel) -> Context {
        let key = kernel.0.hash as u64 | 1;
        crate::mpi::comm::watch_context(key);
        Context(key)
    }
    fn register(&self, kernel: &Kernel) {
        crate::mpi::comm::watch_register(self.0, || format!("in loop `{}`", kernel.name()));
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        crate::mpi::comm::watch_context(0);
    }
}

/// par_loop in the checked mode (`exec/check.rs`): the call agreement, then the loop with its
/// READ and halo checks, then the agreed verdict.
fn checked(
    kernel: &Kernel,
    set: &Set,
    args: &[Arg],
    ident: &Ident,
    hit: Option<(Arc<Held>, Arc<Entry<Plan>>)>,
    key: u64,
    t0: std::time::Instant,
) -> Result<()> {
    let what = || format!("par_loop `{}` over set {}", kernel.name(), set.name());
    let any_miss = check::agree_call(set.comm(), key, &what, hit.is_none())?;
    let call = check::calls();
    let (class, plan) = match hit {
        Some(hit) if !any_miss => hit,
        _ => resolve(kernel, set, args, ident, true)?,
    };
    let mut checked = check::before(&plan, args)?;
    let comm_seconds = run(
        &class.kernel,
        &plan,
        set,
        args,
        Some(&mut checked.globals_written),
    )?;
    checked.after(kernel, set, &plan, args, call)?;
    plan.timing.record(t0.elapsed().as_secs_f64(), comm_seconds);
    Ok(())
}

/// The full path: validate the arguments, then the class cache (the disk cache on a miss) and
/// the plan cache; remembers what it found under `ident` for the next call. `together`: every
/// rank is on this path at once (the checked mode agreed it), so validation is agreed directly.
fn resolve(
    kernel: &Kernel,
    set: &Set,
    args: &[Arg],
    ident: &Ident,
    together: bool,
) -> Result<(Arc<Held>, Arc<Entry<Plan>>)> {
    let comm = set.comm();
    let shapes = shapes(kernel, set, args);
    let shapes = if together {
        crate::mpi::agree::agree(comm, crate::mpi::agree::Share::Detail, shapes)?
    } else {
        shapes.map_err(|e| refuse(kernel, comm, e))?
    };
    let config = crate::config::current()?;
    let (class, class_key) = lookup(&config, kernel, comm, &shapes)?;
    seen(kernel.0.hash, true);
    let plan = plan_for(
        kernel.name(),
        class_key,
        set,
        args,
        config.threads.max(1),
        config.block_size,
        config.test_no_colour,
    )?;
    ident.remember(&class, &plan);
    Ok((class, plan))
}

/// Kernels (by hash) whose loops this process has resolved: before that, no rank can find
/// one of their loops in its class cache (ranks run the same loops), so every rank with valid
/// arguments will enter the disk cache's SPMD check. `add`: record `hash`; returns whether it
/// was there.
fn seen(hash: u128, add: bool) -> bool {
    static SEEN: std::sync::Mutex<Vec<u128>> = std::sync::Mutex::new(Vec::new());
    let mut s = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let was = s.contains(&hash);
    if add && !was {
        s.push(hash);
    }
    was
}

/// Argument validation failed on this rank (outside the checked mode). On the kernel's first
/// loop the other ranks are about to enter the SPMD check of a class-cache miss: join it with
/// the message, so that every rank returns the same error (exit 1 everywhere, no MPI_Abort).
/// Later, another rank may hit its caches and enter no collective: the error stays this rank's
/// own (`op2::run` aborts the job); `OP2_CHECK=1` agrees those too.
fn refuse(kernel: &Kernel, comm: Comm, e: crate::error::Error) -> crate::error::Error {
    if comm.size() == 1 || seen(kernel.0.hash, false) {
        return e;
    }
    match crate::config::current() {
        Ok(config) => spmd::refuse(comm, &config, e),
        Err(_) => e,
    }
}

/// Class cache, then (collectively, on a miss) the disk cache.
fn lookup(
    config: &Config,
    kernel: &Kernel,
    comm: Comm,
    shapes: &[ArgShape],
) -> Result<(Arc<Held>, u128)> {
    let toolchain = key::toolchain_words(&config.cc, &config.cflags);
    let class_key = Signature {
        kernel,
        args: shapes,
    }
    .class_key(toolchain, comm.id());
    if let Some(k) = CLASS.get(class_key) {
        return Ok((k, class_key));
    }
    let req = Request {
        kernel,
        shapes,
        class_key,
    };
    let loaded = fetch::fetch_or_compile(comm, config, &req)?;
    let held = CLASS.insert(class_key, loaded, 0, config.memory_cache_max_entries);
    Ok((held, class_key))
}

/// Argument and map pointer tables up to this many arguments live on the stack.
const INLINE_ARGS: usize = 8;

/// The argument and map pointer tables of one run, in argument order.
struct PtrTables {
    n: usize,
    ptrs: [*mut c_void; INLINE_ARGS],
    maps: [*const i32; INLINE_ARGS],
    spill: (Vec<*mut c_void>, Vec<*const i32>),
}

impl PtrTables {
    fn new(n: usize) -> PtrTables {
        let mut spill = (Vec::new(), Vec::new());
        if n > INLINE_ARGS {
            spill.0.resize(n, std::ptr::null_mut());
            spill.1.resize(n, std::ptr::null());
        }
        PtrTables {
            n,
            ptrs: [std::ptr::null_mut(); INLINE_ARGS],
            maps: [std::ptr::null(); INLINE_ARGS],
            spill,
        }
    }

    fn slices(&mut self) -> (&mut [*mut c_void], &mut [*const i32]) {
        if self.n <= INLINE_ARGS {
            (&mut self.ptrs[..self.n], &mut self.maps[..self.n])
        } else {
            (&mut self.spill.0, &mut self.spill.1)
        }
    }
}

/// A Dat argument's data pointer (from its write guard) and map pointer (null if direct).
fn dat_pointers(data: &mut [u64], path: &Path) -> (*mut c_void, *const i32) {
    let map = match path {
        Path::Direct => std::ptr::null(),
        Path::Index(m, _) | Path::Vector(m) => m.values().as_ptr(),
    };
    (data.as_mut_ptr() as *mut c_void, map)
}

fn elem_bytes(d: &Dat) -> usize {
    d.dim() * d.dtype().size()
}

/// The run step: exchanges, the calls of the loaded code, reverse exchanges and reductions,
/// with the live objects taken from `args` and everything else from `plan`. Returns the
/// seconds spent communicating (not overlapped with compute).
fn run(
    loaded: &LoadedKernel,
    plan: &Plan,
    set: &Set,
    args: &[Arg],
    read_globals_written: Option<&mut Vec<usize>>,
) -> Result<f64> {
    let comm = set.comm();
    let mut comm_seconds = 0.0;
    let dat_of = |u: usize| -> &Dat {
        match &args[plan.dats[u].arg].0 {
            ArgKind::Dat { dat, .. } => dat,
            _ => unreachable!("a Dat slot names a Dat argument"),
        }
    };
    let mat_of = |m: usize| -> &Mat {
        match &args[plan.mats[m].arg].0 {
            ArgKind::Mat { mat, .. } => mat,
            _ => unreachable!("a Mat slot names a Mat argument"),
        }
    };
    // (No heap allocation for up to 4 unique Dats; an empty Vec allocates nothing.)
    let mut guards = smallvec::SmallVec::<[_; 4]>::new();
    for u in 0..plan.dats.len() {
        guards.push(dat_of(u).write());
    }
    if plan.plain {
        let mut tables = PtrTables::new(args.len());
        let (ptrs, maps) = tables.slices();
        for (i, (a, s)) in args.iter().zip(&plan.slots).enumerate() {
            let (ArgKind::Dat { path, .. }, Slot::Dat(u)) = (&a.0, *s) else {
                unreachable!("a plain plan has Dat slots only")
            };
            (ptrs[i], maps[i]) = dat_pointers(&mut guards[u], path);
        }
        // SAFETY: as for the calls of the general path below (Dat arguments only).
        unsafe { loaded.call(0, set.size(), ptrs, maps) };
        drop(guards);
        for (u, d) in plan.dats.iter().enumerate() {
            if d.access.writes() {
                dat_of(u).mark_halo_stale();
            }
        }
        return Ok(0.0);
    }
    let mut mat_guards = Vec::new();
    for m in 0..plan.mats.len() {
        mat_guards.push(mat_of(m).write());
    }
    // On a distributed mesh halo rows collect this loop's contributions for their owners.
    for (m, g) in mat_guards.iter_mut().enumerate() {
        let sp = mat_of(m).sparsity();
        if sp.dist().is_some() {
            let bs = sp.dims().0 * sp.dims().1;
            g[sp.halo_block_start() * bs..].fill(0.0);
        }
    }

    // Before: indirect INC starts from zero halo copies; indirect READ/RW need fresh copies.
    for (u, d) in plan.dats.iter().enumerate() {
        if d.exchanges && d.access == Access::Inc {
            let dat = dat_of(u);
            let eb = elem_bytes(dat);
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut guards[u][..]);
            bytes[dat.set().size() * eb..dat.set().total_size() * eb].fill(0);
        }
    }
    let mut forward: Vec<usize> = Vec::new();
    for &u in &plan.refresh {
        if !dat_of(u).halo_valid() {
            forward.push(u);
        }
    }

    // Global reduction buffers.
    let mut gbufs: Vec<Vec<u64>> = Vec::new();
    if plan.reduces || plan.slots.iter().any(|s| matches!(s, Slot::Global(_))) {
        gbufs = args
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
    }

    // Argument and map pointers, in argument order.
    let mut ptr_tables = PtrTables::new(args.len());
    let (ptrs, maps) = ptr_tables.slices();
    let mut tables: Vec<Arc<PosTable>> = Vec::new();
    for (i, (a, s)) in args.iter().zip(&plan.slots).enumerate() {
        match (&a.0, *s) {
            (ArgKind::Dat { path, .. }, Slot::Dat(u)) => {
                (ptrs[i], maps[i]) = dat_pointers(&mut guards[u], path);
            }
            (ArgKind::Global { .. }, _) => {
                ptrs[i] = gbufs[i].as_mut_ptr() as *mut c_void;
            }
            (ArgKind::Mat { mat, .. }, Slot::Mat { m, pair }) => {
                ptrs[i] = mat_guards[m].as_mut_ptr() as *mut c_void;
                let t = mat.sparsity().positions(pair);
                maps[i] = t.table.as_ptr();
                tables.push(t);
            }
            _ => unreachable!("the plan's slots follow the arguments"),
        }
    }

    let (core, owned) = (set.core_size(), set.size());
    // SAFETY (the calls below, direct or through `Blocks::run`): every Dat pointer comes from a write guard held until after the
    // calls, over storage of `total_size * dim` elements of the Dat's dtype; map values were
    // validated at Map construction to index [0, total_size) of the Dat's set and cover every
    // owned element of the iteration set (arity each); direct arguments are on the iteration set
    // so [0, owned) is in range; Global buffers hold `dim` values of their dtype. The generated
    // code was produced for exactly these shapes (they are its cache key). A Mat pointer comes
    // from a write guard on its values (held until after the calls) holding block_nnz * rdim *
    // cdim doubles; its position table (held in `tables` until after the calls) holds, for
    // every owned element of the iteration set (the pair's maps start there) and every (i, j)
    // of the element matrix, a block index below block_nnz, built from the same maps.
    let mut blocks = plan
        .threaded
        .as_ref()
        .map(|t| Blocks::new(t, args, &plan.slots, ptrs, &gbufs));
    if forward.is_empty() {
        match blocks.as_mut() {
            None => unsafe { loaded.call(0, owned, ptrs, maps) },
            Some(b) => {
                unsafe { b.run(loaded, 0, maps) };
                unsafe { b.run(loaded, 1, maps) };
            }
        }
    } else {
        // Pack every stale Dat for every neighbour into one message per neighbour, run the core
        // elements while the messages fly, unpack, then run the elements that touch the halo.
        let mut sends: BTreeMap<i32, Vec<u8>> = BTreeMap::new();
        let mut lens: BTreeMap<i32, usize> = BTreeMap::new();
        for &u in &forward {
            let dat = dat_of(u);
            let halo = dat.set().halo().expect("exchanges imply a halo");
            let eb = elem_bytes(dat);
            for (r, b) in halo.forward_sends(bytemuck::cast_slice(&guards[u][..]), eb) {
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
            match blocks.as_mut() {
                None => unsafe { loaded.call(0, core, ptrs, maps) },
                Some(b) => unsafe { b.run(loaded, 0, maps) },
            }
            tc.elapsed().as_secs_f64()
        })?;
        comm_seconds += (tx.elapsed().as_secs_f64() - core_seconds).max(0.0);

        let mut offset: BTreeMap<i32, usize> = BTreeMap::new();
        let by_rank: BTreeMap<i32, &Vec<u8>> =
            lens.iter().map(|(r, _)| *r).zip(recvs.iter()).collect();
        for &u in &forward {
            let dat = dat_of(u);
            let halo = dat.set().halo().expect("exchanges imply a halo");
            let eb = elem_bytes(dat);
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
            halo.forward_unpack(bytemuck::cast_slice_mut(&mut guards[u][..]), eb, &parts)?;
            dat.set_halo_valid(true);
        }
        match blocks.as_mut() {
            None => unsafe { loaded.call(core, owned, ptrs, maps) },
            Some(b) => unsafe { b.run(loaded, 1, maps) },
        }
    }
    drop(tables);
    // Per-block Global results, combined in block order (independent of scheduling).
    if let Some(b) = blocks {
        b.combine(args, &mut gbufs);
    }
    // Checked mode: a READ Global's buffer must be as the kernel got it.
    if let Some(written) = read_globals_written {
        for (i, a) in args.iter().enumerate() {
            if let ArgKind::Global {
                global,
                access: Access::Read,
            } = &a.0
            {
                if gbufs[i] != *global.read() {
                    written.push(i);
                }
            }
        }
    }

    // After: indirect writes travel back to owners; any write leaves halo copies stale.
    let tx = (comm.size() > 1).then(std::time::Instant::now);
    // An indirect WRITE/RW entry written differently by elements on two ranks (agreed below).
    let mut conflict: Option<String> = None;
    for (u, d) in plan.dats.iter().enumerate() {
        if !d.access.writes() {
            continue;
        }
        let dat = dat_of(u);
        if d.exchanges {
            let halo = dat.set().halo().expect("exchanges imply a halo");
            let eb = elem_bytes(dat);
            if d.access == Access::Inc {
                let sends = halo.reverse_sends(bytemuck::cast_slice(&guards[u][..]), eb);
                let (recvs, ()) =
                    comm.exchange(TAG_REVERSE, &sends, &halo.reverse_recv_lens(eb), || ())?;
                add_received(halo, &mut guards[u], dat.dtype(), dat.dim(), &recvs)?;
            } else if let Some((i, from)) =
                reverse_touched(comm, halo, &mut guards[u], eb, &d.touched)?
            {
                let gid = dat.set().global_ids().map_or(i as u64, |g| g[i]);
                conflict.get_or_insert(format!(
                    "indirect {:?} of Dat `{}` (kernel `{}`): element {gid} of its set was written \
                     with different values by loop elements on rank {} and rank {from}; op2 runs \
                     each element on its owner only (no exec halo), so it cannot form the serial \
                     answer: write each entry from one rank's elements, or use INC",
                    d.access,
                    dat.name(),
                    loaded.name(),
                    comm.rank(),
                ));
            }
        }
        dat.mark_halo_stale();
    }
    drop(guards);
    // Every rank takes part when the plan has such a Dat (the plan is the same on every rank).
    if plan
        .dats
        .iter()
        .any(|d| d.exchanges && matches!(d.access, Access::Write | Access::RW))
    {
        let r = match conflict {
            Some(detail) => Err(Error::SpmdMismatch {
                what: "the value of an indirectly written entry".into(),
                detail,
            }),
            None => Ok(()),
        };
        crate::mpi::agree::agree(comm, crate::mpi::agree::Share::Detail, r)?;
    }
    // Halo rows of Mats go to their owners: added (INC) or stored where touched (WRITE).
    for (m, g) in mat_guards.iter_mut().enumerate() {
        let sp = mat_of(m).sparsity();
        let Some(dist) = sp.dist() else { continue };
        let bs = sp.dims().0 * sp.dims().1;
        if plan.mats[m].access == Access::Inc {
            dist.reverse_add(sp.rowptr(), bs, g)?;
        } else {
            dist.reverse_write(
                sp.rowptr(),
                sp.owned_rows(),
                bs,
                g,
                &plan.mats[m].halo_touched,
            )?;
        }
    }
    drop(mat_guards);

    // Globals: combine this rank's result with every other rank's.
    if plan.reduces {
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
    }
    comm_seconds += tx.map_or(0.0, |t| t.elapsed().as_secs_f64());
    Ok(comm_seconds)
}

/// Send the touched halo entries of an indirect WRITE/RW back to their owners, who store them;
/// the first conflict found (see [`Halo::reverse_unpack_touched`]).
fn reverse_touched(
    comm: Comm,
    halo: &Halo,
    words: &mut [u64],
    eb: usize,
    touched: &[bool],
) -> Result<Option<(usize, i32)>> {
    let sends = halo.reverse_sends_touched(bytemuck::cast_slice(words), eb, touched);
    let size_msgs: Vec<(i32, Vec<u8>)> = sends
        .iter()
        .map(|(r, b)| (*r, (b.len() as u64).to_le_bytes().to_vec()))
        .collect();
    let size_lens: Vec<(i32, usize)> = halo.neighbour_ranks().into_iter().map(|r| (r, 8)).collect();
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
    halo.reverse_unpack_touched(bytemuck::cast_slice_mut(words), eb, &recvs, touched)
}

fn add_received(
    halo: &Halo,
    words: &mut [u64],
    dtype: DType,
    dim: usize,
    recvs: &[Vec<u8>],
) -> Result<()> {
    with_scalar!(dtype, T => halo.reverse_unpack_add::<T>(bytemuck::cast_slice_mut(words), dim, recvs))
}

fn reduce_words(
    comm: Comm,
    dtype: DType,
    dim: usize,
    words: &[u64],
    op: ReduceOp,
) -> Result<Vec<u64>> {
    with_scalar!(dtype, T => {
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
    with_scalar!(dtype, T => go::<T>(into, add, dim))
}
