//! `op2`: the command-line tool. `op2 cache ...` inspects and maintains the disk cache with the
//! same directory resolution (`--cache-dir`, else `OP2_CACHE_DIR`/`PYOP2_CACHE_DIR`, else the
//! per-user default) and the same locking rules as the runtime.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use op2::cache::{admin, prune, DiskCache};
use op2::report::human_bytes;

#[derive(Parser)]
#[command(
    name = "op2",
    version,
    about = "op2 runtime tools: the compiled-kernel disk cache, mesh files"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Inspect and maintain the disk cache of compiled kernels.
    Cache {
        /// Cache directory (default: OP2_CACHE_DIR, PYOP2_CACHE_DIR, then ~/.cache/op2).
        #[arg(long, global = true)]
        cache_dir: Option<PathBuf>,
        #[command(subcommand)]
        cmd: CacheCmd,
    },
    /// Mesh files: convert OP2's ASCII Airfoil mesh (new_grid.dat), an op2 mesh file or a
    /// generated NACA0012 mesh into op2's parallel mesh file or OP2's HDF5 layout
    /// (new_grid.h5), which every rank reads its own block of.
    Mesh {
        #[command(subcommand)]
        cmd: MeshCmd,
    },
}

#[derive(Subcommand)]
enum MeshCmd {
    /// Write an Airfoil mesh file from OP2's ASCII `new_grid.dat` or an op2 mesh file (INPUT),
    /// or with `--naca I J` from a generated NACA0012 mesh of I x J cells per block (standard:
    /// 400 600). The output is OP2's HDF5 layout if its name ends in `.h5` (or with
    /// `--format h5`), else op2's binary mesh file.
    Convert {
        /// OP2 ASCII mesh file or op2 mesh file (omit with --naca).
        input: Option<PathBuf>,
        /// Output file.
        #[arg(long, short)]
        output: PathBuf,
        /// Output format: `h5` (OP2's HDF5 layout) or `op2mesh` (op2's binary file); default
        /// from the output's extension (`.h5`: h5, else op2mesh).
        #[arg(long, value_parser = ["h5", "op2mesh"])]
        format: Option<String>,
        /// Generate the NACA0012 mesh of size I J instead of reading INPUT.
        #[arg(long, num_args = 2, value_names = ["I", "J"])]
        naca: Option<Vec<usize>>,
    },
}

