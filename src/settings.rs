//! The one table of op2's settings: for each, its `Config` field, environment variable (and
//! PyOP2 aliases), default, one-line meaning, whether it must be equal on every rank, how its
//! value is read into a [`Config`] and how it is shown for the cross-rank comparison.
//!
//! Everything that lists settings is driven by [`SETTINGS`]: [`Config::from_env`] (defined
//! here) reads them, [`Config::collective_settings`] (here too; compared across ranks at
//! [`crate::init`]) takes the agreed ones, the integration tests scrub every variable of [`setting_names`] from the
//! environment of the jobs they launch, and README.md's Configuration table is
//! [`markdown_table`] (a unit test fails when it is not). This module never touches MPI, the
//! disk or the compiler; it reads the environment only through [`Config::from_env`].
// This module and config.rs are the readers of the environment (clippy.toml forbids it elsewhere).
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;

use crate::config::{parse_bool, parse_num, parse_size, Config};
use crate::error::{Error, Result};

/// Whether a setting must have the same value on every rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// It decides which collectives a rank enters: compared across ranks at [`crate::init`],
    /// and a difference fails every rank naming the variable and the ranks.
    Agreed,
    /// Rank-local by design (read only by rank 0, or per process).
    Local,
}

/// One setting of op2.
pub struct Setting {
    /// The environment variable.
    pub env: &'static str,
    /// Other names accepted for it (PyOP2's, `CC`); the `OP2_` name wins.
    pub aliases: &'static [&'static str],
    /// The default, as README.md shows it.
    pub default: &'static str,
    /// What it does (one line of README.md's table).
    pub doc: &'static str,
    /// Whether every rank must have the same value.
    pub scope: Scope,
    /// Testing only: not in README.md's table.
    pub test_only: bool,
    /// Parse `value` (of the variable named first) into the configuration.
    read: fn(&mut Config, &str, &str) -> Result<()>,
    /// The value as compared across ranks ([`Scope::Agreed`] settings only).
    show: fn(&Config) -> String,
}

fn none(_: &Config) -> String {
    String::new()
}

fn at_least_1(var: &str, value: &str, n: usize) -> Result<usize> {
    if n == 0 {
        return Err(Error::Config {
            var: var.into(),
            value: value.into(),
            detail: "must be at least 1".into(),
        });
    }
    Ok(n)
}

