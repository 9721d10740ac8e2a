//! The cache report at finalize, gathered over all ranks, and the job's layout at start-up.
//!
//! Enabled by `OP2_PRINT_CACHE_SIZE=1` (alias `PYOP2_PRINT_CACHE_SIZE`) or
//! `Config::print_cache_size(true)`; `OP2_CACHE_REPORT=path.json` also writes it as JSON.
//! PyOP2 prints rank 0's numbers only; here every rank contributes its counters for every cache
//! (class cache, disk cache, each object-cache kind) through one MPI gather, and rank 0 prints
//! min / max / sum over ranks and which rank holds the max, then a one-line summary.
//!
//! Error paths: the report runs inside finalize, which is collective. A job whose ranks all
//! return the same error (compile error, SPMD mismatch) still finalizes and reports. A job in
//! which some ranks fail alone is aborted by `op2::run` (MPI_Abort) before finalize, so no
//! rank waits in the gather for a rank that will never come; such a job prints no report.
//!
//! The layout line (`op2: 4 ranks x 2 threads (auto: ...), 2 nodes, 8 cores`) is printed by
//! rank 0 at start-up under the same `OP2_PRINT_CACHE_SIZE`, or `OP2_VERBOSE`: both are agreed
//! across ranks, so every rank enters its gather or none does.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::cache::admin;
use crate::cache::layout::DiskCache;
use crate::cache::stats::{self, Counters};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::mpi::comm::Comm;

/// Min / max / sum of one metric over ranks.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub max_rank: usize,
}

/// The whole report, as written to JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub ranks: usize,
    /// Per rank, per cache: that rank's counters.
    pub per_rank: Vec<BTreeMap<String, Counters>>,
    /// Per cache, per metric: the spread over ranks.
    pub caches: BTreeMap<String, BTreeMap<String, Spread>>,
    /// The disk cache directory as rank 0 sees it at finalize.
    pub disk_dir: String,
    pub disk_entries: u64,
    pub disk_bytes: u64,
    pub summary: String,
    /// The cache mode the job ran in and why (`shared`/`node`, auto-detected or set).
    #[serde(default)]
    pub cache_mode: String,
    /// Keys (32 hex digits) of the disk entries the job used: `op2 cache pack --from-report`.
    #[serde(default)]
    pub used_entries: Vec<String>,
}

const METRICS: [&str; 12] = [
    "entries",
    "bytes",
    "hits",
    "misses",
    "evictions",
    "compiles",
    "compile_seconds",
    "wait_seconds",
    "loaded_from_disk",
    "corrupt",
    "bytes_broadcast",
    "published",
];

fn metric(c: &Counters, m: &str) -> f64 {
    match m {
        "entries" => c.entries as f64,
        "bytes" => c.bytes as f64,
        "hits" => c.hits as f64,
        "misses" => c.misses as f64,
        "evictions" => c.evictions as f64,
        "compiles" => c.compiles as f64,
        "compile_seconds" => c.compile_seconds,
        "wait_seconds" => c.wait_seconds,
        "loaded_from_disk" => c.loaded_from_disk as f64,
        "bytes_broadcast" => c.bytes_broadcast as f64,
        "published" => c.published as f64,
        _ => c.corrupt as f64,
    }
}

/// Build the report from every rank's counters (index = rank).
pub(crate) fn build(
    per_rank: Vec<BTreeMap<String, Counters>>,
    disk_dir: String,
    disk_entries: u64,
    disk_bytes: u64,
) -> Report {
    let names: std::collections::BTreeSet<&String> =
        per_rank.iter().flat_map(|m| m.keys()).collect();
    let mut caches = BTreeMap::new();
    for name in names {
        let mut row = BTreeMap::new();
        for m in METRICS {
            let vals: Vec<f64> = per_rank
                .iter()
                .map(|r| r.get(name).map(|c| metric(c, m)).unwrap_or(0.0))
                .collect();
            let (max_rank, max) = vals
                .iter()
                .copied()
                .enumerate()
                .fold((0, f64::MIN), |a, (i, v)| if v > a.1 { (i, v) } else { a });
            row.insert(
                m.to_string(),
                Spread {
                    min: vals.iter().copied().fold(f64::MAX, f64::min),
                    max,
                    sum: vals.iter().sum(),
                    max_rank,
                },
            );
        }
        caches.insert(name.clone(), row);
    }
    let sum = |cache: &str, m: &str| {
        caches
            .get(cache)
            .and_then(|r: &BTreeMap<String, Spread>| r.get(m))
            .map(|s| s.sum)
            .unwrap_or(0.0)
    };
    let summary = format!(
        "{} ranks, {} kernels compiled once ({:.2} s), {} found on disk by rank 0, {} loaded by other ranks (from rank 0's broadcast), {} corrupt; class cache {} hits / {} misses; disk cache {} entries, {}",
        per_rank.len(),
        sum("disk", "compiles"),
        sum("disk", "compile_seconds"),
        sum("disk", "hits"),
        sum("disk", "loaded_from_disk"),
        sum("disk", "corrupt"),
        sum("class", "hits"),
        sum("class", "misses"),
        disk_entries,
        human_bytes(disk_bytes)
    );
    Report {
        ranks: per_rank.len(),
        per_rank,
        caches,
        disk_dir,
        disk_entries,
        disk_bytes,
        summary,
        cache_mode: String::new(),
        used_entries: Vec::new(),
    }
}