fn mesh(cmd: MeshCmd) -> op2::Result<ExitCode> {
    match cmd {
        MeshCmd::Convert {
            input,
            output,
            format,
            naca,
        } => {
            let m = match (input, naca) {
                (Some(p), None) if op2::mesh::MeshFile::is_mesh_file(&p) => {
                    op2::mesh::AirfoilMesh::read_mesh_file(p)?
                }
                (Some(p), None) => op2::mesh::AirfoilMesh::read_op2(p)?,
                (None, Some(ij)) => op2::mesh::naca0012(ij[0], ij[1])?,
                _ => {
                    return Err(op2::Error::invalid(
                        "op2 mesh convert",
                        "give either an input file or --naca I J",
                    ))
                }
            };
            let h5 = match format.as_deref() {
                Some(f) => f == "h5",
                None => output.extension().is_some_and(|e| e == "h5"),
            };
            if h5 {
                write_h5(&m, &output)?;
            } else {
                m.write_mesh_file(&output)?;
            }
            println!(
                "wrote {}: {} nodes, {} cells, {} edges, {} boundary edges",
                output.display(),
                m.nnode,
                m.ncell,
                m.nedge,
                m.nbedge
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(feature = "hdf5")]
fn write_h5(m: &op2::mesh::AirfoilMesh, path: &std::path::Path) -> op2::Result<()> {
    m.write_h5(path)
}

#[cfg(not(feature = "hdf5"))]
fn write_h5(_: &op2::mesh::AirfoilMesh, _: &std::path::Path) -> op2::Result<()> {
    Err(op2::Error::invalid(
        "op2 mesh convert",
        "this op2 was built without the `hdf5` feature (cargo build --features hdf5)",
    ))
}

#[derive(Subcommand)]
enum CacheCmd {
    /// Print the cache directory.
    Dir,
    /// Entries, bytes, oldest/newest, per kernel name.
    Stats {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// One line per entry: key, kernel, size, created, last used.
    List,
    /// Checksum every entry; report damaged ones (exit 1 if any), and with --fix move them aside.
    Verify {
        #[arg(long)]
        fix: bool,
    },
    /// Delete least-recently-used entries until the cache holds at most SIZE (e.g. 500M, 5G).
    Prune {
        #[arg(long, value_name = "SIZE")]
        max_size: String,
    },
    /// Delete every entry (processes that loaded one keep working).
    Clear,
    /// Write verified entries into one pack file (all, or those a job used).
    Pack {
        /// The pack file to write.
        file: PathBuf,
        /// Only the entries listed in this job's JSON cache report (OP2_CACHE_REPORT).
        #[arg(long, value_name = "REPORT")]
        from_report: Option<PathBuf>,
    },
    /// Verify a pack file and publish its entries into the cache directory. A pack is code
    /// from its author: it must be yours (or root's, or your trusted group's) and is checked as
    /// the runtime checks an entry, but checksums cannot tell what the code does.
    Unpack {
        /// The pack file to read.
        file: PathBuf,
        /// Compile every entry again from the source the pack carries, with your OP2_CC and
        /// OP2_CFLAGS (which must be those it was built with), and refuse the pack unless each
        /// library is byte-for-byte what its source compiles to.
        #[arg(long)]
        rebuild: bool,
    },
}

/// Text from a cache file (a kernel name, a path, a reason quoting them) made safe for a
/// terminal: control characters (escape sequences, line breaks that would forge lines) and
/// bidirectional overrides are printed as `\u{..}` escapes, everything else as it is.
fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn when(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let ago = now.saturating_sub(secs);
    match ago {
        0..=119 => format!("{ago} s ago"),
        120..=7199 => format!("{} min ago", ago / 60),
        7200..=172_799 => format!("{} h ago", ago / 3600),
        _ => format!("{} days ago", ago / 86400),
    }
}

fn cache(cache_dir: Option<PathBuf>, cmd: CacheCmd) -> op2::Result<ExitCode> {
    let config = op2::Config::from_env()?;
    let dir = cache_dir.unwrap_or(config.cache_dir.clone());
    let disk = DiskCache::new(&dir);
    if !matches!(cmd, CacheCmd::Dir | CacheCmd::Unpack { .. }) {
        admin::require_dir(&dir)?;
    }
    match cmd {
        CacheCmd::Dir => println!("{}", dir.display()),
        CacheCmd::Stats { json } => {
            let s = admin::summary(&disk)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&s).expect("summary serialises")
                );
            } else {
                println!("cache directory: {}", dir.display());
                println!("entries: {}   size: {}", s.entries, human_bytes(s.bytes));
                if let (Some(o), Some(n)) = (s.oldest, s.newest) {
                    println!("oldest: {}   newest: {}", when(o), when(n));
                }
                if s.temporaries > 0 {
                    println!(
                        "leftover temporaries: {} ({} older than {} s, removed by `verify --fix` or `prune`)",
                        s.temporaries,
                        s.stale_temporaries,
                        op2::cache::fsutil::STALE_TEMP_SECS
                    );
                }
                for (k, (n, b)) in &s.per_kernel {
                    let k = shown(k);
                    println!("  {k:<32} {n:>6} entries {:>12}", human_bytes(*b));
                }
            }
        }
        CacheCmd::List => {
            for e in op2::cache::layout::list(&disk)? {
                match &e.meta {
                    Some(m) => {
                        // A vectorised module's measured variant (OP2_SIMD=auto), if recorded.
                        let so = e.meta_path.with_extension("so");
                        let choice = op2::build::choice::read(&so)
                            .map_or(String::new(), |c| format!("  runs {}", shown(&c)));
                        println!(
                            "{}  {:<24} {:>10}  created {}  used {}{choice}",
                            shown(&m.key),
                            shown(&m.kernel),
                            human_bytes(e.bytes),
                            when(m.created),
                            when(e.last_used)
                        )
                    }
                    None => println!(
                        "{}  <unreadable metadata>",
                        shown(&e.meta_path.display().to_string())
                    ),
                }
            }
        }
        CacheCmd::Verify { fix } => {
            let temps = disk.temporaries();
            let (bad, n) = admin::verify(&disk, fix, Duration::from_secs(config.lock_timeout_s))?;
            for (p, age) in &temps {
                let stale = *age >= op2::cache::fsutil::STALE_TEMP_SECS;
                println!(
                    "TMP {} ({age} s old{})",
                    shown(&p.display().to_string()),
                    match (stale, fix) {
                        (true, true) => ", stale: removed",
                        (true, false) => ", stale: `--fix` removes it",
                        _ => ", may belong to a compile in progress: kept",
                    }
                );
            }
            for d in &bad {
                println!(
                    "BAD {} ({}): {}",
                    shown(&d.meta_path.display().to_string()),
                    shown(d.kernel.as_deref().unwrap_or("?")),
                    shown(&d.reason)
                );
            }
            println!(
                "{n} entries checked, {} damaged{}",
                bad.len(),
                if fix && !bad.is_empty() {
                    ", moved to corrupt/"
                } else {
                    ""
                }
            );
            if !bad.is_empty() && !fix {
                return Ok(ExitCode::from(1));
            }
        }
        CacheCmd::Prune { max_size } => {
            let max = op2::config::parse_size(&max_size)?;
            let r = prune::prune_to(&disk, max)?;
            if r.skipped_concurrent {
                println!("another process is pruning this cache; nothing done");
            } else {
                println!(
                    "removed {} of {} entries, freed {}, {} now ({} busy entries skipped)",
                    r.removed,
                    r.entries_before,
                    human_bytes(r.freed),
                    human_bytes(r.bytes_after),
                    r.skipped_busy
                );
            }
        }
        CacheCmd::Pack { file, from_report } => {
            let keys = match from_report {
                None => None,
                Some(r) => {
                    let text =
                        std::fs::read(&r).map_err(|e| op2::Error::io("read report", &r, e))?;
                    let report: op2::report::Report =
                        serde_json::from_slice(&text).map_err(|e| {
                            op2::Error::invalid(
                                "op2 cache pack --from-report",
                                format!("{}: {e}", r.display()),
                            )
                        })?;
                    if report.used_entries.is_empty() {
                        return Err(op2::Error::invalid(
                            "op2 cache pack --from-report",
                            format!("{} lists no used cache entries", r.display()),
                        ));
                    }
                    Some(report.used_entries)
                }
            };
            let n = op2::cache::pack::pack(&disk, &file, keys.as_deref())?;
            println!("packed {n} entries into {}", file.display());
        }
        CacheCmd::Unpack { file, rebuild } => {
            let lock = Duration::from_secs(config.lock_timeout_s);
            let r = if rebuild {
                let how = op2::build::rebuild::Rebuild {
                    cc: config.cc.clone(),
                    cflags: config.cflags.clone(),
                    timeout: Duration::from_secs(config.compile_timeout_s),
                };
                op2::build::rebuild::unpack_rebuilt(&file, &disk, lock, &how)?
            } else {
                op2::cache::pack::unpack(&file, &disk, lock)?
            };
            println!(
                "unpacked {} entries into {} ({} written, {} already present)",
                r.written + r.present,
                dir.display(),
                r.written,
                r.present
            );
        }
        CacheCmd::Clear => {
            let r = admin::clear(&disk)?;
            println!("removed {} files, {}", r.files, human_bytes(r.bytes));
            if r.busy > 0 {
                println!(
                    "{} entries in use by a running job were kept (run clear again when it is done)",
                    r.busy
                );
            }
            if r.live_temporaries > 0 {
                println!(
                    "{} temporaries of compiles in progress were kept",
                    r.live_temporaries
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = match cli.cmd {
        Cmd::Cache { cache_dir, cmd } => cache(cache_dir, cmd),
        Cmd::Mesh { cmd } => mesh(cmd),
    };
    out.unwrap_or_else(|e| {
        eprintln!("op2: error: {e}");
        ExitCode::from(2)
    })
}
