//! Cache modes across nodes, with fake nodes on one machine (`OP2_FAKE_NODE_SIZE`) and a
//! directory per node (`{node}` in `OP2_CACHE_DIR`): one compile per kernel per job, one copy
//! per node directory, the same answers as one shared directory, the shared protocol's failure
//! cases as the same error on every rank, and no cache-directory access on ranks that neither
//! compile nor publish (traced with strace).
mod common;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(180);

struct Job {
    np: usize,
    node_size: usize,
    mode: &'static str,
}

/// A fresh cache base, a logging compiler, and the per-node directory pattern `base/node{node}`.
struct Setup {
    base: tempfile::TempDir,
    _tools: tempfile::TempDir,
    cc: PathBuf,
    log: PathBuf,
    dir: PathBuf,
}

fn setup() -> Setup {
    let base = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = common::logging_cc(tools.path());
    let dir = base.path().join("node{node}");
    Setup {
        base,
        _tools: tools,
        cc,
        log,
        dir,
    }
}

fn selftest(job: &Job, cache: &Path, cc: &Path, args: &[&str]) -> Command {
    let mut c = common::mpiexec(job.np, "op2-selftest", args, cache);
    node_env(&mut c, job, cc);
    c
}

fn node_env(c: &mut Command, job: &Job, cc: &Path) {
    c.env("OP2_CC", cc)
        .env("OP2_FAKE_NODE_SIZE", job.node_size.to_string())
        .env("OP2_CACHE_MODE", job.mode);
}

/// The per-rank checksums the self-test prints, in rank order (all ranks must be there).
fn answers(out: &common::Outcome, np: usize, loops: usize) -> Vec<String> {
    out.assert_ok();
    (0..np)
        .map(|r| {
            let pre = format!("rank {r}: ok {loops} loops, checksum ");
            out.stdout
                .lines()
                .find_map(|l| l.strip_prefix(&pre))
                .unwrap_or_else(|| panic!("rank {r} missing\n{}", out.stdout))
                .to_string()
        })
        .collect()
}

fn sos(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = common::files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "so"))
        .filter(|p| !p.starts_with(dir.join("corrupt")))
        .collect();
    v.sort();
    v
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Cold then warm, `nodes` node directories: one compile per kernel, one copy per node, the
/// same answers as a one-directory run, and the report names the mode.
fn per_node_directories(np: usize, node_size: usize, mode: &'static str) {
    let nodes = np / node_size;
    let base = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = common::logging_cc(tools.path());
    let dir = base.path().join("node{node}");
    let job = Job {
        np,
        node_size,
        mode,
    };
    let rep = tools.path().join("report.json");
    let mut c = selftest(&job, &dir, &cc, &["--kernels", "3"]);
    c.env("OP2_CACHE_REPORT", &rep);
    let cold = answers(&common::run(c, T), np, 6);
    assert_eq!(
        common::compile_count(&log),
        3,
        "one compile per kernel per job"
    );
    let r = report(&rep);
    let m = r["cache_mode"].as_str().unwrap();
    assert!(
        m.starts_with("node (") && m.contains(&format!("{nodes} fake nodes")),
        "{m}"
    );
    assert_eq!(r["used_entries"].as_array().unwrap().len(), 3);
    assert_eq!(
        r["caches"]["disk"]["published"]["sum"],
        (3 * (nodes - 1)) as f64
    );
    let first = sos(&base.path().join("node0"));
    assert_eq!(first.len(), 3);
    for n in 0..nodes {
        let d = base.path().join(format!("node{n}"));
        let here = sos(&d);
        assert_eq!(here.len(), 3, "node {n}: one copy of each kernel");
        for (a, b) in first.iter().zip(&here) {
            assert_eq!(
                a.strip_prefix(base.path().join("node0")).unwrap(),
                b.strip_prefix(&d).unwrap()
            );
            assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        }
    }
    // Warm: nothing compiled, nothing rewritten.
    let warm = answers(
        &common::run(selftest(&job, &dir, &cc, &["--kernels", "3"]), T),
        np,
        6,
    );
    assert_eq!(
        common::compile_count(&log),
        3,
        "warm rerun must not compile"
    );
    // The same job on one shared directory gives the same answers.
    let one = common::cache_dir();
    let shared = Job {
        np,
        node_size,
        mode: "shared",
    };
    let plain = answers(
        &common::run(selftest(&shared, one.path(), &cc, &["--kernels", "3"]), T),
        np,
        6,
    );
    assert_eq!(cold, plain);
    assert_eq!(warm, plain);
    assert_eq!(sos(one.path()).len(), 3);
}

