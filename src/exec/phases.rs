//! The run step of a par_loop, as named phases (the order of PyOP2's `ParLoop.__call__` and
//! OP2's `op_par_loop`): lock the data; halo exchange begin (pack the stale Dats); core compute
//! while the messages fly; halo exchange end (unpack); non-core compute; per-block Global
//! results; reverse exchanges (indirect INC into halo copies added at their owners, indirect
//! WRITE/RW stored there, Mat halo rows); mark written halos stale; Global reductions.
//!
//! Owns the order of the phases and the pointer tables handed to the generated code, with the
//! `unsafe` calls of that code on the calling thread. It never resolves a loop (the plan and the
//! loaded code come from `parloop.rs`) and never touches MPI except through `Comm` and the
//! halo [`Exchange`].

use std::ffi::c_void;
use std::sync::{Arc, RwLockWriteGuard};
use std::time::Instant;

use crate::data::access::Access;
use crate::data::dat::Dat;
use crate::data::set::Set;
use crate::dtype::{with_scalar, DType, Scalar};
use crate::error::{Error, Result};
use crate::exec::arg::{dat_pointers, Arg, ArgKind};
use crate::exec::blocks::Blocks;
use crate::exec::plan::{ArgSlot, LoopPlan};
use crate::jit::ffi::LoadedKernel;
use crate::linalg::mat::Mat;
use crate::linalg::sparsity::PosTable;
use crate::mpi::comm::{Comm, ReduceOp};
use crate::mpi::exchange::{Arrived, Exchange};
use crate::mpi::halo::{TAG_HALO_FORWARD, TAG_HALO_REVERSE};

/// Write guards on the storage of the loop's unique Dats (no heap allocation for up to 4; an
/// empty SmallVec allocates nothing).
type DatGuards<'a> = smallvec::SmallVec<[RwLockWriteGuard<'a, Vec<u64>>; 4]>;
/// Write guards on the values of the loop's unique Mats.
type MatGuards<'a> = Vec<RwLockWriteGuard<'a, Vec<f64>>>;

/// The run step: exchanges, the calls of the loaded code, reverse exchanges and reductions,
/// with the live objects taken from `args` and everything else from `plan`. Returns the
/// seconds spent communicating (not overlapped with compute). `read_globals_written`
/// (checked mode) collects the READ Globals whose buffer the kernel changed.
pub(crate) fn run(
    loaded: &LoadedKernel,
    plan: &LoopPlan,
    set: &Set,
    args: &[Arg],
    read_globals_written: Option<&mut Vec<usize>>,
) -> Result<f64> {
    let live = Live { plan, args };
    let comm = set.comm();
    let mut dats = live.lock_dats()?;
    if loaded.undecided() {
        crate::exec::choose::decide(loaded, plan, set, args, &mut dats)?;
    }
    if plan.plain {
        run_plain(loaded, &live, set, dats);
        return Ok(0.0);
    }
    let mut mats = live.lock_mats();
    zero_halo_contributions(&live, &mut dats, &mut mats);
    let stale = live.stale_dats();
    let mut gbufs = global_buffers(plan, args);
    let mut tables = PtrTables::new(args.len(), set);
    let positions = tables.fill(&live, &mut dats, &mut mats, &mut gbufs);
    let (ptrs, maps) = tables.slices();
    let mut compute = Compute {
        loaded,
        ptrs,
        maps,
        blocks: (plan.threaded.as_ref()).map(|t| Blocks::new(t, args, &plan.slots, ptrs, &gbufs)),
    };
    let mut comm_seconds = 0.0;
    // SAFETY (every `compute.run` below): the pointer tables were filled by `PtrTables::fill`
    // from the guards in `dats` and `mats`, the buffers in `gbufs` and the position tables in
    // `positions`, all held until after the last call; see `PtrTables::fill` for why every
    // pointer covers what the generated code reaches.
    if stale.is_empty() {
        // SAFETY: see above.
        unsafe { compute.run(set, Elements::All) };
    } else {
        // Pack every stale Dat for every neighbour into one message per neighbour, run the core
        // elements while the messages fly, unpack, then run the elements that touch the halo.
        let exchange = halo_begin(&live, &dats, &stale);
        let tx = Instant::now();
        let (arrived, core_seconds) = exchange.overlap(comm, || {
            let tc = Instant::now();
            // SAFETY: see above.
            unsafe { compute.run(set, Elements::Core) };
            tc.elapsed().as_secs_f64()
        })?;
        comm_seconds += (tx.elapsed().as_secs_f64() - core_seconds).max(0.0);
        halo_end(&live, &mut dats, &stale, &arrived)?;
        // SAFETY: see above.
        unsafe { compute.run(set, Elements::NonCore) };
    }
    drop(positions);
    compute.combine_blocks(args, &mut gbufs);
    if let Some(written) = read_globals_written {
        read_globals_changed(args, &gbufs, written);
    }
    let tx = (comm.size() > 1).then(Instant::now);
    let conflict = reverse_dats(loaded, &live, comm, &mut dats);
    mark_halos_stale(&live);
    let conflict = conflict?;
    drop(dats);
    agree_conflict(plan, comm, conflict)?;
    reverse_mats(&live, &mut mats)?;
    drop(mats);
    reduce_globals(plan, args, comm, &gbufs)?;
    comm_seconds += tx.map_or(0.0, |t| t.elapsed().as_secs_f64());
    Ok(comm_seconds)
}

