//! Subsets (PyOP2's `Subset`): the behaviours of PyOP2's `test_subset.py`, ported, plus
//! op2's own rules (validation, identity, no caching, plans freed with the subset), on one
//! process with 2 threads and blocks of 4 elements, so loops over subsets are cut into
//! coloured blocks (the plan is over the subset's positions).
// A test program: it sets the environment of the op2 it runs (clippy.toml keeps that out of
// the library).
#![allow(clippy::disallowed_methods)]
mod common;
use op2::{par_loop, Access, Dat, DataSet, Global, Kernel, Map, Mat, Set, Sparsity};

const NELEMS: usize = 32;

fn setup() {
    common::two_threads_small_blocks();
}

fn inc_kernel() -> Kernel {
    Kernel::new("inc", "void inc(unsigned int *v) { *v += 1; }").unwrap()
}

fn u32_dat(s: &Set) -> Dat {
    Dat::new(&DataSet::new(s, 1).unwrap(), vec![0u32; s.size()]).unwrap()
}

fn evens() -> Vec<usize> {
    (0..NELEMS).step_by(2).collect()
}

#[test]
fn direct_loop() {
    setup();
    let iterset = Set::named("iterset", NELEMS).unwrap();
    let ss = iterset.subset(&evens()).unwrap();
    let d = u32_dat(&iterset);
    par_loop(&inc_kernel(), &ss, &[d.arg(Access::RW)]).unwrap();
    let nonzero: Vec<usize> = (d.to_vec::<u32>().unwrap().iter().enumerate())
        .filter(|(_, &v)| v != 0)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(nonzero, evens());
}

#[test]
fn direct_loop_empty() {
    setup();
    let iterset = Set::named("iterset", NELEMS).unwrap();
    let ss = iterset.subset(&[]).unwrap();
    assert_eq!((ss.size(), ss.core_size(), ss.total_size()), (0, 0, 0));
    let d = u32_dat(&iterset);
    par_loop(&inc_kernel(), &ss, &[d.arg(Access::RW)]).unwrap();
    assert!(d.to_vec::<u32>().unwrap().iter().all(|&v| v == 0));
}

/// The subsets of even and of odd elements.
fn even_odd(iterset: &Set) -> (op2::Subset, op2::Subset) {
    let odd: Vec<usize> = (1..NELEMS).step_by(2).collect();
    (
        iterset.subset(&evens()).unwrap(),
        iterset.subset(&odd).unwrap(),
    )
}

#[test]
fn direct_complementary_subsets() {
    setup();
    let iterset = Set::named("iterset", NELEMS).unwrap();
    let (sseven, ssodd) = even_odd(&iterset);
    let d = u32_dat(&iterset);
    par_loop(&inc_kernel(), &sseven, &[d.arg(Access::RW)]).unwrap();
    par_loop(&inc_kernel(), &ssodd, &[d.arg(Access::RW)]).unwrap();
    assert!(d.to_vec::<u32>().unwrap().iter().all(|&v| v == 1));
}

#[test]
fn direct_loop_sub_subset() {
    setup();
    let iterset = Set::named("iterset", NELEMS).unwrap();
    let ss = iterset.subset(&evens()).unwrap();
    let sub: Vec<usize> = (0..NELEMS / 2).step_by(2).collect();
    let sss = ss.subset(&sub).unwrap();
    // A subset of a subset chooses from the root set directly.
    assert!(sss.superset() == &iterset);
    let every4: Vec<i32> = (0..NELEMS as i32).step_by(4).collect();
    assert_eq!(sss.indices(), &every4[..]);
    let d = u32_dat(&iterset);
    par_loop(&inc_kernel(), &sss, &[d.arg(Access::RW)]).unwrap();
    let ss2 = iterset
        .subset(&(0..NELEMS).step_by(4).collect::<Vec<_>>())
        .unwrap();
    let d2 = u32_dat(&iterset);
    par_loop(&inc_kernel(), &ss2, &[d2.arg(Access::RW)]).unwrap();
    assert_eq!(d.to_vec::<u32>().unwrap(), d2.to_vec::<u32>().unwrap());
}

/// `Map(iterset, indset, 1, [i % 2])`.
fn parity_map(iterset: &Set) -> (Set, Map) {
    let indset = Set::named("indset", 2).unwrap();
    let vals = (0..NELEMS as i32).map(|i| i % 2).collect();
    let m = Map::named("parity", iterset, &indset, 1, vals).unwrap();
    (indset, m)
}

#[test]
fn indirect_loop() {
    setup();
    let iterset = Set::named("iterset", NELEMS).unwrap();
    let ss = iterset.subset(&evens()).unwrap();
    let (indset, map) = parity_map(&iterset);
    let d = u32_dat(&indset);
    par_loop(&inc_kernel(), &ss, &[d.arg_map(Access::Inc, &map, 0)]).unwrap();
    assert_eq!(d.to_vec::<u32>().unwrap(), vec![NELEMS as u32 / 2, 0]);
}

