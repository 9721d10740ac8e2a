//! Runtime configuration: environment variables and a builder.
//!
//! This module owns the `Config` type, its builder, its defaults and the value parsers. It
//! never touches MPI, the disk or the compiler. Every knob is an `OP2_*` environment variable; where PyOP2
//! had the same knob its `PYOP2_*` name is accepted as an alias (the `OP2_` name wins).
//!
//! The settings themselves (variable, default, meaning, whether ranks must agree on it) are
//! the one table [`crate::settings::SETTINGS`], in `settings.rs` (above this module: it knows
//! `Config`), which also defines [`Config::from_env`] and [`Config::collective_settings`].
//!
//! **Agreement across ranks.** The settings that decide whether a rank takes part in a
//! collective ([`crate::settings::Scope::Agreed`]) must be equal on every rank:
//! [`crate::init`] compares them (one allreduce of their hashes) and fails on every rank naming
//! the variable and the ranks that differ. A malformed value on any rank fails every rank too
//! (MPI is initialised first, then the outcome agreed). The others are rank-local by design:
//! the cache directory, size, lock and compile timeouts, trusted group and progress lines are
//! only used by rank 0 (which alone touches the cache directory); threads, block size, the
//! test-only colouring switch and the report path are per process.
// This module and settings.rs are the readers of the environment (clippy.toml forbids it elsewhere).
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};

/// Runtime configuration. Build it with [`Config::from_env`] or [`Config::default`] and
/// adjust it with the builder methods.
///
/// ```
/// let cfg = op2::Config::default().print_cache_size(true).cc("gcc");
/// assert!(cfg.print_cache_size);
/// assert_eq!(cfg.cc, "gcc");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Disk-cache directory.
    pub cache_dir: PathBuf,
    /// C compiler command.
    pub cc: String,
    /// C compiler flags (split on whitespace).
    pub cflags: String,
    /// Class-cache capacity in entries.
    pub memory_cache_max_entries: usize,
    /// Disk-cache size limit in bytes (0 = unbounded).
    pub cache_max_size: u64,
    /// Print the gathered cache report at finalize.
    pub print_cache_size: bool,
    /// Write the cache report as JSON here at finalize.
    pub cache_report: Option<PathBuf>,
    /// Compare full keys across ranks before a collective compile.
    pub spmd_strict: bool,
    /// Seconds to wait for a disk-cache lock.
    pub lock_timeout_s: u64,
    /// Threads per rank for par_loops, Sparsity construction and `Mat::mult`; 0 = decide
    /// (1 when several ranks share the node, else the cores available; see [`Config::threads`]).
    pub threads: usize,
    /// Group (name or gid) trusted to write the disk cache (`OP2_CACHE_TRUSTED_GROUP`).
    pub cache_trusted_group: Option<String>,
    /// Seconds a compilation may take (0 = no limit).
    pub compile_timeout_s: u64,
    /// Seconds one collective may wait before the job is aborted with a message (0 = off;
    /// default 600).
    pub hang_timeout_s: u64,
    /// Elements per block of a threaded par_loop.
    pub block_size: usize,
    /// How the disk cache is shared between nodes.
    pub cache_mode: CacheMode,
    /// Testing: fake nodes of this many ranks (0 = real nodes, by shared memory).
    pub fake_node_size: usize,
    /// Rank 0 prints a line for each compile that takes over a second (`OP2_PROGRESS`).
    pub progress: bool,
    /// Say more: the job's layout at start-up (`OP2_VERBOSE`).
    pub verbose: bool,
    /// Checked mode (`OP2_CHECK`): par_loops verify ranks agree, READ arguments stay
    /// unchanged and halo copies equal their owners' values.
    pub check: bool,
    /// Test only (`OP2_TEST_NO_COLOUR`): every threaded loop scheduled as if direct (one range
    /// per thread, no colouring), so conflicting elements race (the differential test's negative control). Wrong answers.
    #[doc(hidden)]
    pub test_no_colour: bool,
    /// Vectorised loops where they apply (`OP2_SIMD=auto`, the default) or the scalar path
    /// everywhere (`OP2_SIMD=off`).
    pub simd: bool,
    /// With `simd`: choose each vectorised loop's variant (vectorised, scalar, scalar with the
    /// kernel inlined) by a measurement on rank 0 the first time it runs (`OP2_SIMD=auto`), or
    /// always run the vectorised one (`OP2_SIMD=on`).
    pub simd_measure: bool,
    /// Test only (`OP2_TEST_ISA_LEVEL`): this rank reports at most this instruction-set level
    /// (1-4), as a host of that level would (a fake mixed-level job).
    #[doc(hidden)]
    pub test_isa_level: Option<u8>,
    /// The instruction-set level the job agreed on (`jit::isa`); set by [`crate::init`], 0
    /// before and in serial use without a runtime (no `-march` added, 4 lanes). Its `-march`
    /// is then part of `cflags` unless `OP2_CFLAGS` choose the target.
    #[doc(hidden)]
    pub isa_level: u8,
}