/// Every setting, in README.md's order.
pub static SETTINGS: &[Setting] = &[
    Setting {
        env: "OP2_CACHE_DIR",
        aliases: &["PYOP2_CACHE_DIR"],
        default: "`$XDG_CACHE_HOME/op2`, else `~/.cache/op2`, else `/tmp/op2-cache-$USER`",
        doc: "disk cache of compiled kernels (created 0700; refused if someone else created it first); `{node}` in it becomes the node's number (a directory per node); a relative path is made absolute at startup",
        scope: Scope::Local,
        test_only: false,
        read: |c, _, v| {
            if !v.is_empty() {
                c.cache_dir = PathBuf::from(v);
            }
            Ok(())
        },
        show: none,
    },
    Setting {
        env: "OP2_CACHE_MODE",
        aliases: &[],
        default: "`auto`",
        doc: "`shared`: one directory all nodes see; `node`: a directory per node (rank 0 compiles, one leader per node publishes a copy; if every node's directory turns out to be rank 0's, e.g. no `{node}` in `OP2_CACHE_DIR` on a shared home, the job runs as `shared`); `auto`: detect per job (`Config::cache_mode`)",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, n, v| {
            c.cache_mode = v.parse().map_err(|detail| Error::Config {
                var: n.into(),
                value: v.into(),
                detail,
            })?;
            Ok(())
        },
        show: |c| c.cache_mode.to_string(),
    },
    Setting {
        env: "OP2_FAKE_NODE_SIZE",
        aliases: &[],
        default: "`0`",
        doc: "testing: treat every k consecutive ranks as one node (`Config::fake_node_size`)",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, n, v| {
            c.fake_node_size = parse_num(n, v)?;
            Ok(())
        },
        show: |c| c.fake_node_size.to_string(),
    },
    Setting {
        env: "OP2_CC",
        aliases: &["CC"],
        default: "`cc`",
        doc: "C compiler",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, _, v| {
            if !v.trim().is_empty() {
                c.cc = v.into();
            }
            Ok(())
        },
        show: |c| c.cc.clone(),
    },
    Setting {
        env: "OP2_CFLAGS",
        aliases: &[],
        default: "`-O3`",
        doc: "its flags; empty keeps the default (`-shared -fPIC -fvisibility=hidden` and the kernel checks `-Werror=incompatible-pointer-types -Werror=implicit-function-declaration -Werror=int-conversion -Wl,-z,defs` always added; `-Werror` makes kernel warnings errors)",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, _, v| {
            // Set but empty (`OP2_CFLAGS=` in a script) keeps the default, as for `OP2_CC`:
            // an empty flag list would compile without `-O` (a run 30x slower).
            if !v.trim().is_empty() {
                c.cflags = v.into();
            }
            Ok(())
        },
        show: |c| c.cflags.clone(),
    },
    Setting {
        env: "OP2_SIMD",
        aliases: &[],
        default: "`auto`",
        doc: "`auto`: where a loop can run vectorised across elements (kernel inlined, `#pragma omp simd`, lanes of the agreed instruction set) its module also holds the scalar loop with and without the kernel inlined, and rank 0 times the three on the loop's data the first time it runs, every rank then runs the fastest (recorded beside the cache entry, shown by `op2 cache list`, not measured again); `on`: the vectorised loop wherever it applies, unmeasured; `off`: the scalar path everywhere. The path of each kernel is in its cache entry's key text",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, n, v| {
            (c.simd, c.simd_measure) = match v.trim().to_ascii_lowercase().as_str() {
                "" | "auto" => (true, true),
                "on" | "1" => (true, false),
                "off" | "0" => (false, false),
                _ => {
                    return Err(Error::Config {
                        var: n.into(),
                        value: v.into(),
                        detail: "expected auto, on or off".into(),
                    })
                }
            };
            Ok(())
        },
        show: |c| match (c.simd, c.simd_measure) {
            (false, _) => "off".into(),
            (true, true) => "auto".into(),
            (true, false) => "on".into(),
        },
    },
    Setting {
        env: "OP2_TEST_ISA_LEVEL",
        aliases: &[],
        default: "`0`",
        doc: "testing only: this rank reports at most this x86-64 level (1-4; 0 = its CPU's) when the job agrees on the instruction set it compiles for, and refuses libraries above it, as a host of that level would",
        scope: Scope::Local,
        test_only: true,
        read: |c, n, v| {
            let l: u8 = parse_num(n, v)?;
            // x86-64 levels 1-4 (`jit::isa`, a higher layer: not imported here).
            if l > 4 {
                return Err(Error::Config {
                    var: n.into(),
                    value: v.into(),
                    detail: "expected 0 to 4".into(),
                });
            }
            c.test_isa_level = (l > 0).then_some(l);
            Ok(())
        },
        show: none,
    },
    Setting {
        env: "OP2_MEMORY_CACHE_MAX_ENTRIES",
        aliases: &[],
        default: "`1024`",
        doc: "loaded kernels kept per process (LRU)",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, n, v| {
            c.memory_cache_max_entries = at_least_1(n, v, parse_num(n, v)?)?;
            Ok(())
        },
        show: |c| c.memory_cache_max_entries.to_string(),
    },
    Setting {
        env: "OP2_CACHE_MAX_SIZE",
        aliases: &[],
        default: "`5G`",
        doc: "disk cache size limit: LRU prune to ~90% after an insert that exceeds it (`0` = unbounded)",
        scope: Scope::Local,
        test_only: false,
        read: |c, n, v| {
            c.cache_max_size = parse_size(v).map_err(|_| Error::Config {
                var: n.into(),
                value: v.into(),
                detail: "expected a size like 500M, 5G or a byte count".into(),
            })?;
            Ok(())
        },
        show: none,
    },
    Setting {
        env: "OP2_PRINT_CACHE_SIZE",
        aliases: &["PYOP2_PRINT_CACHE_SIZE"],
        default: "`0`",
        doc: "print the cache report of all ranks at exit",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, n, v| {
            c.print_cache_size = parse_bool(n, v)?;
            Ok(())
        },
        show: |c| c.print_cache_size.to_string(),
    },
    Setting {
        env: "OP2_CACHE_REPORT",
        aliases: &[],
        default: "unset",
        doc: "write that report as JSON to this path (whether it is set must agree; the path is per process)",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, _, v| {
            if !v.is_empty() {
                c.cache_report = Some(PathBuf::from(v));
            }
            Ok(())
        },
        show: |c| format!("set: {}", c.cache_report.is_some()),
    },
    Setting {
        env: "OP2_SPMD_STRICT",
        aliases: &[],
        default: "`0`",
        doc: "compare whole cache keys across ranks before compiling",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, n, v| {
            c.spmd_strict = parse_bool(n, v)?;
            Ok(())
        },
        show: |c| c.spmd_strict.to_string(),
    },
    Setting {
        env: "OP2_LOCK_TIMEOUT",
        aliases: &[],
        default: "`600`",
        doc: "seconds to wait for a cache lock, then fail",
        scope: Scope::Local,
        test_only: false,
        read: |c, n, v| {
            c.lock_timeout_s = parse_num(n, v)?;
            Ok(())
        },
        show: none,
    },
    Setting {
        env: "OP2_THREADS",
        aliases: &[],
        default: "auto",
        doc: "threads per rank: par_loops run their blocks on this many threads (also sparsity construction, `Mat::mult`). Auto (unset or `0`): 1 if several ranks of the job share this node (same MPI processor name), else every core available to the process. With `OP2_VERBOSE=1` or `OP2_PRINT_CACHE_SIZE=1` rank 0 prints the layout at start-up: `op2: 2 ranks x 4 threads (OP2_THREADS), 1 node, 8 cores`",
        scope: Scope::Local,
        test_only: false,
        read: |c, n, v| {
            if !v.trim().is_empty() {
                c.threads = parse_num(n, v)?;
            }
            Ok(())
        },
        show: none,
    },
    Setting {
        env: "OP2_BLOCK_SIZE",
        aliases: &[],
        default: "`512`",
        doc: "elements per block of a threaded par_loop (indirect writes are made safe by colouring blocks)",
        scope: Scope::Local,
        test_only: false,
        read: |c, n, v| {
            c.block_size = at_least_1(n, v, parse_num(n, v)?)?;
            Ok(())
        },
        show: none,
    },
    Setting {
        env: "OP2_CACHE_TRUSTED_GROUP",
        aliases: &[],
        default: "unset",
        doc: "group (name or gid) trusted to write the cache: op2 then makes its directories 2770 and lock files 0660 in that group, so members share entries; without it a cache dir or entry not owned by you, or writable by group/others, is refused",
        scope: Scope::Local,
        test_only: false,
        read: |c, _, v| {
            if !v.is_empty() {
                c.cache_trusted_group = Some(v.into());
            }
            Ok(())
        },
        show: none,
    },
    Setting {
        env: "OP2_COMPILE_TIMEOUT",
        aliases: &[],
        default: "`300`",
        doc: "seconds a compile may take; then the compiler's process group is killed and every rank fails (`0` = no limit)",
        scope: Scope::Local,
        test_only: false,
        read: |c, n, v| {
            c.compile_timeout_s = parse_num(n, v)?;
            Ok(())
        },
        show: none,
    },
    Setting {
        env: "OP2_HANG_TIMEOUT",
        aliases: &[],
        default: "`600`",
        doc: "seconds one collective may wait (time between collectives never counts); then every waiting rank prints which loop/collective it is in and the job aborts (`0` = off). Ranks waiting while rank 0 compiles or partitions a mesh only print a note",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, n, v| {
            c.hang_timeout_s = parse_num(n, v)?;
            Ok(())
        },
        show: |c| c.hang_timeout_s.to_string(),
    },
    Setting {
        env: "OP2_CHECK",
        aliases: &[],
        default: "`0`",
        doc: "**checked mode, the first thing to try when results look wrong** (`docs/GUIDE.md`): every par_loop agrees its call number and kernel across ranks, READ arguments are checksummed before and after it, halo copies are compared with their owners' values; a problem fails every rank naming the loop, kernel, argument and rank. Measured cost on Airfoil: see `docs/GUIDE.md`",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, n, v| {
            c.check = parse_bool(n, v)?;
            Ok(())
        },
        show: |c| c.check.to_string(),
    },
    Setting {
        env: "OP2_PROGRESS",
        aliases: &[],
        default: "`1`",
        doc: "rank 0 prints a line for each compile that takes over a second (`op2: compiling kernel ...` after 1 s, then its time and count), so a cold start is not silent; `0` silences them",
        scope: Scope::Local,
        test_only: false,
        read: |c, n, v| {
            c.progress = parse_bool(n, v)?;
            Ok(())
        },
        show: none,
    },
    Setting {
        env: "OP2_VERBOSE",
        aliases: &[],
        default: "`0`",
        doc: "say more: the job's layout (ranks x threads, nodes, cores) at start-up",
        scope: Scope::Agreed,
        test_only: false,
        read: |c, n, v| {
            c.verbose = parse_bool(n, v)?;
            Ok(())
        },
        show: |c| c.verbose.to_string(),
    },
    Setting {
        env: "OP2_TEST_NO_COLOUR",
        aliases: &[],
        default: "`0`",
        doc: "testing only: every block of a threaded par_loop in one colour, so blocks writing the same target race (the differential test's negative control, `examples/op2-diff-check.rs`); wrong answers, never for real work",
        scope: Scope::Local,
        test_only: true,
        read: |c, n, v| {
            c.test_no_colour = parse_bool(n, v)?;
            Ok(())
        },
        show: none,
    },
];

