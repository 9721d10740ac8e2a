//! Issue 11: the trust model of the disk cache (planted code never runs) and the binding of an
//! entry to its key, under real MPI with the real compiler. Every job's answer is checked
//! (op2-selftest compares every loop with a Rust reference and prints "ok").
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
mod common;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

fn selftest(np: usize, cache: &Path, args: &[&str]) -> Command {
    common::mpiexec(np, "op2-selftest", args, cache)
}

fn files(d: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() && name.len() == 2 {
            out.extend(files(&p, ext));
        } else if p.extension().is_some_and(|e| e == ext) && !name.starts_with(".tmp-") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn is_root() -> bool {
    // The owner of /proc/self is this process's effective uid.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

#[test]
fn group_or_world_writable_cache_dir_is_refused_unless_its_group_is_trusted() {
    let cache = common::cache_dir();
    chmod(cache.path(), 0o770);
    let out = common::run(selftest(2, cache.path(), &["--kernels", "1"]), T);
    assert!(!out.success(), "a group-writable cache must be refused");
    assert!(
        out.stderr.contains("refusing to use the op2 cache")
            && out.stderr.contains("writable by its group")
            && out.stderr.contains("chmod go-w")
            && out.stderr.contains(&cache.path().display().to_string()),
        "{}",
        out.stderr
    );
    assert!(
        files(cache.path(), "so").is_empty(),
        "nothing compiled into it"
    );
    chmod(cache.path(), 0o707);
    let out = common::run(selftest(2, cache.path(), &["--kernels", "1"]), T);
    assert!(
        !out.success() && out.stderr.contains("writable by every user"),
        "{}",
        out.stderr
    );
    // Opt-in: the directory's group is trusted (world-writable stays refused).
    use std::os::unix::fs::MetadataExt;
    let gid = std::fs::metadata(cache.path()).unwrap().gid();
    chmod(cache.path(), 0o770);
    let mut c = selftest(2, cache.path(), &["--kernels", "1"]);
    c.env("OP2_CACHE_TRUSTED_GROUP", gid.to_string());
    common::assert_all_ok(&common::run(c, T), 2, 2);
}

#[test]
fn entries_owned_by_another_user_are_refused_never_loaded() {
    if !is_root() {
        return common::skip_or_fail("needs root to chown a file to another user");
    }
    let cache = common::cache_dir();
    common::assert_all_ok(
        &common::run(selftest(2, cache.path(), &["--kernels", "1"]), T),
        2,
        2,
    );
    let so = files(cache.path(), "so").pop().unwrap();
    // A planted library: valid (it is the real one) but owned by `nobody`.
    std::os::unix::fs::chown(&so, Some(65534), Some(65534)).unwrap();
    let out = common::run(selftest(2, cache.path(), &["--kernels", "1"]), T);
    assert!(!out.success());
    assert!(
        out.stderr.contains("owned by uid 65534") && out.stderr.contains(&so.display().to_string()),
        "{}",
        out.stderr
    );
    // And a group-writable .meta of our own is refused too.
    std::os::unix::fs::chown(&so, Some(0), Some(0)).unwrap();
    let meta = files(cache.path(), "meta").pop().unwrap();
    chmod(&meta, 0o664);
    let out = common::run(selftest(2, cache.path(), &["--kernels", "1"]), T);
    assert!(
        !out.success() && out.stderr.contains("writable by its group"),
        "{}",
        out.stderr
    );
    chmod(&meta, 0o644);
    common::assert_all_ok(
        &common::run(selftest(2, cache.path(), &["--kernels", "1"]), T),
        2,
        2,
    );
}

#[test]
fn another_entrys_files_copied_over_an_entry_are_detected_rebuilt_never_run() {
    let cache = common::cache_dir();
    common::assert_all_ok(
        &common::run(selftest(4, cache.path(), &["--kernels", "2"]), T),
        4,
        4,
    );
    let (sos, metas) = (files(cache.path(), "so"), files(cache.path(), "meta"));
    assert_eq!(sos.len(), 2);
    // A botched rsync: entry 0's files over entry 1's.
    std::fs::copy(&sos[0], &sos[1]).unwrap();
    std::fs::copy(&metas[0], &metas[1]).unwrap();
    let v = common::run(common::op2_cache(cache.path(), &["verify"]), T);
    assert_eq!(v.code, Some(1), "verify must report it\n{}", v.stdout);
    assert!(
        v.stdout.contains("records key") && v.stdout.contains("1 damaged"),
        "{}",
        v.stdout
    );
    let out = common::run(selftest(4, cache.path(), &["--kernels", "2"]), T);
    common::assert_all_ok(&out, 4, 4);
    assert!(out.stderr.contains("records key"), "{}", out.stderr);
    let v = common::run(common::op2_cache(cache.path(), &["verify"]), T);
    assert_eq!(v.code, Some(0), "rebuilt\n{}", v.stdout);
}

#[test]
fn fifo_symlink_or_directory_at_an_entry_path_never_blocks_and_is_rebuilt() {
    let cache = common::cache_dir();
    common::assert_all_ok(
        &common::run(selftest(2, cache.path(), &["--kernels", "3"]), T),
        2,
        6,
    );
    let sos = files(cache.path(), "so");
    // A FIFO (would block rank 0 in open), a symlink to another entry, a directory.
    std::fs::remove_file(&sos[0]).unwrap();
    let st = Command::new("mkfifo").arg(&sos[0]).status().unwrap();
    assert!(st.success());
    std::fs::remove_file(&sos[1]).unwrap();
    std::os::unix::fs::symlink(&sos[2], &sos[1]).unwrap();
    std::fs::remove_file(&sos[2]).unwrap();
    std::fs::create_dir(&sos[2]).unwrap();
    let out = common::run(
        selftest(2, cache.path(), &["--kernels", "3"]),
        Duration::from_secs(60),
    );
    common::assert_all_ok(&out, 2, 6);
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    for so in &sos {
        assert!(
            std::fs::symlink_metadata(so).unwrap().is_file(),
            "{so:?} rebuilt as a file"
        );
    }
}

#[test]
fn the_default_tmp_directory_made_first_by_someone_else_is_refused() {
    if !is_root() {
        return common::skip_or_fail("needs root to create a directory owned by another user");
    }
    // HOME and XDG_CACHE_HOME unset: the default is /tmp/op2-cache-$USER. Another user made it.
    let user = format!("op2test{}", std::process::id());
    let d = PathBuf::from(format!("/tmp/op2-cache-{user}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    chmod(&d, 0o755);
    std::os::unix::fs::chown(&d, Some(65534), Some(65534)).unwrap();
    let mut c = Command::new("mpiexec");
    c.args(["-n", "2"])
        .arg(common::bin("op2-selftest"))
        .args(["--kernels", "1"]);
    c.env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("OP2_CACHE_DIR");
    c.env("USER", &user);
    let out = common::run(c, T);
    let _ = std::fs::remove_dir_all(&d);
    assert!(!out.success());
    assert!(
        out.stderr.contains("owned by uid 65534") && out.stderr.contains(&d.display().to_string()),
        "{}",
        out.stderr
    );
}

#[test]
fn a_relative_cache_dir_is_made_absolute_before_rank_0_shares_it() {
    let work = common::cache_dir();
    let mut c = Command::new("mpiexec");
    c.args(["-n", "3"])
        .arg(common::bin("op2-selftest"))
        .args(["--kernels", "2"]);
    c.current_dir(work.path()).env("OP2_CACHE_DIR", "rel/cache");
    common::assert_all_ok(&common::run(c, T), 3, 4);
    assert_eq!(files(&work.path().join("rel/cache"), "so").len(), 2);
}

/// Real users in one real group, made for one test and removed when dropped.
struct Users {
    group: String,
    names: Vec<String>,
}

impl Users {
    fn make(tag: &str, n: usize) -> std::result::Result<Users, String> {
        if !is_root() {
            return Err("creating users needs root".into());
        }
        let id = std::process::id() % 1_000_000;
        let group = format!("op2g{tag}{id}");
        let run = |cmd: &str, args: &[&str]| {
            let ok = Command::new(cmd)
                .args(args)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                Ok(())
            } else {
                Err(format!("`{cmd} {}` failed", args.join(" ")))
            }
        };
        run("groupadd", &[&group])?;
        let mut made = Users {
            group: group.clone(),
            names: Vec::new(),
        };
        for k in 0..n {
            let name = format!("op2u{tag}{k}{id}");
            // Each user's primary group is its own; the shared group is a supplementary one.
            run(
                "useradd",
                &["-M", "-U", "-G", &group, "-s", "/bin/sh", &name],
            )?;
            made.names.push(name);
        }
        Ok(made)
    }

    /// `runuser -u <user> -- mpiexec -n np op2-selftest args`, with `cache`, compiler `cc` and
    /// the trusted group.
    fn selftest(&self, user: usize, np: usize, cache: &Path, cc: &Path, args: &[&str]) -> Command {
        let base = selftest(np, cache, args);
        let mut c = Command::new("runuser");
        c.args([
            "-u",
            &self.names[user],
            "--",
            "mpiexec",
            "-n",
            &np.to_string(),
        ]);
        c.arg(common::bin("op2-selftest")).args(args);
        for (k, v) in base.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.env("OP2_CACHE_TRUSTED_GROUP", &self.group)
            .env("OP2_CC", cc);
        c
    }

    fn uid(&self, user: usize) -> u32 {
        let out = Command::new("id")
            .args(["-u", &self.names[user]])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    fn gid(&self) -> u32 {
        let out = Command::new("getent")
            .args(["group", &self.group])
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).to_string();
        line.split(':').nth(2).unwrap().parse().unwrap()
    }
}

impl Drop for Users {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("userdel").arg(n).status();
        }
        let _ = Command::new("groupdel").arg(&self.group).status();
    }
}

/// Issue 22 (5): two real users in one trusted group share one cache. Entry directories used
/// to be made 0700 and lock files 0600, so the second user's job failed with a misleading
/// "open lock file (read-only cache) ... Permission denied". Now directories are 2770 and lock
/// files 0660 in the trusted group; each user loads the other's entries without compiling.
#[test]
fn two_users_of_a_trusted_group_share_one_cache_without_recompiling() {
    use std::os::unix::fs::MetadataExt;
    let users = match Users::make("s", 2) {
        Ok(u) => u,
        Err(why) => return common::skip_or_fail(&format!("two real users: {why}")),
    };
    let (a, b) = (0, 1);
    // The tools and the shared cache's parent: reachable by both users.
    let tools = tempfile::tempdir().unwrap();
    chmod(tools.path(), 0o755);
    let (cc, log) = common::logging_cc(tools.path());
    std::fs::write(&log, "").unwrap();
    chmod(&log, 0o666);
    let gid = users.gid();
    let base = common::cache_dir();
    let cache = base.path().join("shared");
    std::os::unix::fs::chown(base.path(), Some(users.uid(a)), Some(gid)).unwrap();
    chmod(base.path(), 0o750);
    // User A fills the cache.
    common::assert_all_ok(
        &common::run(users.selftest(a, 2, &cache, &cc, &["--kernels", "2"]), T),
        2,
        4,
    );
    assert_eq!(common::compile_count(&log), 2);
    let m = std::fs::metadata(&cache).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.gid()),
        (0o2770, gid),
        "cache directory"
    );
    let locks = files(&cache, "lock");
    assert_eq!(locks.len(), 2);
    for l in &locks {
        let d = std::fs::metadata(l.parent().unwrap()).unwrap();
        assert_eq!(
            (d.mode() & 0o7777, d.gid()),
            (0o2770, gid),
            "{l:?}'s directory"
        );
        let m = std::fs::metadata(l).unwrap();
        assert_eq!((m.mode() & 0o7777, m.gid()), (0o660, gid), "{l:?}");
    }
    for so in files(&cache, "so") {
        assert_eq!(std::fs::metadata(&so).unwrap().gid(), gid, "{so:?}");
    }
    // User B loads A's entries without compiling, and adds one of its own ...
    let out = common::run(users.selftest(b, 2, &cache, &cc, &["--kernels", "2"]), T);
    common::assert_all_ok(&out, 2, 4);
    assert_eq!(common::compile_count(&log), 2, "B recompiled A's kernels");
    common::assert_all_ok(
        &common::run(users.selftest(b, 2, &cache, &cc, &["--kernels", "3"]), T),
        2,
        6,
    );
    assert_eq!(common::compile_count(&log), 3);
    // ... which A loads without compiling.
    common::assert_all_ok(
        &common::run(users.selftest(a, 2, &cache, &cc, &["--kernels", "3"]), T),
        2,
        6,
    );
    assert_eq!(common::compile_count(&log), 3, "A recompiled B's kernel");
    // Lock files only their owner can open (as an op2 without the group mode made them):
    // the message names the cause, not a "read-only cache".
    for l in files(&cache, "lock") {
        if std::fs::metadata(&l).unwrap().uid() == users.uid(a) {
            chmod(&l, 0o600);
        }
    }
    let out = common::run(users.selftest(b, 2, &cache, &cc, &["--kernels", "3"]), T);
    assert!(!out.success());
    assert!(
        out.stderr.contains("another user's") && out.stderr.contains("OP2_CACHE_TRUSTED_GROUP"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("read-only cache"), "{}", out.stderr);
}
