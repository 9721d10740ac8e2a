//! File locking and atomic writes, written once (in the manner of cargo's `flock.rs` and
//! sccache's disk cache). Every cache file op2 creates goes through here.
//!
//! # Failure modes this module is written against
//! * **`flock` may block forever** on some NFS mounts (lockd unreachable) and is *disabled* on
//!   Lustre unless the filesystem is mounted with `-o flock` (then `flock` fails with
//!   `ENOSYS`/`EINVAL`). We therefore never block in the kernel: [`lock_exclusive`] polls a
//!   non-blocking `try_lock` with backoff and gives up after `OP2_LOCK_TIMEOUT` seconds with an
//!   error naming the lock file, and an "unsupported" answer becomes a clear error telling the
//!   user to point `OP2_CACHE_DIR` at a local or flock-capable filesystem.
//! * **A crash mid-write** must never leave a half-written file under a final name: data goes
//!   to a uniquely named temporary file *in the same directory* (host + pid + random, so two
//!   nodes sharing the directory never collide), is `fsync`ed, then `rename`d into place
//!   (atomic on POSIX within one filesystem), and the directory is `fsync`ed so the rename
//!   survives a power loss. Stale temporaries from crashed writers are harmless (never read)
//!   and removed by `op2 cache prune`/`clear`.
//! * **A lock holder that dies** releases its `flock` automatically when the kernel closes the
//!   descriptor, so no stale-lock recovery is needed (unlike `O_EXCL` lock files).
// This module is the one place that locks files (clippy.toml forbids it elsewhere).
#![allow(clippy::disallowed_methods)]

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs2::FileExt;

use crate::error::{Error, IoContext, Result};

/// An exclusive lock on a lock file, released on drop (or when the process dies).
#[derive(Debug)]
pub struct LockGuard {
    file: File,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

fn open_lock(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let group = crate::cache::trust::trusted_gid();
    let open = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(if group.is_some() { 0o660 } else { 0o600 })
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
    };
    match open() {
        Ok(f) => {
            if let Some(g) = group {
                share_with_group(&f, g, 0o660);
            }
            Ok(f)
        }
        // Its folder was removed by a concurrent `op2 cache clear`: make it again.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(d) = path.parent() {
                create_private_dir(d)?;
            }
            open().ctx("open lock file", path)
        }
        // A read-only cache: an existing lock file can still be locked through a read-only
        // descriptor (flock does not need write access).
        Err(e) if is_read_only(&e) => OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| Error::io(lock_denied(path, group), path, e)),
        Err(e) => Err(Error::io("open lock file", path, e)),
    }
}

/// What to say when a lock file can be neither written nor read: another user's file (a cache
/// shared without, or written before, `OP2_CACHE_TRUSTED_GROUP`) rather than a read-only cache.
fn lock_denied(path: &Path, group: Option<u32>) -> &'static str {
    use std::os::unix::fs::MetadataExt;
    let me = crate::cache::trust::euid();
    match fs::symlink_metadata(path) {
        Ok(m) if m.uid() != me && group.is_some() => "open lock file (another user's, not readable by you: a cache shared through OP2_CACHE_TRUSTED_GROUP needs lock files readable and writable by the group, mode 0660; this one was made by an op2 without it: `chmod -R g+rwX` the cache as its owner)",
        Ok(m) if m.uid() != me => "open lock file (another user's, not readable by you: to share a cache between users set OP2_CACHE_TRUSTED_GROUP=<group> for every user)",
        _ => "open lock file (read-only cache)",
    }
}

/// Under `OP2_CACHE_TRUSTED_GROUP`: give a file or directory we own the trusted group and
/// `mode` whatever the umask (best effort: another member's file is left as it is).
fn share_with_group(f: &File, gid: u32, mode: u32) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(m) = f.metadata() else { return };
    if m.uid() != crate::cache::trust::euid() {
        return;
    }
    if m.gid() != gid {
        let _ = std::os::unix::fs::fchown(f, None, Some(gid));
    }
    if m.mode() & 0o7777 != mode {
        let _ = f.set_permissions(fs::Permissions::from_mode(mode));
    }
}

