//! Who may have written a cache file: the trust model of the disk cache.
//!
//! Loading a cache entry runs its code, and the checksum in `.meta` proves integrity, not
//! authorship: anyone who can write the directory can plant a library with a matching `.meta`.
//! So before rank 0 uses a cache directory, and before any rank reads an entry file, this
//! module checks who could have written it:
//!
//! * a **directory** (the cache root, an entry's `<k0k1>/` folder) must be a directory owned by
//!   the effective uid (or root) and not writable by group or others;
//! * an **entry file** (`.so`, `.meta`) is opened with `O_NOFOLLOW | O_NONBLOCK` (a symlink is
//!   refused, a FIFO cannot block the open) and checked through `fstat` on the opened
//!   descriptor (no check-then-open race): it must be a regular file with the same owner and
//!   mode rules;
//! * **opt-in sharing**: with `OP2_CACHE_TRUSTED_GROUP=<group name or gid>`, a directory or file
//!   whose group is that group is accepted whatever its owner and group-write bit (the members
//!   of that group are trusted to write code you run). World-writable is always refused.
//!
//! Because the directories are checked to be writable only by trusted users, the paths of
//! checked files cannot be swapped by anyone else between the check and `dlopen`.
//! Parent directories of the cache root are not checked (`/tmp` is world-writable but sticky:
//! nobody else can rename a directory you own out of it).

use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// The trusted group from `OP2_CACHE_TRUSTED_GROUP` (name or numeric gid), if any.
pub(crate) fn trusted_gid() -> Option<u32> {
    let cfg = crate::config::current().ok()?;
    let g = cfg.cache_trusted_group.as_deref()?.trim().to_string();
    resolve_group(&g)
}

/// A group name or number as a gid.
pub(crate) fn resolve_group(g: &str) -> Option<u32> {
    if let Ok(n) = g.parse::<u32>() {
        return Some(n);
    }
    let c = std::ffi::CString::new(g).ok()?;
    // SAFETY: getgrnam reads the group database and returns a pointer to static storage (or
    // null); we copy the gid out immediately and keep no pointer.
    let gr = unsafe { libc::getgrnam(c.as_ptr()) };
    if gr.is_null() {
        return None;
    }
    // SAFETY: non-null pointer returned by getgrnam, valid until the next getgr* call.
    Some(unsafe { (*gr).gr_gid })
}

pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why `m` (of a file or directory) could have been written by someone untrusted, if so.
fn untrusted_reason(m: &Metadata, trusted: Option<u32>) -> Option<String> {
    let mode = m.mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Some(format!("it is writable by every user (mode {mode:04o})"));
    }
    if trusted == Some(m.gid()) {
        return None;
    }
    let me = euid();
    if m.uid() != me && m.uid() != 0 {
        return Some(format!(
            "it is owned by uid {}, not by you (uid {me})",
            m.uid()
        ));
    }
    if mode & 0o020 != 0 {
        return Some(format!(
            "it is writable by its group (gid {}, mode {mode:04o})",
            m.gid()
        ));
    }
    None
}

fn how_to_fix(path: &Path, dir: bool) -> String {
    let p = path.display();
    format!(
        "anyone who can write it could plant code that op2 would run. Fix: `chmod go-w {p}` and make it yours (`chown $(id -u) {p}`){}, or set OP2_CACHE_DIR to a private directory, or, to share a cache within a group you trust, set OP2_CACHE_TRUSTED_GROUP=<group> and give {} that group",
        if dir { "" } else { ", or remove it (op2 cache clear)" },
        if dir { "the directory" } else { "the file" }
    )
}

/// Refuse a cache directory that is not a directory or that someone untrusted could write.
pub(crate) fn check_dir(path: &Path) -> Result<()> {
    let m = std::fs::metadata(path).map_err(|e| Error::io("stat cache directory", path, e))?;
    if !m.is_dir() {
        return Err(Error::Untrusted {
            path: path.to_path_buf(),
            detail: "it is not a directory (set OP2_CACHE_DIR to a directory)".into(),
        });
    }
    match untrusted_reason(&m, trusted_gid()) {
        None => Ok(()),
        Some(why) => Err(Error::Untrusted {
            path: path.to_path_buf(),
            detail: format!("{why}; {}", how_to_fix(path, true)),
        }),
    }
}

/// Open an entry file for reading, refusing symlinks, FIFOs, directories and anything that
/// someone untrusted could have written. Never blocks (FIFO) and checks the opened descriptor.
/// `Err` is a sentence for a verification report; `Ok(None)` means the file does not exist.
pub(crate) fn open_entry(path: &Path) -> std::result::Result<Option<File>, String> {
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(format!(
                "{} is a symbolic link (refused: entries must be regular files)",
                path.display()
            ))
        }
        Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
    };
    let m = f
        .metadata()
        .map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
    if !m.file_type().is_file() {
        return Err(format!(
            "{} is not a regular file (a FIFO, device or directory: refused)",
            path.display()
        ));
    }
    if let Some(why) = untrusted_reason(&m, trusted_gid()) {
        return Err(format!(
            "{} is refused: {why}; {}",
            path.display(),
            how_to_fix(path, false)
        ));
    }
    Ok(Some(f))
}

/// True if `e` says the entry was refused for trust reasons (not plain damage).
pub(crate) fn is_refusal(reason: &str) -> bool {
    reason.contains(" is refused: ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn group_writable_dir_is_refused_and_private_one_accepted() {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        check_dir(d.path()).unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o770)).unwrap();
        let e = check_dir(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("writable by its group") && e.contains("chmod go-w"),
            "{e}"
        );
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o707)).unwrap();
        let e = check_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("every user"), "{e}");
    }

    #[test]
    fn fifo_symlink_and_directory_entries_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("x.so");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_entry(&fifo).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let real = d.path().join("real");
        std::fs::write(&real, b"x").unwrap();
        let link = d.path().join("y.so");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(open_entry(&link).unwrap_err().contains("symbolic link"));
        let sub = d.path().join("z.so");
        std::fs::create_dir(&sub).unwrap();
        assert!(open_entry(&sub).unwrap_err().contains("not a regular file"));
        assert!(open_entry(&real).unwrap().is_some());
        assert!(open_entry(&d.path().join("none")).unwrap().is_none());
    }
}
