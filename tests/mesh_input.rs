//! Mesh input on the parallel path: Airfoil from an op2 mesh file (`op2 mesh convert`), read
//! in blocks by every rank, partitioned in parallel or by the user's choice, gives the same
//! residuals as the rank-0 path on 1 to 4 ranks and with every partitioner.
mod common;
use std::process::Command;
use std::time::Duration;

/// Convert a generated NACA0012 mesh of `i x j` into an op2 mesh file in `dir`.
fn convert(dir: &std::path::Path, i: usize, j: usize) -> std::path::PathBuf {
    let path = dir.join(format!("naca_{i}x{j}.op2mesh"));
    let mut c = Command::new(common::bin("op2"));
    c.args([
        "mesh",
        "convert",
        "--naca",
        &i.to_string(),
        &j.to_string(),
        "-o",
    ])
    .arg(&path);
    let out = common::run(c, Duration::from_secs(300));
    out.assert_ok();
    assert!(out.stdout.contains("wrote "), "{}", out.stdout);
    path
}

fn airfoil(np: usize, args: &[&str]) -> common::Outcome {
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(np, "airfoil", args, cache.path()),
        Duration::from_secs(600),
    );
    out.assert_ok();
    out
}

/// The full-precision final rms the solver prints.
fn final_rms(out: &common::Outcome) -> f64 {
    let l = out
        .stdout
        .lines()
        .find(|l| l.starts_with("airfoil: final rms "))
        .unwrap_or_else(|| panic!("no final rms\n{}", out.stdout));
    l["airfoil: final rms ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    // Summation order differs between partitions (the rms is a global sum).
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

#[test]
fn airfoil_from_a_mesh_file_matches_the_rank_0_path_on_1_to_4_ranks_and_any_partitioner() {
    let dir = tempfile::tempdir().unwrap();
    let (i, j) = (60, 90);
    let file = convert(dir.path(), i, j);
    let file = file.to_str().unwrap();
    let (is, js) = (i.to_string(), j.to_string());
    let base = airfoil(1, &["--iters", "100", "--i", &is, "--j", &js]);
    let want = final_rms(&base);
    assert!(want > 0.0 && want.is_finite());
    let mut runs = Vec::new();
    for np in 1..=4 {
        runs.push((np, "rcb"));
    }
    runs.push((3, "block"));
    for (np, part) in runs {
        let out = airfoil(
            np,
            &["--iters", "100", "--mesh-bin", file, "--partitioner", part],
        );
        assert!(out.stdout.contains("mesh: parallel path"), "{}", out.stdout);
        let got = final_rms(&out);
        assert!(
            close(got, want),
            "{np} ranks, {part}: rms {got:e}, rank-0 path {want:e}"
        );
    }
    for (np, part) in [(2, "metis"), (4, "block")] {
        let out = airfoil(
            np,
            &[
                "--iters",
                "100",
                "--i",
                &is,
                "--j",
                &js,
                "--partitioner",
                part,
            ],
        );
        assert!(out.stdout.contains("mesh: rank-0 path"), "{}", out.stdout);
        let got = final_rms(&out);
        assert!(
            close(got, want),
            "rank-0 path, {np} ranks, {part}: rms {got:e} vs {want:e}"
        );
    }
}

#[test]
fn standard_mesh_from_the_file_matches_op2_at_100_iterations_on_3_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let file = convert(dir.path(), 400, 600);
    let out = airfoil(3, &["--iters", "100", "--mesh-bin", file.to_str().unwrap()]);
    assert!(
        out.stdout.lines().any(|l| l == " 100  5.02186e-04 "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "720000 cells, 721801 nodes, 1438600 edges, 2800 boundary edges on 3 rank(s)"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn a_bad_mesh_file_is_a_clear_error_on_every_rank() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.op2mesh");
    std::fs::write(&bad, b"OP2MESH1 but then nothing sensible").unwrap();
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(
            2,
            "airfoil",
            &["--mesh-bin", bad.to_str().unwrap()],
            cache.path(),
        ),
        Duration::from_secs(120),
    );
    assert!(!out.success());
    assert!(out.stderr.contains("outside the file"), "{}", out.stderr);
    assert!(out.stderr.contains("op2: rank 1: error:"), "{}", out.stderr);
    assert!(!out.stderr.contains("MPI_Abort"), "{}", out.stderr);
}

#[test]
fn metis_on_the_parallel_path_is_refused_on_every_rank() {
    let dir = tempfile::tempdir().unwrap();
    let file = convert(dir.path(), 10, 10);
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(
            2,
            "airfoil",
            &[
                "--mesh-bin",
                file.to_str().unwrap(),
                "--partitioner",
                "metis",
            ],
            cache.path(),
        ),
        Duration::from_secs(120),
    );
    assert!(!out.success());
    assert!(
        out.stderr.contains("METIS runs on the rank-0 path only"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("op2: rank 1: error:"), "{}", out.stderr);
}
