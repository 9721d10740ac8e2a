//! DatViews (PyOP2's `DatView`) as par_loop arguments and data without copies (`data_ro`,
//! `data`, the with-halos variants, Global slices), on one process against plain Rust.
// A test program: it sets the environment of the op2 it runs (clippy.toml keeps that out of
// the library).
#![allow(clippy::disallowed_methods)]
use op2::{par_loop, Access, Dat, DataSet, Global, Kernel, Map, Set};

fn setup() {
    static ONCE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let d = ONCE.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        std::env::set_var("OP2_CACHE_DIR", d.path());
        d
    });
    assert!(d.path().exists());
}

/// `n` elements of dim 3: element `e` holds `(e, 10 e, 100 e)`.
fn vec3(s: &Set) -> Dat {
    let vals = (0..s.size()).flat_map(|e| [e as f64, 10.0 * e as f64, 100.0 * e as f64]);
    Dat::new(&DataSet::new(s, 3).unwrap(), vals.collect()).unwrap()
}

#[test]
fn direct_views_read_write_rw_inc_touch_one_component() {
    setup();
    let s = Set::new(50).unwrap();
    let d = vec3(&s);
    let out = Dat::zeros(&DataSet::new(&s, 1).unwrap(), op2::DType::F64);
    let k = Kernel::new(
        "vk",
        "void vk(const double *a, double *b, double *c, double *o) { o[0] = a[0]; b[0] = 7.0; c[0] += 1.0; }",
    )
    .unwrap();
    // Component 1 read, 0 written, 2 incremented: three views of one Dat, one access each
    // would be refused (two modes), so use three Dats' views in turn.
    let (a, b, c) = (vec3(&s), vec3(&s), d.clone());
    let args = [
        a.view(1).unwrap().arg(Access::Read),
        b.view(0).unwrap().arg(Access::Write),
        c.view(2).unwrap().arg(Access::Inc),
        out.arg(Access::Write),
    ];
    par_loop(&k, &s, &args).unwrap();
    let (o, b, c) = (
        out.to_vec::<f64>().unwrap(),
        b.to_vec::<f64>().unwrap(),
        c.to_vec::<f64>().unwrap(),
    );
    for e in 0..50 {
        let e3 = e as f64;
        assert_eq!(o[e], 10.0 * e3);
        assert_eq!(&b[3 * e..3 * e + 3], &[7.0, 10.0 * e3, 100.0 * e3]);
        assert_eq!(&c[3 * e..3 * e + 3], &[e3, 10.0 * e3, 100.0 * e3 + 1.0]);
    }
    assert_eq!(d.view(2).unwrap().to_vec::<f64>().unwrap()[3], 301.0);
}

#[test]
fn views_through_maps_gather_and_scatter_one_component() {
    setup();
    let (ne, nn) = (300, 41);
    let edges = Set::new(ne).unwrap();
    let nodes = Set::new(nn).unwrap();
    let vals: Vec<i32> = (0..ne)
        .flat_map(|e| [(e * 7 % nn) as i32, ((e * 13 + 5) % nn) as i32])
        .collect();
    let m = Map::new(&edges, &nodes, 2, vals.clone()).unwrap();
    let x = vec3(&nodes);
    let acc = vec3(&nodes);
    let k = Kernel::new(
        "vm",
        "void vm(const double *x1, const double *xs, double *a0, double *as) { a0[0] += x1[0]; as[0] += xs[0] + xs[1]; as[1] += 1.0; }",
    )
    .unwrap();
    let (x1, x2, a0, a2) = (
        x.view(1).unwrap(),
        x.view(2).unwrap(),
        acc.view(0).unwrap(),
        acc.view(2).unwrap(),
    );
    // a0 INC through one map entry and a2 INC through all: two views of one Dat, one mode.
    let args = [
        x1.arg_map(Access::Read, &m, 1),
        x2.arg_vec(Access::Read, &m),
        a0.arg_map(Access::Inc, &m, 0),
        a2.arg_vec(Access::Inc, &m),
    ];
    par_loop(&k, &edges, &args).unwrap();
    let mut want: Vec<f64> = (0..nn)
        .flat_map(|e| [e as f64, 10.0 * e as f64, 100.0 * e as f64])
        .collect();
    for e in 0..ne {
        let (p, q) = (vals[2 * e] as usize, vals[2 * e + 1] as usize);
        want[3 * p] += 10.0 * q as f64;
        want[3 * p + 2] += 100.0 * (p + q) as f64;
        want[3 * q + 2] += 1.0;
    }
    assert_eq!(acc.to_vec::<f64>().unwrap(), want);
    // WRITE through a map: only the viewed component of the reached nodes changes.
    let w = Kernel::new("vw", "void vw(double *t) { t[0] = -1.0; t[1] = -1.0; }").unwrap();
    par_loop(
        &w,
        &edges,
        &[acc.view(1).unwrap().arg_vec(Access::Write, &m)],
    )
    .unwrap();
    for &n in &vals {
        want[3 * n as usize + 1] = -1.0;
    }
    assert_eq!(acc.to_vec::<f64>().unwrap(), want);
}

