//! Runtime lifecycle: MPI initialisation, a runtime's communicator and configuration, finalize.
//!
//! A [`Runtime`] is op2's context on one communicator: the world (the default runtime,
//! [`init`]) or any other ([`Runtime::split`], [`Runtime::dup`], [`Runtime::on_raw_comm`]).
//! It owns its communicator, its configuration (read and agreed once) and, kept on the
//! communicator (`mpi::attr`), its class cache; objects know their runtime through their
//! Set's communicator, so several runtimes coexist in one process. The default runtime also
//! owns the `mpi::Universe` (when op2 initialised MPI) and is the configuration
//! [`crate::config::current`] returns. Finalize
//! prints/writes the cache report, then finalizes MPI. Error-path rule: finalize is
//! collective, so a rank that fails *alone* must not call it (the others would wait
//! forever); [`run`] aborts the job instead. Errors every rank shares (a compile error, an
//! SPMD mismatch) finalize normally and exit non-zero on every rank.

use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::mpi::comm::{self, Comm};

/// `eprintln!` in one `write` call, so that the lines of ranks sharing a terminal or a pipe
/// never interleave mid-line (plain `eprintln!` writes each formatted piece separately).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut line = format!($($t)*);
        line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}

/// An initialised op2 runtime. Dropping it (or calling [`Runtime::finalize`]) tears down on
/// every rank.
///
/// ```
/// let rt = op2::init(op2::Config::default()).unwrap();
/// assert!(rt.comm().rank() < rt.comm().size());
/// rt.finalize().unwrap();
/// ```
pub struct Runtime {
    universe: Option<mpi::environment::Universe>,
    comm: Comm,
    config: Arc<Config>,
    /// The default (world) runtime of [`init`]: it owns MPI's lifetime and the process's
    /// configuration; the others own only their communicator's state.
    default: bool,
    /// op2 created the communicator (split, dup) and frees it at finalize.
    owns_comm: bool,
    done: bool,
}

/// Initialise op2: start MPI (or attach to an MPI the caller already initialised) and install
/// `config` for the process. A program started without a launcher is a 1-rank world.
///
/// Collective: the settings that decide which collectives a rank enters
/// ([`Config::collective_settings`]) are compared across ranks (one allreduce of their hashes)
/// and a difference fails every rank with a message naming the variable and the ranks.
pub fn init(config: Config) -> Result<Runtime> {
    init_agreed(Ok(config))
}

/// [`init`] for a configuration that may have failed to parse on this rank: MPI is started
/// first, then the ranks agree, so a bad setting on one rank fails every rank with its message
/// instead of leaving the others waiting in `MPI_Init`.
fn init_agreed(config: Result<Config>) -> Result<Runtime> {
    let mut slot = crate::config::ACTIVE
        .write()
        .unwrap_or_else(|e| e.into_inner());
    if slot.is_some() {
        return Err(Error::invalid(
            "op2::init",
            "a runtime is already active in this process",
        ));
    }
    let universe = if mpi::environment::is_initialized() {
        if mpi::environment::is_finalized() {
            return Err(Error::Mpi(
                "MPI was already finalized; op2::init cannot restart it".into(),
            ));
        }
        None
    } else {
        // This module alone initialises MPI (clippy.toml).
        #[allow(clippy::disallowed_methods)]
        Some(mpi::initialize().ok_or_else(|| Error::Mpi("MPI_Init failed".into()))?)
    };
    comm::set_mpi_active(true);
    let comm = Comm::world();
    let config = config.and_then(|mut c| {
        // Rank 0 shares paths under this directory with every rank: never a relative one.
        if c.cache_dir.is_relative() {
            c.cache_dir = std::path::absolute(&c.cache_dir)
                .map_err(|e| Error::io("make OP2_CACHE_DIR absolute", &c.cache_dir, e))?;
        }
        Ok(c)
    });
    let config = match agree_config(comm, config) {
        Ok(c) => c,
        Err(e) => {
            // Every rank got the same verdict: finalize together.
            comm::set_mpi_active(false);
            drop(universe);
            return Err(e);
        }
    };
    // Threads per rank: decided once, from how many ranks share this node. The count is a
    // collective, so every rank takes part whatever its own OP2_THREADS says (threads are
    // rank-local and may differ between ranks; whether a rank joins a collective may not).
    let mut config = config;
    let on_node = match comm.ranks_on_node() {
        Ok(n) => n,
        Err(e) => {
            comm::set_mpi_active(false);
            return Err(e);
        }
    };
    let threads_set = config.threads > 0;
    if config.threads == 0 {
        config.threads = config.resolved_threads(on_node);
    }
    // The layout line (ranks x threads) under OP2_PRINT_CACHE_SIZE / OP2_VERBOSE (agreed).
    if let Err(e) = crate::report::startup_layout(comm, &config, threads_set) {
        comm::set_mpi_active(false);
        return Err(e);
    }
    let config = Arc::new(config);
    crate::config::install(&mut slot, Some(config.clone()));
    crate::mpi::attr::set(comm, config.clone());
    comm::set_watchdog(
        std::time::Duration::from_secs(config.hang_timeout_s),
        comm.rank(),
    );
    // Always size the pool (1 included): rayon's default is every core, which oversubscribes
    // nodes running one rank per core (Sparsity construction, Mat::mult use rayon).
    // A second init in the same process (tests) finds the pool built: not an error.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build_global();
    Ok(Runtime {
        universe,
        comm,
        config,
        default: true,
        owns_comm: false,
        done: false,
    })
}

