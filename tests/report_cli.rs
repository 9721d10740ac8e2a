//! Cache reports gathered over ranks at finalize, the bounded disk cache under concurrency, and
//! the `op2 cache` command-line tool, all on real processes.
mod common;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(240);

fn selftest(np: usize, cache: &Path, args: &[&str]) -> Command {
    common::mpiexec(np, "op2-selftest", args, cache)
}

fn op2(cache: &Path, args: &[&str]) -> common::Outcome {
    let mut c = Command::new(common::bin("op2"));
    c.arg("cache").args(args).arg("--cache-dir").arg(cache);
    common::run(c, Duration::from_secs(60))
}

#[test]
fn report_lists_every_rank_and_json_agrees_with_the_table() {
    let cache = common::cache_dir();
    let json = cache.path().join("report.json");
    let mut c = selftest(4, cache.path(), &["--kernels", "3"]);
    c.env("OP2_PRINT_CACHE_SIZE", "1")
        .env("OP2_CACHE_REPORT", &json);
    let out = common::run(c, T);
    out.assert_ok();
    assert!(
        out.stdout.contains("op2 cache report (4 ranks"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("4 ranks, 3 kernels compiled once"),
        "{}",
        out.stdout
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["ranks"], 4);
    let per_rank = r["per_rank"].as_array().unwrap();
    assert_eq!(per_rank.len(), 4);
    // Every rank ran 3 distinct loops twice: 3 misses and 3 hits in its class cache.
    for (i, rank) in per_rank.iter().enumerate() {
        assert_eq!(rank["class"]["misses"], 3, "rank {i}");
        assert_eq!(rank["class"]["hits"], 3, "rank {i}");
    }
    // Rank 0 compiled; ranks 1..3 loaded from disk.
    assert_eq!(per_rank[0]["disk"]["compiles"], 3);
    let loaded: u64 = per_rank
        .iter()
        .map(|p| p["disk"]["loaded_from_disk"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(loaded, 9);
    assert_eq!(r["caches"]["disk"]["loaded_from_disk"]["sum"], 9.0);
    assert_eq!(r["caches"]["class"]["hits"]["sum"], 12.0);
    assert_eq!(r["caches"]["disk"]["compiles"]["max_rank"], 0);
    // The table prints the same sums.
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("disk") && l.contains("loaded_from_disk"))
        .unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[2..], ["0", "3", "9", "1"], "{line}");
    // PyOP2's variable name works too.
    let mut c = selftest(2, cache.path(), &["--kernels", "1"]);
    c.env("PYOP2_PRINT_CACHE_SIZE", "1");
    let out = common::run(c, T);
    out.assert_ok();
    assert!(
        out.stdout.contains("2 ranks, 0 kernels compiled once"),
        "{}",
        out.stdout
    );
}

#[test]
fn an_error_on_one_rank_ends_the_job_without_a_hang_or_report() {
    let cache = common::cache_dir();
    let mut c = selftest(4, cache.path(), &["--kernels", "1", "--fail-rank", "2"]);
    c.env("OP2_PRINT_CACHE_SIZE", "1");
    let out = common::run(c, Duration::from_secs(60));
    assert!(!out.success());
    assert!(
        out.stderr.contains("rank 2: error") && out.stderr.contains("aborting the MPI job"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("op2 cache report"), "{}", out.stdout);
}

#[test]
#[ignore = "slow: a 30 s stress of concurrent jobs; scripts/test.sh runs it"]
fn pruning_is_safe_under_concurrent_loads_and_inserts() {
    let cache = common::cache_dir();
    selftest(2, cache.path(), &["--kernels", "6"])
        .status()
        .unwrap();
    // Job A keeps reloading 6 kernels from disk (class cache of 2 entries); job B inserts 8;
    // meanwhile the cache is pruned to nothing, over and over.
    let mut a = selftest(2, cache.path(), &["--kernels", "6", "--repeat", "15"]);
    a.env("OP2_MEMORY_CACHE_MAX_ENTRIES", "2");
    let mut b = selftest(2, cache.path(), &["--kernels", "8", "--repeat", "3"]);
    b.env("OP2_CACHE_MAX_SIZE", "40k");
    let ja = std::thread::spawn(move || common::run(a, T));
    let jb = std::thread::spawn(move || common::run(b, T));
    let mut prunes = 0;
    while !ja.is_finished() || !jb.is_finished() {
        let p = op2(cache.path(), &["prune", "--max-size", "0"]);
        p.assert_ok();
        prunes += 1;
    }
    let (oa, ob) = (ja.join().unwrap(), jb.join().unwrap());
    oa.assert_ok();
    ob.assert_ok();
    assert!(oa.stdout.contains("rank 1: ok 90 loops") && ob.stdout.contains("rank 0: ok 24 loops"));
    assert!(prunes >= 2, "prune ran {prunes} times");
    let v = op2(cache.path(), &["verify"]);
    v.assert_ok();
    assert!(v.stdout.contains(", 0 damaged"), "{}", v.stdout);
}

#[test]
fn bounded_cache_prunes_to_ninety_percent_after_an_insert() {
    let cache = common::cache_dir();
    let mut c = selftest(1, cache.path(), &["--kernels", "10", "--repeat", "1"]);
    c.env("OP2_CACHE_MAX_SIZE", "50k");
    common::run(c, T).assert_ok();
    let s = op2(cache.path(), &["stats", "--json"]);
    s.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&s.stdout).unwrap();
    let bytes = v["bytes"].as_u64().unwrap();
    assert!(
        bytes <= 50 * 1024,
        "cache holds {bytes} bytes over its 50k limit"
    );
    assert!(v["entries"].as_u64().unwrap() >= 1);
}

#[test]
fn every_cli_verb_on_a_populated_and_a_corrupted_cache() {
    let cache = common::cache_dir();
    common::run(selftest(2, cache.path(), &["--kernels", "3"]), T).assert_ok();
    let d = op2(cache.path(), &["dir"]);
    d.assert_ok();
    assert_eq!(d.stdout.trim(), cache.path().display().to_string());
    let s = op2(cache.path(), &["stats"]);
    s.assert_ok();
    assert!(
        s.stdout.contains("entries: 3")
            && s.stdout.contains("scale0")
            && s.stdout.contains("oldest:"),
        "{}",
        s.stdout
    );
    let l = op2(cache.path(), &["list"]);
    l.assert_ok();
    assert_eq!(l.stdout.lines().count(), 3, "{}", l.stdout);
    assert!(l.stdout.contains("scale2"));
    let v = op2(cache.path(), &["verify"]);
    v.assert_ok();
    assert!(
        v.stdout.contains("3 entries checked, 0 damaged"),
        "{}",
        v.stdout
    );
    // Corrupt one entry.
    let so = std::fs::read_dir(cache.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "so"))
        .unwrap();
    let mut b = std::fs::read(&so).unwrap();
    b[200] ^= 1;
    std::fs::write(&so, b).unwrap();
    let v = op2(cache.path(), &["verify"]);
    assert_eq!(v.code, Some(1), "damage must fail verify\n{}", v.stdout);
    assert!(
        v.stdout.contains("BAD") && v.stdout.contains("checksum"),
        "{}",
        v.stdout
    );
    let l = op2(cache.path(), &["list"]);
    l.assert_ok();
    let f = op2(cache.path(), &["verify", "--fix"]);
    f.assert_ok();
    assert!(
        f.stdout.contains("1 damaged, moved to corrupt/"),
        "{}",
        f.stdout
    );
    let v = op2(cache.path(), &["verify"]);
    v.assert_ok();
    assert!(
        v.stdout.contains("2 entries checked, 0 damaged"),
        "{}",
        v.stdout
    );
    let p = op2(cache.path(), &["prune", "--max-size", "1"]);
    p.assert_ok();
    assert!(p.stdout.contains("removed 2 of 2 entries"), "{}", p.stdout);
    common::run(selftest(1, cache.path(), &["--kernels", "2"]), T).assert_ok();
    let c = op2(cache.path(), &["clear"]);
    c.assert_ok();
    assert!(op2(cache.path(), &["stats"]).stdout.contains("entries: 0"));
    // Errors: a missing directory and a bad size are clear messages with a non-zero exit.
    let missing = cache.path().join("nope");
    let e = op2(&missing, &["stats"]);
    assert_eq!(e.code, Some(2));
    assert!(
        e.stderr.contains("nope") && e.stderr.contains("No such file"),
        "{}",
        e.stderr
    );
    let e = op2(cache.path(), &["prune", "--max-size", "lots"]);
    assert_eq!(e.code, Some(2));
    assert!(e.stderr.contains("lots"), "{}", e.stderr);
}

