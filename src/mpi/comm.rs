//! Communicators: the only module that calls MPI.
//!
//! Owns every collective and point-to-point operation op2 performs, behind a small typed
//! API (`broadcast_bytes`, `allreduce`, `gather_bytes`, `alltoallv`, `exchange`,
//! `idle_barrier`; `node_layout` in `mpi/node.rs`, error agreement in `mpi/agree.rs`). Other modules never
//! import `mpi` directly, so the rules below live in one place:
//!
//! * A [`Comm`] is a small `Copy` descriptor: either MPI's world communicator or a serial
//!   (one-process, no-MPI) communicator. Serial collectives are identities, so the whole
//!   runtime works in unit tests without MPI.
//! * Every call on a world `Comm` first checks that MPI is still active; after
//!   [`crate::Runtime`] finalized MPI it returns [`Error::Mpi`] instead of aborting.
//! * Collectives must be entered by every rank of the communicator in the same order
//!   (SPMD). Callers that might diverge check first (see `cache::disk`'s key check).
// This module is the one MPI caller (clippy.toml forbids MPI calls elsewhere).
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::datatype::{Partition, PartitionMut};
use mpi::traits::*;

use crate::error::{Error, Result};

/// MPI's communicator handle type (MPICH: `int`): handed in by a caller that owns MPI
/// ([`Comm::from_raw`]) and given to libraries that run on op2's communicator.
pub type RawComm = mpi::ffi::MPI_Comm;

/// Ids of the communicators op2 freed ([`Comm::free`]): a handle still held by an object of
/// a finalized runtime must fail with a message, never reach MPI.
static FREED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn freed(id: u64) -> bool {
    FREED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&id)
}

/// True between `Runtime` creation and its finalize.
/// Allreduces entered (see [`Comm::allreduce_count`]).
static ALLREDUCES: AtomicU64 = AtomicU64::new(0);
static MPI_ACTIVE: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_mpi_active(on: bool) {
    MPI_ACTIVE.store(on, Ordering::SeqCst);
}

// ---- Hang watchdog (OP2_HANG_TIMEOUT) ----------------------------------------------------
//
// Every collective below marks itself in two atomics (which operation, since when) and clears
// them when it returns: two relaxed stores and a clock read. So the watchdog measures the time
// blocked inside one collective, never the time between them. A per-process thread wakes a
// few times per timeout and, if one collective has been waiting longer than the timeout,
// prints which loop and collective this rank is in and aborts the job (MPI_Abort) a moment
// later, so that the other ranks' watchdogs print their side too: a rank that never joins a
// collective turns into an error message on every rank that waits. An idle barrier (the
// other ranks waiting while rank 0 works alone: a compile, reading and partitioning a mesh)
// is not aborted: rank 0 is busy, not stuck (a compile is bounded by OP2_COMPILE_TIMEOUT and
// OP2_LOCK_TIMEOUT); past the timeout it prints one line saying where it waits, and if rank 0
// is in fact stuck in another collective, rank 0's own watchdog ends the job.

const OPS: [&str; 10] = [
    "",
    "barrier",
    "broadcast",
    "allreduce",
    "gather",
    "allgather",
    "scatter",
    "halo exchange (point-to-point)",
    "idle barrier (waiting for rank 0's work)",
    "alltoall",
];
/// The idle barrier: reported once past the timeout, never aborted.
const OP_IDLE: u8 = 8;

static WATCH_ON: AtomicBool = AtomicBool::new(false);
static WATCH_TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);
/// Milliseconds since `watch_epoch()` + 1 when the current collective started; 0 = none.
static WATCH_SINCE: AtomicU64 = AtomicU64::new(0);
static WATCH_OP: AtomicU8 = AtomicU8::new(0);
/// What this rank is running (a key of `WATCH_NAMES`; 0 = outside any par_loop): one relaxed
/// store per par_loop, no lock.
static WATCH_CTX: AtomicU64 = AtomicU64::new(0);
static WATCH_NAMES: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());

fn watch_epoch() -> Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

/// Marks one collective as in progress while alive (no-op while the watchdog is off).
struct Watch(bool);