/// How ranks on different nodes share compiled kernels (`OP2_CACHE_MODE`).
///
/// In every mode only rank 0 compiles, once per kernel per job, and ranks other than rank 0
/// (`Shared`) or the node leaders (`Node`) never touch the cache directory: they receive the
/// library's bytes over MPI and load them from memory.
///
/// ```
/// use op2::config::CacheMode;
/// assert_eq!("node".parse::<CacheMode>().unwrap(), CacheMode::Node);
/// assert!("nfs".parse::<CacheMode>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Detect once per job whether `OP2_CACHE_DIR` is one directory on every node with
    /// working locks (then `Shared`, else `Node`).
    #[default]
    Auto,
    /// One directory seen by every node: rank 0's copy is the only one.
    Shared,
    /// A directory per node: rank 0 finds or compiles in its node's directory, one leader per
    /// other node publishes a copy into its own.
    Node,
}

impl std::str::FromStr for CacheMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(CacheMode::Auto),
            "shared" => Ok(CacheMode::Shared),
            "node" => Ok(CacheMode::Node),
            _ => Err("expected auto, shared or node".into()),
        }
    }
}

impl std::fmt::Display for CacheMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CacheMode::Auto => "auto",
            CacheMode::Shared => "shared",
            CacheMode::Node => "node",
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cache_dir: default_cache_dir(),
            cc: "cc".into(),
            cflags: "-O3".into(),
            memory_cache_max_entries: 1024,
            cache_max_size: 5 << 30,
            print_cache_size: false,
            cache_report: None,
            spmd_strict: false,
            lock_timeout_s: 600,
            threads: 0,
            block_size: 512,
            cache_mode: CacheMode::Auto,
            fake_node_size: 0,
            test_no_colour: false,
            cache_trusted_group: None,
            compile_timeout_s: 300,
            hang_timeout_s: 600,
            progress: true,
            verbose: false,
            check: false,
            simd: true,
            simd_measure: true,
            test_isa_level: None,
            isa_level: 0,
        }
    }
}

fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("op2");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".cache").join("op2");
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    PathBuf::from(format!("/tmp/op2-cache-{user}"))
}

pub(crate) fn parse_bool(var: &str, v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(Error::Config {
            var: var.into(),
            value: v.into(),
            detail: "expected 0/1, true/false, yes/no or on/off".into(),
        }),
    }
}

pub(crate) fn parse_num<T: std::str::FromStr>(var: &str, v: &str) -> Result<T> {
    v.trim().parse().map_err(|_| Error::Config {
        var: var.into(),
        value: v.into(),
        detail: "expected a non-negative integer".into(),
    })
}

/// Parse a size such as `5G`, `512M`, `100k`, `1.5GiB` or a plain byte count.
///
/// ```
/// assert_eq!(op2::config::parse_size("5G").unwrap(), 5 << 30);
/// assert_eq!(op2::config::parse_size("100").unwrap(), 100);
/// assert!(op2::config::parse_size("lots").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let bad = || Error::Config {
        var: "size".into(),
        value: s.into(),
        detail: "expected a size like 500M, 5G or a byte count".into(),
    };
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult as f64) as u64)
}

