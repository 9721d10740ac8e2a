//! Process-wide cache counters, the raw material of the finalize report.
//!
//! Owns plain counters only: every cache bumps its own entry here; the report (gathering over
//! ranks, printing, JSON) reads a `Snapshot`. Counters never influence cache behaviour.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Counters of one cache on one process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Live entries.
    pub entries: u64,
    /// Bytes held by live entries (estimate for object caches, file sizes for disk).
    pub bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// Compilations this process ran.
    pub compiles: u64,
    /// Seconds spent in those compilations.
    pub compile_seconds: f64,
    /// Seconds ranks other than 0 waited for rank 0's outcome and loaded the result.
    pub wait_seconds: f64,
    /// Entries this rank loaded that rank 0 found or compiled (received over MPI, loaded from
    /// memory; the name is historical).
    pub loaded_from_disk: u64,
    /// Corrupt entries detected and rebuilt (or, on node leaders, replaced).
    pub corrupt: u64,
    /// Bytes of compiled libraries this rank received from rank 0's broadcasts.
    #[serde(default)]
    pub bytes_broadcast: u64,
    /// Entries a node leader published into its node's directory (node mode) or `op2 cache
    /// unpack` wrote.
    #[serde(default)]
    pub published: u64,
}

static STATS: Mutex<BTreeMap<&'static str, Counters>> = Mutex::new(BTreeMap::new());

/// Apply `f` to the counters of cache `name`.
pub(crate) fn update(name: &'static str, f: impl FnOnce(&mut Counters)) {
    let mut s = STATS.lock().unwrap_or_else(|e| e.into_inner());
    f(s.entry(name).or_default());
}

/// A copy of every cache's counters on this process, by cache name.
///
/// ```
/// let snap = op2::cache::stats::snapshot();
/// assert!(snap.values().all(|c| c.hits + c.misses >= 0));
/// ```
pub fn snapshot() -> BTreeMap<String, Counters> {
    let s = STATS.lock().unwrap_or_else(|e| e.into_inner());
    s.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Counters of one cache (zeros if it was never used).
pub fn get(name: &str) -> Counters {
    let s = STATS.lock().unwrap_or_else(|e| e.into_inner());
    s.get(name).copied().unwrap_or_default()
}
