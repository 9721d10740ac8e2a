//! OP2's HDF5 mesh layout end to end: `op2 mesh convert` writes it (from OP2's ASCII
//! `new_grid.dat`, an op2 mesh file or a generated mesh), every rank reads its own block with
//! collective MPI-IO, and the distributed mesh and Airfoil's answers equal the rank-0 path's on
//! 1 to 4 ranks, a rank that owns (or reads) nothing included; bad files are clear errors on
//! every rank. (Built with the default `hdf5` feature.)
mod common;
use common::airfoil::final_rms;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use op2::mesh::{airfoil_constants, naca0012, AirfoilMesh, H5Writer};

fn convert(args: &[&str], out: &Path) {
    let mut c = Command::new(common::bin("op2"));
    c.args(["mesh", "convert"]).args(args).arg("-o").arg(out);
    let o = common::run(c, Duration::from_secs(300));
    o.assert_ok();
    assert!(o.stdout.contains("wrote "), "{}", o.stdout);
}

fn run(np: usize, program: &str, args: &[&str], secs: u64) -> common::Outcome {
    let cache = common::cache_dir();
    common::run(
        common::mpiexec(np, program, args, cache.path()),
        Duration::from_secs(secs),
    )
}

fn close(a: f64, b: f64) -> bool {
    // Summation order differs between partitions (the rms is a global sum).
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

#[test]
#[ignore = "slow: 13 MPI jobs (about a minute loaded); scripts/test.sh runs it"]
fn hdf5_round_trip_on_1_to_4_ranks_equals_the_written_mesh_and_the_rank_0_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("naca.h5");
    convert(&["--naca", "30", "40"], &file);
    let f = file.to_str().unwrap();
    let mut cases: Vec<(usize, Vec<&str>)> = (1..=4).map(|np| (np, vec![])).collect();
    cases.push((3, vec!["--partitioner", "block"]));
    // A user partition in which the last rank owns no cell: the local layout must equal the
    // rank-0 path's with the same owners.
    for np in 2..=4 {
        cases.push((np, vec!["--owners"]));
    }
    for (np, extra) in cases {
        let mut args = vec![f, "--naca", "30", "40"];
        args.extend(&extra);
        let out = run(np, "op2-h5-check", &args, 300);
        out.assert_ok();
        assert!(
            out.stdout.contains(&format!("h5 check ok on {np} rank(s)")),
            "{np} ranks {extra:?}\n{}",
            out.stdout
        );
        if extra == ["--owners"] {
            assert!(
                out.stdout
                    .contains(&format!("rank {}: owns 0 cells", np - 1)),
                "{}",
                out.stdout
            );
        }
    }
    // Two cells on 3 and 4 ranks: some ranks read no rows (empty collective selections).
    for (np, extra) in [(1, vec![]), (3, vec![]), (4, vec!["--owners"])] {
        let tiny = dir.path().join(format!("tiny{np}.h5"));
        let mut args = vec![tiny.to_str().unwrap(), "--tiny"];
        args.extend(&extra);
        let out = run(np, "op2-h5-check", &args, 120);
        out.assert_ok();
        assert!(
            out.stdout.contains(&format!("h5 check ok on {np} rank(s)")),
            "{}",
            out.stdout
        );
    }
}

#[test]
#[ignore = "slow: six 100-iteration Airfoil runs (about a minute loaded); scripts/test.sh runs it"]
fn airfoil_from_hdf5_matches_the_ascii_rank_0_path_with_every_parallel_partitioner() {
    let dir = tempfile::tempdir().unwrap();
    let ascii = dir.path().join("new_grid.dat");
    naca0012(60, 90).unwrap().write_op2(&ascii).unwrap();
    let (h5, bin, h5_from_bin) = (
        dir.path().join("new_grid.h5"),
        dir.path().join("grid.op2mesh"),
        dir.path().join("from_bin.h5"),
    );
    convert(&[ascii.to_str().unwrap()], &h5);
    convert(&[ascii.to_str().unwrap()], &bin);
    convert(&[bin.to_str().unwrap()], &h5_from_bin);
    let base = run(
        1,
        "airfoil",
        &["--iters", "100", "--mesh", ascii.to_str().unwrap()],
        600,
    );
    base.assert_ok();
    let want = final_rms(&base);
    assert!(want > 0.0 && want.is_finite());
    for (np, part, file) in [
        (1, "rcb", &h5),
        (2, "rcb", &h5),
        (3, "block", &h5),
        (4, "parallel-rcb", &h5),
        (2, "rcb", &h5_from_bin),
    ] {
        let out = run(
            np,
            "airfoil",
            &[
                "--iters",
                "100",
                "--mesh-h5",
                file.to_str().unwrap(),
                "--partitioner",
                part,
            ],
            600,
        );
        out.assert_ok();
        assert!(out.stdout.contains("mesh: parallel path"), "{}", out.stdout);
        let got = final_rms(&out);
        assert!(
            close(got, want),
            "{np} ranks, {part}, {}: rms {got:e}, ASCII rank-0 path {want:e}",
            file.display()
        );
    }
}