fn watch(op: u8) -> Watch {
    if !WATCH_ON.load(Ordering::Relaxed) || WATCH_SINCE.load(Ordering::Relaxed) != 0 {
        return Watch(false); // off, or inside an outer watched collective
    }
    WATCH_OP.store(op, Ordering::Relaxed);
    let now = watch_epoch().elapsed().as_millis() as u64 + 1;
    WATCH_SINCE.store(now, Ordering::Relaxed);
    Watch(true)
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.0 {
            WATCH_SINCE.store(0, Ordering::Relaxed);
        }
    }
}

/// Describe context `key` (non-zero) for the watchdog's message, e.g. "in loop `res_calc`";
/// once per key (a par_loop's first call), not on every call.
pub(crate) fn watch_register(key: u64, what: impl FnOnce() -> String) {
    let mut names = WATCH_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if !names.iter().any(|(k, _)| *k == key) {
        names.push((key, what()));
    }
}

/// Say that this rank now runs context `key` (registered with [`watch_register`]; 0 = outside
/// any par_loop): one relaxed store.
#[inline]
pub(crate) fn watch_context(key: u64) {
    WATCH_CTX.store(key, Ordering::Relaxed);
}

/// Where this rank is, for messages: the registered description of the current context.
pub(crate) fn watch_where() -> String {
    let key = WATCH_CTX.load(Ordering::Relaxed);
    let names = WATCH_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    match names.iter().find(|(k, _)| *k == key) {
        Some((_, w)) if key != 0 => w.clone(),
        _ => "outside any par_loop".to_string(),
    }
}

/// The limit in force (zero: off), for tests and reports.
pub fn hang_timeout() -> Duration {
    if WATCH_ON.load(Ordering::Relaxed) {
        Duration::from_millis(WATCH_TIMEOUT_MS.load(Ordering::Relaxed))
    } else {
        Duration::ZERO
    }
}

/// Turn the watchdog on with `timeout` (zero: off) for this process, whose world rank is
/// `rank`. The thread is started once per process; turning off just stops it from acting.
pub(crate) fn set_watchdog(timeout: Duration, rank: i32) {
    WATCH_TIMEOUT_MS.store(timeout.as_millis() as u64, Ordering::SeqCst);
    WATCH_ON.store(!timeout.is_zero(), Ordering::SeqCst);
    if timeout.is_zero() {
        return;
    }
    watch_epoch();
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("op2-watchdog".into())
            .spawn(move || watchdog(rank))
            .expect("spawn the watchdog thread");
    });
}

fn watchdog(rank: i32) -> ! {
    let mut noted = 0; // the idle wait already reported (its start time)
    loop {
        let limit = WATCH_TIMEOUT_MS.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis((limit / 4).clamp(50, 1000)));
        let since = WATCH_SINCE.load(Ordering::Relaxed);
        if !WATCH_ON.load(Ordering::Relaxed) || since == 0 {
            continue;
        }
        let now = watch_epoch().elapsed().as_millis() as u64 + 1;
        if now.saturating_sub(since) < limit {
            continue;
        }
        let code = WATCH_OP.load(Ordering::Relaxed);
        let op = OPS[code as usize % OPS.len()];
        let lp = watch_where();
        let waited = (now - since) as f64 / 1000.0;
        use std::io::Write as _;
        if code == OP_IDLE {
            if noted != since {
                noted = since;
                let line = format!(
                    "op2: rank {rank}: still waiting: {op} {lp} for {waited:.0} s (OP2_HANG_TIMEOUT={} s); not aborting: rank 0 may still be compiling or reading (if rank 0 is stuck elsewhere, its watchdog ends the job)\n",
                    limit / 1000
                );
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            continue;
        }
        let line = format!(
            "op2: rank {rank}: hang: {op} {lp} has waited {waited:.0} s for the other ranks (OP2_HANG_TIMEOUT={} s): some rank never joined it (ranks ran different code? every rank prints where it waits; OP2_CHECK=1 names the first loop they disagree on); aborting the MPI job\n",
            limit / 1000
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
        // Give the other ranks' watchdogs a moment to print their side too.
        std::thread::sleep(Duration::from_millis(limit.min(3000)));
        abort(3);
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Serial,
    World,
    /// A communicator other than the world (a split or duplicate of it, or one handed in from
    /// outside): its MPI handle and the id its ranks agreed on when op2 first saw it.
    Raw {
        raw: RawComm,
        id: u64,
    },
}

impl Kind {
    /// What identifies the communicator: the world, serial, or the agreed id of another.
    fn ident(&self) -> (u8, u64) {
        match self {
            Kind::Serial => (0, 0),
            Kind::World => (1, 1),
            Kind::Raw { id, .. } => (2, *id),
        }
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        self.ident() == other.ident()
    }
}

impl Eq for Kind {}

impl std::hash::Hash for Kind {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.ident().hash(h)
    }
}

/// A communicator: the processes that take part in a loop's collectives.
///
/// ```
/// let c = op2::Comm::serial();
/// assert_eq!((c.rank(), c.size()), (0, 1));
/// assert_eq!(c.broadcast_bytes(0, b"hi".to_vec()).unwrap(), b"hi");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Comm {
    kind: Kind,
    rank: i32,
    size: i32,
}