#[test]
fn the_same_kernel_over_two_components_runs_two_codes() {
    setup();
    let s = Set::new(10).unwrap();
    let d = vec3(&s);
    let k = Kernel::new("dbl", "void dbl(double *v) { v[0] *= 2.0; }").unwrap();
    // Repeated calls hit the dispatch table: the component must be part of its identity.
    for c in [0, 1, 0, 2, 1] {
        par_loop(&k, &s, &[d.view(c).unwrap().arg(Access::RW)]).unwrap();
    }
    let got = d.to_vec::<f64>().unwrap();
    assert_eq!(&got[3..6], &[4.0, 40.0, 200.0]);
    let e = d.view(3).unwrap_err().to_string();
    assert!(e.contains("component 3") && e.contains("dim 3"), "{e}");
}

#[test]
fn data_slices_lend_the_storage_and_refuse_a_loop_while_lent() {
    setup();
    let s = Set::new(4).unwrap();
    let d = Dat::new(
        &DataSet::new(&s, 2).unwrap(),
        vec![1i64, 2, 3, 4, 5, 6, 7, 8],
    )
    .unwrap();
    let k = Kernel::new("inc1", "void inc1(int64_t *v) { v[0] += 1; }").unwrap();
    {
        let r = d.data_ro::<i64>().unwrap();
        assert_eq!(&r[..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        // Several readers at once; a reader does not stop to_vec.
        assert_eq!(d.data_ro::<i64>().unwrap().len(), 8);
        assert_eq!(d.to_vec::<i64>().unwrap()[0], 1);
        // A loop writing it would alias the slice: refused, naming the Dat (no deadlock).
        let e = par_loop(&k, &s, &[d.arg(Access::RW)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("lent") && e.contains("dat"), "{e}");
        assert!(d.data::<i64>().is_err());
        assert_eq!(r.as_ptr(), d.data_ro::<i64>().unwrap().as_ptr(), "no copy");
    }
    {
        let mut w = d.data::<i64>().unwrap();
        w[1] = 20;
        let p = w.as_mut_ptr();
        // SAFETY: `p` points to the 8 values the guard lends, alive while `w` is.
        unsafe { *p.add(2) = 30 };
        assert!(
            d.to_vec::<i64>().is_err(),
            "a writable slice excludes readers"
        );
        assert!(d.data_ro::<i64>().is_err());
    }
    assert!(d.data::<f64>().is_err(), "wrong dtype");
    par_loop(&k, &s, &[d.arg(Access::RW)]).unwrap();
    assert_eq!(d.to_vec::<i64>().unwrap(), vec![2, 20, 31, 4, 6, 6, 8, 8]);
    // Serial set: the with-halos variants cover the same owned values.
    assert_eq!(d.data_with_halos::<i64>().unwrap().len(), 8);
    assert_eq!(d.data_ro_with_halos::<i64>().unwrap()[1], 20);
}

#[test]
fn global_slices_lend_the_values() {
    setup();
    let s = Set::new(3).unwrap();
    let g = Global::new(vec![1.0f64, 2.0]).unwrap();
    let x = Dat::new(&DataSet::new(&s, 1).unwrap(), vec![1.0f64, 2.0, 3.0]).unwrap();
    let k = Kernel::new(
        "gk",
        "void gk(const double *x, double *g) { g[0] += x[0]; g[1] += 1.0; }",
    )
    .unwrap();
    {
        let mut w = g.data::<f64>().unwrap();
        w[0] = 10.0;
        let e = par_loop(&k, &s, &[x.arg(Access::Read), g.arg(Access::Inc)]).unwrap_err();
        assert!(e.to_string().contains("lent"), "{e}");
        assert!(g.value::<f64>().is_err());
    }
    assert_eq!(&g.data_ro::<f64>().unwrap()[..], &[10.0, 2.0]);
    par_loop(&k, &s, &[x.arg(Access::Read), g.arg(Access::Inc)]).unwrap();
    assert_eq!(g.value::<f64>().unwrap(), vec![16.0, 5.0]);
}