#[test]
fn indirect_loop_empty() {
    setup();
    let iterset = Set::named("iterset", NELEMS).unwrap();
    let ss = iterset.subset(&[]).unwrap();
    let (indset, map) = parity_map(&iterset);
    let d = u32_dat(&indset);
    par_loop(&inc_kernel(), &ss, &[d.arg_map(Access::Inc, &map, 0)]).unwrap();
    assert_eq!(d.to_vec::<u32>().unwrap(), vec![0, 0]);
}

#[test]
fn indirect_loop_with_direct_dat() {
    setup();
    let iterset = Set::named("iterset", NELEMS).unwrap();
    let ss = iterset.subset(&evens()).unwrap();
    let (indset, map) = parity_map(&iterset);
    // Odd elements hold a poison value the loop must never read.
    let values: Vec<u32> = (0..NELEMS as u32)
        .map(|i| if i % 2 == 0 { i / 2 } else { 2976579765 })
        .collect();
    let dat1 = Dat::new(&DataSet::new(&iterset, 1).unwrap(), values.clone()).unwrap();
    let dat2 = u32_dat(&indset);
    let k = Kernel::new(
        "inc2",
        "void inc2(unsigned *d, const unsigned *s) { *d += *s; }",
    )
    .unwrap();
    let args = [dat2.arg_map(Access::Inc, &map, 0), dat1.arg(Access::Read)];
    par_loop(&k, &ss, &args).unwrap();
    let want: u32 = values.iter().step_by(2).sum();
    assert_eq!(dat2.to_vec::<u32>().unwrap()[0], want);
}

#[test]
fn complementary_subsets() {
    setup();
    let iterset = Set::named("iterset", NELEMS).unwrap();
    let (sseven, ssodd) = even_odd(&iterset);
    let indset = Set::named("indset", NELEMS).unwrap();
    let map = Map::new(&iterset, &indset, 1, (0..NELEMS as i32).collect()).unwrap();
    let (dat1, dat2) = (u32_dat(&iterset), u32_dat(&indset));
    let k = Kernel::new(
        "inc12",
        "void inc12(unsigned *v1, unsigned *v2) { *v1 += 1; *v2 += 1; }",
    )
    .unwrap();
    for ss in [&sseven, &ssodd] {
        let args = [dat1.arg(Access::RW), dat2.arg_map(Access::Inc, &map, 0)];
        par_loop(&k, ss, &args).unwrap();
    }
    let sum = |d: &Dat| d.to_vec::<u32>().unwrap().iter().sum::<u32>();
    assert_eq!((sum(&dat1), sum(&dat2)), (NELEMS as u32, NELEMS as u32));
}

#[test]
fn matrix() {
    setup();
    let iterset = Set::named("iterset", 2).unwrap();
    let idset = Set::named("idset", 2).unwrap();
    let indset = Set::named("indset", 4).unwrap();
    let ss01 = iterset.subset(&[0, 1]).unwrap();
    // PyOP2 sorts [1, 0] into the same subset; op2 refuses unsorted indices.
    let err = iterset.subset(&[1, 0]).unwrap_err().to_string();
    assert!(err.contains("iterset") && err.contains("sorted"), "{err}");
    let dat = Dat::new(&DataSet::new(&idset, 1).unwrap(), vec![0.0f64, 1.0]).unwrap();
    let map = Map::new(&iterset, &indset, 4, vec![0, 1, 2, 3, 0, 1, 2, 3]).unwrap();
    let idmap = Map::new(&iterset, &idset, 1, vec![0, 1]).unwrap();
    let ds = DataSet::new(&indset, 1).unwrap();
    let sp = Sparsity::new(&ds, &ds, &[(map.clone(), map.clone())]).unwrap();
    let k = Kernel::new(
        "unique_id",
        "void unique_id(double *mat, const double *dat) {\n  for (int i = 0; i < 4; ++i)\n    for (int j = 0; j < 4; ++j)\n      mat[i * 4 + j] += (*dat) * 16 + i * 4 + j;\n}",
    )
    .unwrap();
    let whole = Mat::new(&sp, op2::DType::F64).unwrap();
    let sub = Mat::new(&sp, op2::DType::F64).unwrap();
    let args = |m: &Mat| {
        [
            m.arg(Access::Inc, (&map, &map)),
            dat.arg_map(Access::Read, &idmap, 0),
        ]
    };
    par_loop(&k, &iterset, &args(&whole)).unwrap();
    par_loop(&k, &ss01, &args(&sub)).unwrap();
    assert_eq!(whole.values().unwrap(), sub.values().unwrap());
    assert!(whole.values().unwrap().iter().any(|&v| v != 0.0));
    // A Mat through a subset of one element: only that element's contribution.
    let one = iterset.subset(&[1]).unwrap();
    let m1 = Mat::new(&sp, op2::DType::F64).unwrap();
    par_loop(&k, &one, &args(&m1)).unwrap();
    assert_eq!(m1.get(0, 1).unwrap(), 16.0 + 1.0);
}

