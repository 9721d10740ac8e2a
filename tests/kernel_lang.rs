//! C++ kernels (`Kernel::cxx`: the module compiled as C++, the language in the key), and sets
//! with halo storage but no exchange plan (`Set::with_sizes`), against serial references (one
//! process, serial communicator, real compiler, fresh cache directory).
use op2::{par_loop, Access, DType, Dat, DataSet, Kernel, Map, Set};

fn setup() {
    static RUNTIME: std::sync::Once = std::sync::Once::new();
    RUNTIME.call_once(|| {
        let d = tempfile::Builder::new()
            .prefix("op2-kernel-lang-")
            .tempdir()
            .unwrap();
        // 2 threads and small blocks: indirect MIN/MAX run in coloured blocks.
        let config = op2::Config::default()
            .cache_dir(d.path())
            .threads(2)
            .block_size(64);
        let rt = op2::Runtime::serial(config).unwrap();
        std::mem::forget(rt); // the process's serial runtime, for every test in this file
        std::mem::forget(d);
    });
}

const CXX: &str = "#include <cmath>\n#include <algorithm>\n\
    static void k(double *y, const double *w) { *y = std::max(std::abs(*y), w[0]); }";

#[test]
fn a_cxx_kernel_runs_and_the_same_code_as_c_fails_to_compile() {
    setup();
    let s = Set::new(300).unwrap();
    let ds = DataSet::new(&s, 1).unwrap();
    let y0: Vec<f64> = (0..300).map(|i| 1.5 - i as f64 * 0.25).collect();
    let y = Dat::new(&ds, y0.clone()).unwrap();
    let w = Dat::new(&ds, vec![7.0f64; 300]).unwrap();
    let k = Kernel::cxx("k", CXX, &[]).unwrap();
    assert!(k.is_cxx());
    par_loop(&k, &s, &[y.arg(Access::RW), w.arg(Access::Read)]).unwrap();
    let got = y.to_vec::<f64>().unwrap();
    for (g, v) in got.iter().zip(&y0) {
        assert_eq!(*g, v.abs().max(7.0));
    }
    // Same name and code as C: another kernel (the language is in the key), and C has no <cmath>.
    let c = Kernel::new("k", CXX).unwrap();
    let e = par_loop(&c, &s, &[y.arg(Access::RW), w.arg(Access::Read)]).unwrap_err();
    assert!(e.to_string().contains("cmath"), "{e}");
}

#[test]
fn min_max_through_a_map_on_threads_equal_the_serial_fold() {
    setup();
    let (ne, nn) = (5000, 700);
    let edges = Set::new(ne).unwrap();
    let nodes = Set::new(nn).unwrap();
    let vals: Vec<i32> = (0..ne)
        .flat_map(|e| [(e * 7 % nn) as i32, ((e * 13 + 5) % nn) as i32])
        .collect();
    let m = Map::new(&edges, &nodes, 2, vals.clone()).unwrap();
    let w: Vec<i64> = (0..ne as i64).map(|e| (e * 7919) % 1009 - 500).collect();
    let wd = Dat::new(&DataSet::new(&edges, 1).unwrap(), w.clone()).unwrap();
    let lo = Dat::new(&DataSet::new(&nodes, 1).unwrap(), vec![0i64; nn]).unwrap();
    let hi = Dat::zeros(&DataSet::new(&nodes, 1).unwrap(), DType::I64);
    // Stores the candidate without comparing: only the fold after the call can be right.
    let k = Kernel::new(
        "mm",
        "void mm(const int64_t *w, int64_t *lo, int64_t *hi) { lo[0] = w[0]; lo[1] = w[0] - 1; hi[0] = w[0]; hi[1] = w[0] + 1; }",
    )
    .unwrap();
    let args = [
        wd.arg(Access::Read),
        lo.arg_vec(Access::Min, &m),
        hi.arg_vec(Access::Max, &m),
    ];
    par_loop(&k, &edges, &args).unwrap();
    let (mut elo, mut ehi) = (vec![0i64; nn], vec![0i64; nn]);
    for e in 0..ne {
        let (a, b) = (vals[2 * e] as usize, vals[2 * e + 1] as usize);
        elo[a] = elo[a].min(w[e]);
        elo[b] = elo[b].min(w[e] - 1);
        ehi[a] = ehi[a].max(w[e]);
        ehi[b] = ehi[b].max(w[e] + 1);
    }
    assert_eq!(lo.to_vec::<i64>().unwrap(), elo);
    assert_eq!(hi.to_vec::<i64>().unwrap(), ehi);
}

#[test]
fn a_set_with_halo_sizes_runs_its_owned_elements_and_keeps_its_halo_values() {
    setup();
    let s = Set::with_sizes("s", 0, 6, 10).unwrap();
    assert_eq!((s.core_size(), s.size(), s.total_size()), (0, 6, 10));
    assert!(s.halo().is_none());
    assert!(Set::with_sizes("bad", 4, 3, 10).is_err());
    let x = Dat::new(
        &DataSet::new(&s, 1).unwrap(),
        (0..10).map(f64::from).collect::<Vec<_>>(),
    )
    .unwrap();
    let k = Kernel::new("inc1", "void inc1(double *x) { x[0] += 1; }").unwrap();
    par_loop(&k, &s, &[x.arg(Access::RW)]).unwrap();
    let want: Vec<f64> = (0..10)
        .map(|i| if i < 6 { i as f64 + 1.0 } else { i as f64 })
        .collect();
    assert_eq!(x.data_ro_with_halos::<f64>().unwrap().to_vec(), want);
}
