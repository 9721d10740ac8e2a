//! The system C compiler: its identity and one compilation.
//!
//! Owns how `$OP2_CC` is identified (resolved path + `--version` + target CPU for `-march=native`)
//! and invoked. Every compilation runs the compiler exactly once, with `-o`. This module never
//! decides *whether* to compile (the disk cache does) and never loads the result (see `ffi`).

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Split configured flags on whitespace.
pub(crate) fn split_flags(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Resolve a command name through `PATH` (as the shell would).
// `PATH` is the shell's search path, not an op2 setting: read here, where the compiler is found.
#[allow(clippy::disallowed_methods)]
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

/// Flags that turn a kernel whose definition does not match the typed call into an error:
/// wrong pointer types, a call of an undefined (implicitly declared) function, an integer
/// where a pointer goes, and (at link time) any symbol left undefined. Added after the user's
/// flags. A dropped `const` stays a warning (`-Werror` in `OP2_CFLAGS` makes it an error).
pub(crate) const CHECK_FLAGS: [&str; 4] = [
    "-Werror=incompatible-pointer-types",
    "-Werror=implicit-function-declaration",
    "-Werror=int-conversion",
    "-Wl,-z,defs",
];

/// Flags that make a shared object of the source, after the user's and the check flags.
/// Hidden visibility: only the generated entry point is exported, so the compiler may inline
/// the user kernel into the loop (an exported function in a shared object could be
/// interposed, and GCC then refuses to inline it: ~25% slower on Airfoil).
const LIBRARY_FLAGS: [&str; 3] = ["-shared", "-fPIC", "-fvisibility=hidden"];

/// What [`compile`] adds to the user's compiler command and flags, in words: part of every disk
/// key (`build::key`), so that changing how op2 calls the compiler is a new entry.
pub(crate) fn added_flags() -> String {
    format!(
        "{} {} [-ffile-prefix-map=<dirs>=.] -o <out> <source> -lm; SOURCE_DATE_EPOCH=0",
        CHECK_FLAGS.join(" "),
        LIBRARY_FLAGS.join(" ")
    )
}

/// Compile `source` into the shared object `out`: one run of `cc`, with `-o`, in its own
/// process group. After `timeout` (zero: no limit) the whole group is killed (a compiler
/// driver's `cc1`/`as`/`ld` children too) and the failure says so. Its output goes to an
/// anonymous file, so nothing a descendant keeps open can hold rank 0 past the compiler's exit
/// or the timeout; it inherits no descriptor of the rank but stdin/stdout/stderr and dies with
/// the rank ([`child_setup`]). On success, returns the
/// compiler's warnings (empty when it printed nothing) after checking that the library exports
/// the generated entry point (`cache::elf::check_exports`); a library that fails the check is a failure,
/// so it is never cached.
pub(crate) fn compile(
    cc: &str,
    cflags: &str,
    extra: &[String],
    source: &Path,
    out: &Path,
    timeout: Duration,
) -> std::result::Result<String, CompileFailure> {
    let args = compile_args(cc, cflags, extra, source, out);
    let command = format!("{cc} {}", args.join(" "));
    let fail = |stderr: String| CompileFailure {
        command: command.clone(),
        stderr,
    };
    // Output goes to an anonymous file, not a pipe: a descendant that keeps the compiler's
    // stdout/stderr open (a wrapper's `sleep &`, a licence daemon, `setsid` or not) cannot
    // make rank 0 wait past the compiler's own exit or the timeout.
    let capture = output_file().map_err(|e| fail(format!("could not run the compiler: {e}")))?;
    let child = spawn_compiler(cc, &args, &capture)
        .map_err(|e| fail(format!("could not run the compiler: {e}")))?;
    let status = wait_for(child, timeout);
    let text = || read_output(&capture);
    match status {
        Ok(st) if st.success() => {
            let printed = text();
            match crate::cache::elf::check_exports(out) {
                Ok(()) => Ok(printed),
                Err(detail) => Err(fail(
                    format!("{printed}\nthe compiled library is unusable: {detail}")
                        .trim_start()
                        .to_string(),
                )),
            }
        }
        Ok(st) => Err(fail(failed_status(st, text()))),
        Err(why) => {
            let printed = text();
            Err(fail(if printed.is_empty() {
                why
            } else {
                format!("{why}\n{printed}")
            }))
        }
    }
}

/// The compiler's arguments: the user's flags, `extra`, the check and reproducibility flags,
/// then a shared object `out` from `source`.
fn compile_args(
    cc: &str,
    cflags: &str,
    extra: &[String],
    source: &Path,
    out: &Path,
) -> Vec<String> {
    let mut args = split_flags(cflags);
    args.extend(extra.iter().cloned());
    // A C++ kernel (`Kernel::cxx`: `-xc++` among its flags): C++ has no implicit declarations
    // nor incompatible-pointer conversions to promote (its own rules make them errors), so of
    // the check flags only the link-time one applies; libstdc++ is linked after `-lm`.
    let cxx = extra.iter().any(|f| f == crate::jit::kernel::CXX_FLAG);
    args.extend(
        (CHECK_FLAGS.iter())
            .filter(|f| !cxx || f.starts_with("-Wl,"))
            .map(|f| f.to_string()),
    );
    args.extend(reproducible_flags(cc, source));
    // clang files a dropped `const` under incompatible-pointer-types; keep it a warning as gcc.
    if !cxx && compiler_id(cc, cflags).is_ok_and(|id| id.contains("clang")) {
        args.push("-Wno-error=incompatible-pointer-types-discards-qualifiers".into());
    }
    args.extend(LIBRARY_FLAGS.map(String::from));
    args.push("-o".into());
    args.push(out.display().to_string());
    args.push(source.display().to_string());
    args.push("-lm".into());
    if cxx {
        args.push("-lstdc++".into());
    }
    args
}

/// Start the compiler in its own process group, its stdout and stderr going to `capture`.
fn spawn_compiler(cc: &str, args: &[String], capture: &std::fs::File) -> std::io::Result<Child> {
    let (stdout, stderr) = (capture.try_clone()?, capture.try_clone()?);
    let mut cmd = Command::new(cc);
    cmd.args(args)
        // Plain ASCII messages (no locale quotes), which `jit/check.rs` reads.
        .env("LC_ALL", "C")
        // Reproducible: `__DATE__`/`__TIME__` do not depend on when it was built.
        .env("SOURCE_DATE_EPOCH", "0")
        .env_remove("GCC_COLORS")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: `child_setup` runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl, getppid, close_range/fcntl, _exit); it touches
    // no memory shared with the parent and allocates nothing.
    unsafe {
        cmd.pre_exec(move || child_setup(parent));
    }
    cmd.spawn()
}