/// True for "cannot write here" errors (permission, read-only filesystem).
pub(crate) fn is_read_only(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EACCES) | Some(libc::EROFS) | Some(libc::EPERM)
    )
}

/// True if the lock we hold is still on the file at `path` (not on one a concurrent
/// `op2 cache clear` unlinked after we opened it: then a newcomer would lock a new file).
fn still_linked(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn unsupported(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS) | Some(libc::EINVAL) | Some(libc::ENOLCK) | Some(libc::EOPNOTSUPP)
    )
}

fn lock_error(path: &Path, e: std::io::Error) -> Error {
    if unsupported(&e) {
        Error::Io {
            op: "flock (unsupported on this filesystem: on Lustre mount with -o flock, or set OP2_CACHE_DIR to a local or flock-capable directory)",
            path: path.to_path_buf(),
            source: e,
        }
    } else {
        Error::io("flock", path, e)
    }
}

/// Take an exclusive lock on `path` (created if missing), waiting at most `timeout`.
pub fn lock_exclusive(path: &Path, timeout: Duration) -> Result<LockGuard> {
    lock_polling(path, timeout, false)
}

/// Take a shared lock on `path` (created if missing), waiting at most `timeout`. Shared locks
/// mark a file as in use: exclusive lockers (writers, pruning) wait for or skip it.
pub fn lock_shared(path: &Path, timeout: Duration) -> Result<LockGuard> {
    lock_polling(path, timeout, true)
}

fn would_block(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::EWOULDBLOCK)
}

/// Poll a non-blocking try-lock with backoff (1 ms doubling to 100 ms) until `timeout`: never
/// a blocking `flock`, which can hang forever on some NFS mounts.
fn lock_polling(path: &Path, timeout: Duration, shared: bool) -> Result<LockGuard> {
    let mut file = open_lock(path)?;
    let t0 = Instant::now();
    let mut wait = Duration::from_millis(1);
    let mut told = false;
    loop {
        let tried = if shared {
            FileExt::try_lock_shared(&file)
        } else {
            FileExt::try_lock_exclusive(&file)
        };
        match tried {
            Ok(()) if still_linked(&file, path) => return Ok(LockGuard { file }),
            // The lock file was removed (by `clear`) while we waited: lock the new one.
            Ok(()) => {
                drop(file);
                file = open_lock(path)?;
            }
            Err(e) if would_block(&e) => {
                if t0.elapsed() >= timeout {
                    return Err(Error::io(
                        "timed out waiting for lock (OP2_LOCK_TIMEOUT; another process holds it, or the filesystem's locking hangs)",
                        path,
                        e,
                    ));
                }
                if !told && t0.elapsed() >= Duration::from_millis(500) {
                    told = true;
                    let _ = writeln!(
                        std::io::stderr(),
                        "op2: Blocking waiting for file lock on {} (another process is compiling or pruning this entry; waiting at most {} s, OP2_LOCK_TIMEOUT)",
                        path.display(),
                        timeout.as_secs()
                    );
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(lock_error(path, e)),
        }
    }
}

/// Try once to take an exclusive lock; `Ok(None)` if another process holds it.
pub fn try_lock_exclusive(path: &Path) -> Result<Option<LockGuard>> {
    let file = open_lock(path)?;
    match file.try_lock_exclusive() {
        Ok(()) if still_linked(&file, path) => Ok(Some(LockGuard { file })),
        Ok(()) => Ok(None),
        Err(e) if would_block(&e) => Ok(None),
        Err(e) => Err(lock_error(path, e)),
    }
}

/// Try once to take a shared lock; `None` if it is held exclusively or cannot be taken at all
/// (a read-only cache without a lock file: the caller goes on unlocked).
pub fn try_lock_shared(path: &Path) -> Option<LockGuard> {
    let file = open_lock(path).ok()?;
    match FileExt::try_lock_shared(&file) {
        Ok(()) => Some(LockGuard { file }),
        Err(_) => None,
    }
}

/// A unique temporary path in `dir`: `.tmp-<host>-<pid>-<random>-<name>`. Same directory as
/// the final file, so the final `rename` is atomic; `name` (with its extension) comes last, so
/// tools that look at extensions (the C compiler) still recognise the file.
pub fn temp_path(dir: &Path, name: &str) -> PathBuf {
    let r: u64 = rand::random();
    dir.join(format!(
        ".tmp-{}-{}-{r:016x}-{name}",
        hostname(),
        std::process::id()
    ))
}

/// A temporary older than this is left over by a crashed writer and may be removed (by
/// `op2 cache prune`, `verify --fix`, `clear`, or the pruning after an insert). Younger ones
/// may belong to a live compile and are never touched; `OP2_COMPILE_TIMEOUT` (default 300 s)
/// bounds how long a live compile keeps one.
pub const STALE_TEMP_SECS: u64 = 3600;

/// True if the file at `p` is a temporary older than [`STALE_TEMP_SECS`].
pub fn is_stale_temp(p: &Path) -> bool {
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
    name.is_some_and(|n| is_temp_name(&n))
        && fs::symlink_metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() >= STALE_TEMP_SECS)
}

/// True for names made by [`temp_path`].
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(".tmp-")
}