/// `1.5 MiB` style.
pub fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

impl Report {
    /// The table rank 0 prints.
    pub fn table(&self) -> String {
        let mut s = format!(
            "op2 cache report ({} ranks; disk cache {})\n",
            self.ranks, self.disk_dir
        );
        let _ = writeln!(
            s,
            "{:<22} {:<17} {:>12} {:>12} {:>14} {:>8}",
            "cache", "metric", "min", "max", "sum", "max@rank"
        );
        for (name, row) in &self.caches {
            for m in METRICS {
                let sp = row[m];
                if sp.sum == 0.0 && sp.max == 0.0 {
                    continue;
                }
                let f = |v: f64| {
                    if m.ends_with("_seconds") {
                        format!("{v:.3}")
                    } else {
                        format!("{v:.0}")
                    }
                };
                let _ = writeln!(
                    s,
                    "{name:<22} {m:<17} {:>12} {:>12} {:>14} {:>8}",
                    f(sp.min),
                    f(sp.max),
                    f(sp.sum),
                    sp.max_rank
                );
            }
        }
        let _ = writeln!(s, "{}", self.summary);
        s
    }
}

/// What one rank contributes to the layout line.
#[derive(Debug, Clone, PartialEq)]
pub struct RankLayout {
    /// MPI processor name (ranks with the same one share a node).
    pub node: String,
    /// Threads this rank runs par_loops on.
    pub threads: usize,
    /// Whether they were set (`OP2_THREADS`, `Config::threads`) rather than decided.
    pub threads_set: bool,
    /// Cores available to this process.
    pub cores: usize,
}

/// The layout line rank 0 prints at start-up: ranks x threads, where the thread count came
/// from, nodes, cores, and the busiest node when it runs more threads than it has cores.
///
/// ```
/// use op2::report::{layout_line, RankLayout};
/// let r = |node: &str, threads| RankLayout { node: node.into(), threads, threads_set: true, cores: 8 };
/// assert_eq!(layout_line(&[r("a", 2), r("a", 2)]), "op2: 2 ranks x 2 threads (OP2_THREADS), 1 node, 8 cores");
/// assert!(layout_line(&[r("a", 8), r("a", 8)]).ends_with("oversubscribed: 16 threads on the 8 cores of node a"));
/// ```
pub fn layout_line(ranks: &[RankLayout]) -> String {
    let span = |v: Vec<usize>| {
        let (lo, hi) = (v.iter().min().copied(), v.iter().max().copied());
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo != hi => format!("{lo}-{hi}"),
            (Some(lo), _) => lo.to_string(),
            _ => "?".into(),
        }
    };
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let threads = span(ranks.iter().map(|r| r.threads).collect());
    let set = ranks.iter().filter(|r| r.threads_set).count();
    let source = if set == ranks.len() {
        "OP2_THREADS".to_string()
    } else if set == 0 {
        "auto: 1 per rank where ranks share a node, else every core; OP2_THREADS sets it".into()
    } else {
        format!("OP2_THREADS on {set} ranks, auto on the others")
    };
    let mut nodes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for r in ranks {
        let n = nodes.entry(&r.node).or_default();
        n.0 += r.threads;
        n.1 = n.1.max(r.cores);
    }
    let mut line = format!(
        "op2: {} x {threads} thread{} ({source}), {}, {} cores",
        plural(ranks.len(), "rank"),
        if threads == "1" { "" } else { "s" },
        plural(nodes.len(), "node"),
        span(ranks.iter().map(|r| r.cores).collect()),
    );
    if let Some((node, (t, c))) = nodes
        .iter()
        .filter(|(_, (t, c))| t > c)
        .max_by_key(|(_, (t, c))| t - c)
    {
        let _ = write!(
            line,
            "; oversubscribed: {t} threads on the {c} cores of node {node}"
        );
    }
    line
}