/// Wait for the compiler; after `timeout` (zero: no limit) kill its whole process group.
fn wait_for(mut child: Child, timeout: Duration) -> std::result::Result<ExitStatus, String> {
    let t0 = Instant::now();
    let mut wait = Duration::from_millis(1);
    loop {
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
    }
}

/// What a compiler that exited unsuccessfully printed, or how it ended when it printed nothing.
fn failed_status(st: ExitStatus, printed: String) -> String {
    let mut msg = printed;
    if let Some(sig) = st.signal() {
        let name = signal_name(sig);
        msg = format!(
            "the compiler was killed by signal {sig} ({name}){}{msg}",
            if msg.is_empty() { "" } else { "\n" }
        );
    } else if msg.is_empty() {
        msg = format!("the compiler exited with {st} and printed nothing");
    }
    msg
}

/// At most this much of the compiler's output is kept (a descendant may still be writing).
const OUTPUT_LIMIT: u64 = 16 << 20;

/// An anonymous in-memory file (`memfd_create`) for the compiler's stdout and stderr.
fn output_file() -> std::io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: the name is a NUL-terminated literal; on success the returned descriptor is new
    // and owned by nobody else, so the `File` may take it over.
    unsafe {
        let fd = libc::memfd_create(c"op2-cc-output".as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(std::fs::File::from_raw_fd(fd))
    }
}

/// What the compiler (and anything it started) wrote so far, as text, bounded.
fn read_output(f: &std::fs::File) -> String {
    use std::io::{Seek, SeekFrom};
    let mut f = f;
    let mut bytes = Vec::new();
    if f.seek(SeekFrom::Start(0)).is_ok() {
        let _ = f.take(OUTPUT_LIMIT).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

/// In the forked child, before exec: die with the rank that started us (`PR_SET_PDEATHSIG`:
/// a `kill -9` of rank 0 mid-compile takes the compiler with it), and mark every descriptor
/// above 2 close-on-exec, so the compiler inherits none of the rank's MPI sockets (mpiexec
/// tears a job down when a rank's sockets close) or lock files. Close-on-exec rather than
/// close: the standard library's own exec-error pipe must stay open until the exec.
fn child_setup(parent: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: plain system calls on integers; async-signal-safe (we are between fork and exec).
    unsafe {
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        // The rank died before the prctl: the signal will never come, so do not run at all.
        if libc::getppid() != parent {
            libc::_exit(1);
        }
        let all = libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        if all != 0 {
            // Kernels before 5.11: one descriptor at a time, up to the descriptor limit.
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                lim.rlim_cur.min(1 << 16) as libc::c_int
            } else {
                1024
            };
            for fd in 3..max {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

/// Flags that keep build paths out of the library, so that its bytes depend only on the
/// source, the compiler and the flags (`op2 cache unpack --rebuild` compiles again and compares):
/// the compiler's working directory and the source's folder are mapped to `.` (debug info,
/// `__FILE__`); the folder's map comes last, so it wins for the source (gcc uses the last
/// matching map). Only for compilers that accept `-ffile-prefix-map` (gcc 8, clang 10 on),
/// asked once per compiler.
fn reproducible_flags(cc: &str, source: &Path) -> Vec<String> {
    static OK: Mutex<Option<HashMap<String, bool>>> = Mutex::new(None);
    let known = OK
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(cc)
        .copied();
    let ok = known.unwrap_or_else(|| {
        let ok = Command::new(cc)
            // No `-o`: wrappers that count compilations by it must not count this probe.
            .args(["-ffile-prefix-map=/op2=.", "-E", "-x", "c", "/dev/null"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        OK.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashMap::new)
            .insert(cc.to_string(), ok);
        ok
    });
    if !ok {
        return Vec::new();
    }
    let mut flags = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        flags.push(format!("-ffile-prefix-map={}=.", cwd.display()));
    }
    if let Some(dir) = source.parent().filter(|d| !d.as_os_str().is_empty()) {
        flags.push(format!("-ffile-prefix-map={}=.", dir.display()));
    }
    flags
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
