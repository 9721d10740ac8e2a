//! The instruction set agreed across the job (issue #25): ranks report their x86-64 level, the
//! job compiles for the highest level every rank supports, that level is in the disk key (its
//! `-march` in the entry's flags), and a library built for a level the host lacks is refused
//! before it is loaded. A rank's level is lowered with `OP2_TEST_ISA_LEVEL` (test only), run
//! under MPICH's MPMD syntax so that one rank alone reports less.
#![cfg(target_arch = "x86_64")]
mod common;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// This CPU's level, as op2 computes it (`jit::isa::cpu_level`): the same cpuid features.
fn cpu_level() -> u8 {
    use std::arch::is_x86_feature_detected as has;
    let v2 = has!("sse4.2") && has!("popcnt") && has!("ssse3") && has!("cmpxchg16b");
    let v3 = v2
        && has!("avx2")
        && has!("fma")
        && has!("bmi1")
        && has!("bmi2")
        && has!("lzcnt")
        && has!("movbe")
        && has!("f16c");
    let v4 = v3
        && has!("avx512f")
        && has!("avx512bw")
        && has!("avx512cd")
        && has!("avx512dq")
        && has!("avx512vl");
    1 + v2 as u8 + v3 as u8 + v4 as u8
}

/// The compiler flags recorded in every disk entry under `cache` (`build.cflags` of each
/// `.meta`), and the `path` line of its key text.
fn entries(cache: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(cache).unwrap().flatten() {
        let Ok(files) = std::fs::read_dir(d.path()) else {
            continue;
        };
        for f in files.flatten() {
            if f.path().extension().is_some_and(|e| e == "meta") {
                let v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap();
                let cflags = v["build"]["cflags"].as_str().unwrap_or("").to_string();
                let text = v["key_text"].as_str().unwrap_or("");
                let path = text.lines().find(|l| l.starts_with("path ")).unwrap_or("");
                out.push((cflags, path.to_string()));
            }
        }
    }
    out
}

/// `heat` on two ranks, rank 1 reporting at most `level` (MPMD: one `-env` for rank 1 only).
fn heat_mixed(cache: &Path, level: u8) -> common::Outcome {
    let mut c = Command::new("mpiexec");
    let heat = common::bin("heat");
    let args = ["--n", "12", "--steps", "3"];
    c.arg("-n").arg("1").arg(&heat).args(args).arg(":");
    c.args(["-n", "1", "-env", "OP2_TEST_ISA_LEVEL", &level.to_string()]);
    c.arg(&heat).args(args);
    for v in op2::settings::setting_names() {
        c.env_remove(v);
    }
    c.env("OP2_CACHE_DIR", cache);
    common::run(c, Duration::from_secs(300))
}

#[test]
fn a_mixed_level_job_compiles_for_the_common_level_and_keys_it() {
    let cpu = cpu_level();
    if cpu < 3 {
        common::skip_or_fail("needs an x86-64-v3 CPU or better to fake a lower rank");
        return;
    }
    let cache = common::cache_dir();
    let low = cpu - 1;
    let out = heat_mixed(cache.path(), low);
    assert!(out.success(), "{}\n{}", out.stdout, out.stderr);
    let all = entries(cache.path());
    assert!(!all.is_empty(), "no entry compiled");
    let want = format!("-march=x86-64-v{low} -ffp-contract=off");
    for (cflags, path) in &all {
        assert!(cflags.ends_with(&want), "{cflags} (want {want}): {all:?}");
        assert!(path.starts_with("path "), "{all:?}");
    }
    // Vectorised entries have the agreed level's lanes: 4 below x86-64-v4.
    assert!(
        all.iter()
            .any(|(_, p)| p.contains("simd across 4 elements")),
        "{all:?}"
    );
    // The same job with every rank at the CPU's level: other keys, compiled anew.
    let before = all.len();
    let mut one = common::mpiexec(1, "heat", &["--n", "12", "--steps", "3"], cache.path());
    one.env("OP2_SIMD", "auto");
    let out = common::run(one, Duration::from_secs(300));
    assert!(out.success(), "{}\n{}", out.stdout, out.stderr);
    let all = entries(cache.path());
    let top = format!("-march=x86-64-v{cpu} -ffp-contract=off");
    let at_top = all.iter().filter(|(c, _)| c.ends_with(&top)).count();
    assert_eq!(at_top, before, "one new entry per kernel: {all:?}");
    assert_eq!(all.len(), 2 * before, "{all:?}");
}

#[test]
fn a_library_for_a_level_this_host_lacks_is_refused() {
    let cpu = cpu_level();
    if cpu < 2 {
        common::skip_or_fail("needs an x86-64-v2 CPU or better to fake a lower host");
        return;
    }
    let cache = common::cache_dir();
    // OP2_CFLAGS chooses the target (it overrides the agreed level); the rank says its host
    // runs one level less: the library is compiled, then refused before it is loaded.
    let mut c = common::mpiexec(1, "heat", &["--n", "12", "--steps", "3"], cache.path());
    c.env("OP2_CFLAGS", format!("-O2 -march=x86-64-v{cpu}"))
        .env("OP2_TEST_ISA_LEVEL", (cpu - 1).to_string());
    let out = common::run(c, Duration::from_secs(300));
    assert!(
        !out.success(),
        "ran a library above the host's level:\n{}",
        out.stdout
    );
    let want = format!(
        "it was compiled for x86-64-v{cpu} (its __op2_isa_v{cpu} symbol), but this host runs only x86-64{}",
        if cpu == 2 { String::new() } else { format!("-v{}", cpu - 1) }
    );
    assert!(out.stderr.contains(&want), "{want}\n---\n{}", out.stderr);
    // At the host's own level the same flags run.
    let mut c = common::mpiexec(1, "heat", &["--n", "12", "--steps", "3"], cache.path());
    c.env("OP2_CFLAGS", format!("-O2 -march=x86-64-v{cpu}"));
    let out = common::run(c, Duration::from_secs(300));
    assert!(out.success(), "{}\n{}", out.stdout, out.stderr);
}
