//! PyOP2's class-cache cases: generated code depends on metadata, never on data (axiom 2).
//! One test function, alone in its process, so the entry counts are not disturbed.
use op2::{par_loop, Access, DType, Dat, DataSet, Global, Kernel, Map, Set};

#[test]
fn class_cache_entries_follow_metadata_not_data() {
    let dir = tempfile::tempdir().unwrap();
    let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
    let n = || op2::cache::memory::len();
    let nodes = Set::new(20).unwrap();
    let edges = Set::new(10).unwrap();
    let m = Map::new(&edges, &nodes, 2, (0..20).collect()).unwrap();
    let dn = DataSet::new(&nodes, 1).unwrap();
    let de = DataSet::new(&edges, 1).unwrap();
    let (a, b) = (
        Dat::zeros(&dn, DType::F64),
        Dat::new(&dn, vec![1.0f64; 20]).unwrap(),
    );
    let (x, y) = (
        Dat::zeros(&de, DType::F64),
        Dat::new(&de, vec![2.0f64; 10]).unwrap(),
    );
    let k = Kernel::new("k", "void k(double *a, double *b) { a[0] += b[0]; }").unwrap();

    // same kernel twice -> 1
    let base = n();
    par_loop(&k, &edges, &[x.arg(Access::RW), y.arg(Access::Read)]).unwrap();
    par_loop(&k, &edges, &[x.arg(Access::RW), y.arg(Access::Read)]).unwrap();
    assert_eq!(n() - base, 1, "same kernel twice");

    // same kernel name, different code -> 2
    let base = n();
    let k2 = Kernel::new("k", "void k(double *a, double *b) { a[0] -= b[0]; }").unwrap();
    par_loop(&k2, &edges, &[x.arg(Access::RW), y.arg(Access::Read)]).unwrap();
    assert_eq!(n() - base, 1, "same name, different code is a second entry");

    // direct loop with two Dats swapped -> 1
    let base = n();
    par_loop(&k, &edges, &[y.arg(Access::RW), x.arg(Access::Read)]).unwrap();
    assert_eq!(n() - base, 0, "direct loop with Dats swapped");

    // indirect loop with two Dats of identical shape swapped -> 1
    let ki = Kernel::new("ki", "void ki(double *a, double *b) { a[0] += b[0]; }").unwrap();
    let base = n();
    par_loop(
        &ki,
        &edges,
        &[
            a.arg_map(Access::Inc, &m, 0),
            b.arg_map(Access::Read, &m, 1),
        ],
    )
    .unwrap();
    par_loop(
        &ki,
        &edges,
        &[
            b.arg_map(Access::Inc, &m, 0),
            a.arg_map(Access::Read, &m, 1),
        ],
    )
    .unwrap();
    assert_eq!(n() - base, 1, "indirect loop with Dats swapped");

    // vector-map loop run twice -> 1
    let kv = Kernel::new(
        "kv",
        "void kv(const double *a, double *e) { e[0] = a[0] + a[1]; }",
    )
    .unwrap();
    let base = n();
    par_loop(
        &kv,
        &edges,
        &[a.arg_vec(Access::Read, &m), x.arg(Access::Write)],
    )
    .unwrap();
    par_loop(
        &kv,
        &edges,
        &[a.arg_vec(Access::Read, &m), x.arg(Access::Write)],
    )
    .unwrap();
    assert_eq!(n() - base, 1, "vector map twice");

    // different sets of different sizes, same kernel and shapes -> 1
    let kd = Kernel::new("kd", "void kd(double *a) { a[0] = 1.0; }").unwrap();
    let base = n();
    let s1 = Set::new(5).unwrap();
    let s2 = Set::new(5000).unwrap();
    par_loop(
        &kd,
        &s1,
        &[Dat::zeros(&DataSet::new(&s1, 1).unwrap(), DType::F64).arg(Access::Write)],
    )
    .unwrap();
    par_loop(
        &kd,
        &s2,
        &[Dat::zeros(&DataSet::new(&s2, 1).unwrap(), DType::F64).arg(Access::Write)],
    )
    .unwrap();
    assert_eq!(n() - base, 1, "set size is not in the key");

    // a Dat's dtype u32 -> i32 -> 2
    let kt = Kernel::new("kt", "void kt(void *a) { }").unwrap();
    let base = n();
    par_loop(
        &kt,
        &edges,
        &[Dat::zeros(&de, DType::U32).arg(Access::Write)],
    )
    .unwrap();
    par_loop(
        &kt,
        &edges,
        &[Dat::zeros(&de, DType::I32).arg(Access::Write)],
    )
    .unwrap();
    assert_eq!(n() - base, 2, "Dat dtype is in the key");

    // a Global's dtype -> 2
    let kg = Kernel::new("kg", "void kg(void *g) { }").unwrap();
    let base = n();
    par_loop(
        &kg,
        &edges,
        &[Global::new(vec![0.0f64]).unwrap().arg(Access::Inc)],
    )
    .unwrap();
    par_loop(
        &kg,
        &edges,
        &[Global::new(vec![0.0f32]).unwrap().arg(Access::Inc)],
    )
    .unwrap();
    assert_eq!(n() - base, 2, "Global dtype is in the key");

    // And the counters saw hits for the repeats.
    let c = op2::cache::stats::get(op2::cache::memory::CACHE_NAME);
    assert!(c.hits >= 5 && c.misses >= 9, "{c:?}");

    // Repeats of one loop (par_loop then finds it without a lookup) count one class hit and
    // one plan hit each, exactly; a change of any key property after them is a new entry.
    let class = || op2::cache::stats::get(op2::cache::memory::CACHE_NAME);
    let plans = || op2::cache::stats::get("object:Plan");
    let kr = Kernel::new("kr", "void kr(void *a, void *b) { }").unwrap();
    let dn2 = DataSet::new(&nodes, 2).unwrap();
    let base_args = || {
        [
            a.arg_map(Access::Inc, &m, 0),
            b.arg_map(Access::Read, &m, 1),
        ]
    };
    par_loop(&kr, &edges, &base_args()).unwrap();
    let (c0, p0, n0) = (class(), plans(), n());
    for _ in 0..50 {
        par_loop(&kr, &edges, &base_args()).unwrap();
    }
    let (c1, p1) = (class(), plans());
    assert_eq!(
        (c1.hits - c0.hits, c1.misses - c0.misses),
        (50, 0),
        "{c1:?}"
    );
    assert_eq!(
        (p1.hits - p0.hits, p1.misses - p0.misses),
        (50, 0),
        "{p1:?}"
    );
    assert_eq!(n(), n0);
    let variants: Vec<(&str, Vec<op2::Arg>)> = vec![
        (
            "access",
            vec![a.arg_map(Access::RW, &m, 0), b.arg_map(Access::Read, &m, 1)],
        ),
        (
            "map index",
            vec![
                a.arg_map(Access::Inc, &m, 1),
                b.arg_map(Access::Read, &m, 1),
            ],
        ),
        (
            "arg_vec",
            vec![a.arg_vec(Access::Inc, &m), b.arg_map(Access::Read, &m, 1)],
        ),
        (
            "dtype",
            vec![
                Dat::zeros(&dn, DType::F32).arg_map(Access::Inc, &m, 0),
                b.arg_map(Access::Read, &m, 1),
            ],
        ),
        (
            "dim",
            vec![
                Dat::zeros(&dn2, DType::F64).arg_map(Access::Inc, &m, 0),
                b.arg_map(Access::Read, &m, 1),
            ],
        ),
        (
            "aliasing",
            vec![a.arg_map(Access::Inc, &m, 0), a.arg_map(Access::Inc, &m, 1)],
        ),
        (
            "direct",
            vec![x.arg(Access::Inc), b.arg_map(Access::Read, &m, 1)],
        ),
        (
            "Global",
            vec![
                a.arg_map(Access::Inc, &m, 0),
                Global::new(vec![0.0f64]).unwrap().arg(Access::Read),
            ],
        ),
    ];
    for (what, args) in variants {
        for _ in 0..3 {
            par_loop(&kr, &edges, &base_args()).unwrap();
        }
        let before = n();
        par_loop(&kr, &edges, &args).unwrap();
        assert_eq!(n(), before + 1, "{what}: a new class-cache entry");
        par_loop(&kr, &edges, &args).unwrap();
        assert_eq!(n(), before + 1, "{what}: then a hit");
    }
    // Another Map object (same values): the same code, another plan.
    let m2 = Map::new(&edges, &nodes, 2, (0..20).collect()).unwrap();
    let (before, p2) = (n(), plans());
    par_loop(
        &kr,
        &edges,
        &[
            a.arg_map(Access::Inc, &m2, 0),
            b.arg_map(Access::Read, &m2, 1),
        ],
    )
    .unwrap();
    assert_eq!(n(), before, "same shapes through another map: same code");
    assert_eq!(plans().misses, p2.misses + 1, "another map: another plan");
}
