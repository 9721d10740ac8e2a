//! Issue 22, faults 1 and 7: symbolic links at and inside a cache. `op2 cache clear`, `prune`
//! and `verify --fix` never delete or move a file outside the cache (a link is never followed
//! while walking it; an untrusted root is refused with the runtime's message), and a link
//! another user placed at the cache path (the `/tmp/op2-cache-$USER` fallback, `OP2_CACHE_DIR`,
//! a folder above it) is refused by the runtime and the tool alike. The two-user cases use real
//! users (`common::users`).
mod common;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::users::User;

const T: Duration = Duration::from_secs(120);

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A victim's files the cache tools must never touch: `notes/` (plain files, the target of a
/// planted `failed` or `corrupt` link) and `proj/` (files named like cache entries, a stale
/// temporary and a `failed/` folder: the target of a planted `<k0k1>` link or cache root).
/// Returns every file made.
fn victim_files(base: &Path) -> Vec<PathBuf> {
    let notes = base.join("notes");
    let proj = base.join("proj");
    for d in [&notes, &proj, &proj.join("failed"), &proj.join("ab")] {
        std::fs::create_dir_all(d).unwrap();
        chmod(d, 0o700);
    }
    let mut made = vec![
        notes.join("thesis.txt"),
        notes.join("todo.txt"),
        proj.join("0123456789abcdef0123456789abcd.meta"),
        proj.join("0123456789abcdef0123456789abcd.so"),
        proj.join("failed").join("keep.c"),
        proj.join("ab").join("0123456789abcdef0123456789abcd.meta"),
    ];
    let old = proj.join(".tmp-old-draft");
    made.push(old.clone());
    for f in &made {
        std::fs::write(f, b"precious").unwrap();
    }
    // A "stale temporary" by age (two hours old): clear/prune/fix remove those in a cache.
    let two_h = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_h)
        .unwrap();
    made
}

fn assert_intact(files: &[PathBuf], what: &str) {
    for f in files {
        assert!(
            std::fs::symlink_metadata(f).is_ok_and(|m| m.is_file())
                && std::fs::read(f).unwrap() == b"precious",
            "{what}: {} was deleted or moved",
            f.display()
        );
    }
}

fn tool(user: Option<&User>, cache: &Path, args: &[&str]) -> common::Outcome {
    let mut c = match user {
        Some(u) => u.cmd(common::bin("op2")),
        None => Command::new(common::bin("op2")),
    };
    c.arg("cache").args(args).arg("--cache-dir").arg(cache);
    common::run(c, Duration::from_secs(60))
}

const WALKS: [&[&str]; 3] = [
    &["clear"],
    &["prune", "--max-size", "0"],
    &["verify", "--fix"],
];

#[test]
fn clear_prune_and_fix_never_follow_a_link_out_of_the_cache() {
    // A trusted cache (yours, 0700) in which links point at your own files: made by you by
    // mistake, or left by a tool. No walk may follow them.
    let work = common::cache_dir();
    let files = victim_files(work.path());
    let cache = work.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    chmod(&cache, 0o700);
    // A real entry too, which clear must still remove.
    let out = common::run(
        common::mpiexec(1, "op2-selftest", &["--kernels", "1"], &cache),
        T,
    );
    common::assert_all_ok(&out, 1, 2);
    for args in WALKS {
        for (name, target) in [
            ("failed", "notes"),
            ("corrupt", "notes"),
            ("ab", "proj"),
            ("cd", "proj/ab"),
        ] {
            let _ = std::fs::remove_file(cache.join(name));
            let _ = std::fs::remove_dir_all(cache.join(name));
            symlink(work.path().join(target), cache.join(name)).unwrap();
        }
        let out = tool(None, &cache, args);
        let what = args.join(" ");
        assert_intact(&files, &what);
        assert!(
            out.code == Some(0) || out.code == Some(1),
            "{what}: {out:?}"
        );
    }
    // The links are still links (never entered), the real entry went with `clear`.
    assert!(std::fs::symlink_metadata(cache.join("ab"))
        .unwrap()
        .file_type()
        .is_symlink());
    let left: Vec<_> = common::files_under(&cache)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "so"))
        .filter(|p| p.starts_with(&cache) && !p.starts_with(cache.join("ab")))
        .filter(|p| !p.starts_with(cache.join("cd")))
        .collect();
    // prune --max-size 0 and clear ran after the job: its entry is gone.
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_untrusted_cache_root_with_planted_links_is_refused_by_clear_prune_and_fix() {
    // The reproduction: a 777 cache owned by alice; bob plants `failed -> ~alice/notes`
    // and `ab -> ~alice/proj`; alice runs the cache tools.
    let Some(users) = common::users::make("c", 2) else {
        return;
    };
    let (alice, bob) = (&users[0], &users[1]);
    let files = victim_files(&alice.home);
    for f in common::files_under(&alice.home) {
        alice.own(&f);
    }
    for d in ["notes", "proj", "proj/failed", "proj/ab"] {
        alice.own(&alice.home.join(d));
    }
    let cache = alice.home.join("shared-cache");
    std::fs::create_dir(&cache).unwrap();
    chmod(&cache, 0o777);
    alice.own(&cache);
    chmod(&alice.home, 0o711); // bob can reach the cache dir, not list alice's home
    let h = alice.home.display();
    bob.sh(&format!(
        "ln -s {h}/notes {h}/shared-cache/failed && ln -s {h}/proj {h}/shared-cache/ab && ln -s {h}/notes {h}/shared-cache/corrupt"
    ));
    for args in WALKS {
        let what = args.join(" ");
        let out = tool(Some(alice), &cache, args);
        assert_intact(&files, &what);
        assert_eq!(out.code, Some(2), "{what} must refuse: {out:?}");
        assert!(
            out.stderr.contains("refusing to use the op2 cache")
                && out.stderr.contains("writable by every user")
                && out.stderr.contains(&cache.display().to_string()),
            "{what}: {}",
            out.stderr
        );
    }
}

