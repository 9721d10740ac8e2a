//! par_loop results equal a straightforward serial reference, for every argument kind and
//! access mode (one process, serial communicator, real compiler, fresh cache directory).
use op2::{par_loop, Access, Dat, DataSet, Global, Kernel, Map, Set};

fn setup() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("op2-parloop-")
        .tempdir()
        .unwrap();
    // Every test in this file shares one process: point them all at one fresh directory.
    static ONCE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let p = ONCE.get_or_init(|| d.path().to_path_buf());
    static RUNTIME: std::sync::Once = std::sync::Once::new();
    RUNTIME.call_once(|| {
        let rt = op2::Runtime::serial(op2::Config::default().cache_dir(p)).unwrap();
        std::mem::forget(rt); // the process's serial runtime, for every test in this file
    });
    std::mem::forget(d);
    tempfile::tempdir().unwrap()
}

/// A small irregular mesh: `ne` edges over `nn` nodes.
fn mesh(ne: usize, nn: usize) -> (Set, Set, Map, Vec<i32>) {
    let edges = Set::named("edges", ne).unwrap();
    let nodes = Set::named("nodes", nn).unwrap();
    let vals: Vec<i32> = (0..ne)
        .flat_map(|e| [(e * 7 % nn) as i32, ((e * 13 + 5) % nn) as i32])
        .collect();
    let m = Map::named("e2n", &edges, &nodes, 2, vals.clone()).unwrap();
    (edges, nodes, m, vals)
}

#[test]
fn direct_read_write_rw() {
    let _d = setup();
    let s = Set::new(1000).unwrap();
    let ds = DataSet::new(&s, 2).unwrap();
    let x: Vec<f64> = (0..2000).map(|i| i as f64 * 0.5).collect();
    let a = Dat::new(&ds, x.clone()).unwrap();
    let b = Dat::zeros(&ds, op2::DType::F64);
    let c = Dat::new(&ds, vec![1.0f64; 2000]).unwrap();
    let k = Kernel::new("k_direct", "void k_direct(const double *a, double *b, double *c) { b[0] = a[0] * 2; b[1] = a[1] + 1; c[0] += a[1]; c[1] *= 3; }").unwrap();
    par_loop(
        &k,
        &s,
        &[a.arg(Access::Read), b.arg(Access::Write), c.arg(Access::RW)],
    )
    .unwrap();
    let (b, c) = (b.to_vec::<f64>().unwrap(), c.to_vec::<f64>().unwrap());
    for e in 0..1000 {
        assert_eq!(b[2 * e], x[2 * e] * 2.0);
        assert_eq!(b[2 * e + 1], x[2 * e + 1] + 1.0);
        assert_eq!(c[2 * e], 1.0 + x[2 * e + 1]);
        assert_eq!(c[2 * e + 1], 3.0);
    }
}

#[test]
fn indirect_read_and_inc_through_map_indices() {
    let _d = setup();
    let (edges, nodes, m, vals) = mesh(3000, 1111);
    let xn: Vec<f64> = (0..1111).map(|i| (i as f64).sin()).collect();
    let x = Dat::new(&DataSet::new(&nodes, 1).unwrap(), xn.clone()).unwrap();
    let acc = Dat::new(&DataSet::new(&nodes, 1).unwrap(), vec![1.0f64; 1111]).unwrap();
    let diff = Dat::zeros(&DataSet::new(&edges, 1).unwrap(), op2::DType::F64);
    let k = Kernel::new(
        "k_edge",
        "void k_edge(const double *x0, const double *x1, double *a0, double *a1, double *d) { d[0] = x1[0] - x0[0]; a0[0] += d[0]; a1[0] -= d[0]; }",
    )
    .unwrap();
    par_loop(
        &k,
        &edges,
        &[
            x.arg_map(Access::Read, &m, 0),
            x.arg_map(Access::Read, &m, 1),
            acc.arg_map(Access::Inc, &m, 0),
            acc.arg_map(Access::Inc, &m, 1),
            diff.arg(Access::Write),
        ],
    )
    .unwrap();
    let mut want_acc = vec![1.0f64; 1111];
    let mut want_d = vec![0.0; 3000];
    for e in 0..3000 {
        let (n0, n1) = (vals[2 * e] as usize, vals[2 * e + 1] as usize);
        want_d[e] = xn[n1] - xn[n0];
        want_acc[n0] += want_d[e];
        want_acc[n1] -= want_d[e];
    }
    assert_eq!(diff.to_vec::<f64>().unwrap(), want_d);
    assert_eq!(
        acc.to_vec::<f64>().unwrap(),
        want_acc,
        "same operation order as serial: exact"
    );
}

