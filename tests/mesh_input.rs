//! Mesh input on the parallel path: Airfoil from an op2 mesh file (`op2 mesh convert`), read
//! in blocks by every rank, partitioned in parallel or by the user's choice, gives the same
//! residuals as the rank-0 path on 1 to 4 ranks and with every partitioner.
mod common;
use common::airfoil::final_rms;
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

fn close(a: f64, b: f64) -> bool {
    // Summation order differs between partitions (the rms is a global sum).
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

#[test]
#[ignore = "slow: many Airfoil runs (about 30 s loaded); scripts/test.sh runs it"]
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
#[ignore = "slow: 100 iterations of the 720000-cell mesh; scripts/test.sh runs it"]
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

/// The edge cut Airfoil reports (`mesh: ... edge cut N; ...`).
fn edge_cut(out: &common::Outcome) -> u64 {
    let l = out
        .stdout
        .lines()
        .find(|l| l.starts_with("mesh: ") && l.contains("edge cut "))
        .unwrap_or_else(|| panic!("no edge cut\n{}", out.stdout));
    let rest = &l[l.find("edge cut ").unwrap() + "edge cut ".len()..];
    rest.split(';').next().unwrap().parse().unwrap()
}

/// METIS on the parallel path (one map's rows gathered to rank 0, owners scattered back) gives
/// the rank-0 path's METIS partition: the same edge cut, and the same answer.
#[test]
#[ignore = "slow: METIS and Airfoil runs at 2 and 4 ranks (about a minute loaded); scripts/test.sh runs it"]
fn metis_on_the_parallel_path_matches_the_rank_0_path_on_2_and_4_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let (i, j) = (60, 90);
    let file = convert(dir.path(), i, j);
    let f = file.to_str().unwrap();
    let (is, js) = (i.to_string(), j.to_string());
    for np in [2, 4] {
        let args = ["--iters", "100", "--partitioner", "metis"];
        let root = airfoil(np, &[&args[..], &["--i", &is, "--j", &js]].concat());
        let par = airfoil(np, &[&args[..], &["--mesh-bin", f]].concat());
        assert!(
            par.stdout
                .contains("mesh: parallel path, partitioner Metis"),
            "{}",
            par.stdout
        );
        assert!(
            root.stdout.contains("mesh: rank-0 path, partitioner Metis"),
            "{}",
            root.stdout
        );
        let (cut, want) = (edge_cut(&par), edge_cut(&root));
        assert!(cut > 0, "{np} ranks: no cut edges\n{}", par.stdout);
        assert_eq!(
            cut, want,
            "{np} ranks: parallel METIS cut {cut}, rank-0 METIS {want}"
        );
        let (got, want) = (final_rms(&par), final_rms(&root));
        assert!(
            close(got, want),
            "{np} ranks: rms {got:e}, rank-0 path {want:e}"
        );
    }
}

/// Peak RSS of rank 0 and the largest of the other ranks (MiB), from Airfoil's `mesh:` line.
fn peak_rss(out: &common::Outcome) -> (f64, f64) {
    let l = out
        .stdout
        .lines()
        .find(|l| l.starts_with("mesh: peak RSS rank 0 "))
        .unwrap_or_else(|| panic!("no peak RSS line\n{}", out.stdout));
    let num = |s: &str| s.trim_end_matches(" MiB").parse::<f64>().unwrap();
    let rest = &l["mesh: peak RSS rank 0 ".len()..];
    match rest.split_once(", other ranks ") {
        None => (num(rest), 0.0),
        Some((r0, others)) => (num(r0), num(others.split_once("..").unwrap().1)),
    }
}

/// The memory goal of the parallel path: for a fixed mesh no rank's peak grows with the number
/// of ranks, and rank 0 holds no more than the others (here: within 1.5x); on one rank the peak
/// is the mesh and its Dats, not copies of them. A 1.6M-cell mesh, so that the mesh, not the
/// process, dominates the peak.
#[test]
#[ignore = "slow: a 1.6M-cell mesh at 1, 2 and 4 ranks; scripts/test.sh runs it"]
fn parallel_path_peak_memory_per_rank_does_not_grow_with_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let (i, j) = (600usize, 900usize);
    let file = convert(dir.path(), i, j);
    let f = file.to_str().unwrap();
    let run = |np: usize| airfoil(np, &["--iters", "1", "--progress", "0", "--mesh-bin", f]);
    let out = run(1);
    let (one, _) = peak_rss(&out);
    // What one rank must hold: the maps pcell (4 per cell), pedge and pecell (2 + 2 per edge),
    // pbedge and pbecell (2 + 1 per boundary edge) as i32, p_x (2 per node) and p_q (4 per
    // cell) as f64, p_bound as i32.
    let sizes: Vec<f64> = out
        .stdout
        .lines()
        .find(|l| l.starts_with("airfoil: ") && l.contains(" cells, "))
        .unwrap_or_else(|| panic!("no sizes line\n{}", out.stdout))["airfoil: ".len()..]
        .split(", ")
        .take(4)
        .map(|w| w.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    let (cells, nodes, edges, bedges) = (sizes[0], sizes[1], sizes[2], sizes[3]);
    let mesh_mib = (4.0 * (4.0 * cells + 4.0 * edges + 4.0 * bedges)
        + 8.0 * (2.0 * nodes + 4.0 * cells))
        / 1048576.0;
    // Measured: the mesh plus 20 MiB (the process itself); reading and migrating through
    // copies gave 1.9x the mesh.
    assert!(
        one <= 1.2 * mesh_mib + 30.0,
        "1 rank: peak {one:.1} MiB for a mesh of {mesh_mib:.1} MiB"
    );
    for np in [2, 4] {
        let (r0, others) = peak_rss(&run(np));
        let max = r0.max(others);
        // Measured: 1.03x at 2 ranks (each rank's half plus global ids, owners and freed heap
        // pages glibc keeps), 0.59x at 4.
        let limit = if np == 2 { 1.1 } else { 0.75 };
        assert!(
            max <= limit * one,
            "{np} ranks: peak {max:.1} MiB, 1 rank {one:.1} MiB (limit {limit}x)"
        );
        assert!(
            r0 <= 1.5 * others,
            "{np} ranks: rank 0 {r0:.1} MiB, others up to {others:.1} MiB"
        );
    }
}
