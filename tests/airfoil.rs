//! Airfoil, op2's flagship solver, against OP2's published residual history: one
//! 1000-iteration PASSED gate (4 ranks, slow tier), and other rank and thread counts by
//! equivalence with the 1-rank flow field on 100-iteration runs (`--q-checksum`).
mod common;
use common::airfoil::final_rms;
use std::time::Duration;

const HISTORY: [&str; 10] = [
    "5.02186e-04",
    "3.41746e-04",
    "2.63430e-04",
    "2.16288e-04",
    "1.84659e-04",
    "1.60866e-04",
    "1.42253e-04",
    "1.27627e-04",
    "1.15810e-04",
    "1.06011e-04",
];

fn airfoil(np: usize, args: &[&str], secs: u64) -> common::Outcome {
    airfoil_threads(np, args, secs, None)
}

/// Airfoil with `OP2_THREADS` set (None: op2 decides).
fn airfoil_threads(np: usize, args: &[&str], secs: u64, threads: Option<usize>) -> common::Outcome {
    let cache = common::cache_dir();
    let mut cmd = common::mpiexec(np, "airfoil", args, cache.path());
    if let Some(t) = threads {
        cmd.env("OP2_THREADS", t.to_string());
    }
    let out = common::run(cmd, Duration::from_secs(secs));
    out.assert_ok();
    out
}

fn assert_history(out: &common::Outcome, upto: usize) {
    for (k, want) in HISTORY.iter().enumerate().take(upto) {
        let line = format!(" {}  {want} ", 100 * (k + 1));
        assert!(
            out.stdout.lines().any(|l| l == line),
            "missing `{line}`\n{}",
            out.stdout
        );
    }
}

#[test]
#[ignore = "slow: 100 iterations of the 720000-cell mesh (about 30 s loaded); scripts/test.sh runs it"]
fn first_100_iterations_on_two_ranks_match_op2() {
    let out = airfoil(2, &["--iters", "100"], 600);
    assert_history(&out, 1);
    assert!(
        out.stdout.contains(
            "720000 cells, 721801 nodes, 1438600 edges, 2800 boundary edges on 2 rank(s)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("halo exchange + reductions"),
        "{}",
        out.stdout
    );
}

/// The standard mesh as Airfoil arguments: with the `hdf5` feature, OP2's HDF5 layout
/// converted once per test binary (`common::airfoil`) from the generated standard mesh, read in
/// parallel (`--mesh-h5`); without it, generated on rank 0.
fn standard_mesh() -> Vec<String> {
    if cfg!(feature = "hdf5") {
        let h5 = common::airfoil::standard_h5();
        vec!["--mesh-h5".into(), h5.to_str().unwrap().into()]
    } else {
        Vec::new()
    }
}

/// Airfoil on the standard mesh with `extra` arguments, on `np` ranks x `threads`.
fn standard_run(np: usize, threads: Option<usize>, extra: &[&str], secs: u64) -> common::Outcome {
    let mut args = standard_mesh();
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = airfoil_threads(np, &args, secs, threads);
    if cfg!(feature = "hdf5") {
        assert!(out.stdout.contains("mesh: parallel path"), "{}", out.stdout);
    }
    out
}

/// The one 1000-iteration gate: OP2's whole residual history and the PASSED line, on 4 ranks
/// from HDF5. Other rank and thread counts are checked by equivalence with the 1-rank run
/// (below), which is what their PASSED would follow from.
#[test]
#[ignore = "slow: 1000 iterations of the 720000-cell mesh (minutes); scripts/test.sh runs it"]
fn full_1000_iterations_on_four_ranks_from_hdf5_pass() {
    let out = standard_run(4, None, &["--progress", "0"], 1500);
    assert_history(&out, 10);
    assert!(
        out.stdout.contains("This test is considered PASSED"),
        "{}",
        out.stdout
    );
}

/// `airfoil: q checksum s0 s1 s2 s3 scale a0 a1 a2 a3` (`--q-checksum`): sums and scales.
fn q_checksum(out: &common::Outcome) -> ([f64; 4], [f64; 4]) {
    let l = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("airfoil: q checksum "))
        .unwrap_or_else(|| panic!("no q checksum\n{}", out.stdout));
    let v: Vec<f64> = l
        .split_whitespace()
        .filter(|w| *w != "scale")
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(v.len(), 8, "{l}");
    ([v[0], v[1], v[2], v[3]], [v[4], v[5], v[6], v[7]])
}

/// Relative tolerance of the equivalence runs. Partitions and thread colourings sum each
/// cell's residual increments in other orders, so q differs from the 1-rank run's in the last
/// bits (measured: 5e-16 to 4e-15 of the scale at 3 ranks after 100 iterations); a wrong
/// halo, renumbering or reduction is many orders of magnitude above this.
const EQUIVALENT: f64 = 1e-12;