#[test]
#[ignore = "slow: two 100-iteration runs of the 720000-cell mesh (over a minute loaded); scripts/test.sh runs it"]
fn standard_airfoil_from_hdf5_at_100_iterations_matches_the_ascii_rank_0_path() {
    let dir = tempfile::tempdir().unwrap();
    let ascii = dir.path().join("new_grid.dat");
    naca0012(op2::mesh::STANDARD_I, op2::mesh::STANDARD_J)
        .unwrap()
        .write_op2(&ascii)
        .unwrap();
    let h5 = dir.path().join("new_grid.h5");
    convert(&[ascii.to_str().unwrap()], &h5);
    let base = run(
        1,
        "airfoil",
        &["--iters", "100", "--mesh", ascii.to_str().unwrap()],
        600,
    );
    base.assert_ok();
    let out = run(
        2,
        "airfoil",
        &["--iters", "100", "--mesh-h5", h5.to_str().unwrap()],
        600,
    );
    out.assert_ok();
    for o in [&base, &out] {
        assert!(
            o.stdout.lines().any(|l| l == " 100  5.02186e-04 "),
            "{}",
            o.stdout
        );
    }
    assert!(
        out.stdout.contains(
            "720000 cells, 721801 nodes, 1438600 edges, 2800 boundary edges on 2 rank(s)"
        ),
        "{}",
        out.stdout
    );
    assert!(close(final_rms(&out), final_rms(&base)));
}

