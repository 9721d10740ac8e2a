//! Airfoil, op2's flagship solver, against OP2's published residual history.
mod common;
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

/// The standard mesh for the 1000-iteration runs, as Airfoil arguments: with the `hdf5`
/// feature, OP2's HDF5 layout converted here (`op2 mesh convert`) from the generated standard
/// mesh the other tests use, read in parallel (`--mesh-h5`); without it, generated on rank 0.
fn standard_mesh(dir: &std::path::Path) -> Vec<String> {
    if cfg!(feature = "hdf5") {
        let h5 = dir.join("new_grid.h5");
        let mut c = std::process::Command::new(common::bin("op2"));
        c.args(["mesh", "convert", "--naca", "400", "600", "-o"])
            .arg(&h5);
        common::run(c, Duration::from_secs(300)).assert_ok();
        vec!["--mesh-h5".into(), h5.to_str().unwrap().into()]
    } else {
        Vec::new()
    }
}

/// 1000 iterations of the standard mesh (from HDF5 where built in) on `np` ranks with
/// `OP2_THREADS=threads`: OP2's residual history and the PASSED line.
fn full_run_passes(np: usize, threads: Option<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = standard_mesh(dir.path());
    args.extend(["--progress".to_string(), "0".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = airfoil_threads(np, &args, 1500, threads);
    assert_history(&out, 10);
    if cfg!(feature = "hdf5") {
        assert!(out.stdout.contains("mesh: parallel path"), "{}", out.stdout);
    }
    assert!(
        out.stdout.contains("This test is considered PASSED"),
        "{}",
        out.stdout
    );
}

#[test]
#[ignore = "slow (full benchmark); scripts/test.sh runs it with --include-ignored"]
fn full_1000_iterations_on_one_rank_with_two_threads_from_hdf5_pass() {
    // Issue 13: Airfoil PASSED with threads at 1 rank (the ASCII rank-0 path is checked
    // against OP2 at 100 iterations above; one 1000-iteration run per rank count keeps the
    // suite's time down).
    full_run_passes(1, Some(2));
}

#[test]
fn first_100_iterations_on_two_ranks_with_two_threads_match_op2() {
    // The 100-iteration residual of 2 ranks x 2 threads equals OP2's (and the 1-thread run's)
    // to the 6 printed digits.
    let out = airfoil_threads(2, &["--iters", "100"], 600, Some(2));
    assert_history(&out, 1);
}

#[test]
#[ignore = "slow (full benchmark); scripts/test.sh runs it with --include-ignored"]
fn full_1000_iterations_on_four_ranks_from_hdf5_pass() {
    full_run_passes(4, None);
}

#[test]
#[ignore = "slow (full benchmark); scripts/test.sh runs it with --include-ignored"]
fn full_1000_iterations_on_three_ranks_from_hdf5_pass() {
    full_run_passes(3, None);
}

#[test]
#[ignore = "slow (full benchmark); scripts/test.sh runs it with --include-ignored"]
fn full_1000_iterations_on_two_ranks_with_two_threads_from_hdf5_pass() {
    // Issue 13: Airfoil PASSED with threads at 2 ranks.
    full_run_passes(2, Some(2));
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
