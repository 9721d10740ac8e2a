//! Content-addressed disk keys: a disk entry is keyed by its generated source and how it is
//! compiled, so loops whose metadata differ but whose generated source is the same share one
//! entry, and any change to what is compiled (kernel text, an extra flag) is a new entry. One
//! test function, alone in its process (it sets the cache directory and compiler).
// A test program: it sets the environment of the op2 it runs (clippy.toml keeps that out of
// the library).
#![allow(clippy::disallowed_methods)]
mod common;
use op2::{par_loop, Access, Dat, DataSet, Global, Kernel, Set};

fn libraries(d: &std::path::Path) -> usize {
    common::files_under(d)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "so"))
        .count()
}

#[test]
fn loops_with_the_same_generated_source_share_one_disk_entry() {
    let cache = common::cache_dir();
    let tools = tempfile::tempdir().unwrap();
    let (cc, log) = common::logging_cc(tools.path());
    let config = op2::Config::default().cache_dir(cache.path());
    let _rt = op2::Runtime::serial(config.cc(cc.to_str().unwrap())).unwrap();
    let set = Set::new(8).unwrap();
    let ds = DataSet::new(&set, 1).unwrap();
    let a = Dat::new(&ds, (0..8).map(|i| i as f64 - 3.0).collect::<Vec<f64>>()).unwrap();
    let code = "void g(double *x, double *s) { x[0] = 7.0; s[0] += 1.0; }";
    let k = Kernel::new("g", code).unwrap();
    let classes = op2::cache::memory::len();

    // A direct Dat written, then read-written: different metadata (two class-cache entries),
    // one generated source (the wrapper passes both the same pointer).
    let s = Global::new(vec![0.0f64]).unwrap();
    par_loop(&k, &set, &[a.arg(Access::Write), s.arg(Access::Inc)]).unwrap();
    par_loop(&k, &set, &[a.arg(Access::RW), s.arg(Access::Inc)]).unwrap();
    assert_eq!(s.value::<f64>().unwrap(), vec![16.0], "both loops ran");
    assert_eq!(a.to_vec::<f64>().unwrap()[0], 7.0);
    assert_eq!(op2::cache::memory::len() - classes, 2, "two loop classes");
    assert_eq!(common::compile_count(&log), 1, "one compile");
    assert_eq!(libraries(cache.path()), 1, "one shared disk entry");
    // The entry still records what `op2 cache list` shows.
    let list = op2::cache::layout::list(&op2::cache::DiskCache::new(cache.path())).unwrap();
    let meta = list[0].meta.as_ref().expect("readable metadata");
    assert_eq!(meta.kernel, "g");
    assert!(
        meta.key_text.contains("kernel g (source"),
        "{}",
        meta.key_text
    );

    // Same source, an extra compiler flag: a new entry.
    let flagged = Kernel::with_flags("g", code, &["-DUNUSED_BY_G=1"]).unwrap();
    par_loop(&flagged, &set, &[a.arg(Access::Write), s.arg(Access::Inc)]).unwrap();
    assert_eq!(libraries(cache.path()), 2, "an extra flag is a new entry");
    // Other kernel text: a new entry.
    let edited = Kernel::new("g", &code.replace("7.0", "8.0")).unwrap();
    par_loop(&edited, &set, &[a.arg(Access::Write), s.arg(Access::Inc)]).unwrap();
    assert_eq!(
        libraries(cache.path()),
        3,
        "other kernel text is a new entry"
    );
    assert_eq!(common::compile_count(&log), 3);
}