/// Agree `config` over `comm` (collective) and resolve what depends on the ranks (threads
/// per rank, an absolute cache directory), as [`init`] does for the world.
fn agreed_on(comm: Comm, config: Config) -> Result<Config> {
    let config = (|| {
        let mut c = config;
        if c.cache_dir.is_relative() {
            c.cache_dir = std::path::absolute(&c.cache_dir)
                .map_err(|e| Error::io("make OP2_CACHE_DIR absolute", &c.cache_dir, e))?;
        }
        Ok(c)
    })();
    let mut config = agree_config(comm, config)?;
    let on_node = comm.ranks_on_node()?;
    if config.threads == 0 {
        config.threads = config.resolved_threads(on_node);
    }
    Ok(config)
}

/// Collective: every rank's configuration parsed, and the settings that decide collectives are
/// equal everywhere. One allreduce when all is well; on a problem, one allgather to say which
/// variable differs on which ranks (or which rank has a malformed value).
fn agree_config(comm: Comm, config: Result<Config>) -> Result<Config> {
    use crate::mpi::agree::{agree_on, Share, Words};
    let settings = config
        .as_ref()
        .map(|c| c.collective_settings())
        .unwrap_or_default();
    // As many words on every rank, a rank whose configuration failed included.
    let n = Config::default().collective_settings().len();
    let hashes: Vec<u64> = (0..n)
        .map(|i| {
            settings
                .get(i)
                .map_or(0, |(_, v)| xxhash_rust::xxh3::xxh3_64(v.as_bytes()))
        })
        .collect();
    let malformed = |failed: Vec<(usize, String)>| Error::SpmdMismatch {
        what: "the configuration (a setting is malformed on some ranks; fix it there)".into(),
        detail: (failed.iter())
            .map(|(r, e)| format!("rank {r}: {e}"))
            .collect::<Vec<_>>()
            .join("; "),
    };
    let describe = || serde_json::to_string(&settings).expect("strings serialise");
    // In the same collective: the instruction-set level, the highest every rank supports
    // (a MAX of `MAX_LEVEL - level`), which rank 0 compiles for.
    let level =
        crate::jit::isa::reported_level(config.as_ref().ok().and_then(|c| c.test_isa_level));
    let words = Words {
        same: &hashes,
        any: &[u64::from(crate::jit::isa::MAX_LEVEL - level)],
        describe: Some(&describe),
    };
    let (mut config, seen) = agree_on(comm, Share::Every(&malformed), words, config)?;
    if seen.same {
        crate::jit::isa::agree(&mut config, crate::jit::isa::MAX_LEVEL - seen.any[0] as u8);
        return Ok(config);
    }
    Err(seen.differ(|all| differing_settings(&all)))
}

