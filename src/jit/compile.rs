//! The system C compiler: its identity and one compilation.
//!
//! Owns how `$OP2_CC` is identified (resolved path + `--version` + target CPU for `-march=native`)
//! and invoked. Every compilation runs the compiler exactly once, with `-o`. This module never
//! decides *whether* to compile (the disk cache does) and never loads the result (see `ffi`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
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
        .map_err(|e| Error::Config {
            var: "OP2_CC".into(),
            value: cc.into(),
            detail: format!(
                "cannot run the C compiler {}: {e} (install one, or set OP2_CC to a compiler)",
                path.display()
            ),
        })?;
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

/// Compile `source` into the shared object `out`: one run of `cc`, with `-o`, in its own
/// process group. After `timeout` (zero: no limit) the whole group is killed (a compiler
/// driver's `cc1`/`as`/`ld` children too) and the failure says so.
pub(crate) fn compile(
    cc: &str,
    cflags: &str,
    extra: &[String],
    source: &Path,
    out: &Path,
    timeout: Duration,
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
    let fail = |stderr: String| CompileFailure {
        command: command.clone(),
        stderr,
    };
    let mut child = Command::new(cc)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| fail(format!("could not run the compiler: {e}")))?;
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            s
        })
    };
    let out_t = pipe(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let err_t = pipe(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let t0 = Instant::now();
    let mut wait = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Ok(st),
            Ok(None) if !timeout.is_zero() && t0.elapsed() >= timeout => {
                kill_group(child.id());
                let _ = child.wait();
                break Err(format!(
                    "the compiler did not finish within {} s (OP2_COMPILE_TIMEOUT) and was killed with its process group",
                    timeout.as_secs()
                ));
            }
            Ok(None) => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(50));
            }
            Err(e) => break Err(format!("waiting for the compiler failed: {e}")),
        }
    };
    let text = |o: Vec<u8>, e: Vec<u8>| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o),
            String::from_utf8_lossy(&e)
        )
        .trim_end()
        .to_string()
    };
    // A timed-out group is dead, so its pipes close and these joins return.
    let (o, e) = (
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default(),
    );
    match status {
        Ok(st) if st.success() => Ok(()),
        Ok(st) => {
            let mut msg = text(o, e);
            if let Some(sig) = st.signal() {
                let name = signal_name(sig);
                msg = format!("the compiler was killed by signal {sig} ({name}){}{msg}", if msg.is_empty() { "" } else { "\n" });
            } else if msg.is_empty() {
                msg = format!("the compiler exited with {st} and printed nothing");
            }
            Err(fail(msg))
        }
        Err(why) => {
            let printed = text(o, e);
            Err(fail(if printed.is_empty() {
                why
            } else {
                format!("{why}\n{printed}")
            }))
        }
    }
}

fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created for the
    // compiler (`process_group(0)` made its pid the group id); no memory is involved.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

/// The usual name of a signal number (`SIGSEGV`...), for messages.
pub(crate) fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL (out of memory?)",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU (CPU time limit)",
        libc::SIGXFSZ => "SIGXFSZ (file size limit)",
        _ => "signal",
    }
}