#[test]
fn four_ranks_as_two_fake_nodes_auto_detects_node_directories() {
    per_node_directories(4, 2, "auto");
}

#[test]
fn six_ranks_as_three_fake_nodes_in_node_mode() {
    per_node_directories(6, 2, "node");
}

#[test]
fn auto_picks_shared_when_every_node_sees_the_directory() {
    let cache = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = common::logging_cc(tools.path());
    let rep = tools.path().join("report.json");
    let job = Job {
        np: 4,
        node_size: 2,
        mode: "auto",
    };
    let mut c = selftest(&job, cache.path(), &cc, &["--kernels", "2"]);
    c.env("OP2_CACHE_REPORT", &rep);
    answers(&common::run(c, T), 4, 4);
    assert_eq!(common::compile_count(&log), 2);
    let r = report(&rep);
    assert!(
        r["cache_mode"]
            .as_str()
            .unwrap()
            .starts_with("shared (auto"),
        "{}",
        r["cache_mode"]
    );
    assert_eq!(r["caches"]["disk"]["published"]["sum"], 0.0);
    // The probe leaves nothing behind.
    let stray: Vec<_> = common::files_under(cache.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".op2-probe"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    assert_eq!(sos(cache.path()).len(), 2);
}

#[test]
fn a_compile_error_in_node_mode_fails_every_rank_with_the_compiler_message() {
    let Setup {
        base,
        _tools,
        cc,
        log,
        dir,
    } = setup();
    let job = Job {
        np: 6,
        node_size: 2,
        mode: "node",
    };
    let out = common::run(
        selftest(&job, &dir, &cc, &["--kernels", "2", "--bad"]),
        Duration::from_secs(90),
    );
    assert!(!out.success(), "must exit non-zero\n{}", out.stderr);
    assert!(out.stderr.contains("expected expression"), "{}", out.stderr);
    for r in 0..6 {
        assert!(
            out.stderr.contains(&format!(
                "op2: rank {r}: error: compiling kernel `scale1` failed"
            )),
            "rank {r}\n{}",
            out.stderr
        );
    }
    assert_eq!(common::compile_count(&log), 2, "compiled once, by rank 0");
    assert!(base.path().join("node0/failed").is_dir());
    assert!(!base.path().join("node1/failed").exists());
}

#[test]
fn a_corrupt_node_copy_is_replaced_from_rank_0_without_compiling() {
    let Setup {
        base,
        _tools,
        cc,
        log,
        dir,
    } = setup();
    let job = Job {
        np: 4,
        node_size: 2,
        mode: "node",
    };
    let good = answers(
        &common::run(selftest(&job, &dir, &cc, &["--kernels", "2"]), T),
        4,
        4,
    );
    common::flip_and_truncate(&sos(&base.path().join("node1")));
    let out = common::run(selftest(&job, &dir, &cc, &["--kernels", "2"]), T);
    assert_eq!(answers(&out, 4, 4), good);
    assert!(out.stderr.contains("corrupt cache entry"), "{}", out.stderr);
    assert_eq!(
        common::compile_count(&log),
        2,
        "rank 0's copy is good: no compile"
    );
    let node0 = sos(&base.path().join("node0"));
    for (a, b) in node0.iter().zip(&sos(&base.path().join("node1"))) {
        assert_eq!(
            std::fs::read(a).unwrap(),
            std::fs::read(b).unwrap(),
            "repaired"
        );
    }
    assert_eq!(
        std::fs::read_dir(base.path().join("node1/corrupt"))
            .unwrap()
            .count(),
        4,
        "both damaged copies (.so + .meta) moved aside"
    );
}

/// A node leader and rank 0 share one publish transaction: an entry file in a node's
/// directory that someone untrusted could have written (here a group-writable `.meta`) is
/// refused with the runtime's message on every rank, never moved aside or written over.
#[test]
fn an_untrusted_node_copy_is_refused_on_every_rank_never_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let Setup {
        base,
        _tools,
        cc,
        dir,
        ..
    } = setup();
    let job = Job {
        np: 4,
        node_size: 2,
        mode: "node",
    };
    answers(
        &common::run(selftest(&job, &dir, &cc, &["--kernels", "1"]), T),
        4,
        2,
    );
    let node1 = base.path().join("node1");
    let meta = sos(&node1).pop().unwrap().with_extension("meta");
    let before = std::fs::read(&meta).unwrap();
    std::fs::set_permissions(&meta, std::fs::Permissions::from_mode(0o664)).unwrap();
    let out = common::run(selftest(&job, &dir, &cc, &["--kernels", "1"]), T);
    assert!(!out.success(), "must be refused\n{}", out.stderr);
    assert!(
        out.stderr.contains("node leader could not publish")
            && out.stderr.contains("writable by its group")
            && out.stderr.contains(&meta.display().to_string()),
        "{}",
        out.stderr
    );
    for r in 0..4 {
        assert!(
            out.stderr.contains(&format!("op2: rank {r}: error:")),
            "rank {r} must report the refusal\n{}",
            out.stderr
        );
    }
    assert!(
        !out.stderr.contains("aborting the MPI job"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(&meta).unwrap(), before, "left as it was");
    assert!(!node1.join("corrupt").exists(), "nothing moved aside");
}

#[test]
fn an_unwritable_node_directory_fails_every_rank_with_the_same_error() {
    let Setup {
        base,
        _tools,
        cc,
        dir,
        ..
    } = setup();
    // Node 2's "directory" is a plain file: nothing can be created in it (even as root).
    std::fs::write(base.path().join("node2"), b"not a directory").unwrap();
    let job = Job {
        np: 6,
        node_size: 2,
        mode: "node",
    };
    let out = common::run(
        selftest(&job, &dir, &cc, &["--kernels", "1"]),
        Duration::from_secs(90),
    );
    assert!(!out.success(), "must fail\n{}", out.stderr);
    let want = base.path().join("node2").display().to_string();
    assert!(
        out.stderr.contains("node leader could not publish") && out.stderr.contains(&want),
        "{}",
        out.stderr
    );
    for r in 0..6 {
        assert!(
            out.stderr
                .contains(&format!("op2: rank {r}: error: rank 4 failed"))
                || out
                    .stderr
                    .contains(&format!("op2: rank {r}: error: rank 4:")),
            "rank {r} must report rank 4's failure\n{}",
            out.stderr
        );
    }
    assert!(
        !out.stderr.contains("aborting the MPI job"),
        "{}",
        out.stderr
    );
}

/// strace: ranks that neither compile nor publish make no file system call on the cache
/// directory; rank 0 (and in node mode the leaders) make a bounded number.
#[test]
fn only_rank_0_and_node_leaders_touch_the_cache_directory() {
    if !common::strace_works() {
        return common::skip_or_fail("strace unavailable (scripts/setup.sh installs it)");
    }
    for (mode, leaders) in [("shared", vec![0]), ("node", vec![0, 2])] {
        let base = common::cache_dir();
        let tools = tempfile::tempdir().unwrap();
        let (cc, log) = common::logging_cc(tools.path());
        let traces = tempfile::tempdir().unwrap();
        let dir = if mode == "node" {
            base.path().join("node{node}")
        } else {
            base.path().to_path_buf()
        };
        let mut c = common::mpiexec_traced(
            4,
            "op2-selftest",
            &["--kernels", "3", "--pids"],
            &dir,
            traces.path(),
        );
        node_env(
            &mut c,
            &Job {
                np: 4,
                node_size: 2,
                mode,
            },
            &cc,
        );
        let out = common::run(c, T);
        answers(&out, 4, 6);
        assert_eq!(common::compile_count(&log), 3);
        let (per_rank, _compiler) = common::file_ops_per_rank(
            &out.stdout,
            traces.path(),
            &base.path().display().to_string(),
        );
        assert_eq!(per_rank.len(), 4, "{}", out.stdout);
        for (r, n) in per_rank.iter().enumerate() {
            if leaders.contains(&r) {
                assert!(
                    *n > 0,
                    "{mode}: rank {r} should use the directory: {per_rank:?}"
                );
            } else {
                assert_eq!(
                    *n, 0,
                    "{mode}: rank {r} touched the cache directory: {per_rank:?}"
                );
            }
        }
    }
}

/// Issue 22 (6): node mode with one directory for every node (no `{node}` in `OP2_CACHE_DIR`,
/// e.g. the default on a shared home) used to deadlock: rank 0 holds the entry's lock until
/// every rank has loaded it while the other node's leader waited for a lock on the same file
/// to publish it, so every cold kernel failed after `OP2_LOCK_TIMEOUT` on every rank. Now the
/// probe finds that every node's directory is rank 0's and the job runs in shared mode.
#[test]
fn node_mode_on_one_directory_for_every_node_runs_as_shared() {
    let cache = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = common::logging_cc(tools.path());
    let rep = tools.path().join("report.json");
    let job = Job {
        np: 4,
        node_size: 2,
        mode: "node",
    };
    let mut c = selftest(&job, cache.path(), &cc, &["--kernels", "3"]);
    c.env("OP2_CACHE_REPORT", &rep)
        .env("OP2_LOCK_TIMEOUT", "10");
    let out = common::run(c, T);
    let cold = answers(&out, 4, 6);
    assert!(
        !out.stderr.contains("timed out waiting for lock"),
        "{}",
        out.stderr
    );
    assert_eq!(common::compile_count(&log), 3);
    let r = report(&rep);
    let m = r["cache_mode"].as_str().unwrap();
    assert!(
        m.starts_with("shared (OP2_CACHE_MODE=node, but every node's directory is rank 0's"),
        "{m}"
    );
    assert_eq!(r["caches"]["disk"]["published"]["sum"], 0.0);
    assert_eq!(sos(cache.path()).len(), 3);
    // Warm, then the same answers as a shared job.
    let mut c = selftest(&job, cache.path(), &cc, &["--kernels", "3"]);
    c.env("OP2_LOCK_TIMEOUT", "10");
    assert_eq!(answers(&common::run(c, T), 4, 6), cold);
    assert_eq!(
        common::compile_count(&log),
        3,
        "warm rerun must not compile"
    );
    let one = common::cache_dir();
    let shared = Job {
        mode: "shared",
        ..job
    };
    let plain = answers(
        &common::run(selftest(&shared, one.path(), &cc, &["--kernels", "3"]), T),
        4,
        6,
    );
    assert_eq!(cold, plain);
}

/// Issue 22 (6), mixed: three nodes where node 1's directory is rank 0's (a link to it) and
/// node 2's is its own. Node 1's leader must not publish into rank 0's directory (it would
/// wait for rank 0's lock); node 2's leader publishes its copy.
#[test]
fn a_node_whose_directory_is_rank_0s_does_not_publish_into_it() {
    let base = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = common::logging_cc(tools.path());
    let rep = tools.path().join("report.json");
    std::fs::create_dir(base.path().join("node0")).unwrap();
    std::os::unix::fs::symlink("node0", base.path().join("node1")).unwrap();
    let job = Job {
        np: 6,
        node_size: 2,
        mode: "node",
    };
    let dir = base.path().join("node{node}");
    let mut c = selftest(&job, &dir, &cc, &["--kernels", "3"]);
    c.env("OP2_CACHE_REPORT", &rep)
        .env("OP2_LOCK_TIMEOUT", "10");
    let out = common::run(c, T);
    answers(&out, 6, 6);
    assert!(
        !out.stderr.contains("timed out waiting for lock"),
        "{}",
        out.stderr
    );
    assert_eq!(common::compile_count(&log), 3);
    let r = report(&rep);
    assert!(r["cache_mode"].as_str().unwrap().starts_with("node ("));
    assert_eq!(r["caches"]["disk"]["published"]["sum"], 3.0, "node 2 only");
    assert_eq!(sos(&base.path().join("node0")).len(), 3);
    assert_eq!(sos(&base.path().join("node2")).len(), 3);
}