/// The runtime (a one-rank job as `user`) and `op2 cache clear`, with `env` settings.
fn job_and_clear(
    user: &User,
    env: &[(&str, &str)],
    unset: &[&str],
) -> (common::Outcome, common::Outcome) {
    let with_env = |c: &mut Command| {
        for v in unset {
            c.env_remove(v);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        c.env_remove("OP2_CACHE_DIR");
    };
    // runuser sets HOME and USER: go through env(1) so that the test's values win.
    let mut job = user.cmd("env");
    for v in unset {
        job.args(["-u", v]);
    }
    for (k, v) in env {
        job.arg(format!("{k}={v}"));
    }
    job.args(["mpiexec", "-n", "1"])
        .arg(common::bin("op2-selftest"))
        .args(["--kernels", "1"]);
    with_env(&mut job);
    let job = common::run(job, T);
    let mut clear = user.cmd("env");
    for v in unset {
        clear.args(["-u", v]);
    }
    for (k, v) in env {
        clear.arg(format!("{k}={v}"));
    }
    clear.arg(common::bin("op2")).args(["cache", "clear"]);
    with_env(&mut clear);
    (job, common::run(clear, Duration::from_secs(60)))
}

#[test]
fn a_link_another_user_placed_at_the_cache_path_is_refused() {
    let Some(users) = common::users::make("l", 2) else {
        return;
    };
    let (alice, bob) = (&users[0], &users[1]);
    let proj = alice.home.join("proj");
    std::fs::create_dir_all(proj.join("failed")).unwrap();
    std::fs::write(proj.join("failed").join("keep.c"), b"precious").unwrap();
    for p in [
        &proj,
        &proj.join("failed"),
        &proj.join("failed").join("keep.c"),
    ] {
        alice.own(p);
    }
    chmod(&proj, 0o700);
    let keep = [proj.join("failed").join("keep.c")];
    let refused = |out: &common::Outcome, what: &str, link: &Path| {
        assert!(!out.success(), "{what}: must be refused\n{out:?}");
        assert!(
            out.stderr.contains("symbolic link owned by uid")
                && out.stderr.contains(&bob.uid.to_string())
                && out.stderr.contains(&link.display().to_string()),
            "{what}: {}",
            out.stderr
        );
        assert_intact(&keep, what);
        assert!(
            !common::files_under(&proj)
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "so")),
            "{what}: nothing compiled into alice's project"
        );
    };
    // 1. The fallback /tmp/op2-cache-$USER (no HOME, no XDG_CACHE_HOME), planted by bob.
    let user_var = format!("op2t7x{}", std::process::id());
    let fallback = PathBuf::from(format!("/tmp/op2-cache-{user_var}"));
    let _ = std::fs::remove_file(&fallback);
    bob.sh(&format!("ln -s {} {}", proj.display(), fallback.display()));
    let (job, clear) = job_and_clear(alice, &[("USER", &user_var)], &["HOME", "XDG_CACHE_HOME"]);
    let _ = std::fs::remove_file(&fallback);
    refused(&job, "job, fallback link", &fallback);
    refused(&clear, "clear, fallback link", &fallback);
    // 2. OP2_CACHE_DIR naming bob's link, and a path through bob's link to a folder above.
    let link = PathBuf::from(format!("/tmp/op2t7y{}", std::process::id()));
    let _ = std::fs::remove_file(&link);
    bob.sh(&format!(
        "ln -s {} {}",
        alice.home.display(),
        link.display()
    ));
    // The link itself as the cache, and a folder reached through it.
    for dir in [link.clone(), link.join("proj")] {
        let d = dir.display().to_string();
        let (job, clear) = job_and_clear(alice, &[("OP2_CACHE_DIR", &d)], &[]);
        refused(&job, "job, OP2_CACHE_DIR through a link", &link);
        refused(&clear, "clear, OP2_CACHE_DIR through a link", &link);
    }
    let _ = std::fs::remove_file(&link);
    // 3. The same link made by alice herself is hers to make: accepted.
    alice.sh(&format!("ln -s {} {}", proj.display(), link.display()));
    let d = link.display().to_string();
    let (job, clear) = job_and_clear(alice, &[("OP2_CACHE_DIR", &d)], &[]);
    let _ = std::fs::remove_file(&link);
    common::assert_all_ok(&job, 1, 2);
    clear.assert_ok();
}
