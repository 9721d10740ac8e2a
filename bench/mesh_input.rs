//! Mesh input figures: for the Airfoil mesh and a generated mesh of about 10x its size, the
//! time to a distributed mesh and the peak RSS of rank 0 and of the other ranks (Linux VmHWM,
//! i.e. getrusage's ru_maxrss, per rank, gathered), on the rank-0 path (rank 0 generates the
//! whole mesh and scatters it) and the parallel path (every rank reads its block of an op2 mesh
//! file), at 1, 2 and 4 ranks; then the edge cut and halo sizes per partitioner at 4 ranks.
//!
//! `cargo bench --bench mesh_input` (env `MESH_INPUT_BIG=I,J` overrides the large mesh's size,
//! default 1265,1900 = 7.2M cells; `MESH_INPUT_SKIP_BIG=1` skips it). Each configuration runs
//! Airfoil for one iteration; the figures are the solver's own `mesh:` lines.
use std::process::Command;
use std::time::Instant;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        eprintln!("{text}\n{}", String::from_utf8_lossy(&out.stderr));
        panic!("command failed: {cmd:?}");
    }
    text
}

fn airfoil(np: usize, args: &[&str], cache: &std::path::Path) -> Vec<String> {
    let out = run(Command::new("mpiexec")
        .args(["-n", &np.to_string(), env!("CARGO_BIN_EXE_airfoil")])
        .args(["--iters", "1", "--progress", "0"])
        .args(args)
        .env("OP2_CACHE_DIR", cache));
    out.lines()
        .filter(|l| l.starts_with("mesh: "))
        .map(|l| l.to_string())
        .collect()
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let big: (usize, usize) = std::env::var("MESH_INPUT_BIG")
        .ok()
        .and_then(|s| {
            let (a, b) = s.split_once(',')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or((1265, 1900));
    let mut meshes = vec![("airfoil 400x600", 400usize, 600usize)];
    if std::env::var("MESH_INPUT_SKIP_BIG").is_err() {
        meshes.push(("naca big", big.0, big.1));
    }
    for (name, i, j) in meshes {
        let file = dir.path().join(format!("{i}x{j}.op2mesh"));
        let t = Instant::now();
        let conv = run(Command::new(env!("CARGO_BIN_EXE_op2"))
            .args([
                "mesh",
                "convert",
                "--naca",
                &i.to_string(),
                &j.to_string(),
                "-o",
            ])
            .arg(&file));
        println!(
            "\n== {name}: {} (convert {:.1} s, file {:.0} MiB)",
            conv.trim(),
            t.elapsed().as_secs_f64(),
            std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0
        );
        let (is, js) = (i.to_string(), j.to_string());
        for np in [1, 2, 4] {
            for line in airfoil(np, &["--i", &is, "--j", &js], &cache) {
                println!("{np} rank(s) {line}");
            }
            for line in airfoil(np, &["--mesh-bin", file.to_str().unwrap_or("")], &cache) {
                println!("{np} rank(s) {line}");
            }
        }
        if i == 400 {
            println!("\n-- partition quality, 4 ranks, {name}");
            for part in ["rcb", "block", "metis"] {
                for line in airfoil(4, &["--i", &is, "--j", &js, "--partitioner", part], &cache) {
                    if !line.contains("peak RSS") {
                        println!("{line}");
                    }
                }
            }
            for part in ["parallel-rcb", "block"] {
                let f = file.to_str().unwrap_or("");
                for line in airfoil(4, &["--mesh-bin", f, "--partitioner", part], &cache) {
                    if !line.contains("peak RSS") {
                        println!("{line}");
                    }
                }
            }
        }
    }
}