/// This machine's host name (for temporary names and messages).
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// fsync a directory so that renames into it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("fsync directory", dir)
}

/// Write `bytes` to `dest` atomically: temporary file in the same directory, fsync, rename,
/// fsync the directory. Readers see either no file or the whole file.
pub fn atomic_write(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(dest);
    let stem = dest.file_name().and_then(|s| s.to_str()).unwrap_or("file");
    let tmp = temp_path(dir, stem);
    let res = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        // 0644 whatever the umask: the trust check refuses group- or world-writable files.
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .ctx("create", &tmp)?;
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .ctx("chmod", &tmp)?;
        f.write_all(bytes).ctx("write", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
        drop(f);
        fs::rename(&tmp, dest).ctx("rename into place", dest)?;
        fsync_dir(dir)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Move an already written and fsynced file into place atomically.
/// Its mode loses group and other write bits (a compiler honours the umask; the trust check
/// refuses group- or world-writable entries).
pub fn atomic_rename(tmp: &Path, dest: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let f = File::open(tmp).ctx("open", tmp)?;
    let mode = f.metadata().ctx("stat", tmp)?.permissions().mode();
    f.set_permissions(fs::Permissions::from_mode(mode & 0o755))
        .ctx("chmod", tmp)?;
    f.sync_all().ctx("fsync", tmp)?;
    drop(f);
    fs::rename(tmp, dest).ctx("rename into place", dest)?;
    fsync_dir(parent_dir(dest))
}

/// The folder a file name lives in: `.` for a bare name (`report.json`), whose
/// `Path::parent` is the empty path.
fn parent_dir(file: &Path) -> &Path {
    file.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Create `dir` (and parents) with mode 0700 if missing; under `OP2_CACHE_TRUSTED_GROUP`, `dir`
/// itself gets that group and mode 2770 (the setgid bit gives every file and directory made
/// in it the group, so each member's entries pass the others' trust check). `mkdir` is
/// exclusive: a directory someone else made first is kept as it is, and refused by
/// `trust::check_dir` before use.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {
            if let Some(g) = crate::cache::trust::trusted_gid() {
                let d = File::open(dir).ctx("open directory", dir)?;
                share_with_group(&d, g, 0o2770);
            }
            Ok(())
        }
        Err(e) if dir.is_dir() => {
            let _ = e; // made concurrently by another process
            Ok(())
        }
        Err(e) => Err(Error::io("create directory", dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_times_out_instead_of_hanging() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        let g = lock_exclusive(&p, Duration::from_secs(1)).unwrap();
        assert!(try_lock_exclusive(&p).unwrap().is_none());
        let t0 = Instant::now();
        let e = lock_exclusive(&p, Duration::from_millis(200)).unwrap_err();
        assert!(
            e.to_string().contains("timed out") && e.to_string().contains("x.lock"),
            "{e}"
        );
        assert!(t0.elapsed() < Duration::from_secs(5));
        drop(g);
        assert!(try_lock_exclusive(&p).unwrap().is_some());
    }

    #[test]
    fn a_bare_file_name_is_written_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("report.json")), Path::new("."));
        assert_eq!(parent_dir(Path::new("d/report.json")), Path::new("d"));
        assert_eq!(parent_dir(Path::new("/report.json")), Path::new("/"));
    }

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temporaries() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
