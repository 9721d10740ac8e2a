//! Who may have written a cache file: the trust model of the disk cache.
//!
//! Loading a cache entry runs its code, and the checksum in `.meta` proves integrity, not
//! authorship: anyone who can write the directory can plant a library with a matching `.meta`.
//! So before rank 0 uses a cache directory, and before any rank reads an entry file, this
//! module checks who could have written it:
//!
//! * a **directory** (the cache root, an entry's `<k0k1>/` folder) must be a directory owned by
//!   the effective uid (or root) and not writable by group or others; it is opened with
//!   `O_DIRECTORY | O_NOFOLLOW` and checked through `fstat`;
//! * **symbolic links**: a link on the cache root's path (the root itself, `OP2_CACHE_DIR`, the
//!   `/tmp/op2-cache-$USER` fallback, or any folder above) is followed only if it is owned by
//!   you or root (its owner decides where it points); a folder inside a cache is never a link;
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

/// Refuse a folder inside a cache (an entry's `<k0k1>/`, `failed/`, `corrupt/`) that is a
/// symbolic link, not a directory, or writable by someone untrusted. Opened with
/// `O_DIRECTORY | O_NOFOLLOW` and checked through `fstat` on the descriptor: op2 never follows
/// a link inside a cache.
pub(crate) fn check_dir(path: &Path) -> Result<()> {
    check_opened_dir(path, path)
}

/// Refuse a cache root someone untrusted could redirect or write: every symbolic link on its
/// path must be owned by you or root ([`resolve_links`]), and the directory it resolves to is
/// opened with `O_DIRECTORY | O_NOFOLLOW` and checked through `fstat` (owner, mode).
pub(crate) fn check_root(path: &Path) -> Result<()> {
    let real = resolve_links(path)?;
    check_opened_dir(&real, path)
}

fn check_opened_dir(real: &Path, shown: &Path) -> Result<()> {
    let untrusted = |detail: String| Error::Untrusted {
        path: shown.to_path_buf(),
        detail,
    };
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(real)
    {
        Ok(f) => f,
        // With O_DIRECTORY, Linux reports a final symbolic link as ENOTDIR, not ELOOP.
        Err(e)
            if e.raw_os_error() == Some(libc::ELOOP)
                || std::fs::symlink_metadata(real).is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            return Err(untrusted(format!(
                "{} is a symbolic link (op2 never follows a link inside a cache or one it did not resolve itself)",
                real.display()
            )))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            return Err(untrusted(
                "it is not a directory (set OP2_CACHE_DIR to a directory)".into(),
            ))
        }
        Err(e) => return Err(Error::io("open cache directory", shown, e)),
    };
    let m = f
        .metadata()
        .map_err(|e| Error::io("stat cache directory", shown, e))?;
    match untrusted_reason(&m, trusted_gid()) {
        None => Ok(()),
        Some(why) => Err(untrusted(format!("{why}; {}", how_to_fix(shown, true)))),
    }
}

/// Resolve the symbolic links on `path` one component at a time (as the kernel would),
/// refusing any link owned by someone other than you or root: whoever owns a link decides where
/// it points, so a link another user placed at (or above) the cache path would let them choose
/// where your cache lives and what `op2 cache clear` deletes. Returns the resolved path (the
/// part from the first missing component on is appended as it is: `mkdir` makes no links).
pub(crate) fn resolve_links(path: &Path) -> Result<std::path::PathBuf> {
    use std::path::{Component, PathBuf};
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("find the current directory for", path, e))?
            .join(path)
    };
    // Components still to resolve, last first; `None` stands for `..`.
    let push = |todo: &mut Vec<Option<std::ffi::OsString>>, p: &Path| {
        for c in p.components().rev() {
            match c {
                Component::Normal(n) => todo.push(Some(n.to_os_string())),
                Component::ParentDir => todo.push(None),
                _ => {}
            }
        }
    };
    let mut todo = Vec::new();
    push(&mut todo, &abs);
    let mut cur = PathBuf::from("/");
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        let Some(name) = c else {
            cur.pop();
            continue;
        };
        let next = cur.join(&name);
        let m = match std::fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => m,
            Ok(_) => {
                cur = next;
                continue;
            }
            Err(_) => {
                // Missing (to be created) or unreadable (the open that follows says so).
                cur = next;
                while let Some(c) = todo.pop() {
                    match c {
                        Some(n) => cur.push(n),
                        None => {
                            cur.pop();
                        }
                    }
                }
                break;
            }
        };
        let me = euid();
        if m.uid() != me && m.uid() != 0 {
            return Err(Error::Untrusted {
                path: path.to_path_buf(),
                detail: format!(
                    "{} is a symbolic link owned by uid {}, not by you (uid {me}) or root: its owner decides where your cache lives (and what `op2 cache clear` deletes). Fix: remove the link, or set OP2_CACHE_DIR to a path without it",
                    next.display(),
                    m.uid()
                ),
            });
        }
        hops += 1;
        if hops > 40 {
            return Err(Error::io(
                "resolve the cache path",
                path,
                std::io::Error::from_raw_os_error(libc::ELOOP),
            ));
        }
        let target = std::fs::read_link(&next).map_err(|e| Error::io("read link", &next, e))?;
        if target.is_absolute() {
            cur = PathBuf::from("/");
        }
        push(&mut todo, &target);
    }
    Ok(cur)
}

