//! Proof of the generated NACA0012 mesh: OP2's `new_grid.dat`, written by `op2::mesh`, run
//! through the plain C Airfoil reference (`bench/airfoil_ref.c` with the kernels of
//! `src/bin/airfoil/kernels.c`) must reproduce OP2's published residual history.
//!
//! The 1000-iteration run takes about a minute: it is in the slow tier (`scripts/test.sh`).
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

use op2::mesh::{naca0012, AirfoilMesh, STANDARD_I, STANDARD_J};

/// OP2's published Airfoil history on `new_grid.dat` (`" %d  %10.5e"` every 100 iterations).
const OP2_HISTORY: [(u32, &str); 10] = [
    (100, "5.02186e-04"),
    (200, "3.41746e-04"),
    (300, "2.63430e-04"),
    (400, "2.16288e-04"),
    (500, "1.84659e-04"),
    (600, "1.60866e-04"),
    (700, "1.42253e-04"),
    (800, "1.27627e-04"),
    (900, "1.15810e-04"),
    (1000, "1.06011e-04"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cc() -> String {
    std::env::var("OP2_CC")
        .or_else(|_| std::env::var("CC"))
        .unwrap_or_else(|_| "cc".into())
}

/// Compile C `sources` into `exe` with the flags given; panic with the compiler's output.
fn compile(sources: &[&Path], exe: &Path, flags: &[&str]) {
    let out = Command::new(cc())
        .args(flags)
        .arg("-o")
        .arg(exe)
        .args(sources)
        .arg("-lm")
        .output()
        .expect("run the C compiler");
    assert!(
        out.status.success(),
        "compiling {sources:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Build the reference solver in `dir`.
fn airfoil_ref(dir: &Path) -> PathBuf {
    let exe = dir.join("airfoil_ref");
    compile(
        &[&root().join("bench/airfoil_ref.c")],
        &exe,
        &["-O3", "-std=c99", "-Wall", "-Wextra"],
    );
    exe
}

/// Write OP2's standard mesh into `dir`.
fn standard_mesh(dir: &Path) -> PathBuf {
    let path = dir.join("new_grid.dat");
    naca0012(STANDARD_I, STANDARD_J)
        .unwrap()
        .write_op2(&path)
        .unwrap();
    path
}

/// Run the reference; returns (stdout, the printed history as (iteration, rms text)).
fn run_ref(exe: &Path, mesh: &Path, iterations: u32) -> (String, Vec<(u32, String)>) {
    let out = Command::new(exe)
        .arg(mesh)
        .arg(iterations.to_string())
        .output()
        .expect("run airfoil_ref");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "airfoil_ref failed ({:?})\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let history = stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [it, rms] => Some((it.parse().ok()?, rms.to_string())),
                _ => None,
            }
        })
        .collect();
    (stdout, history)
}

#[test]
fn kernels_compile_cleanly_on_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let obj = dir.path().join("kernels.o");
    let out = Command::new(cc())
        .args([
            "-std=c99",
            "-O3",
            "-Wall",
            "-Wextra",
            "-pedantic",
            "-Werror",
            "-c",
        ])
        .arg(root().join("src/bin/airfoil/kernels.c"))
        .arg("-o")
        .arg(&obj)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn c_parses_exactly_the_coordinates_rust_holds() {
    // fscanf("%lf") of the written file, bit for bit equal to the in-memory mesh.
    let dir = tempfile::tempdir().unwrap();
    let mesh = naca0012(40, 30).unwrap();
    let grid = dir.path().join("grid.dat");
    mesh.write_op2(&grid).unwrap();
    let src = dir.path().join("dump.c");
    std::fs::write(
        &src,
        r#"#include <stdio.h>
int main(int argc, char **argv) {
    FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "wb");
    int nnode, ncell, nedge, nbedge;
    if (!in || !out || fscanf(in, "%d %d %d %d", &nnode, &ncell, &nedge, &nbedge) != 4) return 1;
    for (int n = 0; n < 2 * nnode; n++) {
        double v;
        if (fscanf(in, "%lf", &v) != 1 || fwrite(&v, sizeof v, 1, out) != 1) return 1;
    }
    return fclose(out);
}
"#,
    )
    .unwrap();
    let exe = dir.path().join("dump");
    compile(&[&src], &exe, &["-O2"]);
    let bin = dir.path().join("x.bin");
    assert!(Command::new(&exe)
        .arg(&grid)
        .arg(&bin)
        .status()
        .unwrap()
        .success());
    let bytes = std::fs::read(&bin).unwrap();
    let c: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
        .collect();
    let rust: Vec<u64> = mesh.x.iter().map(|v| v.to_bits()).collect();
    assert_eq!(c.len(), rust.len());
    assert!(c == rust, "C and Rust disagree on some coordinate");
}