/// The live objects of one run: the plan's unique Dats and Mats, found in the arguments.
struct Live<'a> {
    plan: &'a LoopPlan,
    args: &'a [Arg],
}

impl<'a> Live<'a> {
    fn dat(&self, u: usize) -> &'a Dat {
        match &self.args[self.plan.dats[u].arg].0 {
            ArgKind::Dat { dat, .. } => dat,
            _ => unreachable!("a Dat slot names a Dat argument"),
        }
    }

    fn mat(&self, m: usize) -> &'a Mat {
        match &self.args[self.plan.mats[m].arg].0 {
            ArgKind::Mat { mat, .. } => mat,
            _ => unreachable!("a Mat slot names a Mat argument"),
        }
    }

    /// Write locks on the unique Dats; an error naming a Dat or Global lent to a data guard
    /// (`data/borrow.rs`: on this thread the lock would never be released).
    fn lock_dats(&self) -> Result<DatGuards<'a>> {
        for a in self.args {
            if let ArgKind::Global { global, .. } = &a.0 {
                global.check_unborrowed("par_loop")?;
            }
        }
        // A plain loop, not `collect` into a Result: this is on every par_loop's path.
        let mut guards = DatGuards::new();
        for u in 0..self.plan.dats.len() {
            guards.push(self.dat(u).lock_write("par_loop")?);
        }
        Ok(guards)
    }

    fn lock_mats(&self) -> MatGuards<'a> {
        (0..self.plan.mats.len())
            .map(|m| self.mat(m).write())
            .collect()
    }

    /// The Dats (indices into the plan's) whose halo copies the loop reads and are stale.
    fn stale_dats(&self) -> Vec<usize> {
        (self.plan.refresh.iter().copied())
            .filter(|&u| !self.dat(u).halo_valid())
            .collect()
    }
}

/// A plain plan (Dats only, no exchange, one thread): one call, then written halos go stale.
#[inline(always)]
fn run_plain(loaded: &LoadedKernel, live: &Live, set: &Set, mut dats: DatGuards) {
    let mut tables = PtrTables::new(live.args.len(), set);
    let (ptrs, maps) = tables.slices();
    for (i, (a, s)) in live.args.iter().zip(&live.plan.slots).enumerate() {
        let (ArgKind::Dat { path, .. }, ArgSlot::Dat(u)) = (&a.0, *s) else {
            unreachable!("a plain plan has Dat slots only")
        };
        (ptrs[i], maps[i]) = dat_pointers(&mut dats[u], path);
    }
    // SAFETY: as for the calls of `run` (Dat arguments only; see `PtrTables::fill`).
    unsafe { loaded.call(0, set.size(), ptrs, maps) };
    drop(dats);
    mark_halos_stale(live);
}

/// Before the loop: indirect INC starts from zero halo copies, and on a distributed mesh the
/// halo rows of Mats start from zero to collect this loop's contributions for their owners.
fn zero_halo_contributions(live: &Live, dats: &mut DatGuards, mats: &mut MatGuards) {
    for (u, d) in live.plan.dats.iter().enumerate() {
        if d.exchanges && d.access == Access::Inc {
            let dat = live.dat(u);
            let eb = elem_bytes(dat);
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut dats[u][..]);
            bytes[dat.set().size() * eb..dat.set().total_size() * eb].fill(0);
        }
    }
    for (m, g) in mats.iter_mut().enumerate() {
        let sp = live.mat(m).sparsity();
        if sp.dist().is_some() {
            let bs = sp.dims().0 * sp.dims().1;
            g[sp.halo_block_start() * bs..].fill(0.0);
        }
    }
}

