//! Mats: assembly through par_loop equals a naive dense assembly; mult and diagonal equal their
//! dense counterparts; Mat shapes are part of the generated code's key. One process, serial
//! communicator, real compiler, one fresh cache directory for the whole file; plus one run of
//! per-rank Mats under `mpiexec -n 3`.
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
mod common;

use std::sync::{Mutex, MutexGuard};

use op2::{par_loop, Access, DType, Dat, DataSet, Kernel, Map, Mat, Set, Sparsity};
use rand::{Rng, SeedableRng};

/// Serialises the tests of this file (the class-cache test counts entries) and points them all
/// at one fresh cache directory.
fn setup() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = DIR.get_or_init(|| {
        let d = tempfile::Builder::new()
            .prefix("op2-mat-")
            .tempdir()
            .unwrap();
        let dir = d.keep();
        let rt = op2::Runtime::serial(op2::Config::default().cache_dir(&dir)).unwrap();
        std::mem::forget(rt); // the process's serial runtime, for every test in this file
        dir
    });
    let _ = dir;
    guard
}

fn random_map(name: &str, from: &Set, to: &Set, arity: usize, seed: u64) -> Map {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let vals = (0..from.size() * arity)
        .map(|_| rng.gen_range(0..to.size() as i32))
        .collect();
    Map::named(name, from, to, arity, vals).unwrap()
}

fn random_values(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// A kernel copying `size` per-element values into the element matrix.
fn copy_kernel(name: &str, size: usize) -> Kernel {
    Kernel::new(
        name,
        &format!(
            "void {name}(double *A, const double *v) {{ for (int k = 0; k < {size}; k++) A[k] = v[k]; }}"
        ),
    )
    .unwrap()
}

/// Add (or store) every element's dense matrix `vals` into `dense` (scalar rows x cols).
fn dense_assemble(
    dense: &mut [f64],
    ncols: usize,
    (rmap, cmap): (&Map, &Map),
    (rd, cd): (usize, usize),
    vals: &[f64],
    write: bool,
) {
    let (ar, ac) = (rmap.arity(), cmap.arity());
    let width = ac * cd;
    for e in 0..rmap.from_set().size() {
        let ev = &vals[e * ar * rd * width..];
        for i in 0..ar {
            for j in 0..ac {
                for r in 0..rd {
                    for c in 0..cd {
                        let row = rmap.values()[e * ar + i] as usize * rd + r;
                        let col = cmap.values()[e * ac + j] as usize * cd + c;
                        let v = ev[(i * rd + r) * width + j * cd + c];
                        if write {
                            dense[row * ncols + col] = v;
                        } else {
                            dense[row * ncols + col] += v;
                        }
                    }
                }
            }
        }
    }
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: entry {k}: got {g}, want {w}"
        );
    }
}