#[test]
fn the_layout_line_is_printed_once_at_startup_when_asked() {
    let cache = common::cache_dir();
    let layout = |out: &common::Outcome| -> Vec<String> {
        out.stderr
            .lines()
            .filter(|l| l.starts_with("op2: ") && l.contains(" ranks x "))
            .map(str::to_string)
            .collect()
    };
    let args = ["--kernels", "1", "--repeat", "1"];
    let mut c = selftest(2, cache.path(), &args);
    c.env("OP2_PRINT_CACHE_SIZE", "1").env("OP2_THREADS", "2");
    let out = common::run(c, T);
    common::assert_all_ok(&out, 2, 1);
    let lines = layout(&out);
    assert_eq!(lines.len(), 1, "once, by rank 0\n{}", out.stderr);
    assert!(
        lines[0].starts_with("op2: 2 ranks x 2 threads (OP2_THREADS), 1 node, "),
        "{}",
        lines[0]
    );
    // OP2_VERBOSE too; the auto thread count says where it came from.
    let mut c = selftest(2, cache.path(), &args);
    c.env("OP2_VERBOSE", "1");
    let out = common::run(c, T);
    common::assert_all_ok(&out, 2, 1);
    let lines = layout(&out);
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].starts_with("op2: 2 ranks x 1 thread (auto: 1 per rank where ranks share a node"),
        "{}",
        lines[0]
    );
    // Neither: no line.
    let mut c = selftest(2, cache.path(), &args);
    c.env("OP2_THREADS", "2");
    let out = common::run(c, T);
    common::assert_all_ok(&out, 2, 1);
    assert!(layout(&out).is_empty(), "{}", out.stderr);
    // It is a collective: a job whose ranks disagree on OP2_VERBOSE fails on every rank
    // naming it, instead of leaving rank 0 in the gather.
    let mut c = Command::new("mpiexec");
    c.args(["-n", "2", "sh", "-c"]);
    c.arg("if [ \"$PMI_RANK\" = 1 ]; then export OP2_VERBOSE=1; fi; exec \"$0\" --kernels 1");
    c.arg(common::bin("op2-selftest"));
    c.env("OP2_CACHE_DIR", cache.path())
        .env_remove("OP2_VERBOSE");
    let out = common::run(c, Duration::from_secs(60));
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("OP2_VERBOSE is \"false\" on rank(s) 0, \"true\" on rank(s) 1"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_bare_relative_file_name_is_written_in_the_current_directory() {
    // Issue 22, fault 8: `OP2_CACHE_REPORT=report.json` failed a correct job after writing
    // ("fsync directory : No such file or directory") and `op2 cache pack x.op2pack` exited 2.
    let cache = common::cache_dir();
    let work = tempfile::tempdir().unwrap();
    let mut c = selftest(2, cache.path(), &["--kernels", "1"]);
    c.current_dir(work.path())
        .env("OP2_CACHE_REPORT", "report.json");
    let out = common::run(c, T);
    common::assert_all_ok(&out, 2, 2);
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(r["ranks"], 2);
    let mut c = Command::new(common::bin("op2"));
    c.args(["cache", "pack", "x.op2pack", "--cache-dir"])
        .arg(cache.path())
        .current_dir(work.path());
    let out = common::run(c, Duration::from_secs(60));
    out.assert_ok();
    assert!(out.stdout.contains("packed 1 entries"), "{}", out.stdout);
    let mut c = Command::new(common::bin("op2"));
    c.args(["cache", "unpack", "x.op2pack", "--cache-dir"])
        .arg(work.path().join("other"))
        .current_dir(work.path());
    common::run(c, Duration::from_secs(60)).assert_ok();
}
