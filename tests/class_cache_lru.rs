//! The class cache is bounded (OP2_MEMORY_CACHE_MAX_ENTRIES) with LRU eviction; an evicted
//! kernel is simply loaded again from the disk cache, never recompiled. Own process.
use op2::{par_loop, Access, DType, Dat, DataSet, Kernel, Set};

#[test]
fn lru_bound_evicts_oldest_and_reloads_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = op2::Config::default().cache_dir(dir.path());
    let _rt = op2::Runtime::serial(config.memory_cache_max_entries(2)).unwrap();
    let s = Set::new(10).unwrap();
    let d = Dat::zeros(&DataSet::new(&s, 1).unwrap(), DType::F64);
    let ks: Vec<Kernel> = (1..=3)
        .map(|i| {
            Kernel::new(
                &format!("k{i}"),
                &format!("void k{i}(double *a) {{ a[0] += {i}; }}"),
            )
            .unwrap()
        })
        .collect();
    for k in &ks {
        par_loop(k, &s, &[d.arg(Access::RW)]).unwrap();
    }
    assert_eq!(op2::cache::memory::len(), 2);
    let c = op2::cache::stats::get(op2::cache::memory::CACHE_NAME);
    assert_eq!(c.evictions, 1, "{c:?}");
    let compiles = op2::cache::stats::get(op2::cache::layout::CACHE_NAME).compiles;
    assert_eq!(compiles, 3);
    // k1 was evicted: running it again is a class miss, a disk hit, and still correct.
    par_loop(&ks[0], &s, &[d.arg(Access::RW)]).unwrap();
    assert_eq!(d.to_vec::<f64>().unwrap(), vec![7.0; 10]);
    let disk = op2::cache::stats::get(op2::cache::layout::CACHE_NAME);
    assert_eq!(disk.compiles, 3, "an evicted kernel must not be recompiled");
    assert_eq!(disk.hits, 1, "{disk:?}");

    // Repeated hits keep an entry recent. k3 was inserted before k1 (the cache holds both);
    // use k3 again and again, then insert k2: k1 (least recently used) goes, k3 stays.
    for _ in 0..5 {
        par_loop(&ks[2], &s, &[d.arg(Access::RW)]).unwrap();
    }
    par_loop(&ks[1], &s, &[d.arg(Access::RW)]).unwrap();
    let disk_hits = || op2::cache::stats::get(op2::cache::layout::CACHE_NAME).hits;
    assert_eq!(disk_hits(), 2, "k2 came back from disk");
    par_loop(&ks[2], &s, &[d.arg(Access::RW)]).unwrap();
    assert_eq!(disk_hits(), 2, "k3 was kept (recently used)");
    par_loop(&ks[0], &s, &[d.arg(Access::RW)]).unwrap();
    assert_eq!(disk_hits(), 3, "k1 was evicted");
    // 7 (above) + 5 * 3 (k3) + 2 (k2) + 3 (k3) + 1 (k1)
    assert_eq!(d.to_vec::<f64>().unwrap(), vec![28.0; 10]);
    assert_eq!(
        op2::cache::stats::get(op2::cache::layout::CACHE_NAME).compiles,
        3
    );
}
