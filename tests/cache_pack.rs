//! Cache packs (`op2 cache pack` / `unpack`): the entries a job used, from its report, carried
//! into an empty cache that then needs no compile; damaged and foreign packs refused with a
//! clear message and nothing published.
mod common;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(180);

fn op2(cache: &Path, args: &[&str]) -> common::Outcome {
    let mut c = Command::new(common::bin("op2"));
    c.arg("cache").args(args).arg("--cache-dir").arg(cache);
    common::run(c, Duration::from_secs(60))
}

fn selftest(cache: &Path, cc: &Path, kernels: usize, report: Option<&Path>) {
    let mut c = common::mpiexec(
        2,
        "op2-selftest",
        &["--kernels", &kernels.to_string()],
        cache,
    );
    c.env("OP2_CC", cc);
    if let Some(r) = report {
        c.env("OP2_CACHE_REPORT", r);
    }
    common::run(c, T).assert_ok();
}

fn sos(d: &Path) -> usize {
    common::files_under(d)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "so"))
        .count()
}

#[test]
fn a_pack_of_the_entries_a_job_used_warms_an_empty_cache() {
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = common::logging_cc(tools.path());
    let src = common::cache_dir();
    // Four kernels in the cache, of which the reported job uses two.
    selftest(src.path(), &cc, 4, None);
    let report = tools.path().join("report.json");
    selftest(src.path(), &cc, 2, Some(&report));
    assert_eq!(common::compile_count(&log), 4);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(
        r["used_entries"].as_array().map(|a| a.len()),
        Some(2),
        "{r}"
    );
    let all = tools.path().join("all.op2pack");
    let used = tools.path().join("used.op2pack");
    let out = op2(src.path(), &["pack", all.to_str().unwrap()]);
    out.assert_ok();
    assert!(out.stdout.contains("packed 4 entries"), "{}", out.stdout);
    let out = op2(
        src.path(),
        &[
            "pack",
            used.to_str().unwrap(),
            "--from-report",
            report.to_str().unwrap(),
        ],
    );
    out.assert_ok();
    assert!(out.stdout.contains("packed 2 entries"), "{}", out.stdout);

    let dst = common::cache_dir();
    let out = op2(dst.path(), &["unpack", used.to_str().unwrap()]);
    out.assert_ok();
    assert!(
        out.stdout.contains("2 written, 0 already present"),
        "{}",
        out.stdout
    );
    assert_eq!(sos(dst.path()), 2);
    op2(dst.path(), &["verify"]).assert_ok();
    // The job runs on the unpacked cache without compiling.
    selftest(dst.path(), &cc, 2, None);
    assert_eq!(common::compile_count(&log), 4, "unpacked entries are used");
    // Unpacking again (or the bigger pack) publishes only what is missing.
    let out = op2(dst.path(), &["unpack", all.to_str().unwrap()]);
    out.assert_ok();
    assert!(
        out.stdout.contains("2 written, 2 already present"),
        "{}",
        out.stdout
    );
    assert_eq!(sos(dst.path()), 4);
}

#[test]
fn damaged_and_foreign_packs_are_refused_and_publish_nothing() {
    let tools = tempfile::tempdir().unwrap();
    let (cc, _log) = common::logging_cc(tools.path());
    let src = common::cache_dir();
    selftest(src.path(), &cc, 2, None);
    let pack = tools.path().join("good.op2pack");
    op2(src.path(), &["pack", pack.to_str().unwrap()]).assert_ok();
    let good = std::fs::read(&pack).unwrap();

    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    cases.push((
        "truncated",
        good[..good.len() - 100].to_vec(),
        "checksum mismatch",
    ));
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    cases.push(("flipped", flipped, "checksum mismatch"));
    cases.push(("foreign", b"PK\x03\x04 some zip file".to_vec(), "bad magic"));
    let mut newer = good.clone();
    newer[8] = 9;
    cases.push(("newer", newer, "format version 9"));
    // An entry altered *and* the trailing checksum recomputed: caught per entry.
    let mut forged = good[..good.len() - 8].to_vec();
    let n = forged.len();
    forged[n - 50] ^= 0xff;
    let sum = xxhash_rust::xxh3::xxh3_64(&forged);
    forged.extend_from_slice(&sum.to_le_bytes());
    cases.push((
        "forged",
        forged,
        "does not match its recorded size/checksum",
    ));
    cases.push(("empty", Vec::new(), "bad magic"));

    for (name, bytes, why) in cases {
        let f = tools.path().join(format!("{name}.op2pack"));
        std::fs::write(&f, &bytes).unwrap();
        let dst = common::cache_dir();
        let out = op2(dst.path(), &["unpack", f.to_str().unwrap()]);
        assert_eq!(out.code, Some(2), "{name}: must fail\n{}", out.stdout);
        assert!(
            out.stderr.contains("not a usable op2 cache pack") && out.stderr.contains(why),
            "{name}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&f.display().to_string()),
            "{}",
            out.stderr
        );
        assert_eq!(sos(dst.path()), 0, "{name}: nothing published");
    }
    // The good pack still unpacks.
    let dst = common::cache_dir();
    op2(dst.path(), &["unpack", pack.to_str().unwrap()]).assert_ok();
    assert_eq!(sos(dst.path()), 2);
}