/// Reduction operators for [`Comm::allreduce`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Min,
    Max,
}

impl Comm {
    /// A one-process communicator that needs no MPI.
    pub fn serial() -> Comm {
        Comm {
            kind: Kind::Serial,
            rank: 0,
            size: 1,
        }
    }

    /// MPI's world communicator. Only the runtime creates it, after MPI is initialized.
    pub(crate) fn world() -> Comm {
        let w = mpi::topology::SimpleCommunicator::world();
        Comm {
            kind: Kind::World,
            rank: w.rank(),
            size: w.size(),
        }
    }

    /// A communicator handed in from outside op2 (e.g. by mpi4py), for
    /// [`crate::Runtime::on_raw_comm`]. Collective over `raw`: its ranks agree on the id that
    /// keys op2's per-communicator state (class caches, plans). The caller keeps ownership:
    /// op2 never frees it.
    ///
    /// # Safety
    /// `raw` must be a live MPI intra-communicator of this process's MPI and stay live until
    /// every op2 object and runtime on it has been dropped.
    pub unsafe fn from_raw(raw: RawComm) -> Result<Comm> {
        use mpi::raw::AsRaw;
        if !MPI_ACTIVE.load(Ordering::SeqCst) {
            return Err(Error::Mpi(
                "Comm::from_raw needs MPI: call op2::init first".into(),
            ));
        }
        let world = mpi::topology::SimpleCommunicator::world();
        if raw == world.as_raw() {
            return Ok(Comm::world());
        }
        let (mut rank, mut size, mut inter) = (0, 0, 0);
        // SAFETY: the caller guarantees `raw` is a live communicator; the out-pointers are
        // valid locals. MPI reports a bad handle through its return code.
        let rc = unsafe {
            mpi::ffi::MPI_Comm_test_inter(raw, &mut inter)
                | mpi::ffi::MPI_Comm_rank(raw, &mut rank)
                | mpi::ffi::MPI_Comm_size(raw, &mut size)
        };
        if rc != 0 || inter != 0 {
            return Err(Error::Mpi(format!(
                "Comm::from_raw: not a live intra-communicator (MPI code {rc}, inter {inter})"
            )));
        }
        Comm::agreed(raw, rank, size)
    }

