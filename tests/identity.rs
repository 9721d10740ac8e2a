//! Axiom 1 (equality is identity) and object-cache lifetimes, without MPI.
use op2::{DataSet, Map, Set};
use std::collections::HashSet;

#[test]
fn sets_compare_by_identity_not_contents() {
    let a = Set::new(5).unwrap();
    let b = Set::new(5).unwrap();
    assert_ne!(a, b);
    assert_eq!(a, a.clone());
    let mut h = HashSet::new();
    h.insert(a.clone());
    h.insert(a.clone());
    h.insert(b.clone());
    assert_eq!(h.len(), 2);
}

#[test]
fn maps_compare_by_identity_not_contents() {
    let s = Set::new(2).unwrap();
    let t = Set::new(3).unwrap();
    let m1 = Map::new(&s, &t, 1, vec![0, 1]).unwrap();
    let m2 = Map::new(&s, &t, 1, vec![0, 1]).unwrap();
    assert_ne!(m1, m2);
    assert_eq!(m1, m1.clone());
}

#[test]
fn dataset_is_cached_on_its_set() {
    let s = Set::new(1).unwrap();
    let ds = DataSet::new(&s, 10).unwrap();
    let ds2 = DataSet::new(&s, 10).unwrap();
    assert!(ds.ptr_eq(&ds2));
    assert_eq!(ds, ds2);
    assert_ne!(ds, DataSet::new(&s, 11).unwrap());
    let other = Set::new(1).unwrap();
    assert_ne!(ds, DataSet::new(&other, 10).unwrap());
}

#[test]
fn holding_any_one_of_s_ds_ds2_keeps_all_alive() {
    // Hold only ds2.
    let (ws, wds, ds2) = {
        let s = Set::new(1).unwrap();
        let ds = DataSet::new(&s, 10).unwrap();
        let ds2 = DataSet::new(&s, 10).unwrap();
        (s.downgrade(), ds.downgrade(), ds2)
    };
    assert!(ws.is_alive() && wds.is_alive());
    // The cache still answers with the same object through the set.
    let s = ws.upgrade().unwrap();
    assert!(DataSet::new(&s, 10).unwrap().ptr_eq(&ds2));
    drop(ds2);
    assert!(
        wds.is_alive(),
        "the set alone keeps its cached DataSet alive"
    );
    drop(s);
    assert!(!ws.is_alive(), "set leaked");
    assert!(!wds.is_alive(), "cached DataSet leaked");
}

#[test]
fn dropping_every_handle_frees_set_and_cached_objects() {
    let s = Set::new(1).unwrap();
    let ds = DataSet::new(&s, 10).unwrap();
    let (ws, wds) = (s.downgrade(), ds.downgrade());
    drop(s);
    assert!(ws.is_alive(), "ds keeps its set alive");
    drop(ds);
    assert!(
        !ws.is_alive() && !wds.is_alive(),
        "leak: set or DataSet survived all handles"
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let s = Set::new(3).unwrap();
    let t = Set::new(2).unwrap();
    assert!(matches!(
        Map::new(&s, &t, 0, vec![]),
        Err(op2::Error::InvalidArgument { .. })
    ));
    let e = Map::new(&s, &t, 1, vec![0, 1, 2]).unwrap_err().to_string();
    assert!(e.contains("value 2") && e.contains("outside"), "{e}");
    // A negative value is PyOP2's "no entry" (skipped by Mat assembly), not an error.
    assert!(Map::new(&s, &t, 1, vec![0, -1, 1]).unwrap().has_negative());
    assert!(Map::new(&s, &t, 2, vec![0, 1]).is_err());
    // A dim-0 DataSet (PyOP2's `set ** 0`) is allowed: its Dats hold no values.
    let empty = op2::Dat::zeros(&DataSet::new(&s, 0).unwrap(), op2::DType::F64);
    assert!(empty.dim() == 0 && empty.to_vec::<f64>().unwrap().is_empty());
    let ds = DataSet::new(&s, 2).unwrap();
    assert!(op2::Dat::new(&ds, vec![0.0f64; 5]).is_err());
    assert!(op2::Dat::new(&ds, vec![0u32; 6])
        .unwrap()
        .to_vec::<i32>()
        .is_err());
    assert!(Set::new(usize::MAX).is_err());
    assert!(Set::new(i32::MAX as usize + 1).is_err());
    assert!(op2::Global::new(Vec::<i64>::new()).is_err());
}

#[test]
fn dats_hold_every_dtype() {
    let s = Set::new(2).unwrap();
    let ds = DataSet::new(&s, 1).unwrap();
    assert_eq!(
        op2::Dat::new(&ds, vec![1.5f64, 2.5])
            .unwrap()
            .to_vec::<f64>()
            .unwrap(),
        vec![1.5, 2.5]
    );
    assert_eq!(
        op2::Dat::new(&ds, vec![1.5f32, 2.5])
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![1.5, 2.5]
    );
    assert_eq!(
        op2::Dat::new(&ds, vec![-1i32, 2])
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![-1, 2]
    );
    assert_eq!(
        op2::Dat::new(&ds, vec![-1i64, 2])
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![-1, 2]
    );
    assert_eq!(
        op2::Dat::new(&ds, vec![7u32, 9])
            .unwrap()
            .to_vec::<u32>()
            .unwrap(),
        vec![7, 9]
    );
    let d = op2::Dat::zeros(&ds, op2::DType::F32);
    assert_eq!(d.to_vec::<f32>().unwrap(), vec![0.0, 0.0]);
    d.set_values(&[3.0f32, 4.0]).unwrap();
    assert_eq!(d.to_vec::<f32>().unwrap(), vec![3.0, 4.0]);
}