impl Config {
    /// Threads per rank for par_loops (and Sparsity construction, `Mat::mult`). `0` lets op2
    /// decide when the runtime starts: 1 if several ranks of the job share this node (same MPI
    /// processor name), else every core available to the process.
    ///
    /// ```
    /// assert_eq!(op2::Config::default().threads(2).threads, 2);
    /// assert_eq!(op2::Config::default().threads, 0); // decided at init
    /// ```
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// Seconds a compilation may take before the compiler is killed (0 = no limit).
    pub fn compile_timeout(mut self, secs: u64) -> Self {
        self.compile_timeout_s = secs;
        self
    }
    /// Seconds one collective may wait before the job aborts with a message (0 = off).
    ///
    /// ```
    /// assert_eq!(op2::Config::default().hang_timeout_s, 600); // on by default
    /// assert_eq!(op2::Config::default().hang_timeout(0).hang_timeout_s, 0);
    /// ```
    pub fn hang_timeout(mut self, secs: u64) -> Self {
        self.hang_timeout_s = secs;
        self
    }
    /// Print a line for each compile that takes over a second (on by default).
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }
    /// Say more (the job's layout at start-up).
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }
    /// Checked mode (`OP2_CHECK`; off by default).
    pub fn check(mut self, on: bool) -> Self {
        self.check = on;
        self
    }
    /// Trust this group (name or gid) to write the disk cache.
    pub fn cache_trusted_group(mut self, group: impl Into<String>) -> Self {
        self.cache_trusted_group = Some(group.into());
        self
    }

    /// How nodes share the disk cache ([`CacheMode`]).
    pub fn cache_mode(mut self, mode: CacheMode) -> Self {
        self.cache_mode = mode;
        self
    }
    /// Testing on one machine: split the ranks into fake nodes of `k` ranks (0 = real nodes).
    pub fn fake_node_size(mut self, k: usize) -> Self {
        self.fake_node_size = k;
        self
    }

    /// The cache directory of node `node`: `{node}` in the path replaced by its number.
    ///
    /// ```
    /// let c = op2::Config::default().cache_dir("/tmp/op2-{node}/cache");
    /// assert_eq!(c.node_cache_dir(3), std::path::PathBuf::from("/tmp/op2-3/cache"));
    /// ```
    pub fn node_cache_dir(&self, node: usize) -> PathBuf {
        let s = self.cache_dir.to_string_lossy();
        if s.contains("{node}") {
            PathBuf::from(s.replace("{node}", &node.to_string()))
        } else {
            self.cache_dir.clone()
        }
    }

    /// Elements per block of a threaded par_loop (at least 1).
    pub fn block_size(mut self, n: usize) -> Self {
        self.block_size = n.max(1);
        self
    }

    /// The thread count to use given how many ranks share this node: `threads` if set, else
    /// 1 when `ranks_on_node > 1`, else the cores available.
    pub fn resolved_threads(&self, ranks_on_node: usize) -> usize {
        if self.threads > 0 {
            self.threads
        } else if ranks_on_node > 1 {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    /// Set the disk-cache directory.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = dir.into();
        self
    }
    /// Set the C compiler.
    pub fn cc(mut self, cc: impl Into<String>) -> Self {
        self.cc = cc.into();
        self
    }
    /// Set the C compiler flags.
    pub fn cflags(mut self, flags: impl Into<String>) -> Self {
        self.cflags = flags.into();
        self
    }
    /// Print the cache report at finalize (PyOP2's `print_cache_size`).
    pub fn print_cache_size(mut self, on: bool) -> Self {
        self.print_cache_size = on;
        self
    }
    /// Write the cache report as JSON at finalize.
    pub fn cache_report(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache_report = Some(path.into());
        self
    }
    /// Class-cache capacity (at least 1).
    pub fn memory_cache_max_entries(mut self, n: usize) -> Self {
        self.memory_cache_max_entries = n.max(1);
        self
    }
    /// Disk-cache size limit in bytes (0 = unbounded).
    pub fn cache_max_size(mut self, bytes: u64) -> Self {
        self.cache_max_size = bytes;
        self
    }
}

pub(crate) static ACTIVE: RwLock<Option<Arc<Config>>> = RwLock::new(None);

/// Bumped (under `ACTIVE`'s write lock) whenever the configuration in force changes, so that
/// what par_loop derived from it (class keys, plans) can be reused without reading it again.
static EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The configuration's epoch: equal epochs mean [`current`] returns the same configuration.
pub(crate) fn epoch() -> u64 {
    EPOCH.load(std::sync::atomic::Ordering::Acquire)
}

/// Install `config` as the one in force (`None`: back to the environment's). The caller holds
/// `ACTIVE`'s write lock and passes its guard.
pub(crate) fn install(
    slot: &mut std::sync::RwLockWriteGuard<'_, Option<Arc<Config>>>,
    config: Option<Arc<Config>>,
) {
    **slot = config;
    EPOCH.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    CHECKING.store(0, std::sync::atomic::Ordering::Release);
}

/// A runtime other than the default came or went: what par_loop derived from a configuration
/// is derived again.
pub(crate) fn changed() {
    EPOCH.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// Whether the checked mode is on in the configuration in force: 0 = not yet read, 1 = off,
/// 2 = on (reset by [`install`]).
static CHECKING: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// True when the configuration in force asks for the checked mode (`OP2_CHECK`): one relaxed
/// load once known.
pub(crate) fn checking() -> bool {
    use std::sync::atomic::Ordering::{Acquire, Release};
    match CHECKING.load(Acquire) {
        0 => {
            let on = current().is_ok_and(|c| c.check);
            CHECKING.store(1 + on as u8, Release);
            on
        }
        v => v == 2,
    }
}

/// The configuration in force: the one given to [`crate::init`] while a runtime is active, otherwise
/// [`Config::from_env`] read once, at the first use without a runtime (serial use).
pub fn current() -> Result<Arc<Config>> {
    if let Some(c) = ACTIVE.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Ok(c.clone());
    }
    static FALLBACK: std::sync::OnceLock<std::result::Result<Arc<Config>, String>> =
        std::sync::OnceLock::new();
    FALLBACK
        .get_or_init(|| {
            Config::from_env()
                .map(|mut c| {
                    // Serial use (no runtime, so one process): every core unless told.
                    c.threads = c.resolved_threads(1);
                    Arc::new(c)
                })
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::invalid("op2 configuration from the environment", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size(" 7 MiB ").unwrap(), 7 << 20);
        assert!(parse_size("").is_err());
        assert!(parse_size("-1G").is_err());
        assert!(parse_size("3Q").is_err());
    }

    #[test]
    fn bools_parse() {
        assert!(parse_bool("X", "yes").unwrap());
        assert!(!parse_bool("X", "0").unwrap());
        assert!(parse_bool("X", "maybe").is_err());
    }
}
