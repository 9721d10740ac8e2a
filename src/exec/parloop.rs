//! `par_loop`: run a kernel over every owned element of a set.
//!
//! Owns argument validation, the per-loop cache key, the class-cache -> disk-cache lookup, and
//! the call of the run step (`phases.rs`: halo exchanges overlapped with the core elements, the
//! call of the generated code, reverse exchanges of indirect writes, reductions of Globals) over
//! a loop plan (`plan.rs`, built once per loop and set). It never generates or compiles code
//! itself and never touches MPI except through `Comm`.
//!
//! Semantics match a straightforward serial loop over all elements of the set, on any number
//! of ranks: each element is executed once, by its owner; indirect READs see the owners' current
//! values; indirect INCs from every rank are summed at the owner; Globals are reduced over all
//! ranks (INC sums into the Global's value, MIN/MAX combine with it).

use std::sync::Arc;
use std::time::Instant;

use crate::build::key::{self, ArgShape, Request, Signature};
use crate::build::{class_cache, fetch, spmd, Held};
use crate::cache::object::Entry;
use crate::config::Config;
use crate::data::set::Set;
use crate::error::Result;
use crate::exec::arg::{shapes, Arg};
use crate::exec::check;
use crate::exec::dispatch::Ident;
use crate::exec::phases;
use crate::exec::plan::{plan_for, LoopPlan};
use crate::jit::kernel::Kernel;
use crate::mpi::comm::Comm;

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
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// op2::par_loop(&k, &s, &[x.arg(op2::Access::Read), sum.arg(op2::Access::Inc)]).unwrap();
/// assert_eq!(sum.value::<f64>().unwrap(), vec![10.0]);
/// ```
pub fn par_loop(kernel: &Kernel, set: &Set, args: &[Arg]) -> Result<()> {
    let ctx = Context::enter(kernel);
    let ident = Ident::of(kernel, set, args, crate::config::epoch());
    let hit = ident.find();
    // The clock on every miss and on the hits the timing slot asks for (`timing.rs`).
    let t0 = match &hit {
        Some((_, plan)) if !plan.timing.wants_clock() => None,
        _ => Some(Instant::now()),
    };
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
    let comm_seconds = phases::run(&class.kernel, &plan, set, args, None)?;
    plan.timing.record(t0.map(|t| t.elapsed()), comm_seconds);
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
    hit: Option<(Arc<Held>, Arc<Entry<LoopPlan>>)>,
    key: u64,
    t0: Option<Instant>,
) -> Result<()> {
    let what = || format!("par_loop `{}` over set {}", kernel.name(), set.name());
    let any_miss = check::agree_call(set.comm(), key, &what, hit.is_none())?;
    let call = check::calls();
    let (class, plan) = match hit {
        Some(hit) if !any_miss => hit,
        _ => resolve(kernel, set, args, ident, true)?,
    };
    let mut checked = check::before(&plan, args)?;
    let comm_seconds = phases::run(
        &class.kernel,
        &plan,
        set,
        args,
        Some(&mut checked.globals_written),
    )?;
    checked.after(kernel, set, &plan, args, call)?;
    plan.timing.record(t0.map(|t| t.elapsed()), comm_seconds);
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
) -> Result<(Arc<Held>, Arc<Entry<LoopPlan>>)> {
    let comm = set.comm();
    let shapes = shapes(kernel, set, args);
    let shapes = if together {
        crate::mpi::agree::agree(comm, crate::mpi::agree::Share::Detail, shapes)?
    } else {
        shapes.map_err(|e| refuse(kernel, comm, e))?
    };
    let config = crate::mpi::attr::config(comm)?;
    let indexed = set.indices().is_some();
    let (class, class_key) = lookup(&config, kernel, comm, &shapes, indexed)?;
    seen(kernel.0.hash, comm, true);
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

/// Kernels (by hash) whose loops the runtime on a communicator has resolved (kept on the
/// communicator beside its class cache, and gone with it): before that, no rank can find one
/// of their loops in its class cache (ranks run the same loops), so every rank with valid
/// arguments will enter the disk cache's SPMD check.
#[derive(Default)]
struct Seen(std::sync::Mutex<Vec<u128>>);

/// Whether `hash` was resolved on `comm`; `add`: record it.
fn seen(hash: u128, comm: Comm, add: bool) -> bool {
    let seen = crate::mpi::attr::get_or_insert_with(comm, Seen::default);
    let mut s = seen.0.lock().unwrap_or_else(|e| e.into_inner());
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
    if comm.size() == 1 || seen(kernel.0.hash, comm, false) {
        return e;
    }
    match crate::mpi::attr::config(comm) {
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
    indexed: bool,
) -> Result<(Arc<Held>, u128)> {
    let mut toolchain = key::toolchain_words(&config.cc, &config.cflags);
    toolchain[1] ^= crate::jit::simd::Options::of(config).word();
    let class_key = Signature {
        kernel,
        args: shapes,
        indexed,
    }
    .class_key(toolchain, comm.id());
    let class = class_cache(comm);
    if let Some(k) = class.get(class_key) {
        return Ok((k, class_key));
    }
    let req = Request {
        kernel,
        shapes,
        indexed,
        class_key,
    };
    let loaded = fetch::fetch_or_compile(comm, config, &req)?;
    let held = class.insert(class_key, loaded, 0, config.memory_cache_max_entries);
    Ok((held, class_key))
}