    /// The communicator of `raw` (rank `rank` of `size`) with an id its ranks agree on: the
    /// largest next id of any of its ranks, so that no two communicators one process knows share
    /// an id (collective over `raw`).
    fn agreed(raw: RawComm, rank: i32, size: i32) -> Result<Comm> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(2);
        let probe = Comm {
            kind: Kind::Raw { raw, id: u64::MAX },
            rank,
            size: size.max(2), // so that the agreement runs even on one rank
        };
        let id = probe.allreduce_u64(NEXT_ID.load(Ordering::SeqCst), ReduceOp::Max)?;
        NEXT_ID.fetch_max(id + 1, Ordering::SeqCst);
        Ok(Comm {
            kind: Kind::Raw { raw, id },
            rank,
            size,
        })
    }

    /// Split this communicator (MPI_Comm_split; collective over it): ranks with the same
    /// `color` form a new communicator, ordered by `key`. The new communicator belongs to the
    /// caller; [`crate::Runtime::split`] takes it over and frees it at finalize.
    pub fn split(&self, color: u32, key: i32) -> Result<Comm> {
        let c = self.handle("Comm::split")?;
        let color = mpi::topology::Color::with_value(color as i32);
        let sub = c
            .split_by_color_with_key(color, key)
            .ok_or_else(|| Error::Mpi("MPI_Comm_split returned no communicator".into()))?;
        Comm::adopt(sub)
    }

    /// Duplicate this communicator (MPI_Comm_dup; collective over it), as [`Comm::split`].
    pub fn dup(&self) -> Result<Comm> {
        let c = self.handle("Comm::dup")?;
        Comm::adopt(c.duplicate())
    }

    /// A new communicator rsmpi created: op2 takes over its handle (freed by [`Comm::free`]).
    fn adopt(sub: mpi::topology::SimpleCommunicator) -> Result<Comm> {
        use mpi::raw::AsRaw;
        let (rank, size) = (sub.rank(), sub.size());
        let raw = std::mem::ManuallyDrop::new(sub).as_raw();
        Comm::agreed(raw, rank, size)
    }

    /// The MPI communicator even on one rank (splitting and duplicating need it).
    fn handle(
        &self,
        what: &str,
    ) -> Result<std::mem::ManuallyDrop<mpi::topology::SimpleCommunicator>> {
        match self.kind {
            Kind::Serial => Err(Error::Mpi(format!(
                "{what} needs MPI: call op2::init first (a serial communicator has no MPI)"
            ))),
            _ => Comm {
                size: self.size.max(2),
                ..*self
            }
            .mpi()
            .map(|c| c.expect("a communicator with MPI")),
        }
    }

    /// Free a communicator op2 created ([`Comm::split`], [`Comm::dup`]); collective over it.
    /// The world, serial and raw communicators handed in from outside are not op2's to free.
    pub(crate) fn free(self) {
        if let Kind::Raw { mut raw, id } = self.kind {
            FREED.lock().unwrap_or_else(|e| e.into_inner()).push(id);
            if MPI_ACTIVE.load(Ordering::SeqCst) {
                // SAFETY: `raw` was created by `split`/`dup` (the caller's `owned` flag says so)
                // and no op2 object uses it any more (its runtime is being finalized).
                unsafe { mpi::ffi::MPI_Comm_free(&mut raw) };
            }
        }
    }

    /// The communicator new objects use by default: the world while a [`crate::Runtime`]
    /// is active, else [`Comm::serial`].
    pub fn current() -> Comm {
        if MPI_ACTIVE.load(Ordering::Relaxed) {
            Comm::world()
        } else {
            Comm::serial()
        }
    }

    /// This process's rank.
    pub fn rank(&self) -> i32 {
        self.rank
    }
    /// Number of processes.
    pub fn size(&self) -> i32 {
        self.size
    }
    /// True on rank 0.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }
    /// Small stable identifier (equal on all ranks) used to key per-communicator state.
    pub fn id(&self) -> u64 {
        match self.kind {
            Kind::Serial => 0,
            Kind::World => 1,
            Kind::Raw { id, .. } => id,
        }
    }

    /// This rank's MPI processor name (the host name; see [`Comm::node_layout`]), or
    /// "serial" where op2 uses no MPI.
    pub(crate) fn processor_name(&self) -> Result<String> {
        if self.mpi()?.is_none() {
            return Ok("serial".into());
        }
        mpi::environment::processor_name()
            .map_err(|e| Error::Mpi(format!("MPI_Get_processor_name: {e}")))
    }

    /// The MPI communicator, or `None` for a serial one. Errors after finalize.
    fn mpi(&self) -> Result<Option<std::mem::ManuallyDrop<mpi::topology::SimpleCommunicator>>> {
        use mpi::raw::FromRaw;
        use std::mem::ManuallyDrop;
        if matches!(self.kind, Kind::Serial) || self.size == 1 {
            return Ok(None);
        }
        if !MPI_ACTIVE.load(Ordering::SeqCst) {
            return Err(Error::Mpi(
                "MPI communication after the op2 runtime was finalized".into(),
            ));
        }
        Ok(Some(match self.kind {
            Kind::Raw { raw, id } => {
                if freed(id) {
                    return Err(Error::Mpi(format!(
                        "communicator {id} was freed when its runtime was finalized: its \
                         objects cannot communicate any more"
                    )));
                }
                // SAFETY: `raw` is a live intra-communicator other than the world and self
                // (`Comm::from_raw` checked it, and its owner frees it only after the last
                // op2 use); the wrapper is never dropped, so rsmpi never frees the handle.
                ManuallyDrop::new(unsafe { mpi::topology::SimpleCommunicator::from_raw(raw) })
            }
            _ => ManuallyDrop::new(mpi::topology::SimpleCommunicator::world()),
        }))
    }

    /// The raw MPI communicator, for a library that runs its own MPI on it (HDF5's MPI-IO
    /// driver), or `None` where op2 uses no MPI (a serial or one-rank communicator). Errors
    /// after finalize.
    #[cfg(feature = "hdf5")]
    pub(crate) fn raw_mpi(&self) -> Result<Option<mpi::ffi::MPI_Comm>> {
        use mpi::raw::AsRaw;
        Ok(self.mpi()?.map(|c| c.as_raw()))
    }

    /// The raw MPI communicator for a library that runs on op2's ranks (PETSc): the world's
    /// handle (also on one rank), or `MPI_COMM_SELF` for a serial communicator while MPI is
    /// initialised. Errors when MPI is not (or no longer) initialised.
    #[cfg(feature = "petsc")]
    pub(crate) fn raw(&self) -> Result<RawComm> {
        use mpi::raw::AsRaw;
        if !MPI_ACTIVE.load(Ordering::SeqCst) {
            return Err(Error::Mpi(
                "a library needs MPI, but no op2 runtime is active (call op2::init first)".into(),
            ));
        }
        Ok(match self.kind {
            Kind::World => mpi::topology::SimpleCommunicator::world().as_raw(),
            Kind::Serial => mpi::topology::SimpleCommunicator::self_comm().as_raw(),
            Kind::Raw { raw, .. } => raw,
        })
    }

    /// Number of ranks of this communicator on this node: ranks with the same processor name
    /// (one allgather; see `node_layout` for why not MPI_Comm_split_type). Collective: every
    /// rank must call it. 1 for a serial communicator.
    pub fn ranks_on_node(&self) -> Result<usize> {
        if self.mpi()?.is_none() {
            return Ok(1);
        }
        let name = mpi::environment::processor_name()
            .map_err(|e| Error::Mpi(format!("MPI_Get_processor_name: {e}")))?;
        let names = self.allgather_bytes(name.as_bytes())?;
        Ok(names
            .iter()
            .filter(|n| n.as_slice() == name.as_bytes())
            .count())
    }

    /// Barrier.
    pub fn barrier(&self) -> Result<()> {
        if let Some(c) = self.mpi()? {
            let _w = watch(1);
            c.barrier();
        }
        Ok(())
    }

    /// A barrier that waits without spinning: a rank that arrives early checks every `poll`
    /// and sleeps in between, leaving its CPU to ranks still working (rank 0 partitioning a
    /// mesh while the others wait, on a node with fewer cores than ranks). Blocking MPI
    /// collectives busy-poll instead.
    ///
    /// ```
    /// op2::Comm::serial().idle_barrier(std::time::Duration::from_millis(1)).unwrap();
    /// ```
    pub fn idle_barrier(&self, poll: std::time::Duration) -> Result<()> {
        let Some(c) = self.mpi()? else {
            return Ok(());
        };
        let _w = watch(OP_IDLE);
        let mut req = c.immediate_barrier();
        loop {
            match req.test() {
                Ok(_) => return Ok(()),
                Err(r) => {
                    req = r;
                    std::thread::sleep(poll);
                }
            }
        }
    }

    /// Broadcast a byte buffer from `root`; non-root ranks' `data` is ignored.
    pub fn broadcast_bytes(&self, root: i32, data: Vec<u8>) -> Result<Vec<u8>> {
        let Some(c) = self.mpi()? else {
            return Ok(data);
        };
        let _w = watch(2);
        let p = c.process_at_rank(root);
        let mut len = data.len() as u64;
        p.broadcast_into(&mut len);
        let mut buf = if self.rank == root {
            data
        } else {
            vec![0u8; len as usize]
        };
        if len > 0 {
            p.broadcast_into(&mut buf[..]);
        }
        Ok(buf)
    }

    /// Element-wise reduction of `vals` over all ranks; every rank gets the result.
    ///
    /// `MIN`/`MAX` of unsigned types compare as unsigned on every MPI: they are reduced as the
    /// signed type of the same width with the sign bit flipped (an order-preserving map from
    /// unsigned to signed), because MPICH 4.0 compares `MPI_UINT64_T`/`MPI_UINT32_T` as signed
    /// (rank 0 holding 2^63 and rank 1 holding 5 gave a MIN of 2^63).
    ///
    /// A global norm of a Dat (docs/GUIDE.md shows this example): each rank sums the squares
    /// of the values it owns, the allreduce adds the ranks' sums.
    ///
    /// ```
    /// use op2::{Comm, Dat, DataSet, ReduceOp, Set};
    /// let nodes = Set::new(3).unwrap();
    /// let u = Dat::new(&DataSet::new(&nodes, 1).unwrap(), vec![3.0f64, 0.0, 4.0]).unwrap();
    /// let comm = Comm::current(); // the world under a runtime; in a program: rt.comm()
    /// let mine: f64 = u.to_vec::<f64>().unwrap().iter().map(|v| v * v).sum();
    /// let norm = comm.allreduce(&[mine], ReduceOp::Sum).unwrap()[0].sqrt();
    /// assert_eq!(norm, 5.0);
    /// ```
    pub fn allreduce<T: crate::Scalar>(&self, vals: &[T], op: ReduceOp) -> Result<Vec<T>> {
        use crate::DType;
        // Unsigned word `u` <-> signed word `s` of the same width, order-preserving.
        macro_rules! flipped {
            ($u:ty, $s:ty) => {{
                let top: $u = 1 << (<$u>::BITS - 1);
                let s: Vec<$s> = bytemuck::cast_slice::<T, $u>(vals)
                    .iter()
                    .map(|&v| (v ^ top) as $s)
                    .collect();
                let u: Vec<$u> = self
                    .allreduce(&s, op)?
                    .iter()
                    .map(|&v| (v as $u) ^ top)
                    .collect();
                Ok(bytemuck::cast_slice::<$u, T>(&u).to_vec())
            }};
        }
        match (op, T::DTYPE) {
            (ReduceOp::Min | ReduceOp::Max, DType::U64) => return flipped!(u64, i64),
            (ReduceOp::Min | ReduceOp::Max, DType::U32) => return flipped!(u32, i32),
            _ => {}
        }
        let Some(c) = self.mpi()? else {
            return Ok(vals.to_vec());
        };
        let _w = watch(3);
        ALLREDUCES.fetch_add(1, Ordering::Relaxed);
        let mut out = vals.to_vec();
        let sop = match op {
            ReduceOp::Sum => SystemOperation::sum(),
            ReduceOp::Min => SystemOperation::min(),
            ReduceOp::Max => SystemOperation::max(),
        };
        if !vals.is_empty() {
            c.all_reduce_into(vals, &mut out[..], sop);
        }
        Ok(out)
    }

    /// How many allreduces this process has entered on a distributed communicator so far
    /// (serial communicators reduce nothing and count nothing): solvers' tests count the
    /// reductions per iteration with it.
    pub fn allreduce_count() -> u64 {
        ALLREDUCES.load(Ordering::Relaxed)
    }

    /// Reduce one `u64` (convenience for counters and hashes).
    pub fn allreduce_u64(&self, v: u64, op: ReduceOp) -> Result<u64> {
        Ok(self.allreduce_words(&[v], op)?[0])
    }

    /// Element-wise reduction of `u64` words (hashes, flags) over all ranks.
    pub fn allreduce_words(&self, vals: &[u64], op: ReduceOp) -> Result<Vec<u64>> {
        self.allreduce(vals, op)
    }

    /// Gather variable-length byte buffers to `root`. Root gets one buffer per rank, others `None`.
    pub fn gather_bytes(&self, root: i32, data: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        let Some(c) = self.mpi()? else {
            return Ok(Some(vec![data.to_vec()]));
        };
        let _w = watch(4);
        let p = c.process_at_rank(root);
        let len = data.len() as i32;
        if self.rank == root {
            let mut lens = vec![0i32; self.size as usize];
            p.gather_into_root(&len, &mut lens[..]);
            let displs = displacements(&lens);
            let total: i32 = lens.iter().sum();
            let mut all = vec![0u8; total as usize];
            {
                let mut part = PartitionMut::new(&mut all[..], &lens[..], &displs[..]);
                p.gather_varcount_into_root(data, &mut part);
            }
            Ok(Some(
                lens.iter()
                    .zip(&displs)
                    .map(|(&l, &d)| all[d as usize..(d + l) as usize].to_vec())
                    .collect(),
            ))
        } else {
            p.gather_into(&len);
            p.gather_varcount_into(data);
            Ok(None)
        }
    }

    /// Gather variable-length byte buffers to every rank.
    pub fn allgather_bytes(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        let Some(c) = self.mpi()? else {
            return Ok(vec![data.to_vec()]);
        };
        let _w = watch(5);
        let mut lens = vec![0i32; self.size as usize];
        c.all_gather_into(&(data.len() as i32), &mut lens[..]);
        let displs = displacements(&lens);
        let total: i32 = lens.iter().sum();
        let mut all = vec![0u8; total as usize];
        {
            let mut part = PartitionMut::new(&mut all[..], &lens[..], &displs[..]);
            c.all_gather_varcount_into(data, &mut part);
        }
        Ok(lens
            .iter()
            .zip(&displs)
            .map(|(&l, &d)| all[d as usize..(d + l) as usize].to_vec())
            .collect())
    }

    /// Scatter variable-length byte buffers from `root` (one per rank, only read on root).
    pub fn scatter_bytes(&self, root: i32, parts: Option<Vec<Vec<u8>>>) -> Result<Vec<u8>> {
        let Some(c) = self.mpi()? else {
            return Ok(parts.and_then(|mut p| p.pop()).unwrap_or_default());
        };
        let _w = watch(6);
        let p = c.process_at_rank(root);
        let mut my_len = 0i32;
        if self.rank == root {
            let parts =
                parts.ok_or_else(|| Error::invalid("scatter_bytes", "root passed no data"))?;
            if parts.len() != self.size as usize {
                return Err(Error::invalid(
                    "scatter_bytes",
                    format!("{} parts for {} ranks", parts.len(), self.size),
                ));
            }
            let lens: Vec<i32> = parts.iter().map(|b| b.len() as i32).collect();
            p.scatter_into_root(&lens[..], &mut my_len);
            let displs = displacements(&lens);
            let flat: Vec<u8> = parts.concat();
            let mut mine = vec![0u8; my_len as usize];
            let part = Partition::new(&flat[..], &lens[..], &displs[..]);
            p.scatter_varcount_into_root(&part, &mut mine[..]);
            Ok(mine)
        } else {
            p.scatter_into(&mut my_len);
            let mut mine = vec![0u8; my_len as usize];
            p.scatter_varcount_into(&mut mine[..]);
            Ok(mine)
        }
    }

    /// Personalised all-to-all from one flat buffer: the first `counts[0]` values of `send` go
    /// to rank 0, the next `counts[1]` to rank 1, and so on. Returns what every rank sent here
    /// in one buffer, in rank order, with the count from each rank. No copies: `send` is
    /// dropped when the exchange is done, the received values land in the returned buffer.
    /// What a rank sends in total, and receives in total, must stay under 2^31 values (MPI's
    /// count limit); a rank over it, or with wrong counts, fails before the exchange and the
    /// others learn it (every rank returns an error, none hangs).
    ///
    /// ```
    /// let c = op2::Comm::serial();
    /// assert_eq!(c.alltoallv(vec![1u32, 2], &[2]).unwrap(), (vec![1, 2], vec![2]));
    /// assert!(c.alltoallv(vec![1u32, 2], &[1]).is_err());
    /// ```
    pub fn alltoallv<T: Equivalence + bytemuck::Pod>(
        &self,
        send: Vec<T>,
        counts: &[usize],
    ) -> Result<(Vec<T>, Vec<usize>)> {
        let what = "Comm::alltoallv";
        let total: usize = counts.iter().sum();
        let bad = if counts.len() != self.size as usize {
            Some(format!("{} counts for {} ranks", counts.len(), self.size))
        } else if total != send.len() {
            Some(format!(
                "counts sum to {total}, {} values given",
                send.len()
            ))
        } else {
            (total > i32::MAX as usize)
                .then(|| format!("{total} values to send exceed {}", i32::MAX))
        };
        let Some(c) = self.mpi()? else {
            return match bad {
                Some(d) => Err(Error::invalid(what, d)),
                None => Ok((send, counts.to_vec())),
            };
        };
        // Counts first (a rank that cannot send announces nothing), then one agreement on
        // whether every rank can send and receive, then the data.
        let send_lens: Vec<i32> = if bad.is_some() {
            vec![0; self.size as usize]
        } else {
            counts.iter().map(|&l| l as i32).collect()
        };
        let mut recv_lens = vec![0i32; self.size as usize];
        {
            let _w = watch(9);
            c.all_to_all_into(&send_lens[..], &mut recv_lens[..]);
        }
        let total_in: u64 = recv_lens.iter().map(|&l| l as u64).sum();
        let bad = bad.or_else(|| {
            (total_in > i32::MAX as u64)
                .then(|| format!("{total_in} values to receive exceed {}", i32::MAX))
        });
        let none = self.size as u64;
        let me = if bad.is_some() {
            self.rank as u64
        } else {
            none
        };
        let first = self.allreduce_u64(me, ReduceOp::Min)?;
        if let Some(d) = bad {
            return Err(Error::invalid(what, d));
        }
        if first != none {
            return Err(Error::Remote {
                rank: first as i32,
                detail: format!("{what}: it could not send or receive its parts"),
            });
        }
        let send_displs = displacements(&send_lens);
        let recv_displs = displacements(&recv_lens);
        let mut all = vec![T::zeroed(); total_in as usize];
        {
            let sp = Partition::new(&send[..], &send_lens[..], &send_displs[..]);
            let mut rp = PartitionMut::new(&mut all[..], &recv_lens[..], &recv_displs[..]);
            let _w = watch(9);
            c.all_to_all_varcount_into(&sp, &mut rp);
        }
        drop(send);
        Ok((all, recv_lens.iter().map(|&l| l as usize).collect()))
    }

    /// Neighbour exchange: send `sends[i].1` to rank `sends[i].0` and receive `recv_lens[j].1`
    /// bytes from rank `recv_lens[j].0`, running `during` while messages are in flight
    /// (communication/computation overlap). Returns the received buffers in `recv_lens` order
    /// and `during`'s result. Every message uses `tag`.
    pub fn exchange<R>(
        &self,
        tag: i32,
        sends: &[(i32, Vec<u8>)],
        recv_lens: &[(i32, usize)],
        during: impl FnOnce() -> R,
    ) -> Result<(Vec<Vec<u8>>, R)> {
        let mut recvs: Vec<Vec<u8>> = recv_lens.iter().map(|&(_, n)| vec![0u8; n]).collect();
        let Some(c) = self.mpi()? else {
            if !sends.is_empty() || !recv_lens.is_empty() {
                return Err(Error::invalid(
                    "Comm::exchange",
                    "point-to-point on a serial communicator",
                ));
            }
            return Ok((recvs, during()));
        };
        let r = mpi::request::multiple_scope(sends.len() + recv_lens.len(), |scope, coll| {
            for ((src, _), buf) in recv_lens.iter().zip(recvs.iter_mut()) {
                coll.add(c.process_at_rank(*src).immediate_receive_into_with_tag(
                    scope,
                    &mut buf[..],
                    tag,
                ));
            }
            for (dst, buf) in sends {
                coll.add(
                    c.process_at_rank(*dst)
                        .immediate_send_with_tag(scope, &buf[..], tag),
                );
            }
            let r = during();
            let _w = watch(7); // the wait only: `during` is computation
            let mut statuses = Vec::new();
            coll.wait_all(&mut statuses);
            r
        });
        Ok((recvs, r))
    }
}

/// Offsets of consecutive blocks of the given lengths (MPI's `displs`).
fn displacements(lens: &[i32]) -> Vec<i32> {
    lens.iter()
        .scan(0i32, |acc, &l| {
            let d = *acc;
            *acc += l;
            Some(d)
        })
        .collect()
}

/// MPI_Abort on the world (or exit, without MPI). Never returns.
///
/// Before aborting it flushes stdout/stderr and waits a moment: the launcher (Hydra, srun)
/// forwards each rank's output through its proxies, and an immediate MPI_Abort can tear them
/// down before the error message that explains the abort has been forwarded.
pub(crate) fn abort(code: i32) -> ! {
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::thread::sleep(std::time::Duration::from_millis(300));
    if MPI_ACTIVE.load(Ordering::SeqCst) {
        mpi::topology::SimpleCommunicator::world().abort(code)
    }
    std::process::exit(code)
}
