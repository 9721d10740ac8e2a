//! Loop execution plans: built once per (loop, iteration set, maps), cached on the iteration
//! set, freed with it, counted in the cache report. One test function: the counters are
//! process-wide, so nothing else may run loops in this process at the same time.
use op2::cache::stats;
use op2::{par_loop, Access, Dat, DataSet, Kernel, Map, Set};

const PLANS: &str = "object:Plan";

#[test]
fn a_plan_is_built_once_per_loop_and_set_and_freed_with_the_set() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("OP2_CACHE_DIR", dir.path());
    let k = Kernel::new(
        "spread",
        "void spread(const double *x, double *y) { y[0] += x[0]; }",
    )
    .unwrap();
    let c0 = stats::get(PLANS);
    let (weak_set, y) = {
        let s = Set::named("cells", 4).unwrap();
        let t = Set::named("nodes", 3).unwrap();
        let m = Map::new(&s, &t, 1, vec![0, 1, 2, 0]).unwrap();
        let x = Dat::new(&DataSet::new(&s, 1).unwrap(), vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
        let y = Dat::new(&DataSet::new(&t, 1).unwrap(), vec![0.0f64; 3]).unwrap();
        let args = || [x.arg(Access::Read), y.arg_map(Access::Inc, &m, 0)];

        par_loop(&k, &s, &args()).unwrap();
        let c1 = stats::get(PLANS);
        assert_eq!(c1.misses, c0.misses + 1, "first call builds the plan");
        assert_eq!(c1.entries, c0.entries + 1);
        assert!(c1.bytes > c0.bytes);

        par_loop(&k, &s, &args()).unwrap();
        let c2 = stats::get(PLANS);
        assert_eq!(c2.hits, c1.hits + 1, "second call with the same args is a hit");
        assert_eq!((c2.misses, c2.entries), (c1.misses, c1.entries));
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![10.0, 4.0, 6.0]);

        // Another Map object (same values) is another identity: another plan.
        let m2 = Map::new(&s, &t, 1, vec![0, 1, 2, 0]).unwrap();
        par_loop(&k, &s, &[x.arg(Access::Read), y.arg_map(Access::Inc, &m2, 0)]).unwrap();
        let c3 = stats::get(PLANS);
        assert_eq!(c3.misses, c2.misses + 1);
        assert_eq!(c3.entries, c2.entries + 1);

        // The same argument object passed twice (aliasing) is another plan too.
        let k2 = Kernel::new(
            "spread2",
            "void spread2(const double *x, double *y, double *z) { y[0] += x[0]; z[0] += x[0]; }",
        )
        .unwrap();
        let z = Dat::new(&DataSet::new(&t, 1).unwrap(), vec![0.0f64; 3]).unwrap();
        let with = |z: &Dat| {
            [
                x.arg(Access::Read),
                y.arg_map(Access::Inc, &m, 0),
                z.arg_map(Access::Inc, &m, 0),
            ]
        };
        par_loop(&k2, &s, &with(&z)).unwrap();
        par_loop(&k2, &s, &with(&y)).unwrap();
        let c4 = stats::get(PLANS);
        assert_eq!(c4.misses, c3.misses + 2, "aliased and distinct Dats differ");
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![30.0, 12.0, 18.0]);
        assert_eq!(z.to_vec::<f64>().unwrap(), vec![5.0, 2.0, 3.0]);

        // A fresh Dat on the same DataSet reuses the plan (Dats are not part of its key).
        let x2 = Dat::new(&DataSet::new(&s, 1).unwrap(), vec![1.0f64; 4]).unwrap();
        par_loop(&k, &s, &[x2.arg(Access::Read), y.arg_map(Access::Inc, &m, 0)]).unwrap();
        let c5 = stats::get(PLANS);
        assert_eq!(c5.misses, c4.misses);
        assert_eq!(c5.hits, c4.hits + 1);
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![32.0, 13.0, 19.0]);

        // Another iteration set: another plan, in that set's cache.
        let s2 = Set::named("cells2", 4).unwrap();
        let m3 = Map::new(&s2, &t, 1, vec![0, 1, 2, 0]).unwrap();
        let x3 = Dat::new(&DataSet::new(&s2, 1).unwrap(), vec![1.0f64; 4]).unwrap();
        par_loop(&k, &s2, &[x3.arg(Access::Read), y.arg_map(Access::Inc, &m3, 0)]).unwrap();
        let c6 = stats::get(PLANS);
        assert_eq!(c6.misses, c5.misses + 1);
        assert_eq!(c6.entries, c0.entries + 5);
        (s.downgrade(), y)
    };
    // Every handle on the iteration sets is gone (y lives on `nodes`, which holds no plan):
    // the sets, their caches and the five plans are freed.
    assert!(!weak_set.is_alive(), "iteration set leaked");
    let end = stats::get(PLANS);
    assert_eq!(end.entries, c0.entries, "plans outlived their sets");
    assert_eq!(end.bytes, c0.bytes);
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![34.0, 14.0, 20.0]);
    // The report names the plan cache.
    assert!(stats::snapshot().contains_key(PLANS));
}