/// Collective when `OP2_PRINT_CACHE_SIZE` or `OP2_VERBOSE` is on (both agreed across ranks,
/// so every rank enters or none): rank 0 prints the job's [`layout_line`] on stderr.
/// `threads_set`: this rank's thread count was given, not decided from the node.
pub(crate) fn startup_layout(comm: Comm, config: &Config, threads_set: bool) -> Result<()> {
    if !config.print_cache_size && !config.verbose {
        return Ok(());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A failure here must not leave the others in the gather: a placeholder name instead.
    let node = match comm.size() {
        1 => crate::cache::fsutil::hostname(),
        _ => comm.processor_name().unwrap_or_else(|_| "?".into()),
    };
    let mine = format!(
        "{}\t{}\t{}\t{node}",
        config.threads, threads_set as u8, cores
    );
    let Some(all) = comm.gather_bytes(0, mine.as_bytes())? else {
        return Ok(());
    };
    let ranks: Vec<RankLayout> = all
        .iter()
        .map(|b| {
            let text = String::from_utf8_lossy(b);
            let mut f = text.splitn(4, '\t');
            let mut num = || f.next().and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
            let (threads, set, cores) = (num(), num(), num());
            RankLayout {
                threads,
                threads_set: set == 1,
                cores,
                node: f.next().unwrap_or("?").to_string(),
            }
        })
        .collect();
    let mut line = layout_line(&ranks);
    line.push('\n');
    use std::io::Write as _;
    let _ = std::io::stderr().write_all(line.as_bytes());
    Ok(())
}

/// Collective: gather, print and/or write the report if the configuration asks for it.
pub(crate) fn at_finalize(comm: Comm, config: &Config) -> Result<()> {
    if !config.print_cache_size && config.cache_report.is_none() {
        return Ok(());
    }
    let mine = serde_json::to_vec(&stats::snapshot()).expect("counters serialise");
    let Some(all) = comm.gather_bytes(0, &mine)? else {
        return Ok(());
    };
    let per_rank = all
        .iter()
        .map(|b| {
            serde_json::from_slice(b).map_err(|e| {
                Error::Mpi(format!(
                    "garbled cache counters in the finalize gather: {e}"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let plan = crate::cache::node::plan_of(comm);
    let dir = plan
        .as_ref()
        .map(|p| p.dir.clone())
        .unwrap_or_else(|| config.node_cache_dir(0));
    let disk = DiskCache::new(&dir);
    let (entries, bytes) = admin::summary(&disk)
        .map(|s| (s.entries, s.bytes))
        .unwrap_or((0, 0));
    let mut report = build(per_rank, dir.display().to_string(), entries, bytes);
    report.cache_mode = plan.map(|p| p.describe()).unwrap_or_default();
    report.used_entries = crate::cache::node::used_entries();
    if !report.cache_mode.is_empty() {
        report.summary = format!("{}; cache mode {}", report.summary, report.cache_mode);
    }
    if config.print_cache_size {
        print!("{}", report.table());
    }
    if let Some(path) = &config.cache_report {
        crate::cache::fsutil::atomic_write(
            path,
            &serde_json::to_vec_pretty(&report).expect("report serialises"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn spread_and_summary() {
        let mut a = BTreeMap::new();
        a.insert(
            "disk".to_string(),
            Counters {
                compiles: 2,
                ..Default::default()
            },
        );
        let mut b = BTreeMap::new();
        b.insert(
            "disk".to_string(),
            Counters {
                loaded_from_disk: 2,
                ..Default::default()
            },
        );
        b.insert(
            "class".to_string(),
            Counters {
                hits: 7,
                ..Default::default()
            },
        );
        let r = build(vec![a, b], "/c".into(), 2, 2048);
        assert_eq!(
            r.caches["disk"]["compiles"],
            Spread {
                min: 0.0,
                max: 2.0,
                sum: 2.0,
                max_rank: 0
            }
        );
        assert_eq!(r.caches["class"]["hits"].max_rank, 1);
        assert!(
            r.summary.starts_with("2 ranks, 2 kernels compiled once"),
            "{}",
            r.summary
        );
        assert!(r.table().contains("loaded_from_disk"));
        assert_eq!(human_bytes(2048), "2.0 KiB");
    }
}