#[test]
fn standard_mesh_round_trips_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = standard_mesh(dir.path());
    let back = AirfoilMesh::read_op2(&path).unwrap();
    assert_eq!(
        (back.nnode, back.ncell, back.nedge, back.nbedge),
        (721_801, 720_000, 1_438_600, 2_800)
    );
    assert!(back == naca0012(STANDARD_I, STANDARD_J).unwrap());
}

#[test]
#[ignore = "slow: 100 iterations of OP2's C reference on the 720000-cell mesh (about 30 s loaded); scripts/test.sh runs it"]
fn airfoil_reference_matches_op2_at_100_iterations() {
    let dir = tempfile::tempdir().unwrap();
    let exe = airfoil_ref(dir.path());
    let mesh = standard_mesh(dir.path());
    let (stdout, history) = run_ref(&exe, &mesh, 100);
    assert_eq!(
        history,
        vec![(100, OP2_HISTORY[0].1.to_string())],
        "\n{stdout}"
    );
}

#[test]
#[ignore = "slow: 1000 iterations of OP2's C reference (about a minute); scripts/test.sh runs it"]
fn airfoil_reference_matches_op2_history_over_1000_iterations() {
    let dir = tempfile::tempdir().unwrap();
    let exe = airfoil_ref(dir.path());
    let mesh = standard_mesh(dir.path());
    let (stdout, history) = run_ref(&exe, &mesh, 1000);
    println!("{stdout}");
    let want: Vec<(u32, String)> = OP2_HISTORY
        .iter()
        .map(|&(i, r)| (i, r.to_string()))
        .collect();
    assert_eq!(history, want, "\n{stdout}");
    assert!(stdout.lines().any(|l| l == "PASSED"), "\n{stdout}");
}

#[test]
fn airfoil_reference_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let exe = airfoil_ref(dir.path());
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(&exe).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let missing = dir.path().join("missing.dat");
    let (code, err) = run(&[missing.as_os_str()]);
    assert_eq!(code, Some(2), "{err}");

    let grid = dir.path().join("grid.dat");
    let mut m = naca0012(4, 3).unwrap();
    m.write_op2(&grid).unwrap();
    let (code, err) = run(&[grid.as_os_str(), "ten".as_ref()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("iterations"), "{err}");

    let text = std::fs::read_to_string(&grid).unwrap();
    let truncated = dir.path().join("truncated.dat");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let (code, err) = run(&[truncated.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot read"), "{err}");

    // An out-of-range cell index, written around validate() as a broken generator might.
    m.ecell[0] = m.ncell as i32;
    let bad = dir.path().join("bad.dat");
    let body: String = text
        .lines()
        .enumerate()
        .map(|(k, l)| {
            if k == 1 + m.nnode + m.ncell {
                format!(
                    " {} {} {} {} \n",
                    m.edge[0], m.edge[1], m.ecell[0], m.ecell[1]
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&bad, body).unwrap();
    let (code, err) = run(&[bad.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("cell index out of range in interior edge 0"),
        "{err}"
    );
}
