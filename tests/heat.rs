//! The guide's first solver (`examples/heat.rs`, shown verbatim in docs/GUIDE.md): it
//! conserves the total heat (zero-flux boundaries), gives the same answer on 1 and 3 ranks,
//! and its VTU (rank 0) and PVTU (one piece per rank) open in an independent reader (meshio,
//! through scripts/check_vtk.py) with the same mesh and fields.
mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// (initial total, final total, initial max, final max) printed by the solver.
fn run_heat(np: usize, out: &Path) -> (f64, f64, f64, f64) {
    let cache = common::cache_dir();
    let o = common::run(
        common::mpiexec(
            np,
            "heat",
            &[
                "--n",
                "16",
                "--steps",
                "100",
                "--out",
                out.to_str().unwrap(),
            ],
            cache.path(),
        ),
        Duration::from_secs(240),
    );
    o.assert_ok();
    let line = o
        .stdout
        .lines()
        .find(|l| l.starts_with("heat: total"))
        .unwrap_or_else(|| panic!("no total line\n{}", o.stdout));
    // heat: total A -> B, max C -> D
    let nums: Vec<f64> = line
        .split([' ', ','])
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 4, "{line}");
    (nums[0], nums[1], nums[2], nums[3])
}

fn check(path: &Path) -> Value {
    let o = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check_vtk.py"))
        .arg(path)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}: {}{}",
        path.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn heat_is_conserved_and_agrees_across_1_and_3_ranks_and_its_output_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let (one, three) = (dir.path().join("one"), dir.path().join("three"));
    let (h0, h1, m0, m1) = run_heat(1, &one);
    // Conservation: zero-flux boundaries, lumped mass, rows of K summing to zero.
    assert!(close(h0, h1, 1e-12), "total heat {h0} -> {h1}");
    assert!(m1 < 0.5 * m0 && m1 > 0.0, "the peak diffuses: {m0} -> {m1}");
    let (t0, t1, n0, n1) = run_heat(3, &three);
    for (a, b) in [(h0, t0), (h1, t1), (m0, n0), (m1, n1)] {
        assert!(close(a, b, 1e-12), "1 rank {a} vs 3 ranks {b}");
    }

    // Output: 16 x 16 squares -> 512 triangles, 289 nodes, area 1.
    let mut summaries = Vec::new();
    for (base, pieces) in [(&one, 1), (&three, 3)] {
        for ext in ["vtu", "pvtu"] {
            let s = check(&base.with_extension(ext));
            let want_pieces = if ext == "vtu" { 1 } else { pieces };
            assert_eq!(s["pieces"], want_pieces, "{ext} {s}");
            assert_eq!(s["cells"], 512, "{ext} {s}");
            assert_eq!(s["points"], 289, "{ext} {s}");
            assert!(close(s["area"].as_f64().unwrap(), 1.0, 1e-12), "{s}");
            // The fields as written give the solver's totals back.
            let mass = s["point_fields"]["mass"]["sum"].as_f64().unwrap();
            assert!(
                close(mass, 1.0, 1e-12),
                "lumped masses sum to the area: {s}"
            );
            let heat = s["dot"]["mass*u"].as_f64().unwrap();
            assert!(
                close(heat, h1, 1e-12),
                "sum of mass * u = {heat}, solver said {h1}"
            );
            let umax = s["point_fields"]["u"]["max"].as_f64().unwrap();
            assert!(close(umax, m1, 1e-12), "{s}");
            summaries.push(s);
        }
    }
    for s in &summaries[1..] {
        for f in ["mass", "u"] {
            let (a, b) = (
                summaries[0]["point_fields"][f]["sum"].as_f64().unwrap(),
                s["point_fields"][f]["sum"].as_f64().unwrap(),
            );
            assert!(close(a, b, 1e-12), "{f}: {a} vs {b}");
        }
    }
    assert!(three.with_extension("pvtu").exists());
    for r in 0..3 {
        assert!(
            dir.path().join(format!("three_{r}.vtu")).exists(),
            "piece {r}"
        );
    }
}

#[test]
fn the_guide_shows_the_example_as_it_is() {
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/GUIDE.md")).unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/heat.rs")).unwrap();
    let block = guide
        .split("```rust\n")
        .skip(1)
        .map(|b| b.split("\n```").next().unwrap())
        .find(|b| b.contains("fn solve("))
        .expect("the guide has the solver in a rust block");
    assert_eq!(
        block.trim_end(),
        example.trim_end(),
        "docs/GUIDE.md must show examples/heat.rs exactly (the test runs the file)"
    );
}

#[test]
fn the_readme_opens_with_the_crate_docs_tested_par_loop() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    let shown = readme
        .split("```rust\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("README has a rust block");
    assert!(
        shown.contains("par_loop("),
        "the first example is a par_loop"
    );
    // The crate-level doctest, without its hidden lines.
    let doc: Vec<&str> = lib
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.strip_prefix("//!").unwrap())
        })
        .collect();
    let start = doc.iter().position(|l| *l == "```").unwrap() + 1;
    let end = start + doc[start..].iter().position(|l| *l == "```").unwrap();
    let tested: Vec<&str> = doc[start..end]
        .iter()
        .filter(|l| !l.starts_with("# "))
        .copied()
        .collect();
    assert_eq!(shown, tested.join("\n"));
}