fn check_h5_py(args: &[&Path]) -> String {
    let out = Command::new("python3")
        .arg("scripts/check_h5.py")
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
#[ignore = "slow: h5py and two Airfoil runs (about 30 s loaded); scripts/test.sh runs it"]
fn an_independent_hdf5_library_reads_our_layout_and_we_read_its_file() {
    // h5py (scripts/setup.sh installs it) brings its own HDF5 library.
    let dir = tempfile::tempdir().unwrap();
    let ascii = dir.path().join("new_grid.dat");
    naca0012(30, 40).unwrap().write_op2(&ascii).unwrap();
    let (ours, theirs) = (dir.path().join("ours.h5"), dir.path().join("theirs.h5"));
    convert(&[ascii.to_str().unwrap()], &ours);
    let check = check_h5_py(&[Path::new("check"), &ascii, &ours]);
    assert!(check.starts_with("h5 layout ok"), "{check}");
    // A file OP2's way, written without op2, gives the ASCII rank-0 path's answer.
    check_h5_py(&[Path::new("write"), &ascii, &theirs]);
    let base = run(
        1,
        "airfoil",
        &["--iters", "50", "--mesh", ascii.to_str().unwrap()],
        300,
    );
    base.assert_ok();
    let out = run(
        3,
        "airfoil",
        &["--iters", "50", "--mesh-h5", theirs.to_str().unwrap()],
        300,
    );
    out.assert_ok();
    assert!(close(final_rms(&out), final_rms(&base)), "{}", out.stdout);
}

/// An Airfoil HDF5 file like `AirfoilMesh::write_h5`'s, with one thing broken by `bad`.
fn write_variant(path: &Path, m: &AirfoilMesh, bad: &str) {
    let mut w = H5Writer::create(path).unwrap();
    for (name, n) in [
        ("nodes", m.nnode),
        ("edges", m.nedge),
        ("bedges", m.nbedge),
        ("cells", m.ncell),
    ] {
        w.set(name, n).unwrap();
    }
    let mut edge = m.edge.clone();
    if bad == "out-of-range" {
        // The last edge: read by the last rank only.
        *edge.last_mut().unwrap() = m.nnode as i32;
    }
    w.map("pedge", 2, &edge).unwrap();
    w.map("pecell", 2, &m.ecell).unwrap();
    w.map("pbedge", 2, &m.bedge).unwrap();
    w.map("pbecell", 1, &m.becell).unwrap();
    match bad {
        "missing" => {}
        "shape" => {
            let three: Vec<i32> = m.cell.chunks(4).flat_map(|c| c[..3].to_vec()).collect();
            w.map("pcell", 3, &three).unwrap();
        }
        _ => w.map("pcell", 4, &m.cell).unwrap(),
    }
    w.dat("p_bound", 1, &m.bound).unwrap();
    if bad == "type" {
        let xi: Vec<i32> = m.x.iter().map(|&v| v as i32).collect();
        w.dat("p_x", 2, &xi).unwrap();
    } else {
        w.dat("p_x", 2, &m.x).unwrap();
    }
    let q: Vec<f64> = airfoil_constants()[6]
        .1
        .iter()
        .copied()
        .cycle()
        .take(4 * m.ncell)
        .collect();
    w.dat("p_q", 4, &q).unwrap();
    for (name, v) in airfoil_constants() {
        w.constant(name, &v).unwrap();
    }
    w.finish().unwrap();
}

fn airfoil_fails(np: usize, file: &Path) -> common::Outcome {
    let out = run(
        np,
        "airfoil",
        &["--iters", "1", "--mesh-h5", file.to_str().unwrap()],
        120,
    );
    assert!(!out.success(), "{}", out.stdout);
    // Every rank reports it and the job ends cleanly (no rank left waiting, no abort).
    for r in 0..np {
        assert!(
            out.stderr.contains(&format!("op2: rank {r}: error:")),
            "rank {r}\n{}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains("MPI_Abort"), "{}", out.stderr);
    out
}

#[test]
fn bad_hdf5_files_are_clear_errors_naming_file_and_dataset_on_every_rank() {
    let dir = tempfile::tempdir().unwrap();
    let m = naca0012(10, 10).unwrap();
    let missing = dir.path().join("nonexistent.h5");
    let out = airfoil_fails(2, &missing);
    assert!(out.stderr.contains("nonexistent.h5"), "{}", out.stderr);

    let garbage = dir.path().join("garbage.h5");
    std::fs::write(&garbage, b"not HDF5 at all, just some bytes").unwrap();
    let out = airfoil_fails(2, &garbage);
    assert!(out.stderr.contains("not an HDF5 file"), "{}", out.stderr);
    assert!(out.stderr.contains("garbage.h5"), "{}", out.stderr);

    let cases: [(&str, usize, &[&str]); 4] = [
        ("missing", 2, &["dataset `pcell`: not in the file"]),
        (
            "shape",
            3,
            &["dataset `pcell`: shape [300, 3]: arity 3, the program expects 4"],
        ),
        ("type", 2, &["dataset `p_x`: stored as int, read as double"]),
        (
            "out-of-range",
            3,
            &[
                "dataset `pedge`: value 341 at element 569, slot 1",
                "outside the target set `nodes` [0, 341)",
            ],
        ),
    ];
    for (bad, np, wants) in cases {
        let path: PathBuf = dir.path().join(format!("{bad}.h5"));
        write_variant(&path, &m, bad);
        let out = airfoil_fails(np, &path);
        for want in wants {
            assert!(
                out.stderr.contains(want),
                "{bad}: want `{want}`\n{}",
                out.stderr
            );
        }
        assert!(
            out.stderr.contains(&format!("{bad}.h5")),
            "{bad}: the file is named\n{}",
            out.stderr
        );
    }
    // The out-of-range value lies in the last rank's block; rank 0 prints the full message.
    let oor = airfoil_fails(3, &dir.path().join("out-of-range.h5"));
    assert!(
        oor.stderr
            .contains("op2: rank 0: error: rank 2 failed: invalid argument to H5MeshFile("),
        "{}",
        oor.stderr
    );
}
