//! Runtime configuration: environment variables and a builder.
//!
//! This module owns the list of knobs, their defaults and their parsing. It never touches
//! MPI, the disk or the compiler. Every knob is an `OP2_*` environment variable; where PyOP2
//! had the same knob its `PYOP2_*` name is accepted as an alias (the `OP2_` name wins).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `OP2_CACHE_DIR` (`PYOP2_CACHE_DIR`) | `$XDG_CACHE_HOME/op2`, else `~/.cache/op2`, else `/tmp/op2-cache-$USER` | disk cache of compiled kernels, shared by all ranks and jobs |
//! | `OP2_CC` (`CC`) | `cc` | C compiler used for generated code |
//! | `OP2_CFLAGS` | `-O3` | flags for that compiler (`-shared -fPIC -fvisibility=hidden` and the kernel checks of `jit::compile::CHECK_FLAGS` are always added; `-Werror` turns kernel warnings into errors) |
//! | `OP2_MEMORY_CACHE_MAX_ENTRIES` | `1024` | class-cache capacity (loaded kernels per process), LRU |
//! | `OP2_CACHE_MAX_SIZE` | `5G` | disk-cache size limit; LRU prune to ~90% after an insert that exceeds it (`0` = unbounded) |
//! | `OP2_PRINT_CACHE_SIZE` (`PYOP2_PRINT_CACHE_SIZE`) | `0` | print the cache report gathered from all ranks at finalize |
//! | `OP2_CACHE_REPORT` | unset | also write that report as JSON to this path |
//! | `OP2_SPMD_STRICT` | `0` | compare full cache keys across ranks, not just their hash |
//! | `OP2_LOCK_TIMEOUT` | `600` | seconds to wait for a disk-cache lock before failing (never hang) |
//! | `OP2_THREADS` | `1` | rayon threads per rank, used by Sparsity construction and `Mat::mult` (par_loops run on one thread per rank) |

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
    /// rayon threads per rank (Sparsity construction, `Mat::mult`).
    pub threads: usize,
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
            threads: 1,
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

/// Read `OP2_<name>`, falling back to the listed aliases. Returns (variable used, value).
fn var(names: &[&str]) -> Option<(String, String)> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().map(|v| (n.to_string(), v)))
}

fn parse_bool(var: &str, v: &str) -> Result<bool> {
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

fn parse_num<T: std::str::FromStr>(var: &str, v: &str) -> Result<T> {
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
    /// Defaults overridden by the `OP2_*` / `PYOP2_*` environment variables.
    /// A malformed value is an error naming the variable, never silently ignored.
    pub fn from_env() -> Result<Config> {
        let mut c = Config::default();
        if let Some((_, v)) =
            var(&["OP2_CACHE_DIR", "PYOP2_CACHE_DIR"]).filter(|(_, v)| !v.is_empty())
        {
            c.cache_dir = PathBuf::from(v);
        }
        if let Some((_, v)) = var(&["OP2_CC", "CC"]).filter(|(_, v)| !v.trim().is_empty()) {
            c.cc = v;
        }
        if let Some((_, v)) = var(&["OP2_CFLAGS"]) {
            c.cflags = v;
        }
        if let Some((n, v)) = var(&["OP2_MEMORY_CACHE_MAX_ENTRIES"]) {
            c.memory_cache_max_entries = parse_num(&n, &v)?;
            if c.memory_cache_max_entries == 0 {
                return Err(Error::Config {
                    var: n,
                    value: v,
                    detail: "must be at least 1".into(),
                });
            }
        }
        if let Some((n, v)) = var(&["OP2_CACHE_MAX_SIZE"]) {
            c.cache_max_size = parse_size(&v).map_err(|_| Error::Config {
                var: n,
                value: v.clone(),
                detail: "expected a size like 500M, 5G or a byte count".into(),
            })?;
        }
        if let Some((n, v)) = var(&["OP2_PRINT_CACHE_SIZE", "PYOP2_PRINT_CACHE_SIZE"]) {
            c.print_cache_size = parse_bool(&n, &v)?;
        }
        if let Some((_, v)) = var(&["OP2_CACHE_REPORT"]).filter(|(_, v)| !v.is_empty()) {
            c.cache_report = Some(PathBuf::from(v));
        }
        if let Some((n, v)) = var(&["OP2_SPMD_STRICT"]) {
            c.spmd_strict = parse_bool(&n, &v)?;
        }
        if let Some((n, v)) = var(&["OP2_LOCK_TIMEOUT"]) {
            c.lock_timeout_s = parse_num(&n, &v)?;
        }
        if let Some((n, v)) = var(&["OP2_THREADS"]) {
            c.threads = parse_num(&n, &v)?;
            if c.threads == 0 {
                return Err(Error::Config {
                    var: n,
                    value: v,
                    detail: "must be at least 1".into(),
                });
            }
        }
        Ok(c)
    }

    /// rayon threads per rank (at least 1), for Sparsity construction and `Mat::mult`.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
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

pub(crate) static ACTIVE: RwLock<Option<Arc<Config>>> = RwLock::new(None);

/// The configuration in force: the one given to [`crate::init`] while a runtime is active, otherwise
/// [`Config::from_env`] read once, at the first use without a runtime (serial use).
pub fn current() -> Result<Arc<Config>> {
    if let Some(c) = ACTIVE.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Ok(c.clone());
    }
    static FALLBACK: std::sync::OnceLock<std::result::Result<Arc<Config>, String>> =
        std::sync::OnceLock::new();
    FALLBACK
        .get_or_init(|| Config::from_env().map(Arc::new).map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| Error::invalid("op2 configuration from the environment", e))
}