/// Global buffers the generated code gets, in argument order: INC starts from zero, READ and
/// MIN/MAX from the Global's value; empty for other arguments (and when there is no Global).
fn global_buffers(plan: &LoopPlan, args: &[Arg]) -> Vec<Vec<u64>> {
    if !plan.reduces && !plan.slots.iter().any(|s| matches!(s, ArgSlot::Global(_))) {
        return Vec::new();
    }
    args.iter()
        .map(|a| match &a.0 {
            ArgKind::Global {
                global,
                access: Access::Inc,
            } => vec![0u64; global.read().len()],
            ArgKind::Global { global, .. } => global.read().clone(),
            _ => Vec::new(),
        })
        .collect()
}

/// Halo exchange begin: the owners' values of every stale Dat, one part each.
fn halo_begin(live: &Live, dats: &DatGuards, stale: &[usize]) -> Exchange {
    let mut exchange = Exchange::begin(TAG_HALO_FORWARD);
    for &u in stale {
        let dat = live.dat(u);
        let halo = dat.set().halo().expect("exchanges imply a halo");
        exchange.forward(halo, bytemuck::cast_slice(&dats[u][..]), elem_bytes(dat));
    }
    exchange
}

/// Halo exchange end: unpack every stale Dat's part into its halo copies, now valid.
fn halo_end(live: &Live, dats: &mut DatGuards, stale: &[usize], arrived: &Arrived) -> Result<()> {
    for (k, &u) in stale.iter().enumerate() {
        let dat = live.dat(u);
        let halo = dat.set().halo().expect("exchanges imply a halo");
        let bytes = bytemuck::cast_slice_mut(&mut dats[u][..]);
        halo.forward_unpack(bytes, elem_bytes(dat), arrived.part(k))?;
        dat.set_halo_valid(true);
    }
    Ok(())
}

/// Which owned elements a compute phase runs.
#[derive(Clone, Copy)]
enum Elements {
    /// Those that reach no halo copy (while halo messages fly).
    Core,
    /// The rest (after the halo copies arrived).
    NonCore,
    /// Every owned element (nothing to wait for).
    All,
}

/// The loaded code with its pointer tables, on one thread or in colored blocks.
struct Compute<'a> {
    loaded: &'a LoadedKernel,
    ptrs: &'a [*mut c_void],
    maps: &'a [*const i32],
    blocks: Option<Blocks<'a>>,
}

impl Compute<'_> {
    /// Run the generated code over `elements` of `set`.
    ///
    /// # Safety
    /// The pointer tables must satisfy [`LoadedKernel::call`]'s contract for every owned
    /// element of `set` (as [`PtrTables::fill`] builds them, with its guards still held).
    unsafe fn run(&mut self, set: &Set, elements: Elements) {
        let (core, owned) = (set.core_size(), set.size());
        let (loaded, ptrs, maps) = (self.loaded, self.ptrs, self.maps);
        // SAFETY: upheld by the caller, as documented above.
        unsafe {
            match (self.blocks.as_mut(), elements) {
                (None, Elements::All) => loaded.call(0, owned, ptrs, maps),
                (None, Elements::Core) => loaded.call(0, core, ptrs, maps),
                (None, Elements::NonCore) => loaded.call(core, owned, ptrs, maps),
                (Some(b), Elements::All) => {
                    b.run(loaded, 0, maps);
                    b.run(loaded, 1, maps);
                }
                (Some(b), Elements::Core) => b.run(loaded, 0, maps),
                (Some(b), Elements::NonCore) => b.run(loaded, 1, maps),
            }
        }
    }

    /// Per-block Global results, combined in block order (independent of scheduling).
    fn combine_blocks(self, args: &[Arg], gbufs: &mut [Vec<u64>]) {
        if let Some(b) = self.blocks {
            b.combine(args, gbufs);
        }
    }
}