#[test]
fn subsets_are_validated_and_name_the_set() {
    setup();
    let s = Set::named("cells", 5).unwrap();
    for (bad, why) in [
        (&[0usize, 5][..], "outside"),
        (&[3, 2][..], "not sorted"),
        (&[1, 1][..], "repeated"),
    ] {
        let e = s.subset(bad).unwrap_err().to_string();
        assert!(e.contains("cells") && e.contains(why), "{bad:?}: {e}");
    }
    let ss = s.subset(&[1, 3]).unwrap();
    // Positions of a subset, not elements of the superset.
    assert!(ss.subset(&[2]).unwrap_err().to_string().contains("[0, 2)"));
    // A subset holds no data and starts no map: those live on the superset.
    assert!(DataSet::new(&ss, 1).is_err());
    let t = Set::new(2).unwrap();
    assert!(Map::new(&ss, &t, 1, vec![0, 1]).is_err());
    // Direct Dats of a loop over a subset are on its superset.
    let other = Set::named("other", 2).unwrap();
    let d = u32_dat(&other);
    let e = par_loop(&inc_kernel(), &ss, &[d.arg(Access::RW)]).unwrap_err();
    assert!(e.to_string().contains("other"), "{e}");
}

#[test]
fn subsets_are_not_cached_and_their_plans_die_with_them() {
    setup();
    let s = Set::named("cells", 8).unwrap();
    let (a, b) = (s.subset(&[1, 2]).unwrap(), s.subset(&[1, 2]).unwrap());
    assert!(
        *a != *b,
        "PyOP2 does not cache Subsets: two calls, two sets"
    );
    assert!(*a.as_set() == *a.clone(), "a clone is the same subset");
    assert_eq!(a.global_size(), 2);
    let d = u32_dat(&s);
    let weak = {
        let c = s.subset(&[0, 7]).unwrap();
        par_loop(&inc_kernel(), &c, &[d.arg(Access::RW)]).unwrap();
        c.downgrade()
    };
    assert!(
        !weak.is_alive(),
        "the subset (and the plans cached on it) is freed"
    );
    assert!(s.downgrade().is_alive());
    assert_eq!(d.to_vec::<u32>().unwrap(), vec![1, 0, 0, 0, 0, 0, 0, 1]);
}

/// A random mesh: edges -> nodes (arity 2); a random subset of edges runs INC into nodes
/// through the map, a direct WRITE and a Global reduction; on 2 threads with blocks of 4 the
/// blocks of the subset are coloured by the elements they visit. Against a serial reference.
#[test]
fn random_subset_threaded_matches_serial_reference() {
    setup();
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    let (ne, nn) = (700, 90);
    let edges = Set::named("edges", ne).unwrap();
    let nodes = Set::named("nodes", nn).unwrap();
    let vals: Vec<i32> = (0..2 * ne).map(|_| rng.gen_range(0..nn as i32)).collect();
    let e2n = Map::named("e2n", &edges, &nodes, 2, vals.clone()).unwrap();
    let chosen: Vec<usize> = (0..ne).filter(|_| rng.gen_bool(0.3)).collect();
    let ss = edges.subset(&chosen).unwrap();
    let w: Vec<f64> = (0..ne).map(|i| 1.0 + (i % 7) as f64).collect();
    let wd = Dat::new(&DataSet::new(&edges, 1).unwrap(), w.clone()).unwrap();
    let flag = Dat::new(&DataSet::new(&edges, 1).unwrap(), vec![-1i32; ne]).unwrap();
    let acc = Dat::new(&DataSet::new(&nodes, 1).unwrap(), vec![0.0f64; nn]).unwrap();
    let total = Global::scalar(0.0f64);
    let k = Kernel::new(
        "spread",
        "void spread(const double *w, int *f, double *a, double *t) { a[0] += w[0]; a[1] += 2 * w[0]; f[0] = 1; t[0] += w[0]; }",
    )
    .unwrap();
    let args = [
        wd.arg(Access::Read),
        flag.arg(Access::Write),
        acc.arg_vec(Access::Inc, &e2n),
        total.arg(Access::Inc),
    ];
    par_loop(&k, &ss, &args).unwrap();
    let (mut want_acc, mut want_flag, mut want_total) = (vec![0.0; nn], vec![-1; ne], 0.0);
    for &e in &chosen {
        want_acc[vals[2 * e] as usize] += w[e];
        want_acc[vals[2 * e + 1] as usize] += 2.0 * w[e];
        want_flag[e] = 1;
        want_total += w[e];
    }
    assert_eq!(acc.to_vec::<f64>().unwrap(), want_acc);
    assert_eq!(flag.to_vec::<i32>().unwrap(), want_flag);
    assert_eq!(total.get::<f64>().unwrap(), want_total);
}
