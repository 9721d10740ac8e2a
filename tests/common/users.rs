//! Real users for tests of what another user can do to a cache (a link they place, a file they
//! own): created with `useradd`, commands run as them with `runuser`, removed with `userdel -r`
//! when dropped. Needs root (CI runs the tests as root); without it a test skips with a loud
//! message, and fails instead when the CI environment variable `CI` is set.
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
use std::path::{Path, PathBuf};
use std::process::Command;

/// A user made for one test.
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("userdel")
            .args(["-r", "-f", &self.name])
            .output();
    }
}

impl User {
    /// `runuser -u <name> -- program args...` (environment inherited, HOME and USER set by
    /// runuser to this user's).
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", &self.name, "--"]).arg(program);
        c
    }

    /// Run `sh -c script` as this user; panics unless it succeeds.
    pub fn sh(&self, script: &str) {
        let out = self.cmd("sh").args(["-c", script]).output().unwrap();
        assert!(
            out.status.success(),
            "as {}: {script}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Give `p` (not following a link) to this user.
    pub fn own(&self, p: &Path) {
        std::os::unix::fs::lchown(p, Some(self.uid), Some(self.gid)).unwrap();
    }
}

pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

/// `n` fresh users (names `op2t<tag><pid><i>`), or `None` after a loud SKIP message where they
/// cannot be made (not root, no useradd); with `CI` set that is a failure instead.
pub fn make(tag: &str, n: usize) -> Option<Vec<User>> {
    let why = if !is_root() {
        Some("not root".to_string())
    } else if Command::new("useradd").arg("--help").output().is_err() {
        Some("no useradd".to_string())
    } else {
        None
    };
    if let Some(why) = why {
        super::skip_or_fail(&format!(
            "this test needs real users (useradd/runuser as root): {why}"
        ));
        return None;
    }
    let mut out = Vec::new();
    for i in 0..n {
        let name = format!("op2t{tag}{}{i}", std::process::id());
        let _ = Command::new("userdel").args(["-r", "-f", &name]).output();
        let made = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", &name])
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let id = |flag: &str| -> u32 {
            let o = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
        };
        let home = PathBuf::from(format!("/home/{name}"));
        out.push(User {
            uid: id("-u"),
            gid: id("-g"),
            name,
            home,
        });
    }
    Some(out)
}