/// 100 iterations from HDF5 at 2 and 3 ranks, 1 rank x 2 threads and 2 ranks x 2 threads:
/// the flow field's checksum and the final rms equal the 1-rank run's (to rounding), and the
/// rms at 100 is OP2's.
#[test]
#[ignore = "slow: five 100-iteration runs of the 720000-cell mesh; scripts/test.sh runs it"]
fn rank_and_thread_counts_give_the_one_rank_flow_field() {
    let short = ["--iters", "100", "--progress", "0", "--q-checksum"];
    let base = standard_run(1, Some(1), &short, 900);
    assert_history(&base, 1);
    let (want, scale) = q_checksum(&base);
    let want_rms = final_rms(&base);
    assert!(scale.iter().all(|&a| a > 0.0), "q never changed: {scale:?}");
    for (np, threads) in [(2, Some(1)), (3, Some(1)), (1, Some(2)), (2, Some(2))] {
        let out = standard_run(np, threads, &short, 900);
        assert_history(&out, 1);
        let (got, _) = q_checksum(&out);
        for k in 0..4 {
            assert!(
                (got[k] - want[k]).abs() <= EQUIVALENT * scale[k],
                "{np} ranks x {threads:?} threads, component {k}: checksum {:e}, 1 rank {:e} (scale {:e})",
                got[k],
                want[k],
                scale[k]
            );
        }
        let rms = final_rms(&out);
        assert!(
            (rms - want_rms).abs() <= EQUIVALENT * want_rms,
            "{np} ranks x {threads:?} threads: rms {rms:e}, 1 rank {want_rms:e}"
        );
    }
}

/// Threaded loops are deterministic run to run for a fixed thread count: two runs each at
/// 1 rank x 2 and x 4 threads print the same flow-field checksum and final rms to the last bit
/// (per-block reductions combined in block order; each phase's threads write disjoint targets).
#[test]
#[ignore = "slow: four 10-iteration runs of the 720000-cell mesh; scripts/test.sh runs it"]
fn threaded_runs_are_identical_run_to_run() {
    let short = ["--iters", "10", "--progress", "0", "--q-checksum"];
    let line = |out: &common::Outcome, prefix: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line\n{}", out.stdout))
            .to_string()
    };
    for threads in [2, 4] {
        let runs: Vec<(String, String)> = (0..2)
            .map(|_| {
                let out = standard_run(1, Some(threads), &short, 600);
                out.assert_ok();
                (
                    line(&out, "airfoil: q checksum"),
                    line(&out, "airfoil: final rms"),
                )
            })
            .collect();
        assert_eq!(runs[0], runs[1], "{threads} threads: two runs differ");
    }
}

#[test]
fn vtu_opens_in_a_vtk_reader_and_png_is_a_picture() {
    let dir = tempfile::tempdir().unwrap();
    let (vtu, png) = (dir.path().join("out.vtu"), dir.path().join("mach.png"));
    let out = airfoil(
        2,
        &[
            "--i",
            "40",
            "--j",
            "60",
            "--iters",
            "50",
            "--vtu",
            vtu.to_str().unwrap(),
            "--png",
            png.to_str().unwrap(),
        ],
        300,
    );
    assert!(out.stdout.contains("wrote"), "{}", out.stdout);
    // An independent reader: meshio (installed by scripts/setup.sh).
    let check = std::process::Command::new("python3")
        .arg("scripts/check_vtu.py")
        .arg(&vtu)
        .args(["7200", "7381"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("vtu ok: 7200 quads"));
    // The PNG decodes, has the expected size and shows a field, not a blank.
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1040, 500));
    let colours: std::collections::HashSet<&[u8]> =
        buf[..info.buffer_size()].chunks_exact(3).collect();
    assert!(
        colours.len() > 50,
        "only {} distinct colours",
        colours.len()
    );
}

#[test]
fn a_missing_mesh_file_is_a_clear_error_on_every_rank() {
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(
            2,
            "airfoil",
            &["--mesh", "/nonexistent/grid.dat"],
            cache.path(),
        ),
        Duration::from_secs(60),
    );
    assert!(!out.success());
    assert!(
        out.stderr.contains("/nonexistent/grid.dat"),
        "{}",
        out.stderr
    );
}

/// Issue 22 (12): absurd meshes used to run to `rms NaN` and exit 0. A coordinate of 1e308
/// (finite, so it passes validation) makes the solution blow up: Airfoil now stops at the first
/// non-finite residual with a non-zero exit on every rank; an empty mesh and a degenerate cell
/// are errors naming the file and line.
#[test]
fn absurd_meshes_fail_instead_of_running_to_nan() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.dat");
    op2::mesh::naca0012(12, 8)
        .unwrap()
        .write_op2(&good)
        .unwrap();
    let text = std::fs::read_to_string(&good).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let huge = dir.path().join("huge.dat");
    lines[5] = " 1e308 1.0 ";
    std::fs::write(&huge, lines.join("\n") + "\n").unwrap();
    let empty = dir.path().join("empty.dat");
    std::fs::write(&empty, " 0 0 0 0 \n").unwrap();
    let run = |np: usize, mesh: &std::path::Path| {
        let cache = common::cache_dir();
        let args = ["--mesh", mesh.to_str().unwrap(), "--iters", "200"];
        common::run(
            common::mpiexec(np, "airfoil", &args, cache.path()),
            Duration::from_secs(120),
        )
    };
    for np in [1, 3] {
        let out = run(np, &huge);
        assert!(!out.success(), "{np} ranks\n{}", out.stdout);
        assert!(!out.stdout.contains("NaN"), "{}", out.stdout);
        for r in 0..np {
            assert!(
                out.stderr.contains(&format!("op2: rank {r}: error:"))
                    && out.stderr.contains("the rms residual is"),
                "{np} ranks, rank {r}\n{}",
                out.stderr
            );
        }
        let out = run(np, &empty);
        assert!(!out.success());
        assert!(
            out.stderr
                .contains("empty.dat:1: an empty mesh (0 nodes, 0 cells)"),
            "{}",
            out.stderr
        );
    }
    // The unmodified mesh runs (the check does not refuse real meshes).
    run(1, &good).assert_ok();
}
