//! Issue 11: the trust model of the disk cache (planted code never runs) and the binding of an
//! entry to its key, under real MPI with the real compiler. Every job's answer is checked
//! (op2-selftest compares every loop with a Rust reference and prints "ok").
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
        eprintln!("SKIP: needs root to chown a file to another user");
        return;
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
        eprintln!("SKIP: needs root to create a directory owned by another user");
        return;
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