#[test]
fn par_loop_assembly_equals_naive_dense_assembly_with_blocks_and_two_pairs() {
    let _g = setup();
    let rows = Set::named("rows", 60).unwrap();
    let cols = Set::named("cols", 45).unwrap();
    let cells = Set::named("cells", 300).unwrap();
    let faces = Set::named("faces", 80).unwrap();
    let (c2r, c2c) = (
        random_map("c2r", &cells, &rows, 3, 1),
        random_map("c2c", &cells, &cols, 2, 2),
    );
    let (f2r, f2c) = (
        random_map("f2r", &faces, &rows, 2, 3),
        random_map("f2c", &faces, &cols, 2, 4),
    );
    let (rd, cd) = (2, 3);
    let rds = DataSet::new(&rows, rd).unwrap();
    let cds = DataSet::new(&cols, cd).unwrap();
    let sp = Sparsity::new(
        &rds,
        &cds,
        &[(c2r.clone(), c2c.clone()), (f2r.clone(), f2c.clone())],
    )
    .unwrap();
    let a = Mat::named("A", &sp, DType::F64).unwrap();

    let csize = 3 * rd * 2 * cd;
    let fsize = 2 * rd * 2 * cd;
    let cvals = random_values(300 * csize, 5);
    let fvals = random_values(80 * fsize, 6);
    let cv = Dat::new(&DataSet::new(&cells, csize).unwrap(), cvals.clone()).unwrap();
    let fv = Dat::new(&DataSet::new(&faces, fsize).unwrap(), fvals.clone()).unwrap();
    let kc = copy_kernel("copy_cell", csize);
    let kf = copy_kernel("copy_face", fsize);
    par_loop(
        &kc,
        &cells,
        &[a.arg(Access::Inc, (&c2r, &c2c)), cv.arg(Access::Read)],
    )
    .unwrap();
    par_loop(
        &kf,
        &faces,
        &[a.arg(Access::Inc, (&f2r, &f2c)), fv.arg(Access::Read)],
    )
    .unwrap();

    let (nr, nc) = (60 * rd, 45 * cd);
    let mut dense = vec![0.0; nr * nc];
    dense_assemble(&mut dense, nc, (&c2r, &c2c), (rd, cd), &cvals, false);
    dense_assemble(&mut dense, nc, (&f2r, &f2c), (rd, cd), &fvals, false);
    let got = a.values().unwrap();
    assert_eq!(
        got, dense,
        "contributions are added in the same order as the naive loop: exact"
    );
    for (row, col) in [(0, 0), (7, 13), (119, 134), (55, 2)] {
        assert_eq!(a.get(row, col).unwrap(), dense[row * nc + col]);
    }

    // Assembling again adds again; zero() clears.
    par_loop(
        &kc,
        &cells,
        &[a.arg(Access::Inc, (&c2r, &c2c)), cv.arg(Access::Read)],
    )
    .unwrap();
    dense_assemble(&mut dense, nc, (&c2r, &c2c), (rd, cd), &cvals, false);
    assert_close(&a.values().unwrap(), &dense, 1e-14, "second INC");
    a.zero().unwrap();
    assert!(a.csr_values().iter().all(|&v| v == 0.0));
    assert_eq!(a.csr_values().len(), sp.nnz());
}

#[test]
fn write_stores_over_the_touched_entries() {
    let _g = setup();
    let nodes = Set::named("nodes", 10).unwrap();
    let cells = Set::named("cells", 12).unwrap();
    let bnodes = Set::named("bnodes", 3).unwrap();
    let c2n = random_map("c2n", &cells, &nodes, 3, 7);
    let b2n = Map::named("b2n", &bnodes, &nodes, 1, vec![2, 5, 9]).unwrap();
    let ds = DataSet::new(&nodes, 1).unwrap();
    let sp = Sparsity::new(
        &ds,
        &ds,
        &[(c2n.clone(), c2n.clone()), (b2n.clone(), b2n.clone())],
    )
    .unwrap();
    let a = Mat::new(&sp, DType::F64).unwrap();
    let ones = Kernel::new(
        "ones9",
        "void ones9(double *A) { for (int k = 0; k < 9; k++) A[k] = 1.0; }",
    )
    .unwrap();
    par_loop(&ones, &cells, &[a.arg(Access::Inc, (&c2n, &c2n))]).unwrap();
    let before = a.values().unwrap();
    let seven = Kernel::new("seven", "void seven(double *A) { A[0] = 7.0; }").unwrap();
    par_loop(&seven, &bnodes, &[a.arg(Access::Write, (&b2n, &b2n))]).unwrap();
    let after = a.values().unwrap();
    for i in 0..10 {
        for j in 0..10 {
            let want = if i == j && [2, 5, 9].contains(&i) {
                7.0
            } else {
                before[i * 10 + j]
            };
            assert_eq!(after[i * 10 + j], want, "({i}, {j})");
        }
    }
}

