//! A remembered loop is not reused across a change of the configuration in force: the same
//! loop before `init` (environment configuration, 1 thread), under a runtime with 2 threads and
//! another block size, and after finalize. Own process (it starts and ends MPI once).
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
use op2::cache::stats;
use op2::{par_loop, Access, Dat, DataSet, Kernel, Map, Set};

#[test]
fn a_configuration_change_is_never_a_remembered_hit() {
    let dir = tempfile::tempdir().unwrap();
    // Kept on purpose: the first phase is the configuration read from the environment with no
    // runtime at all (the fallback path), which a `Config` value cannot exercise.
    std::env::set_var("OP2_CACHE_DIR", dir.path());
    std::env::set_var("OP2_THREADS", "1");
    let plans = || stats::get("object:Plan");
    let cells = Set::new(64).unwrap();
    let nodes = Set::new(40).unwrap();
    let m = Map::new(&cells, &nodes, 1, (0..64).map(|i| i % 40).collect()).unwrap();
    let y = Dat::zeros(&DataSet::new(&nodes, 1).unwrap(), op2::DType::F64);
    let k = Kernel::new("k_cfg", "void k_cfg(double *y) { y[0] += 1.0; }").unwrap();
    let run = || par_loop(&k, &cells, &[y.arg_map(Access::Inc, &m, 0)]).unwrap();
    let want = |times: f64| -> Vec<f64> {
        (0..40)
            .map(|n| times * if n < 24 { 2.0 } else { 1.0 })
            .collect()
    };

    for _ in 0..3 {
        run();
    }
    let p0 = plans();
    assert_eq!(y.to_vec::<f64>().unwrap(), want(3.0));

    // Under a runtime with 2 threads and blocks of 8 the plan differs (a threaded schedule):
    // the first call must build it, not reuse the remembered 1-thread plan.
    let rt = op2::init(op2::Config::from_env().unwrap().threads(2).block_size(8)).unwrap();
    // (Checked after finalize: a panic under the runtime aborts the job without its message.)
    run();
    let p1 = plans();
    for _ in 0..3 {
        run();
    }
    let p2 = plans();
    let y7 = y.to_vec::<f64>().unwrap();
    rt.finalize().unwrap();
    assert_eq!(
        p1.misses,
        p0.misses + 1,
        "a new plan under the new configuration"
    );
    assert_eq!((p2.misses, p2.hits), (p1.misses, p1.hits + 3));
    assert_eq!(y7, want(7.0));

    // Back to the environment's configuration: its plan is found again (a hit, not a miss).
    run();
    let p3 = plans();
    assert_eq!((p3.misses, p3.hits), (p2.misses, p2.hits + 1));
    assert_eq!(y.to_vec::<f64>().unwrap(), want(8.0));
}