#[test]
fn vector_map_read_and_inc() {
    let _d = setup();
    let (edges, nodes, m, vals) = mesh(500, 97);
    let ds = DataSet::new(&nodes, 2).unwrap();
    let xn: Vec<f32> = (0..194).map(|i| i as f32).collect();
    let x = Dat::new(&ds, xn.clone()).unwrap();
    let acc = Dat::zeros(&ds, op2::DType::F32);
    let k = Kernel::new("k_vec", "void k_vec(const float *x, float *a) { for (int i = 0; i < 2; i++) { a[2 * i] += x[2 * (1-i)]; a[2 * i + 1] += 1.0f; } }").unwrap();
    par_loop(
        &k,
        &edges,
        &[x.arg_vec(Access::Read, &m), acc.arg_vec(Access::Inc, &m)],
    )
    .unwrap();
    let mut want = vec![0.0f32; 194];
    for e in 0..500 {
        let n = [vals[2 * e] as usize, vals[2 * e + 1] as usize];
        for i in 0..2 {
            want[2 * n[i]] += xn[2 * n[1 - i]];
            want[2 * n[i] + 1] += 1.0;
        }
    }
    assert_eq!(acc.to_vec::<f32>().unwrap(), want);
}

#[test]
fn globals_read_inc_min_max_in_every_integer_and_float_type() {
    let _d = setup();
    let s = Set::new(777).unwrap();
    let ds = DataSet::new(&s, 1).unwrap();
    let xi: Vec<i64> = (0..777).map(|i| (i * 37 % 1000) as i64 - 300).collect();
    let x = Dat::new(&ds, xi.clone()).unwrap();
    let scale = Global::new(vec![3i64]).unwrap();
    let sum = Global::new(vec![5i64, 0]).unwrap();
    let mn = Global::new(vec![0i64]).unwrap();
    let mx = Global::new(vec![i64::MIN]).unwrap();
    let k = Kernel::new("k_glob", "void k_glob(const int64_t *x, const int64_t *s, int64_t *sum, int64_t *mn, int64_t *mx) { sum[0] += s[0] * x[0]; sum[1] += 1; if (x[0] < mn[0]) mn[0] = x[0]; if (x[0] > mx[0]) mx[0] = x[0]; }").unwrap();
    par_loop(
        &k,
        &s,
        &[
            x.arg(Access::Read),
            scale.arg(Access::Read),
            sum.arg(Access::Inc),
            mn.arg(Access::Min),
            mx.arg(Access::Max),
        ],
    )
    .unwrap();
    assert_eq!(
        sum.value::<i64>().unwrap(),
        vec![5 + 3 * xi.iter().sum::<i64>(), 777]
    );
    assert_eq!(
        mn.value::<i64>().unwrap(),
        vec![(*xi.iter().min().unwrap()).min(0)]
    );
    assert_eq!(mx.value::<i64>().unwrap(), vec![*xi.iter().max().unwrap()]);
    // f32 and u32 / i32 globals too.
    let xf = Dat::new(&ds, (0..777).map(|i| i as f32 * 0.25).collect::<Vec<f32>>()).unwrap();
    let gf = Global::new(vec![0.0f32]).unwrap();
    let gu = Global::new(vec![0u32]).unwrap();
    let gi = Global::new(vec![100i32]).unwrap();
    let k2 = Kernel::new("k_glob2", "void k_glob2(const float *x, float *m, uint32_t *c, int32_t *lo) { if (x[0] > m[0]) m[0] = x[0]; c[0] += 2; if ((int32_t)x[0] < lo[0]) lo[0] = (int32_t)x[0]; }").unwrap();
    par_loop(
        &k2,
        &s,
        &[
            xf.arg(Access::Read),
            gf.arg(Access::Max),
            gu.arg(Access::Inc),
            gi.arg(Access::Min),
        ],
    )
    .unwrap();
    assert_eq!(gf.value::<f32>().unwrap(), vec![776.0 * 0.25]);
    assert_eq!(gu.value::<u32>().unwrap(), vec![2 * 777]);
    assert_eq!(gi.value::<i32>().unwrap(), vec![0]);
    // u64 Dats and Globals, and the dim-1 helpers.
    let xu = Dat::new(
        &ds,
        (0..777u64).map(|i| (1u64 << 40) + i).collect::<Vec<_>>(),
    )
    .unwrap();
    let big = Global::scalar(0u64);
    let top = Global::scalar(0u64);
    let k3 = Kernel::new("k_u64", "void k_u64(const uint64_t *x, uint64_t *s, uint64_t *m) { s[0] += x[0]; if (x[0] > m[0]) m[0] = x[0]; }").unwrap();
    par_loop(
        &k3,
        &s,
        &[
            xu.arg(Access::Read),
            big.arg(Access::Inc),
            top.arg(Access::Max),
        ],
    )
    .unwrap();
    assert_eq!(
        big.get::<u64>().unwrap(),
        777 * (1u64 << 40) + 776 * 777 / 2
    );
    assert_eq!(top.get::<u64>().unwrap(), (1u64 << 40) + 776);
    assert!(sum.get::<i64>().is_err(), "dim 2 has no single value");
}

