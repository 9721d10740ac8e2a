//! The system C compiler: its identity and one compilation.
//!
//! Owns how `$OP2_CC` is identified (resolved path + `--version` + target CPU for `-march=native`)
//! and invoked. Every compilation runs the compiler exactly once, with `-o`. This module never
//! decides *whether* to compile (the disk cache does) and never loads the result (see `ffi`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Split configured flags on whitespace.
pub(crate) fn split_flags(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Resolve a command name through `PATH` (as the shell would).
fn resolve(cc: &str) -> Option<PathBuf> {
    if cc.contains('/') {
        return Some(PathBuf::from(cc));
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(cc))
            .find(|c| c.is_file())
    })
}

/// The identity of the compiler for `(cc, cflags)`: resolved path, first line of `--version`,
/// and, when the flags ask for `-march=native`/`-mcpu=native`, the CPU the compiler resolves it
/// to (so caches shared by different machines never mix code). Sniffed once per process.
pub(crate) fn compiler_id(cc: &str, cflags: &str) -> Result<String> {
    static IDS: Mutex<Option<HashMap<(String, String), String>>> = Mutex::new(None);
    let key = (cc.to_string(), cflags.to_string());
    if let Some(id) = IDS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .get(&key)
    {
        return Ok(id.clone());
    }
    let path = resolve(cc).ok_or_else(|| Error::Config {
        var: "OP2_CC".into(),
        value: cc.into(),
        detail: "compiler not found on PATH".into(),
    })?;
    let out = Command::new(&path)
        .arg("--version")
        .output()
        .map_err(|e| Error::io("run compiler --version", &path, e))?;
    let version = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let mut id = format!("{} {version}", path.display());
    if cflags.contains("native") {
        // gcc/clang print the cc1 command line with the resolved -march under -v.
        let out = Command::new(&path)
            .args(split_flags(cflags))
            .args(["-E", "-v", "-x", "c", "/dev/null", "-o", "/dev/null"])
            .output()
            .map_err(|e| Error::io("run compiler -v", &path, e))?;
        let err = String::from_utf8_lossy(&out.stderr);
        let target: Vec<&str> = err
            .split_whitespace()
            .filter(|w| {
                w.starts_with("-march=")
                    || w.starts_with("-mtune=")
                    || w.starts_with("-mcpu=")
                    || w.starts_with("-target-cpu")
            })
            .collect();
        id.push_str(&format!(" target {}", target.join(" ")));
    }
    IDS.lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(key, id.clone());
    Ok(id)
}

/// Why a compilation failed.
#[derive(Debug)]
pub(crate) struct CompileFailure {
    pub command: String,
    pub stderr: String,
}

/// Compile `source` into the shared object `out`: one run of `cc`, with `-o`.
pub(crate) fn compile(
    cc: &str,
    cflags: &str,
    extra: &[String],
    source: &Path,
    out: &Path,
) -> std::result::Result<(), CompileFailure> {
    let mut args = split_flags(cflags);
    args.extend(extra.iter().cloned());
    // Hidden visibility: only the generated entry point is exported, so the compiler may
    // inline the user kernel into the loop (an exported function in a shared object could be
    // interposed, and GCC then refuses to inline it: ~25% slower on Airfoil).
    args.extend(["-shared", "-fPIC", "-fvisibility=hidden", "-o"].map(String::from));
    args.push(out.display().to_string());
    args.push(source.display().to_string());
    args.push("-lm".into());
    let command = format!("{cc} {}", args.join(" "));
    match Command::new(cc).args(&args).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(CompileFailure {
            command,
            stderr: format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
            .trim_end()
            .to_string(),
        }),
        Err(e) => Err(CompileFailure {
            command,
            stderr: format!("could not run the compiler: {e}"),
        }),
    }
}