impl Setting {
    /// The variable's names, the `OP2_` one first.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.env).chain(self.aliases.iter().copied())
    }
}

impl Config {
    /// Defaults overridden by the `OP2_*` / `PYOP2_*` environment variables of [`SETTINGS`]
    /// (the first of a setting's names that is set wins). A malformed value is an error naming
    /// the variable, never silently ignored.
    pub fn from_env() -> Result<Config> {
        let mut c = Config::default();
        for s in SETTINGS {
            let found = s
                .names()
                .find_map(|n| std::env::var(n).ok().map(|v| (n, v)));
            if let Some((n, v)) = found {
                (s.read)(&mut c, n, &v)?;
            }
        }
        Ok(c)
    }

    /// The settings that decide which collectives a rank enters ([`Scope::Agreed`]), as
    /// (variable, value text): they must be equal on every rank (compared at [`crate::init`]).
    pub fn collective_settings(&self) -> Vec<(&'static str, String)> {
        (SETTINGS.iter())
            .filter(|s| s.scope == Scope::Agreed)
            .map(|s| (s.env, (s.show)(self)))
            .collect()
    }
}

/// Every environment variable op2 reads as a setting, aliases included (the integration
/// tests remove them all from the jobs they launch).
#[doc(hidden)]
pub fn setting_names() -> Vec<&'static str> {
    SETTINGS.iter().flat_map(|s| s.names()).collect()
}