#[test]
fn bad_arguments_are_clear_errors() {
    let _d = setup();
    let (edges, nodes, m, _) = mesh(10, 5);
    let xn = Dat::zeros(&DataSet::new(&nodes, 1).unwrap(), op2::DType::F64);
    let k = Kernel::new("k_bad", "void k_bad(double *x) {}").unwrap();
    let e = par_loop(&k, &edges, &[xn.arg(Access::Read)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("k_bad") && e.contains("not the iteration set"),
        "{e}"
    );
    let e = par_loop(&k, &edges, &[xn.arg_map(Access::Read, &m, 2)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("index 2 out of range"), "{e}");
    let e = par_loop(&k, &nodes, &[xn.arg_map(Access::Read, &m, 0)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("starts from set edges"), "{e}");
    // MIN/MAX apply to Dats too (PyOP2's semantics), but not beside another mode of the Dat.
    let args = [
        xn.arg_map(Access::Min, &m, 0),
        xn.arg_map(Access::Read, &m, 1),
    ];
    let e = par_loop(&k, &edges, &args).unwrap_err().to_string();
    assert!(e.contains("two access modes (MIN and READ)"), "{e}");
    let g = Global::new(vec![0.0f64]).unwrap();
    assert!(par_loop(&k, &edges, &[g.arg(Access::Write)]).is_err());
}

#[test]
fn a_c_syntax_error_names_kernel_compiler_and_kept_source() {
    let _d = setup();
    let s = Set::new(3).unwrap();
    let x = Dat::zeros(&DataSet::new(&s, 1).unwrap(), op2::DType::F64);
    let k = Kernel::new("k_syntax", "void k_syntax(double *x) { x[0] = 1.0 +; }").unwrap();
    match par_loop(&k, &s, &[x.arg(Access::Write)]).unwrap_err() {
        op2::Error::Compile {
            kernel,
            command,
            stderr,
            source_path,
        } => {
            assert_eq!(kernel, "k_syntax");
            assert!(command.contains("-o"), "{command}");
            assert!(stderr.contains("error"), "{stderr}");
            assert!(std::fs::read_to_string(&source_path)
                .unwrap()
                .contains("x[0] = 1.0 +;"));
        }
        e => panic!("expected a compile error, got {e}"),
    }
}

/// After a loop has run (so par_loop's dispatch slot remembers its code and plan), a call that
/// changes one argument property must run the right code with the right plan, or fail
/// validation: never reuse the remembered entry. Each check is preceded by repeats of the base
/// loop, so the slot is warm.
#[test]
fn a_remembered_loop_is_never_reused_for_changed_arguments() {
    let _d = setup();
    let (edges, nodes, m, vals) = mesh(40, 17);
    let dn1 = DataSet::new(&nodes, 1).unwrap();
    let x = Dat::new(&dn1, (0..17).map(|i| i as f64).collect::<Vec<_>>()).unwrap();
    let k = Kernel::new(
        "k_fast",
        "void k_fast(const double *x, double *y) { y[0] += x[0] + 1.0; }",
    )
    .unwrap();
    let run = |args: &[op2::Arg]| par_loop(&k, &edges, args);
    // Reference: y[vals[2e + idx]] += x[vals[2e + 1 - idx]] + 1 over every edge.
    let expect = |vals: &[i32], idx: usize, times: usize| -> Vec<f64> {
        let mut y = vec![0.0; 17];
        for e in 0..40 {
            let (t, s) = (vals[2 * e + idx] as usize, vals[2 * e + 1 - idx] as usize);
            y[t] += times as f64 * (s as f64 + 1.0);
        }
        y
    };
    let warm = |times: usize| -> Vec<f64> {
        let y = Dat::zeros(&dn1, op2::DType::F64);
        for _ in 0..times {
            run(&[
                x.arg_map(Access::Read, &m, 1),
                y.arg_map(Access::Inc, &m, 0),
            ])
            .unwrap();
        }
        y.to_vec::<f64>().unwrap()
    };
    assert_eq!(warm(3), expect(&vals, 0, 3), "base loop, fresh Dat");

    // Another map with other values (same sets and arity).
    warm(2);
    let other: Vec<i32> = vals.iter().map(|v| (v + 3) % 17).collect();
    let m2 = Map::new(&edges, &nodes, 2, other.clone()).unwrap();
    let y = Dat::zeros(&dn1, op2::DType::F64);
    run(&[
        x.arg_map(Access::Read, &m2, 1),
        y.arg_map(Access::Inc, &m2, 0),
    ])
    .unwrap();
    assert_eq!(
        y.to_vec::<f64>().unwrap(),
        expect(&other, 0, 1),
        "other map"
    );

    // Other map indices.
    warm(2);
    let y = Dat::zeros(&dn1, op2::DType::F64);
    run(&[
        x.arg_map(Access::Read, &m, 0),
        y.arg_map(Access::Inc, &m, 1),
    ])
    .unwrap();
    assert_eq!(
        y.to_vec::<f64>().unwrap(),
        expect(&vals, 1, 1),
        "other indices"
    );

    // Another access mode: through arg_vec, INC adds the packed values, WRITE stores them.
    warm(2);
    let kv = Kernel::new(
        "k_vec5",
        "void k_vec5(double *y) { y[0] = 5.0; y[1] = 5.0; }",
    )
    .unwrap();
    let hits = |t: usize| vals.iter().filter(|&&v| v as usize == t).count() as f64;
    let y = Dat::zeros(&dn1, op2::DType::F64);
    for _ in 0..3 {
        par_loop(&kv, &edges, &[y.arg_vec(Access::Inc, &m)]).unwrap();
    }
    let want: Vec<f64> = (0..17).map(|t| 15.0 * hits(t)).collect();
    assert_eq!(y.to_vec::<f64>().unwrap(), want, "vec INC");
    let y = Dat::new(&dn1, vec![1.0f64; 17]).unwrap();
    par_loop(&kv, &edges, &[y.arg_vec(Access::Write, &m)]).unwrap();
    let want: Vec<f64> = (0..17)
        .map(|t| if hits(t) > 0.0 { 5.0 } else { 1.0 })
        .collect();
    assert_eq!(
        y.to_vec::<f64>().unwrap(),
        want,
        "vec WRITE after warm vec INC"
    );

    // Another dim: the code's stride changes.
    warm(2);
    let kd = Kernel::new("k_dim", "void k_dim(double *a) { a[0] += 1.0; }").unwrap();
    let dn2 = DataSet::new(&nodes, 2).unwrap();
    let a1 = Dat::zeros(&dn1, op2::DType::F64);
    let a2 = Dat::zeros(&dn2, op2::DType::F64);
    for _ in 0..3 {
        par_loop(&kd, &nodes, &[a1.arg(Access::RW)]).unwrap();
    }
    par_loop(&kd, &nodes, &[a2.arg(Access::RW)]).unwrap();
    assert_eq!(a1.to_vec::<f64>().unwrap(), vec![3.0; 17]);
    let want: Vec<f64> = (0..34)
        .map(|i| if i % 2 == 0 { 1.0 } else { 0.0 })
        .collect();
    assert_eq!(a2.to_vec::<f64>().unwrap(), want, "dim 2 Dat");

    // Another dtype: the same bits, read as f32, would not be 1.0.
    let kt = Kernel::new("k_type", "void k_type(void *a) { }").unwrap();
    let kt2 = Kernel::new(
        "k_type2",
        "#include <stdint.h>\nvoid k_type2(int32_t *a) { a[0] += 1; }",
    )
    .unwrap();
    let i32s = Dat::zeros(&dn1, op2::DType::I32);
    let f32s = Dat::zeros(&dn1, op2::DType::F32);
    for _ in 0..3 {
        par_loop(&kt2, &nodes, &[i32s.arg(Access::RW)]).unwrap();
        par_loop(&kt, &nodes, &[i32s.arg(Access::RW)]).unwrap();
    }
    assert_eq!(i32s.to_vec::<i32>().unwrap(), vec![3; 17]);
    // The generated wrapper is typed: an f32 Dat through an int32_t kernel is refused by the
    // compiler's check, which only a fresh lookup (not the remembered i32 loop) runs.
    assert!(par_loop(&kt2, &nodes, &[f32s.arg(Access::RW)]).is_err());
    assert_eq!(f32s.to_vec::<f32>().unwrap(), vec![0.0; 17]);

    // Another iteration set, the same argument objects: validation still runs.
    warm(2);
    let y = Dat::zeros(&dn1, op2::DType::F64);
    let e = par_loop(
        &k,
        &nodes,
        &[
            x.arg_map(Access::Read, &m, 1),
            y.arg_map(Access::Inc, &m, 0),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("starts from set edges"), "{e}");
    // A Dat passed with two access modes, a Global written: refused after warm calls too.
    warm(2);
    let e = run(&[
        x.arg_map(Access::Read, &m, 1),
        x.arg_map(Access::Inc, &m, 0),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("two access modes"), "{e}");
    let e = run(&[
        x.arg_map(Access::Read, &m, 1),
        x.arg_map(Access::Min, &m, 0),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("two access modes (READ and MIN)"), "{e}");
    // And the base loop is still right afterwards.
    assert_eq!(warm(2), expect(&vals, 0, 2));

    // Every call above that ran was timed under its kernel's name.
    let calls = |name: &str| {
        op2::timings()
            .into_iter()
            .find(|t| t.kernel == name)
            .map_or(0, |t| t.calls)
    };
    assert_eq!(calls("k_dim"), 4);
    assert_eq!(calls("k_vec5"), 4);
    assert_eq!(calls("k_type"), 3);
    assert_eq!(calls("k_type2"), 3);
    // k_fast: 3 + 2+1 + 2+1 + 2 + 2 + 2 + 2 + 2 successful calls.
    assert_eq!(calls("k_fast"), 19);
}