/// Why an entry file was refused: damage (a link, a FIFO, unreadable) or a file someone
/// untrusted could have written. The runtime rebuilds damage and never rebuilds over an
/// untrusted file (it refuses it, naming the fix): callers decide by the variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    Damaged(String),
    Untrusted(String),
}

/// Open an entry file for reading, refusing symlinks, FIFOs, directories and anything that
/// someone untrusted could have written. Never blocks (FIFO) and checks the opened descriptor.
/// `Err` says why, as a sentence for a verification report; `Ok(None)`: the file does not exist.
pub(crate) fn open_entry(path: &Path) -> std::result::Result<Option<File>, Refusal> {
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Refusal::Damaged(format!(
                "{} is a symbolic link (refused: entries must be regular files)",
                path.display()
            )))
        }
        Err(e) => {
            return Err(Refusal::Damaged(format!(
                "cannot open {}: {e}",
                path.display()
            )))
        }
    };
    let m = f
        .metadata()
        .map_err(|e| Refusal::Damaged(format!("cannot stat {}: {e}", path.display())))?;
    if !m.file_type().is_file() {
        return Err(Refusal::Damaged(format!(
            "{} is not a regular file (a FIFO, device or directory: refused)",
            path.display()
        )));
    }
    if let Some(why) = untrusted_reason(&m, trusted_gid()) {
        return Err(Refusal::Untrusted(format!(
            "{} is refused: {why}; {}",
            path.display(),
            how_to_fix(path, false)
        )));
    }
    Ok(Some(f))
}

/// The bytes of a file in a cache directory that op2 loads but does not describe in a `.meta`
/// (the Python package's pickled values and compiled libraries), held to the entry files' rule
/// (`open_entry`: no link followed, no FIFO or device read, owner and mode checked).
/// `Ok(None)`: no such file. A refused file is an `Err` naming it and why.
pub fn read_entry(path: &Path) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut f = match open_entry(path) {
        Ok(None) => return Ok(None),
        Ok(Some(f)) => f,
        Err(Refusal::Damaged(why) | Refusal::Untrusted(why)) => {
            return Err(Error::invalid("cache entry".to_string(), why))
        }
    };
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(|e| {
        Error::invalid(
            "cache entry".to_string(),
            format!("{}: {e}", path.display()),
        )
    })?;
    Ok(Some(bytes))
}

/// Open a cache pack for reading: a pack carries code, so it is held to the entry files' rule
/// (a regular file owned by you or root, not writable by group or others unless its group is
/// the trusted group). Never blocks (a FIFO is refused, not read); returns the file and its
/// size, which bounds what is read (a device such as `/dev/zero` is refused, not read forever).
pub(crate) fn open_pack(path: &Path) -> Result<(File, u64)> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io("open cache pack", path, e))?;
    let m = f
        .metadata()
        .map_err(|e| Error::io("stat cache pack", path, e))?;
    let refused = |detail: String| Error::Untrusted {
        path: path.to_path_buf(),
        detail,
    };
    if !m.file_type().is_file() {
        return Err(refused(
            "it is not a regular file (a FIFO, device or directory): a cache pack is a file".into(),
        ));
    }
    if let Some(why) = untrusted_reason(&m, trusted_gid()) {
        return Err(refused(format!(
            "{why}; a pack is code from whoever could write it, and op2 would run it. Fix: check where it came from, then `chmod go-w {p}` and make it yours (`chown $(id -u) {p}`), or, within a group you trust, set OP2_CACHE_TRUSTED_GROUP=<group> and give the file that group",
            p = path.display()
        )));
    }
    Ok((f, m.len()))
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
    fn links_on_the_cache_path_are_followed_only_if_yours_or_roots() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink("real", &link).unwrap();
        let canon = real.canonicalize().unwrap();
        assert_eq!(
            resolve_links(&link.join("cache")).unwrap(),
            canon.join("cache")
        );
        assert_eq!(resolve_links(&link.join("../real")).unwrap(), canon);
        check_root(&link).unwrap();
        // Inside a cache, a folder is never a link.
        let e = check_dir(&link).unwrap_err().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
        if euid() == 0 {
            std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
            for p in [link.clone(), link.join("cache")] {
                let e = check_root(&p).unwrap_err().to_string();
                assert!(
                    e.contains("symbolic link owned by uid 65534") && e.contains("refusing"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn fifo_symlink_and_directory_entries_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("x.so");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let damaged = |r: Refusal| match r {
            Refusal::Damaged(why) => why,
            Refusal::Untrusted(why) => panic!("damage reported as distrust: {why}"),
        };
        let e = damaged(open_entry(&fifo).unwrap_err());
        assert!(e.contains("not a regular file"), "{e}");
        let real = d.path().join("real");
        std::fs::write(&real, b"x").unwrap();
        let link = d.path().join("y.so");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(damaged(open_entry(&link).unwrap_err()).contains("symbolic link"));
        let sub = d.path().join("z.so");
        std::fs::create_dir(&sub).unwrap();
        assert!(damaged(open_entry(&sub).unwrap_err()).contains("not a regular file"));
        assert!(open_entry(&real).unwrap().is_some());
        assert!(open_entry(&d.path().join("none")).unwrap().is_none());
        // A file others may write is distrusted, by its variant (never by its text).
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o666)).unwrap();
        match open_entry(&real).unwrap_err() {
            Refusal::Untrusted(why) => assert!(why.contains("writable by every user"), "{why}"),
            Refusal::Damaged(why) => panic!("distrust reported as damage: {why}"),
        }
    }
}