/// README.md's Configuration table (the user settings, not the test-only ones).
#[doc(hidden)]
pub fn markdown_table() -> String {
    let mut out = String::from("| variable | default | meaning |\n|---|---|---|\n");
    for s in SETTINGS.iter().filter(|s| !s.test_only) {
        let aliases: String = s.aliases.iter().map(|a| format!(" (`{a}`)")).collect();
        out += &format!("| `{}`{aliases} | {} | {} |\n", s.env, s.default, s.doc);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readme() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
    }

    #[test]
    fn readme_configuration_table_is_the_settings_table() {
        let text = readme();
        let start = text
            .find("| variable | default | meaning |")
            .expect("README table");
        let end = text[start..]
            .find("\n\n")
            .map_or(text.len(), |e| start + e + 1);
        assert_eq!(
            &text[start..end],
            markdown_table(),
            "README.md's Configuration table differs from src/settings.rs: paste markdown_table()"
        );
    }

    #[test]
    fn readme_names_exactly_the_agreed_settings() {
        let text = readme();
        let para = text
            .split("\n\n")
            .find(|p| p.starts_with("Settings that decide which collectives"))
            .expect("README paragraph on agreed settings");
        let named: std::collections::BTreeSet<&str> =
            para.split('`').filter(|w| w.starts_with("OP2_")).collect();
        let agreed: std::collections::BTreeSet<&str> = (SETTINGS.iter())
            .filter(|s| s.scope == Scope::Agreed)
            .map(|s| s.env)
            .collect();
        assert_eq!(named, agreed);
    }

    #[test]
    fn names_are_unique_and_every_agreed_setting_shows_its_value() {
        let names = setting_names();
        let set: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(set.len(), names.len(), "{names:?}");
        assert!(names.contains(&"CC") && names.contains(&"OP2_SPMD_STRICT"));
        let a = Config::default();
        let b = a.clone().cc("gcc").check(true).cache_report("/x");
        let differ = (a.collective_settings().iter())
            .zip(b.collective_settings())
            .filter(|(x, y)| x.1 != y.1)
            .count();
        assert_eq!(differ, 3);
    }

    #[test]
    fn an_empty_cflags_keeps_the_default() {
        let mut c = Config::default();
        let default = c.cflags.clone();
        let s = SETTINGS.iter().find(|s| s.env == "OP2_CFLAGS").unwrap();
        (s.read)(&mut c, s.env, "  ").unwrap();
        assert_eq!(c.cflags, default);
        (s.read)(&mut c, s.env, "-O2").unwrap();
        assert_eq!(c.cflags, "-O2");
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let mut c = Config::default();
        let s = SETTINGS.iter().find(|s| s.env == "OP2_BLOCK_SIZE").unwrap();
        let e = (s.read)(&mut c, s.env, "0").unwrap_err().to_string();
        assert!(
            e.contains("OP2_BLOCK_SIZE") && e.contains("at least 1"),
            "{e}"
        );
        assert!((s.read)(&mut c, s.env, "64").is_ok());
        assert_eq!(c.block_size, 64);
    }
}