/// The error naming each setting whose value differs, with the ranks of each value
/// (`all`: every rank's settings as JSON).
fn differing_settings(all: &[String]) -> Error {
    let per_rank: Vec<Vec<(String, String)>> = (all.iter())
        .map(|m| serde_json::from_str(m).unwrap_or_default())
        .collect();
    let list = |rs: &[usize]| {
        rs.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let n = per_rank.first().map_or(0, |s| s.len());
    let mut lines = Vec::new();
    for i in 0..n {
        let mut by_value: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
        for (r, s) in per_rank.iter().enumerate() {
            let v = s.get(i).map_or("?", |(_, v)| v.as_str());
            by_value.entry(v).or_default().push(r);
        }
        if by_value.len() > 1 {
            let var = per_rank[0].get(i).map_or("?", |(k, _)| k.as_str());
            let parts: Vec<String> = by_value
                .iter()
                .map(|(v, rs)| format!("{v:?} on rank(s) {}", list(rs)))
                .collect();
            lines.push(format!("{var} is {}", parts.join(", ")));
        }
    }
    Error::SpmdMismatch {
        what: "settings that must be equal on every rank (they decide which collectives a rank enters; set them before mpiexec, or with mpiexec -genv, not per rank)".into(),
        detail: lines.join("; "),
    }
}

impl Runtime {
    /// A runtime on `comm`, with its own configuration and class cache. Collective over
    /// `comm` (the configuration is agreed as in [`init`]); needs MPI (call [`init`] first).
    /// `owns`: op2 created `comm` and frees it at finalize.
    fn on_comm(comm: Comm, config: Config, owns: bool) -> Result<Runtime> {
        if crate::mpi::attr::get::<Config>(comm).is_some() {
            return Err(Error::invalid(
                "op2 runtime",
                format!("a runtime is already active on communicator {}", comm.id()),
            ));
        }
        Runtime::attach(comm, config, owns)
    }

    /// Agree on `config` over `comm`, keep it on the communicator and make the handle (the
    /// caller has checked that no runtime is active on `comm`).
    fn attach(comm: Comm, config: Config, owns: bool) -> Result<Runtime> {
        let config = Arc::new(agreed_on(comm, config)?);
        crate::mpi::attr::set(comm, config.clone());
        crate::config::changed();
        Ok(Runtime {
            universe: None,
            comm,
            config,
            default: false,
            owns_comm: owns,
            done: false,
        })
    }

    /// A runtime on the serial communicator, without MPI: serial use with an explicit
    /// configuration instead of the environment's. Objects made where no MPI runs (`Set::new`
    /// without [`init`]) are on it; at most one at a time.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
    /// assert_eq!(rt.size(), 1);
    /// rt.finalize().unwrap();
    /// ```
    pub fn serial(config: Config) -> Result<Runtime> {
        let comm = Comm::serial();
        if crate::mpi::attr::get::<Config>(comm).is_some() {
            return Err(Error::invalid(
                "op2::Runtime::serial",
                "a serial runtime is already active in this process",
            ));
        }
        Runtime::attach(comm, config, false)
    }

    /// A runtime on a communicator handed in from outside op2 (e.g. mpi4py's `comm.handle`),
    /// with its own configuration and caches. Collective over `raw`; needs [`init`] first (op2
    /// attaches to an MPI the caller initialised). op2 never frees `raw`.
    ///
    /// # Safety
    /// `raw` must be a live MPI intra-communicator that outlives the runtime and its objects.
    pub unsafe fn on_raw_comm(raw: crate::mpi::comm::RawComm, config: Config) -> Result<Runtime> {
        // SAFETY: the caller's guarantee, passed on.
        let comm = unsafe { Comm::from_raw(raw)? };
        if comm == Comm::world() {
            return Err(Error::invalid(
                "Runtime::on_raw_comm",
                "that is the world communicator: use the default runtime (op2::init)",
            ));
        }
        Runtime::on_comm(comm, config, false)
    }

    /// A runtime on a duplicate of a communicator handed in from outside op2 (collective over
    /// `raw`; needs [`init`] first). op2 owns the duplicate and frees it at finalize, so the
    /// caller may free `raw` as soon as this returns: PyOP2's "internal communicator", for a
    /// caller (op2's Python package) that cannot promise `raw` outlives the runtime's objects.
    ///
    /// # Safety
    /// `raw` must be a live MPI intra-communicator during this call.
    pub unsafe fn on_dup_of_raw(raw: crate::mpi::comm::RawComm, config: Config) -> Result<Runtime> {
        // SAFETY: the caller's guarantee, passed on; only the duplicate is kept.
        let comm = unsafe { Comm::from_raw(raw)? };
        Runtime::on_comm(comm.dup()?, config, true)
    }

    /// Split this runtime's communicator (collective over it): ranks with the same `color`
    /// get a runtime on their part, ordered by `key`, with configuration `config`.
    ///
    /// ```
    /// let rt = op2::init(op2::Config::default()).unwrap();
    /// let half = rt.split(0, rt.rank(), op2::Config::default()).unwrap();
    /// let s = half.set(3).unwrap();
    /// assert_eq!(s.comm(), half.comm());
    /// half.finalize().unwrap();
    /// rt.finalize().unwrap();
    /// ```
    pub fn split(&self, color: u32, key: i32, config: Config) -> Result<Runtime> {
        let config = self.inherit_threads(config);
        Runtime::on_comm(self.comm.split(color, key)?, config, true)
    }

    /// A runtime on a duplicate of this runtime's communicator (collective over it).
    pub fn dup(&self, config: Config) -> Result<Runtime> {
        let config = self.inherit_threads(config);
        Runtime::on_comm(self.comm.dup()?, config, true)
    }

    /// Threads per rank left to op2 (0): this runtime's, which counted every rank sharing the
    /// node (a part of it would count fewer ranks and oversubscribe the cores).
    fn inherit_threads(&self, config: Config) -> Config {
        match config.threads {
            0 => config.threads(self.config.threads),
            _ => config,
        }
    }

    /// A set of `size` elements on this rank, on this runtime ([`crate::Set::new_in`]).
    pub fn set(&self, size: usize) -> Result<crate::Set> {
        crate::Set::new_in(self, size)
    }

    /// Number of loaded kernels this runtime's class cache holds.
    pub fn class_cache_entries(&self) -> usize {
        crate::build::class_cache(self.comm).entries()
    }

    /// Per-kernel loop timings of this rank on this runtime ([`crate::timings`] for the default).
    pub fn timings(&self) -> Vec<crate::LoopTiming> {
        crate::exec::timing::timings_on(self.comm)
    }

    /// This runtime's communicator (the world for the default runtime).
    pub fn comm(&self) -> Comm {
        self.comm
    }
    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// This process's rank in the runtime's communicator.
    pub fn rank(&self) -> i32 {
        self.comm.rank()
    }
    /// Number of ranks in the runtime's communicator.
    pub fn size(&self) -> i32 {
        self.comm.size()
    }

    /// Collective teardown: cache report (if enabled), then MPI_Finalize if op2 initialised MPI.
    pub fn finalize(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        if !self.default {
            return self.teardown_sub();
        }
        // Every rank arrives here together, or every rank says where it is: in the checked
        // mode the call agreement names a rank still running par_loops; otherwise a barrier
        // the hang watchdog watches (not MPI_Finalize, which it cannot name).
        const FINALIZE_CTX: u64 = 2;
        comm::watch_register(FINALIZE_CTX, || "at finalize".to_string());
        comm::watch_context(FINALIZE_CTX);
        let arrived = crate::exec::check::at_finalize(self.comm);
        comm::watch_context(0);
        let report = match arrived {
            Ok(()) => crate::report::at_finalize(self.comm, &self.config),
            Err(e) => {
                let _ = crate::report::at_finalize(self.comm, &self.config);
                Err(e)
            }
        };
        // PETSc (feature `petsc`) runs on op2's MPI: it ends first, on every rank together.
        #[cfg(feature = "petsc")]
        let report = report.and(crate::linalg::petsc::finalize());
        comm::set_watchdog(std::time::Duration::ZERO, self.comm.rank());
        crate::mpi::attr::clear(self.comm);
        comm::set_mpi_active(false);
        crate::config::install(
            &mut crate::config::ACTIVE
                .write()
                .unwrap_or_else(|e| e.into_inner()),
            None,
        );
        drop(self.universe.take()); // MPI_Finalize
        report
    }

    /// Finalize a runtime other than the default: every rank of its communicator arrives
    /// (a barrier the hang watchdog watches), its report, then its state and communicator go.
    fn teardown_sub(&mut self) -> Result<()> {
        let arrived = self.comm.barrier();
        let report = crate::report::at_finalize(self.comm, &self.config);
        crate::mpi::attr::clear(self.comm);
        crate::config::changed();
        if self.owns_comm && arrived.is_ok() {
            self.comm.free();
        }
        arrived.and(report)
    }

    /// End the job at once on every rank (MPI_Abort), for errors other ranks do not share.
    pub fn abort(&self, code: i32) -> ! {
        comm::abort(code)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if std::thread::panicking() && self.comm == Comm::serial() {
            // No other rank to leave waiting: let the panic unwind (a failing test says why).
            self.done = true;
            crate::mpi::attr::clear(self.comm);
            return;
        }
        if std::thread::panicking() {
            // Other ranks may be inside a collective we will never join: take the job down.
            say!(
                "op2: rank {}: panic; aborting the MPI job",
                self.comm.rank()
            );
            comm::abort(101);
        }
        if let Err(e) = self.teardown() {
            say!("op2: rank {}: finalize: {e}", self.comm.rank());
        }
    }
}

impl crate::Set {
    /// A set of `size` elements on this rank, on runtime `rt` (its communicator, its caches):
    /// [`crate::Set::new`] for an explicit runtime. Collective over the runtime's ranks.
    pub fn new_in(rt: &Runtime, size: usize) -> Result<crate::Set> {
        crate::Set::named_on(rt.comm, "set", size)
    }
}

/// Run a solver's body under a runtime configured from the environment, with the error-path
/// rules above: `Ok` finalizes and exits 0; an error shared by all ranks is printed in full by
/// rank 0 and as one line by the others, then all finalize and exit 1; any other error or a panic aborts the whole MPI job, so no
/// rank is left waiting.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     op2::run(|rt| {
///         println!("rank {} of {}", rt.rank(), rt.size());
///         Ok(())
///     })
/// }
/// ```
pub fn run(body: impl FnOnce(&Runtime) -> Result<()>) -> ExitCode {
    run_agreed(Config::from_env(), body)
}

/// [`run`] with an explicit configuration.
pub fn run_with(config: Config, body: impl FnOnce(&Runtime) -> Result<()>) -> ExitCode {
    run_agreed(Ok(config), body)
}

fn run_agreed(config: Result<Config>, body: impl FnOnce(&Runtime) -> Result<()>) -> ExitCode {
    // The launcher's rank names a failure before MPI exists; it is not a setting.
    #[allow(clippy::disallowed_methods)]
    let rank = || {
        std::env::var("PMI_RANK")
            .or_else(|_| std::env::var("OMPI_COMM_WORLD_RANK"))
            .map(|r| format!("rank {r}: "))
            .unwrap_or_default()
    };
    let rt = match init_agreed(config) {
        Ok(rt) => rt,
        Err(e) => {
            say!("op2: {}error: {e}", rank());
            return ExitCode::from(2);
        }
    };
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&rt)));
    let rank = rt.rank();
    match out {
        Ok(Ok(())) => match rt.finalize() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.is_agreed() => {
                say_shared(rank, &e); // e.g. the checked mode's verdict of the last loop
                ExitCode::FAILURE
            }
            Err(e) => {
                say!("op2: rank {rank}: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(Err(e)) if e.is_agreed() || rt.size() == 1 => {
            say_shared(rank, &e);
            let _ = rt.finalize();
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            say!("op2: rank {rank}: error: {e}");
            say!("op2: rank {rank}: aborting the MPI job so that no other rank waits forever");
            rt.abort(1)
        }
        Err(_) => {
            say!("op2: rank {rank}: panic; aborting the MPI job");
            rt.abort(101)
        }
    }
}

/// An error every rank holds (or the only rank's): printed once in full by rank 0, one line
/// by each other rank.
fn say_shared(rank: i32, e: &Error) {
    if rank == 0 {
        say!("op2: rank {rank}: error: {e}");
    } else {
        let first = e.to_string().lines().next().unwrap_or("").to_string();
        say!("op2: rank {rank}: error: {first} (same error on every rank; rank 0 printed it in full)");
    }
}
