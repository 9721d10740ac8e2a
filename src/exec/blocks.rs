//! Running a threaded loop: the phases of a [`Schedule`] on the rank's thread pool, with
//! per-block Global reduction buffers combined in block order.
//!
//! Owns the only place where generated code runs on worker threads. Phases run one after
//! another; in a phase the calling thread and each pool thread run their own list of blocks in
//! order (the same thread index gets the same partition every call; the caller is thread 0); each block is one call of the generated entry
//! point over its element range (the ABI takes any `[start, end)`), so nothing in the generated
//! code changes with threads. Global INC/MIN/MAX results of each block go to that block's own
//! buffer and are combined in block order, so a reduction depends on the schedule (block size,
//! thread count, mesh), never on which thread ran what: results are identical run to run.

use std::ffi::c_void;

use crate::data::access::Access;
use crate::dtype::{with_scalar, DType, Scalar};
use crate::exec::arg::{Arg, ArgKind};
use crate::exec::colour::Schedule;
use crate::exec::plan::{ArgSlot, Threaded};
use crate::jit::ffi::LoadedKernel;

/// The argument pointers of every block of one loop run.
pub(crate) struct Blocks<'a> {
    threaded: &'a Threaded,
    nargs: usize,
    /// `nargs` pointers per block: the loop's pointers, with each reducing Global replaced by
    /// the block's own buffer.
    ptrs: Vec<*mut c_void>,
    /// Per block, per reducing Global (in argument order): the block's buffer.
    bufs: Vec<Vec<u64>>,
    /// Argument indices of the reducing Globals.
    reducing: Vec<usize>,
}

/// Pointers handed to worker threads.
struct Shared<'b> {
    ptrs: &'b [*mut c_void],
    maps: &'b [*const i32],
}
// SAFETY: the pointers are only dereferenced by generated code called from `Blocks::run`,
// whose colouring guarantees that concurrently running blocks write disjoint entries (see
// `Blocks::run`); the storage they point to is locked by the calling thread for the whole run.
unsafe impl Sync for Shared<'_> {}

impl Shared<'_> {
    /// Run block `b` over `range`.
    ///
    /// # Safety
    /// As [`Blocks::run`].
    unsafe fn call(&self, loaded: &LoadedKernel, range: (usize, usize), b: usize, n: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { loaded.call(range.0, range.1, &self.ptrs[b * n..(b + 1) * n], self.maps) };
    }
}

impl<'a> Blocks<'a> {
    /// Per-block copies of the reduction buffers `gbufs` (INC: zeros; MIN/MAX: the Global's
    /// value, as the single-threaded loop starts from).
    pub(crate) fn new(
        threaded: &'a Threaded,
        args: &[Arg],
        slots: &[ArgSlot],
        ptrs: &[*mut c_void],
        gbufs: &[Vec<u64>],
    ) -> Blocks<'a> {
        let nblocks = threaded.schedule.blocks.len();
        let reducing: Vec<usize> = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, ArgSlot::Global(a) if *a != Access::Read))
            .map(|(i, _)| i)
            .collect();
        let mut bufs: Vec<Vec<u64>> = Vec::with_capacity(nblocks * reducing.len());
        for _ in 0..nblocks {
            for &i in &reducing {
                bufs.push(gbufs[i].clone());
            }
        }
        let mut all = Vec::with_capacity(nblocks * args.len());
        for b in 0..nblocks {
            let mut own = reducing.iter().enumerate();
            let mut next = own.next();
            for (i, p) in ptrs.iter().enumerate() {
                match next {
                    Some((j, &r)) if r == i => {
                        all.push(bufs[b * reducing.len() + j].as_mut_ptr() as *mut c_void);
                        next = own.next();
                    }
                    _ => all.push(*p),
                }
            }
        }
        Blocks {
            threaded,
            nargs: args.len(),
            ptrs: all,
            bufs,
            reducing,
        }
    }

    /// Run the phases of group `g` (0: core elements, 1: boundary elements) one after another;
    /// in a phase, the calling thread runs thread list 0 and pool thread `i` thread list `i + 1`
    /// (and `+ k * (pool size + 1)` if the pool were smaller), so a thread keeps its partition
    /// from loop to loop.
    ///
    /// # Safety
    /// The pointers given to [`Blocks::new`] and `maps` must satisfy [`LoadedKernel::call`]'s
    /// contract for every owned element. Blocks of different threads in one phase touch
    /// disjoint target entries through every map the loop writes through (and Mats through
    /// their row maps), direct arguments are disjoint element ranges, READ arguments are only
    /// read, and each block has its own Global buffers, so concurrent blocks never write the
    /// same memory.
    pub(crate) unsafe fn run(&mut self, loaded: &LoadedKernel, g: usize, maps: &[*const i32]) {
        let sched: &Schedule = &self.threaded.schedule;
        let shared = Shared {
            ptrs: &self.ptrs,
            maps,
        };
        let n = self.nargs;
        let list = |l: &[usize]| {
            for &b in l {
                // SAFETY: upheld by the caller and the schedule, as documented above.
                unsafe { shared.call(loaded, sched.blocks[b], b, n) };
            }
        };
        for phase in &sched.groups[g] {
            if phase.iter().filter(|l| !l.is_empty()).count() <= 1 {
                phase.iter().for_each(|l| list(l));
                continue;
            }
            // The calling thread is thread 0 and runs its own list; pool thread `i` runs list
            // `i + 1` (one wake-up fewer than handing every list to the pool, and the caller
            // keeps its partition in its cache as a rank's one thread does).
            let pool = &self.threaded.pool;
            let size = pool.current_num_threads() + 1;
            pool.in_place_scope(|s| {
                s.spawn_broadcast(|_, ctx| {
                    for l in phase.iter().skip(ctx.index() + 1).step_by(size) {
                        list(l);
                    }
                });
                for l in phase.iter().step_by(size) {
                    list(l);
                }
            });
        }
    }

    /// Fold every block's Global results into `gbufs`, in block order.
    pub(crate) fn combine(self, args: &[Arg], gbufs: &mut [Vec<u64>]) {
        let nr = self.reducing.len();
        for (j, &i) in self.reducing.iter().enumerate() {
            let ArgKind::Global { global, access } = &args[i].0 else {
                unreachable!("reducing slots are Globals")
            };
            let (dtype, dim) = (global.dtype(), global.dim());
            for b in 0..self.threaded.schedule.blocks.len() {
                combine_words(dtype, dim, *access, &mut gbufs[i], &self.bufs[b * nr + j]);
            }
        }
    }
}

/// `into = into (+ | min | max) from`, elementwise over `dim` values of `dtype`.
pub(crate) fn combine_words(
    dtype: DType,
    dim: usize,
    access: Access,
    into: &mut [u64],
    from: &[u64],
) {
    fn go<T: Scalar + std::ops::AddAssign + PartialOrd>(
        into: &mut [u64],
        from: &[u64],
        dim: usize,
        access: Access,
    ) {
        let f: &[T] = &bytemuck::cast_slice::<u64, T>(from)[..dim];
        for (x, y) in bytemuck::cast_slice_mut::<u64, T>(into)[..dim]
            .iter_mut()
            .zip(f)
        {
            match access {
                Access::Inc => *x += *y,
                Access::Min if *y < *x => *x = *y,
                Access::Max if *y > *x => *x = *y,
                _ => {}
            }
        }
    }
    with_scalar!(dtype, T => go::<T>(into, from, dim, access))
}