#[test]
fn mult_and_diagonal_equal_their_dense_counterparts() {
    let _g = setup();
    let mesh = op2::mesh::meshgen::unit_square(12, 0.2).unwrap();
    let cells = Set::named("cells", mesh.ncells()).unwrap();
    let nodes = Set::named("nodes", mesh.nnodes()).unwrap();
    let c2n = Map::named("c2n", &cells, &nodes, 3, mesh.cells.clone()).unwrap();
    for dim in [1usize, 2] {
        let ds = DataSet::new(&nodes, dim).unwrap();
        let sp = Sparsity::new(&ds, &ds, &[(c2n.clone(), c2n.clone())]).unwrap();
        let a = Mat::new(&sp, DType::F64).unwrap();
        let size = 9 * dim * dim;
        let vals = random_values(mesh.ncells() * size, 8 + dim as u64);
        let v = Dat::new(&DataSet::new(&cells, size).unwrap(), vals.clone()).unwrap();
        par_loop(
            &copy_kernel(&format!("copy{size}"), size),
            &cells,
            &[a.arg(Access::Inc, (&c2n, &c2n)), v.arg(Access::Read)],
        )
        .unwrap();
        let n = mesh.nnodes() * dim;
        let dense = a.values().unwrap();
        let xv = random_values(n, 99);
        let x = Dat::new(&ds, xv.clone()).unwrap();
        let y = Dat::zeros(&ds, DType::F64);
        a.mult(&x, &y).unwrap();
        let want: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| dense[i * n + j] * xv[j]).sum())
            .collect();
        assert_close(&y.to_vec::<f64>().unwrap(), &want, 1e-12, "mult");
        let d = Dat::zeros(&ds, DType::F64);
        a.diagonal(&d).unwrap();
        let want: Vec<f64> = (0..n).map(|i| dense[i * n + i]).collect();
        assert_eq!(d.to_vec::<f64>().unwrap(), want, "diagonal");
    }
}

#[test]
fn the_class_cache_key_follows_mat_shapes() {
    let _g = setup();
    let n = op2::cache::memory::len;
    let nodes = Set::named("nodes", 8).unwrap();
    let cells = Set::named("cells", 6).unwrap();
    let m3 = random_map("m3", &cells, &nodes, 3, 21);
    let m2 = random_map("m2", &cells, &nodes, 2, 22);
    let d1 = DataSet::new(&nodes, 1).unwrap();
    let d2 = DataSet::new(&nodes, 2).unwrap();
    let mat = |rds: &DataSet, cds: &DataSet, r: &Map, c: &Map| {
        Mat::new(
            &Sparsity::new(rds, cds, &[(r.clone(), c.clone())]).unwrap(),
            DType::F64,
        )
        .unwrap()
    };
    let k = Kernel::new("kshape", "void kshape(double *A) { A[0] += 1.0; }").unwrap();
    let run = |a: &Mat, access, r: &Map, c: &Map| {
        par_loop(&k, &cells, &[a.arg(access, (r, c))]).unwrap();
    };

    let base = n();
    let a33 = mat(&d1, &d1, &m3, &m3);
    run(&a33, Access::Inc, &m3, &m3);
    assert_eq!(n() - base, 1);
    // Same shape, another Mat on another (equal-shaped) sparsity: no new code.
    let b33 = mat(&d1, &d1, &m3, &m3);
    let other = mat(&d1, &d1, &random_map("m3b", &cells, &nodes, 3, 23), &m3);
    run(&b33, Access::Inc, &m3, &m3);
    run(&other, Access::Inc, &other.sparsity().map_pairs()[0].0, &m3);
    assert_eq!(n() - base, 1, "same Mat shape, other Mats and maps");
    // Each change of access, arities or dims is new code.
    run(&a33, Access::Write, &m3, &m3);
    assert_eq!(n() - base, 2, "WRITE vs INC");
    run(&mat(&d1, &d1, &m3, &m2), Access::Inc, &m3, &m2);
    assert_eq!(n() - base, 3, "arities 3x2");
    run(&mat(&d1, &d1, &m2, &m3), Access::Inc, &m2, &m3);
    assert_eq!(n() - base, 4, "arities 2x3");
    run(&mat(&d2, &d1, &m3, &m3), Access::Inc, &m3, &m3);
    assert_eq!(n() - base, 5, "dims 2x1");
    run(&mat(&d1, &d2, &m3, &m3), Access::Inc, &m3, &m3);
    assert_eq!(n() - base, 6, "dims 1x2");
    run(&mat(&d2, &d2, &m3, &m3), Access::Inc, &m3, &m3);
    assert_eq!(n() - base, 7, "dims 2x2");
}