/// Checked mode: the READ Globals whose buffer is no longer as the kernel got it.
fn read_globals_changed(args: &[Arg], gbufs: &[Vec<u64>], written: &mut Vec<usize>) {
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

/// Reverse exchange of the Dats: indirect INC contributions in halo copies are added at their
/// owners, indirect MIN/MAX halo copies (refreshed before the loop, so untouched ones hold
/// the owner's value) folded into them; indirect WRITE/RW copies the loop touched are stored
/// there. Returns the first
/// conflict (an entry written differently by elements on two ranks) as its message.
fn reverse_dats(
    loaded: &LoadedKernel,
    live: &Live,
    comm: Comm,
    dats: &mut DatGuards,
) -> Result<Option<String>> {
    let mut conflict: Option<String> = None;
    for (u, d) in live.plan.dats.iter().enumerate() {
        if !d.access.writes() || !d.exchanges {
            continue;
        }
        let dat = live.dat(u);
        let halo = dat.set().halo().expect("exchanges imply a halo");
        let eb = elem_bytes(dat);
        if d.access.is_reduction() {
            let mut exchange = Exchange::begin(TAG_HALO_REVERSE);
            exchange.reverse(halo, bytemuck::cast_slice(&dats[u][..]), eb);
            let arrived = exchange.run(comm)?;
            let (dtype, dim) = (dat.dtype(), dat.dim());
            arrived.unpack_reverse_fold(0, halo, &mut dats[u], dtype, dim, fold_op(d.access))?;
        } else if let Some((i, from)) =
            halo.reverse_touched(comm, TAG_HALO_REVERSE, &mut dats[u], eb, &d.touched)?
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
    Ok(conflict)
}

/// Any write leaves the halo copies of the written Dats stale.
fn mark_halos_stale(live: &Live) {
    for (u, d) in live.plan.dats.iter().enumerate() {
        if d.access.writes() {
            live.dat(u).mark_halo_stale();
        }
    }
}

/// Agree a conflict of an indirect WRITE/RW across ranks: every rank takes part when the plan
/// has such a Dat (the plan is the same on every rank).
fn agree_conflict(plan: &LoopPlan, comm: Comm, conflict: Option<String>) -> Result<()> {
    if !(plan.dats.iter()).any(|d| d.exchanges && matches!(d.access, Access::Write | Access::RW)) {
        return Ok(());
    }
    let r = match conflict {
        Some(detail) => Err(Error::SpmdMismatch {
            what: "the value of an indirectly written entry".into(),
            detail,
        }),
        None => Ok(()),
    };
    crate::mpi::agree::agree(comm, crate::mpi::agree::Share::Detail, r)
}

/// Reverse exchange of the Mats: halo rows go to their owners, added (INC) or stored where
/// touched (WRITE).
fn reverse_mats(live: &Live, mats: &mut MatGuards) -> Result<()> {
    for (m, g) in mats.iter_mut().enumerate() {
        let sp = live.mat(m).sparsity();
        let Some(dist) = sp.dist() else { continue };
        let bs = sp.dims().0 * sp.dims().1;
        let mp = &live.plan.mats[m];
        if mp.access == Access::Inc {
            dist.reverse_add(sp.rowptr(), bs, g)?;
        } else {
            dist.reverse_write(sp.rowptr(), sp.owned_rows(), bs, g, &mp.halo_touched)?;
        }
    }
    Ok(())
}

/// Reductions: combine this rank's result of every reducing Global with every other rank's
/// (INC adds the sum into the Global's value, MIN/MAX replace it).
fn reduce_globals(plan: &LoopPlan, args: &[Arg], comm: Comm, gbufs: &[Vec<u64>]) -> Result<()> {
    if !plan.reduces {
        return Ok(());
    }
    for (i, a) in args.iter().enumerate() {
        let ArgKind::Global { global, access } = &a.0 else {
            continue;
        };
        if *access == Access::Read {
            continue;
        }
        let op = fold_op(*access);
        let reduced = reduce_words(comm, global.dtype(), global.dim(), &gbufs[i], op)?;
        let mut g = global.write();
        if *access == Access::Inc {
            add_words(global.dtype(), global.dim(), &mut g, &reduced);
        } else {
            *g = reduced;
        }
    }
    Ok(())
}

/// How a reducing access combines values: INC sums, MIN/MAX keep the smaller/larger.
fn fold_op(access: Access) -> ReduceOp {
    match access {
        Access::Inc => ReduceOp::Sum,
        Access::Min => ReduceOp::Min,
        _ => ReduceOp::Max,
    }
}

/// Argument and map pointer tables up to this many arguments live on the stack.
const INLINE_ARGS: usize = 8;

/// The argument and map pointer tables of one run, in argument order; the map table has one
/// more entry after the arguments': a Subset's index table (null for a set), which the code
/// generated for a loop over a Subset reads (`jit/codegen.rs`, `element_loop`).
struct PtrTables {
    n: usize,
    ptrs: [*mut c_void; INLINE_ARGS],
    maps: [*const i32; INLINE_ARGS + 1],
    spill: (Vec<*mut c_void>, Vec<*const i32>),
}

impl PtrTables {
    /// Tables for `n` arguments of a loop over `set` (inlined: built in the caller's frame,
    /// not copied out of this one).
    #[inline(always)]
    fn new(n: usize, set: &Set) -> PtrTables {
        let mut spill = (Vec::new(), Vec::new());
        if n > INLINE_ARGS {
            spill.0.resize(n, std::ptr::null_mut());
            spill.1.resize(n + 1, std::ptr::null());
        }
        let mut t = PtrTables {
            n,
            ptrs: [std::ptr::null_mut(); INLINE_ARGS],
            maps: [std::ptr::null(); INLINE_ARGS + 1],
            spill,
        };
        // The index table lives in the set (held by the caller for the whole run).
        t.slices().1[n] = set.indices().map_or(std::ptr::null(), |ix| ix.as_ptr());
        t
    }

    /// The argument pointers (`n`) and the map pointers (`n + 1`).
    fn slices(&mut self) -> (&mut [*mut c_void], &mut [*const i32]) {
        if self.n <= INLINE_ARGS {
            (&mut self.ptrs[..self.n], &mut self.maps[..self.n + 1])
        } else {
            (&mut self.spill.0, &mut self.spill.1)
        }
    }

    /// Every argument's data and map pointer. Returns the Mats' position tables, which the
    /// map pointers of Mat arguments point into: hold them until after the calls.
    ///
    /// Why the calls are sound: every Dat pointer comes from a write guard held until after the
    /// calls, over storage of `total_size * dim` elements of the Dat's dtype; map values were
    /// validated at Map construction to index [0, total_size) of the Dat's set and cover every
    /// owned element of the iteration set (arity each); direct arguments are on the iteration
    /// set so [0, owned) is in range; Global buffers hold `dim` values of their dtype. The
    /// generated code was produced for exactly these shapes (they are its cache key). A Mat
    /// pointer comes from a write guard on its values (held until after the calls) holding
    /// block_nnz * rdim * cdim doubles; its position table holds, for every owned element of
    /// the iteration set (the pair's maps start there) and every (i, j) of the element matrix,
    /// a block index below block_nnz, built from the same maps. Over a Subset the code visits
    /// the elements of its index table at positions [0, owned of the subset): the table holds
    /// at least that many entries, validated at construction to be sorted indices whose first
    /// `owned` are owned elements of the superset, on which every Dat, map and position table
    /// above is (the subset's arguments are validated against its superset).
    fn fill(
        &mut self,
        live: &Live,
        dats: &mut DatGuards,
        mats: &mut MatGuards,
        gbufs: &mut [Vec<u64>],
    ) -> Vec<Arc<PosTable>> {
        let (ptrs, maps) = self.slices();
        let mut positions = Vec::new();
        for (i, (a, s)) in live.args.iter().zip(&live.plan.slots).enumerate() {
            match (&a.0, *s) {
                (ArgKind::Dat { path, .. }, ArgSlot::Dat(u)) => {
                    (ptrs[i], maps[i]) = dat_pointers(&mut dats[u], path);
                }
                (ArgKind::Global { .. }, _) => {
                    ptrs[i] = gbufs[i].as_mut_ptr() as *mut c_void;
                }
                (ArgKind::Mat { mat, .. }, ArgSlot::Mat { m, pair }) => {
                    ptrs[i] = mats[m].as_mut_ptr() as *mut c_void;
                    let t = mat.sparsity().positions(pair);
                    maps[i] = t.table.as_ptr();
                    positions.push(t);
                }
                _ => unreachable!("the plan's slots follow the arguments"),
            }
        }
        positions
    }
}

fn elem_bytes(d: &Dat) -> usize {
    d.dim() * d.dtype().size()
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
