//! Loop execution plans and block colourings: built once per (loop, iteration set, maps),
//! cached on the iteration set, freed with it, counted in the cache report. One test function:
//! the counters are process-wide, so nothing else may run loops in this process at the same
//! time. Runs with 2 threads and blocks of 4 elements (set before the first loop reads the
//! configuration), so larger loops are cut into coloured blocks.
use op2::cache::stats;
use op2::{par_loop, Access, Dat, DataSet, Kernel, Map, Set};

const PLANS: &str = "object:Plan";
const COLOURINGS: &str = "object:Colouring";

#[test]
fn plans_and_colourings_are_built_once_and_freed_with_their_set() {
    let dir = tempfile::tempdir().unwrap();
    let config = op2::Config::default().cache_dir(dir.path());
    let _rt = op2::Runtime::serial(config.threads(2).block_size(4)).unwrap();
    plans();
    colourings();
}

fn plans() {
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
        assert_eq!(
            c2.hits,
            c1.hits + 1,
            "second call with the same args is a hit"
        );
        assert_eq!((c2.misses, c2.entries), (c1.misses, c1.entries));
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![10.0, 4.0, 6.0]);

        // Another Map object (same values) is another identity: another plan.
        let m2 = Map::new(&s, &t, 1, vec![0, 1, 2, 0]).unwrap();
        par_loop(
            &k,
            &s,
            &[x.arg(Access::Read), y.arg_map(Access::Inc, &m2, 0)],
        )
        .unwrap();
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
        par_loop(
            &k,
            &s,
            &[x2.arg(Access::Read), y.arg_map(Access::Inc, &m, 0)],
        )
        .unwrap();
        let c5 = stats::get(PLANS);
        assert_eq!(c5.misses, c4.misses);
        assert_eq!(c5.hits, c4.hits + 1);
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![32.0, 13.0, 19.0]);

        // Another iteration set: another plan, in that set's cache.
        let s2 = Set::named("cells2", 4).unwrap();
        let m3 = Map::new(&s2, &t, 1, vec![0, 1, 2, 0]).unwrap();
        let x3 = Dat::new(&DataSet::new(&s2, 1).unwrap(), vec![1.0f64; 4]).unwrap();
        par_loop(
            &k,
            &s2,
            &[x3.arg(Access::Read), y.arg_map(Access::Inc, &m3, 0)],
        )
        .unwrap();
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

/// A random-ish map from `n` elements to `nt` targets.
fn scatter(from: &Set, to: &Set, arity: usize, seed: u64) -> Map {
    let (n, nt) = (from.size() as u64, to.size() as u64);
    let vals = (0..n * arity as u64)
        .map(|i| ((i * 2654435761 + seed * 40503) % nt) as i32)
        .collect();
    Map::new(from, to, arity, vals).unwrap()
}

fn colourings() {
    let inc = Kernel::new(
        "inc2",
        "void inc2(const double *x, double *y, long *c, double *s) { y[0] += x[0]; y[1] += 0.5 * x[0]; c[0] += 1; s[0] += x[0]; }",
    )
    .unwrap();
    let inc_other = Kernel::new(
        "inc2b",
        "void inc2b(const double *x, double *y) { y[0] -= x[0]; y[1] -= x[0]; }",
    )
    .unwrap();
    let c0 = stats::get(COLOURINGS);
    let weak = {
        let (n, nt) = (1000, 97);
        let s = Set::named("elements", n).unwrap();
        let t = Set::named("targets", nt).unwrap();
        let m = scatter(&s, &t, 2, 1);
        let xs: Vec<f64> = (0..n).map(|i| 1.0 / (1.0 + i as f64)).collect();
        let x = Dat::new(&DataSet::new(&s, 1).unwrap(), xs.clone()).unwrap();
        let tds = DataSet::new(&t, 1).unwrap();
        let run = || {
            let y = Dat::new(&tds, vec![0.0f64; nt]).unwrap();
            let c = Dat::new(&tds, vec![0i64; nt]).unwrap();
            let sum = op2::Global::new(vec![0.0f64]).unwrap();
            let cm = scatter(&s, &t, 1, 7);
            par_loop(
                &inc,
                &s,
                &[
                    x.arg(Access::Read),
                    y.arg_vec(Access::Inc, &m),
                    c.arg_map(Access::Inc, &cm, 0),
                    sum.arg(Access::Inc),
                ],
            )
            .unwrap();
            (
                y.to_vec::<f64>().unwrap(),
                c.to_vec::<i64>().unwrap(),
                sum.value::<f64>().unwrap()[0],
            )
        };
        let (y1, cnt1, s1) = run();
        let c1 = stats::get(COLOURINGS);
        assert_eq!(
            c1.misses,
            c0.misses + 1,
            "the first threaded loop colours its blocks"
        );
        assert_eq!(c1.entries, c0.entries + 1);
        // Serial reference: integers exact, floats to rounding.
        let mv = m.values();
        let mut y_ref = vec![0.0f64; nt];
        for e in 0..n {
            y_ref[mv[2 * e] as usize] += xs[e];
            y_ref[mv[2 * e + 1] as usize] += 0.5 * xs[e];
        }
        for (a, b) in y1.iter().zip(&y_ref) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert_eq!(cnt1.iter().sum::<i64>(), n as i64);
        let s_ref: f64 = xs.iter().sum();
        assert!((s1 - s_ref).abs() < 1e-12 * s_ref);
        // Run to run: bit-identical for a given thread count. Each run makes a fresh count
        // map, which is written through: another plan and another colouring.
        let (y2, cnt2, s2) = run();
        assert_eq!(y1, y2);
        assert_eq!(cnt1, cnt2);
        assert_eq!(s1.to_bits(), s2.to_bits());
        let c2 = stats::get(COLOURINGS);
        assert_eq!(
            c2.misses,
            c1.misses + 1,
            "a fresh written map is another colouring"
        );
        // Another loop writing through the same map reuses the colouring (a cache hit).
        let y = Dat::new(&tds, vec![0.0f64; nt]).unwrap();
        par_loop(
            &inc_other,
            &s,
            &[x.arg(Access::Read), y.arg_vec(Access::Inc, &m)],
        )
        .unwrap();
        let c3 = stats::get(COLOURINGS);
        assert_eq!(
            c3.misses,
            c2.misses + 1,
            "written through m only: another key"
        );
        par_loop(
            &inc_other,
            &s,
            &[x.arg(Access::Read), y.arg_vec(Access::Inc, &m)],
        )
        .unwrap();
        let c4 = stats::get(COLOURINGS);
        assert_eq!(c4.misses, c3.misses, "plan hit: nothing recoloured");
        let y3 = Dat::new(&tds, vec![0.0f64; nt]).unwrap();
        let k3 = Kernel::new(
            "inc2c",
            "void inc2c(const double *x, double *y) { y[0] += 2.0 * x[0]; y[1] += x[0]; }",
        )
        .unwrap();
        par_loop(&k3, &s, &[x.arg(Access::Read), y3.arg_vec(Access::Inc, &m)]).unwrap();
        let c5 = stats::get(COLOURINGS);
        assert_eq!(
            c5.misses, c4.misses,
            "same set, block size and written map: a hit"
        );
        assert_eq!(c5.hits, c4.hits + 1);
        assert!(c5.bytes > c0.bytes);
        s.downgrade()
    };
    assert!(!weak.is_alive());
    let end = stats::get(COLOURINGS);
    assert_eq!(end.entries, c0.entries, "colourings outlived their set");
    assert_eq!(end.bytes, c0.bytes);
}