#[test]
fn bad_mat_arguments_are_clear_errors() {
    let _g = setup();
    let nodes = Set::named("nodes", 8).unwrap();
    let cells = Set::named("cells", 6).unwrap();
    let m = random_map("m", &cells, &nodes, 3, 31);
    let m_other = random_map("m_other", &cells, &nodes, 3, 32);
    let ds = DataSet::new(&nodes, 1).unwrap();
    let a = Mat::named(
        "A",
        &Sparsity::new(&ds, &ds, &[(m.clone(), m.clone())]).unwrap(),
        DType::F64,
    )
    .unwrap();
    let k = Kernel::new("kbad", "void kbad(double *A) {}").unwrap();
    let err = |args: &[op2::Arg], set: &Set| par_loop(&k, set, args).unwrap_err().to_string();

    let e = err(&[a.arg(Access::Read, (&m, &m))], &cells);
    assert!(e.contains("Mats take INC or WRITE, not READ"), "{e}");
    let e = err(&[a.arg(Access::Inc, (&m, &m_other))], &cells);
    assert!(e.contains("not one of the pairs"), "{e}");
    let e = err(&[a.arg(Access::Inc, (&m, &m))], &nodes);
    assert!(
        e.contains("starts from set cells, not the iteration set"),
        "{e}"
    );
    let e = err(
        &[a.arg(Access::Inc, (&m, &m)), a.arg(Access::Write, (&m, &m))],
        &cells,
    );
    assert!(e.contains("Mat A is passed with two access modes"), "{e}");

    let x = Dat::zeros(&ds, DType::F64);
    let e = a.mult(&x, &x).unwrap_err().to_string();
    assert!(e.contains("different Dats"), "{e}");
    let on_cells = Dat::zeros(&DataSet::new(&cells, 1).unwrap(), DType::F64);
    assert!(a.mult(&on_cells, &x).is_err());
    assert!(a.mult(&x, &Dat::zeros(&ds, DType::F32)).is_err());
    assert!(a.diagonal(&on_cells).is_err());
    let rect = Mat::new(
        &Sparsity::new(
            &DataSet::new(&nodes, 2).unwrap(),
            &ds,
            &[(m.clone(), m.clone())],
        )
        .unwrap(),
        DType::F64,
    )
    .unwrap();
    let e = rect.diagonal(&x).unwrap_err().to_string();
    assert!(e.contains("not square"), "{e}");
    assert!(a.get(8, 0).is_err() && a.get(0, 8).is_err());
}

#[test]
fn per_rank_mats_assemble_under_mpiexec() {
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(3, "op2-selftest", &["--mat"], cache.path()),
        std::time::Duration::from_secs(120),
    );
    out.assert_ok();
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("mat ok"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    // Meshes of 6, 7 and 8 squares per side: 49, 64 and 81 rows, one global sum.
    let nnz: Vec<f64> = lines
        .iter()
        .map(|l| {
            l.split(", nnz ")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let global: Vec<f64> = lines
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        global.iter().all(|&g| g == nnz.iter().sum::<f64>()),
        "{}",
        out.stdout
    );
    for rows in [49, 64, 81] {
        assert!(
            out.stdout.contains(&format!(", {rows} rows,")),
            "{}",
            out.stdout
        );
    }
}
