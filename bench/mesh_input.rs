//! Mesh input figures, one run: for the Airfoil mesh and a generated mesh of about 10x its
//! size, the time to a distributed mesh and the peak RSS of rank 0 and of the other ranks
//! (Linux `VmHWM`, i.e. `getrusage`'s `ru_maxrss`, per rank, gathered, measured once the mesh
//! and its Dats are distributed), on the rank-0 path (rank 0 generates the whole mesh and
//! scatters it) and the parallel path (every rank reads its block of an op2 mesh file), at 1, 2
//! and 4 ranks; then the edge cut and halo sizes per partitioner (RCB, blocks, METIS) on the
//! Airfoil mesh, on both paths.
//!
//! ```text
//! cargo bench --bench mesh_input              # both meshes (about 10 minutes on 2 cores)
//! cargo bench --bench mesh_input -- --quick   # the Airfoil mesh only
//! ```
//! Env `MESH_INPUT_BIG=I,J` overrides the large mesh's size (default 1265,1900 = 7.2M cells).
//! Each configuration runs Airfoil for one iteration under `mpiexec`; the figures are the
//! solver's own `mesh:` lines, gathered into one table.
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
use std::path::Path;
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

/// One configuration's figures, from Airfoil's `mesh:` lines.
#[derive(Default)]
struct Row {
    path: String,
    partitioner: String,
    secs: f64,
    cut: u64,
    halo: String,
    rss0: f64,
    rss_others: Option<(f64, f64)>,
}

/// The number after `key` in `line` (up to the next space, `;` or `,`).
fn after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    let end = rest.find([' ', ';', ',']).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn airfoil(np: usize, args: &[&str], cache: &Path) -> Row {
    let out = run(Command::new("mpiexec")
        .args(["-n", &np.to_string(), env!("CARGO_BIN_EXE_airfoil")])
        .args(["--iters", "1", "--progress", "0"])
        .args(args)
        .env("OP2_CACHE_DIR", cache));
    let mut row = Row::default();
    for l in out.lines().filter(|l| l.starts_with("mesh: ")) {
        if let Some(rss) = after(l, "peak RSS rank 0 ") {
            row.rss0 = rss.parse().unwrap_or(f64::NAN);
            if let Some(o) = after(l, "other ranks ") {
                let (a, b) = o.split_once("..").unwrap_or((o, o));
                row.rss_others = Some((a.parse().unwrap_or(f64::NAN), b.parse().unwrap_or(0.0)));
            }
        } else {
            row.path = after(l, "mesh: ").unwrap_or("?").to_string();
            row.partitioner = after(l, "partitioner ")
                .unwrap_or("?")
                .trim_end_matches(':')
                .to_string();
            row.secs = after(l, "distributed in ")
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            row.cut = after(l, "edge cut ")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            row.halo = l[l.find("halo ").map_or(l.len(), |i| i + 5)..].to_string();
        }
    }
    row
}

fn header() {
    println!(
        "{:<8} {:<9} {:>5} {:>8} {:>10} {:>14} {:>6} {:>8}  halo (sum over ranks, max)",
        "path", "partition", "ranks", "time s", "RSS r0 MiB", "others MiB", "r0/max", "edge cut"
    );
}

fn print(np: usize, r: &Row) {
    let (others, ratio) = match r.rss_others {
        Some((lo, hi)) => (format!("{lo:.0}..{hi:.0}"), format!("{:.2}", r.rss0 / hi)),
        None => ("-".to_string(), "-".to_string()),
    };
    println!(
        "{:<8} {:<9} {:>5} {:>8.2} {:>10.0} {:>14} {:>6} {:>8}  {}",
        r.path, r.partitioner, np, r.secs, r.rss0, others, ratio, r.cut, r.halo
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let big: (usize, usize) = std::env::var("MESH_INPUT_BIG")
        .ok()
        .and_then(|s| {
            let (a, b) = s.split_once(',')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or((1265, 1900));
    let mut meshes = vec![("Airfoil mesh", 400usize, 600usize)];
    if !quick {
        meshes.push(("generated NACA0012 mesh", big.0, big.1));
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "mesh input: time to a distributed mesh (max over ranks) and peak RSS per rank \
         (VmHWM once the mesh, p_x, p_bound and p_q are distributed); {cpus} CPUs"
    );
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
            "\n== {name} {i}x{j}: {} (convert {:.1} s, file {:.0} MiB)",
            conv.trim(),
            t.elapsed().as_secs_f64(),
            std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0
        );
        let (is, js) = (i.to_string(), j.to_string());
        let f = file.to_str().unwrap_or("");
        header();
        for np in [1, 2, 4] {
            print(np, &airfoil(np, &["--i", &is, "--j", &js], &cache));
            print(np, &airfoil(np, &["--mesh-bin", f], &cache));
        }
        if i == 400 {
            println!("\n-- partition quality per partitioner, {name} (parallel METIS: on rank 0)");
            header();
            let nps: &[usize] = if quick { &[4] } else { &[2, 4] };
            for &np in nps {
                for part in ["rcb", "block", "metis"] {
                    let a = ["--i", &is, "--j", &js, "--partitioner", part];
                    print(np, &airfoil(np, &a, &cache));
                }
                for part in ["rcb", "block", "metis"] {
                    print(
                        np,
                        &airfoil(np, &["--mesh-bin", f, "--partitioner", part], &cache),
                    );
                }
            }
        }
    }
}
