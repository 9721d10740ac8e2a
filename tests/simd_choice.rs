//! The per-kernel choice of a vectorised module's variant by measurement (issue #25,
//! `OP2_SIMD=auto`): rank 0 times the variants at a loop's first run and broadcasts the
//! fastest, every rank runs it and says so (`OP2_VERBOSE`), the choice is recorded beside the
//! disk entry and shown by `op2 cache list`, a second job loads it instead of measuring and
//! gives the same answer bit for bit, `OP2_SIMD=on` never measures, and every path agrees with
//! the scalar one within round-off.
mod common;
use std::path::Path;
use std::time::Duration;

/// Airfoil on a small generated mesh at 2 ranks (about 8000 cells each: above the measured
/// minimum), with `OP2_VERBOSE` and `OP2_SIMD=simd`: (final rms, stderr).
fn airfoil(cache: &Path, simd: &str) -> (f64, String) {
    airfoil_sized(cache, simd, 60, 90)
}

/// Airfoil as [`airfoil`] on the generated mesh of `i x j` (3 i j cells).
fn airfoil_sized(cache: &Path, simd: &str, i: usize, j: usize) -> (f64, String) {
    let (i, j) = (i.to_string(), j.to_string());
    let args = ["--iters", "3", "--i", &i, "--j", &j, "--progress", "0"];
    let mut cmd = common::mpiexec(2, "airfoil", &args, cache);
    cmd.env("OP2_VERBOSE", "1").env("OP2_SIMD", simd);
    let out = common::run(cmd, Duration::from_secs(600));
    out.assert_ok();
    let rms = (out.stdout.lines())
        .find_map(|l| l.strip_prefix("airfoil: final rms "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no final rms:\n{}", out.stdout));
    (rms, out.stderr)
}

/// Each rank's `runs its ... loop (...)` line for `kernel`, the rank prefix removed.
fn choices(stderr: &str, kernel: &str) -> Vec<(String, String)> {
    let needle = format!(": kernel `{kernel}` runs its ");
    (stderr.lines())
        .filter_map(|l| {
            let (rank, rest) = l.strip_prefix("op2: rank ")?.split_once(&needle)?;
            Some((rank.to_string(), rest.to_string()))
        })
        .collect()
}

/// The `.choice` records under `cache`.
fn records(cache: &Path) -> Vec<String> {
    let mut out: Vec<String> = (common::files_under(cache).into_iter())
        .filter(|p| p.extension().is_some_and(|e| e == "choice"))
        .map(|p| std::fs::read_to_string(p).unwrap().trim().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn the_variant_is_measured_once_agreed_recorded_and_reused() {
    let cache = common::cache_dir();
    let (rms, stderr) = airfoil(cache.path(), "auto");
    // Every measured kernel: both ranks run the variant rank 0 measured, with its timings.
    for kernel in ["save_soln", "adt_calc", "res_calc", "update"] {
        let c = choices(&stderr, kernel);
        assert_eq!(c.len(), 2, "{kernel}: one line per rank\n{stderr}");
        assert_ne!(c[0].0, c[1].0, "{stderr}");
        assert_eq!(c[0].1, c[1].1, "{kernel}: the ranks disagree\n{stderr}");
        assert!(
            c[0].1.contains(" ms, scalar "),
            "{kernel}: not measured: {c:?}"
        );
    }
    // bres_calc's 420 boundary edges are too few to time: vectorised, not recorded.
    let b = choices(&stderr, "bres_calc");
    assert!(
        b.iter()
            .all(|(_, l)| l.starts_with("simd loop (simd: not measured")),
        "{b:?}"
    );
    let recorded = records(cache.path());
    assert_eq!(recorded.len(), 4, "{recorded:?}");
    for r in &recorded {
        let variant = r.split(':').next().unwrap();
        assert!(
            ["simd", "scalar", "scalar-inlined"].contains(&variant),
            "{r}"
        );
        assert!(
            stderr.contains(&format!("runs its {variant} loop ({r})")),
            "{r}\n{stderr}"
        );
    }
    let list = common::run(
        common::op2_cache(cache.path(), &["list"]),
        Duration::from_secs(60),
    );
    list.assert_ok();
    assert_eq!(list.stdout.matches("  runs ").count(), 4, "{}", list.stdout);

    // A second job loads the recorded choices: nothing measured, the same answer bit for bit.
    let (again, stderr2) = airfoil(cache.path(), "auto");
    assert_eq!(again.to_bits(), rms.to_bits(), "{again} vs {rms}");
    for kernel in ["save_soln", "adt_calc", "res_calc", "update"] {
        assert!(
            choices(&stderr2, kernel).is_empty(),
            "{kernel} measured again\n{stderr2}"
        );
    }
    assert_eq!(records(cache.path()), recorded);

    // OP2_SIMD=on runs the vectorised loops unmeasured; off the scalar modules: every answer
    // within round-off of the others.
    let (on, stderr_on) = airfoil(cache.path(), "on");
    assert!(!stderr_on.contains(" runs its "), "{stderr_on}");
    let (off, _) = airfoil(cache.path(), "off");
    for x in [rms, on] {
        assert!((x - off).abs() <= 1e-12 * off.abs(), "{x} vs scalar {off}");
    }
}

/// The element count a record line names (`... over N elements ...`).
fn over(record: &str) -> usize {
    let (_, rest) = record.split_once(" over ").expect("a measured record");
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn a_choice_measured_on_a_small_mesh_is_measured_again_on_a_much_larger_one() {
    let cache = common::cache_dir();
    airfoil(cache.path(), "auto"); // 16,200 cells: rank 0 measures over its ~8,100
    let small = records(cache.path());
    assert_eq!(small.len(), 4, "{small:?}");
    // 180,000 cells: more than 10x every record's count, so every kernel is measured again and
    // its record replaced by one over the larger count.
    let (_, stderr) = airfoil_sized(cache.path(), "auto", 200, 300);
    for kernel in ["save_soln", "adt_calc", "res_calc", "update"] {
        let c = choices(&stderr, kernel);
        assert_eq!(c.len(), 2, "{kernel}: not measured again\n{stderr}");
        assert!(c[0].1.contains(" ms, scalar "), "{kernel}: {c:?}");
    }
    let large = records(cache.path());
    assert_eq!(large.len(), 4, "{large:?}");
    let (mut a, mut b): (Vec<usize>, Vec<usize>) = (
        small.iter().map(|r| over(r)).collect(),
        large.iter().map(|r| over(r)).collect(),
    );
    a.sort();
    b.sort();
    for (s, l) in a.iter().zip(&b) {
        assert!(*l >= 10 * s, "records {small:?} then {large:?}");
    }
    // A smaller job adopts the larger job's records: nothing measured, nothing rewritten.
    let (_, stderr) = airfoil(cache.path(), "auto");
    for kernel in ["save_soln", "adt_calc", "res_calc", "update"] {
        assert!(
            choices(&stderr, kernel).is_empty(),
            "{kernel} measured again\n{stderr}"
        );
    }
    assert_eq!(records(cache.path()), large);
}
