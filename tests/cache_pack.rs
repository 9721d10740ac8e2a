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

/// `op2 cache ...` with OP2_CC set (unpack --rebuild compiles with it).
fn op2_with_cc(cache: &Path, cc: &Path, args: &[&str]) -> common::Outcome {
    let mut c = Command::new(common::bin("op2"));
    c.arg("cache").args(args).arg("--cache-dir").arg(cache);
    c.env("OP2_CC", cc).env_remove("OP2_CFLAGS");
    common::run(c, Duration::from_secs(120))
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

/// `unpack` writes through the runtime's one publish transaction: an entry file in the target
/// cache that someone untrusted could have written (a group-writable `.meta`) is refused with
/// the runtime's message, as a job refuses it, and left where it is.
#[test]
fn unpack_refuses_an_untrusted_entry_in_the_target_cache_as_a_job_does() {
    use std::os::unix::fs::PermissionsExt;
    let tools = tempfile::tempdir().unwrap();
    let (cc, _log) = common::logging_cc(tools.path());
    let src = common::cache_dir();
    selftest(src.path(), &cc, 1, None);
    let pack = tools.path().join("one.op2pack");
    op2(src.path(), &["pack", pack.to_str().unwrap()]).assert_ok();
    let meta = common::files_under(src.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "meta"))
        .unwrap();
    std::fs::set_permissions(&meta, std::fs::Permissions::from_mode(0o664)).unwrap();
    let out = op2(src.path(), &["unpack", pack.to_str().unwrap()]);
    assert!(!out.success(), "must be refused\n{}", out.stdout);
    assert!(
        out.stderr.contains("writable by its group") && out.stderr.contains("chmod go-w"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::metadata(&meta).unwrap().permissions().mode() & 0o777,
        0o664,
        "left where it is"
    );
    assert!(!src.path().join("corrupt").exists(), "nothing moved aside");
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

/// A pack taken apart: its JSON header and its libraries (format 1, see `cache::pack`).
struct Parts {
    header: serde_json::Value,
    blobs: Vec<Vec<u8>>,
}

fn split(pack: &[u8]) -> Parts {
    let hlen = u64::from_le_bytes(pack[12..20].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&pack[20..20 + hlen]).unwrap();
    let mut at = 20 + hlen;
    let mut blobs = Vec::new();
    for e in header["entries"].as_array().unwrap() {
        let n = e["len"].as_u64().unwrap() as usize;
        blobs.push(pack[at..at + n].to_vec());
        at += n;
    }
    Parts { header, blobs }
}

/// Put a pack back together with every size, checksum and the trailer recomputed: what a
/// forger does.
fn join(p: &Parts) -> Vec<u8> {
    let mut header = p.header.clone();
    for (e, b) in header["entries"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(&p.blobs)
    {
        e["len"] = (b.len() as u64).into();
        e["meta"]["size"] = (b.len() as u64).into();
        e["meta"]["checksum"] = xxhash_rust::xxh3::xxh3_64(b).into();
    }
    let h = serde_json::to_vec(&header).unwrap();
    let mut out = b"OP2PACK\n".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for b in &p.blobs {
        out.extend_from_slice(b);
    }
    let sum = xxhash_rust::xxh3::xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_forged_pack_is_refused_unless_its_writer_is_trusted_and_rebuild_refuses_it_always() {
    // Issue 22, fault 2: a pack whose library bytes are replaced (another kernel's valid
    // library: planted code) with sizes, checksums and trailer recomputed.
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = common::logging_cc(tools.path());
    let src = common::cache_dir();
    selftest(src.path(), &cc, 2, None);
    let good = tools.path().join("good.op2pack");
    op2(src.path(), &["pack", good.to_str().unwrap()]).assert_ok();
    let mut parts = split(&std::fs::read(&good).unwrap());
    parts.blobs[0] = parts.blobs[1].clone();
    let forged = tools.path().join("forged.op2pack");
    std::fs::write(&forged, join(&parts)).unwrap();
    let refused = |out: &common::Outcome, dst: &Path, why: &str, what: &str| {
        assert_eq!(out.code, Some(2), "{what}: must be refused\n{out:?}");
        assert!(out.stderr.contains(why), "{what}: {}", out.stderr);
        assert_eq!(sos(dst), 0, "{what}: nothing published");
    };
    // Someone else could have written it: world-writable, or owned by another (real) user.
    chmod(&forged, 0o666);
    let dst = common::cache_dir();
    let out = op2(dst.path(), &["unpack", forged.to_str().unwrap()]);
    refused(
        &out,
        dst.path(),
        "writable by every user",
        "world-writable pack",
    );
    assert!(out.stderr.contains("a pack is code"), "{}", out.stderr);
    chmod(&forged, 0o644);
    if let Some(users) = common::users::make("p", 1) {
        users[0].own(&forged);
        let out = op2(dst.path(), &["unpack", forged.to_str().unwrap()]);
        refused(
            &out,
            dst.path(),
            &format!("owned by uid {}", users[0].uid),
            "another user's pack",
        );
        std::os::unix::fs::lchown(&forged, Some(0), Some(0)).unwrap();
    }
    // `--rebuild` compiles every entry from the source it carries and compares.
    let out = op2_with_cc(
        dst.path(),
        &cc,
        &["unpack", "--rebuild", forged.to_str().unwrap()],
    );
    refused(
        &out,
        dst.path(),
        "is not what its source compiles to",
        "forged pack, --rebuild",
    );
    // The genuine pack rebuilds byte for byte; the job then runs without compiling.
    let before = common::compile_count(&log);
    let out = op2(dst.path(), &["unpack", "--rebuild", good.to_str().unwrap()]);
    assert!(
        !out.success() && out.stderr.contains("set the same to rebuild it"),
        "another compiler than the recorded one: {out:?}"
    );
    let out = op2_with_cc(
        dst.path(),
        &cc,
        &["unpack", "--rebuild", good.to_str().unwrap()],
    );
    out.assert_ok();
    assert_eq!(common::compile_count(&log), before + 2, "both rebuilt");
    let before = common::compile_count(&log);
    assert!(out.stdout.contains("2 written"), "{}", out.stdout);
    selftest(dst.path(), &cc, 2, None);
    assert_eq!(
        common::compile_count(&log),
        before,
        "unpacked entries are used"
    );
    // Your own forged pack is accepted without --rebuild: a pack is code from its author.
    let mine = common::cache_dir();
    op2(mine.path(), &["unpack", forged.to_str().unwrap()]).assert_ok();
}

#[test]
fn builds_are_reproducible_whatever_the_cache_path_and_working_directory() {
    // Issue 22, fault 2: the library's bytes depend only on the source, the compiler and the
    // flags (debug info included), never on where or by whom it was built.
    let (a, b) = (common::cache_dir(), common::cache_dir());
    let deeper = b.path().join("x/y");
    std::fs::create_dir_all(&deeper).unwrap();
    for (cache, cwd) in [
        (a.path().to_path_buf(), a.path()),
        (deeper.clone(), b.path()),
    ] {
        let mut c = common::mpiexec(2, "op2-selftest", &["--kernels", "3"], &cache);
        c.env("OP2_CFLAGS", "-O2 -g").current_dir(cwd);
        common::assert_all_ok(&common::run(c, T), 2, 6);
    }
    let libs = |d: &Path| -> Vec<(String, Vec<u8>)> {
        common::files_under(d)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "so"))
            .map(|p| {
                let key = p.strip_prefix(d).unwrap().display().to_string();
                (key, std::fs::read(&p).unwrap())
            })
            .collect()
    };
    let (la, lb) = (libs(a.path()), libs(&deeper));
    assert_eq!(la.len(), 3);
    assert_eq!(
        la.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        lb.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    for ((k, x), (_, y)) in la.iter().zip(&lb) {
        assert!(x == y, "{k}: the two builds differ");
        let text = String::from_utf8_lossy(x);
        assert!(
            !text.contains(&a.path().display().to_string()),
            "{k}: the build path is in the library"
        );
    }
}

#[test]
fn unpack_refuses_entries_the_runtime_would_refuse_and_list_escapes_names() {
    // Issue 22, fault 10: validate at unpack exactly what the runtime checks at load.
    let tools = tempfile::tempdir().unwrap();
    let (cc, _log) = common::logging_cc(tools.path());
    let src = common::cache_dir();
    selftest(src.path(), &cc, 1, None);
    let good = tools.path().join("good.op2pack");
    op2(src.path(), &["pack", good.to_str().unwrap()]).assert_ok();
    let base = split(&std::fs::read(&good).unwrap());
    type Edit = Box<dyn Fn(&mut Parts)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "upper-case key",
            Box::new(|p| {
                let k = p.header["entries"][0]["meta"]["key"]
                    .as_str()
                    .unwrap()
                    .to_uppercase();
                p.header["entries"][0]["meta"]["key"] = k.into();
            }),
            "32 lower-case hex digits",
        ),
        (
            "other format",
            Box::new(|p| p.header["entries"][0]["meta"]["format"] = 99.into()),
            "entry format 99",
        ),
        (
            "empty library",
            Box::new(|p| p.blobs[0].clear()),
            "is empty",
        ),
        (
            "not ELF",
            Box::new(|p| p.blobs[0] = b"#!/bin/sh\necho planted\n".to_vec()),
            "not a usable shared object",
        ),
        (
            "escape sequence in the kernel name",
            Box::new(|p| p.header["entries"][0]["meta"]["kernel"] = "k\u{1b}[2J".into()),
            "not a C identifier",
        ),
        (
            "too many entries",
            Box::new(|p| {
                // Small entries (empty libraries, no source): the count alone must refuse it.
                let mut e = p.header["entries"][0].clone();
                e["meta"].as_object_mut().unwrap().remove("build");
                e["meta"]["key_text"] = "".into();
                p.header["entries"] = vec![e; 100_001].into();
                p.blobs = vec![Vec::new(); 100_001];
            }),
            "at most 100000",
        ),
    ];
    for (what, edit, why) in cases {
        let mut p = Parts {
            header: base.header.clone(),
            blobs: base.blobs.clone(),
        };
        edit(&mut p);
        let f = tools.path().join("bad.op2pack");
        std::fs::write(&f, join(&p)).unwrap();
        let dst = common::cache_dir();
        let out = op2(dst.path(), &["unpack", f.to_str().unwrap()]);
        assert_eq!(out.code, Some(2), "{what}: must be refused\n{out:?}");
        assert!(
            out.stderr.contains("not a usable op2 cache pack") && out.stderr.contains(why),
            "{what}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains('\u{1b}'), "{what}: raw escape printed");
        assert_eq!(sos(dst.path()), 0, "{what}: nothing published");
    }
    // A kernel name with terminal escapes and a forged line, in a cache's .meta: printed
    // escaped by list, stats and verify.
    let meta = common::files_under(src.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "meta"))
        .unwrap();
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    m["kernel"] = "evil\u{1b}[31m\nBAD forged line".into();
    std::fs::write(&meta, serde_json::to_vec(&m).unwrap()).unwrap();
    for args in [&["list"][..], &["stats"], &["verify"]] {
        let out = op2(src.path(), args);
        assert!(
            !out.stdout.contains('\u{1b}') && !out.stdout.contains("\nBAD forged line"),
            "{args:?}: {}",
            out.stdout
        );
        assert!(out.stdout.contains("\\u{1b}"), "{args:?}: {}", out.stdout);
    }
}

#[test]
fn a_fifo_or_device_is_refused_as_a_pack_without_blocking_or_reading_forever() {
    // Issue 22, fault 11: `unpack FIFO` blocked forever, `unpack /dev/zero` read until out of
    // memory (here under a 2 GB address-space limit, so the old behaviour fails, not the host).
    let tools = tempfile::tempdir().unwrap();
    let fifo = tools.path().join("pack.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for f in [fifo.as_path(), Path::new("/dev/zero")] {
        let dst = common::cache_dir();
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("ulimit -v 2000000; exec \"$0\" \"$@\"")
            .arg(common::bin("op2"))
            .args(["cache", "unpack"])
            .arg(f)
            .arg("--cache-dir")
            .arg(dst.path());
        let out = common::run(c, Duration::from_secs(30));
        assert_eq!(out.code, Some(2), "{}: {out:?}", f.display());
        assert!(
            out.stderr.contains("not a regular file"),
            "{}: {}",
            f.display(),
            out.stderr
        );
    }
}
