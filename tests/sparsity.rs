//! Sparsities: built once per identity (PyOP2's sparsity cache cases), freed with their owner,
//! and structurally equal to a naive construction. One process, serial communicator, no compiler.
use std::collections::BTreeSet;

use op2::{DataSet, Map, Set, Sparsity};
use rand::{Rng, SeedableRng};

/// `n` elements with `arity` random targets each in `[0, to.size())`.
fn random_map(name: &str, from: &Set, to: &Set, arity: usize, seed: u64) -> Map {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let vals = (0..from.size() * arity)
        .map(|_| rng.gen_range(0..to.size() as i32))
        .collect();
    Map::named(name, from, to, arity, vals).unwrap()
}

struct Fixture {
    cells: Set,
    nodes: Set,
    m1: Map,
    m2: Map,
    ds: DataSet,
}

fn fixture() -> Fixture {
    let cells = Set::named("cells", 50).unwrap();
    let nodes = Set::named("nodes", 40).unwrap();
    let m1 = random_map("m1", &cells, &nodes, 3, 1);
    // Same contents, different identity.
    let m2 = Map::named("m2", &cells, &nodes, 3, m1.values().to_vec()).unwrap();
    let ds = DataSet::new(&nodes, 1).unwrap();
    Fixture {
        cells,
        nodes,
        m1,
        m2,
        ds,
    }
}

#[test]
fn same_dsets_and_map_pair_give_the_same_object() {
    let f = fixture();
    let a = Sparsity::new(&f.ds, &f.ds, &[(f.m1.clone(), f.m1.clone())]).unwrap();
    let b = Sparsity::new(&f.ds, &f.ds, &[(f.m1.clone(), f.m1.clone())]).unwrap();
    assert!(a.ptr_eq(&b));
    assert_eq!(a, b);
    // A repeated pair is the same set of pairs.
    let c = Sparsity::new(
        &f.ds,
        &f.ds,
        &[(f.m1.clone(), f.m1.clone()), (f.m1.clone(), f.m1.clone())],
    )
    .unwrap();
    assert!(a.ptr_eq(&c));
    let _ = (&f.cells, &f.nodes);
}

#[test]
fn same_tuple_of_pairs_in_any_order_gives_the_same_object() {
    let f = fixture();
    let p = (f.m1.clone(), f.m1.clone());
    let q = (f.m2.clone(), f.m1.clone());
    let a = Sparsity::new(&f.ds, &f.ds, &[p.clone(), q.clone()]).unwrap();
    let b = Sparsity::new(&f.ds, &f.ds, &[p.clone(), q.clone()]).unwrap();
    let c = Sparsity::new(&f.ds, &f.ds, &[q.clone(), p.clone()]).unwrap();
    assert!(a.ptr_eq(&b), "same tuple of pairs");
    assert!(a.ptr_eq(&c), "same pairs in a different order");
    assert_eq!(a.map_pairs().len(), 2);
}

#[test]
fn different_maps_pairs_tuples_or_dims_give_different_objects() {
    let f = fixture();
    let single = Sparsity::new(&f.ds, &f.ds, &[(f.m1.clone(), f.m1.clone())]).unwrap();
    // A different map with identical contents.
    let other_map = Sparsity::new(&f.ds, &f.ds, &[(f.m2.clone(), f.m2.clone())]).unwrap();
    assert!(!single.ptr_eq(&other_map));
    assert_eq!(
        single.colidx(),
        other_map.colidx(),
        "same structure all the same"
    );
    // A different pair (same maps, swapped roles, or one map changed).
    let p12 = Sparsity::new(&f.ds, &f.ds, &[(f.m1.clone(), f.m2.clone())]).unwrap();
    let p21 = Sparsity::new(&f.ds, &f.ds, &[(f.m2.clone(), f.m1.clone())]).unwrap();
    assert!(!p12.ptr_eq(&p21));
    assert!(!p12.ptr_eq(&single));
    // A different tuple of pairs.
    let t1 = Sparsity::new(
        &f.ds,
        &f.ds,
        &[(f.m1.clone(), f.m1.clone()), (f.m1.clone(), f.m2.clone())],
    )
    .unwrap();
    let t2 = Sparsity::new(
        &f.ds,
        &f.ds,
        &[(f.m1.clone(), f.m1.clone()), (f.m2.clone(), f.m1.clone())],
    )
    .unwrap();
    assert!(!t1.ptr_eq(&t2));
    // Mixed (several pairs) versus single.
    assert!(!t1.ptr_eq(&single));
    // Other block dims.
    let ds2 = DataSet::new(&f.nodes, 2).unwrap();
    let b22 = Sparsity::new(&ds2, &ds2, &[(f.m1.clone(), f.m1.clone())]).unwrap();
    let b21 = Sparsity::new(&ds2, &f.ds, &[(f.m1.clone(), f.m1.clone())]).unwrap();
    assert!(!b22.ptr_eq(&single) && !b22.ptr_eq(&b21) && !b21.ptr_eq(&single));
    assert_eq!(b22.dims(), (2, 2));
    assert_eq!(b21.dims(), (2, 1));
}

#[test]
fn a_sparsity_lives_while_a_handle_or_its_set_does() {
    // Hold only the sparsity: it keeps its set (and the maps) alive.
    let (wset, wsp, sp) = {
        let f = fixture();
        let sp = Sparsity::new(&f.ds, &f.ds, &[(f.m1.clone(), f.m1.clone())]).unwrap();
        (f.nodes.downgrade(), sp.downgrade(), sp)
    };
    assert!(wset.is_alive() && wsp.is_alive());
    let nodes = wset.upgrade().unwrap();
    let (m, ds) = (sp.map_pairs()[0].0.clone(), sp.row_dataset().clone());
    assert!(Sparsity::new(&ds, &ds, &[(m.clone(), m.clone())])
        .unwrap()
        .ptr_eq(&sp));
    drop(sp);
    assert!(wsp.is_alive(), "the set's cache keeps the sparsity");
    drop((m, ds, nodes));
    assert!(!wset.is_alive(), "set leaked");
    assert!(!wsp.is_alive(), "cached sparsity leaked");
}

#[test]
fn dropping_every_handle_frees_the_sparsity() {
    let f = fixture();
    let sp = Sparsity::new(&f.ds, &f.ds, &[(f.m1.clone(), f.m2.clone())]).unwrap();
    let (ws, wsp) = (f.nodes.downgrade(), sp.downgrade());
    drop(f);
    assert!(
        ws.is_alive() && wsp.is_alive(),
        "the handle keeps everything"
    );
    drop(sp);
    assert!(
        !ws.is_alive() && !wsp.is_alive(),
        "leak after every handle is gone"
    );
}

/// The naive structure: one BTreeSet of columns per row.
fn naive(nrows: usize, pairs: &[(Map, Map)]) -> Vec<BTreeSet<u32>> {
    let mut rows = vec![BTreeSet::new(); nrows];
    for (r, c) in pairs {
        let (ar, ac) = (r.arity(), c.arity());
        for e in 0..r.from_set().size() {
            for i in 0..ar {
                for j in 0..ac {
                    rows[r.values()[e * ar + i] as usize].insert(c.values()[e * ac + j] as u32);
                }
            }
        }
    }
    rows
}

fn assert_matches_naive(sp: &Sparsity, pairs: &[(Map, Map)]) {
    let want = naive(sp.nrows(), pairs);
    assert_eq!(sp.rowptr().len(), sp.nrows() + 1);
    for (i, w) in want.iter().enumerate() {
        let got: Vec<u32> = sp.row(i).to_vec();
        assert_eq!(got, w.iter().copied().collect::<Vec<_>>(), "row {i}");
    }
    let nnz: usize = want.iter().map(|r| r.len()).sum();
    assert_eq!(sp.block_nnz(), nnz);
    let (rd, cd) = sp.dims();
    assert_eq!(sp.nnz(), nnz * rd * cd);
}

#[test]
fn csr_equals_a_naive_construction_on_random_rectangular_mixed_maps() {
    // Rows on one set, columns on another; two pairs from different iteration sets, with
    // different arities; enough rows for several parallel chunks.
    let rows = Set::named("rows", 9000).unwrap();
    let cols = Set::named("cols", 7000).unwrap();
    let cells = Set::named("cells", 20000).unwrap();
    let faces = Set::named("faces", 5000).unwrap();
    let pairs = vec![
        (
            random_map("c2r", &cells, &rows, 3, 11),
            random_map("c2c", &cells, &cols, 4, 12),
        ),
        (
            random_map("f2r", &faces, &rows, 2, 13),
            random_map("f2c", &faces, &cols, 1, 14),
        ),
    ];
    let rds = DataSet::new(&rows, 2).unwrap();
    let cds = DataSet::new(&cols, 3).unwrap();
    let sp = Sparsity::new(&rds, &cds, &pairs).unwrap();
    assert_eq!(
        (sp.nrows(), sp.ncols(), sp.owned_rows()),
        (9000, 7000, 9000)
    );
    assert_eq!(sp.dims(), (2, 3));
    assert_matches_naive(&sp, &pairs);
    // Block dims change nnz, not the block structure.
    let scalar = Sparsity::new(
        &DataSet::new(&rows, 1).unwrap(),
        &DataSet::new(&cols, 1).unwrap(),
        &pairs,
    )
    .unwrap();
    assert_eq!(scalar.colidx(), sp.colidx());
    assert_eq!(scalar.rowptr(), sp.rowptr());
    assert_eq!(sp.nnz(), 6 * scalar.nnz());
}

#[test]
fn csr_equals_a_naive_construction_on_an_unstructured_triangle_mesh() {
    let mesh = op2::mesh::meshgen::unit_square(60, 0.2).unwrap();
    let cells = Set::named("cells", mesh.ncells()).unwrap();
    let nodes = Set::named("nodes", mesh.nnodes()).unwrap();
    let c2n = Map::named("c2n", &cells, &nodes, 3, mesh.cells.clone()).unwrap();
    let ds = DataSet::new(&nodes, 1).unwrap();
    let pairs = vec![(c2n.clone(), c2n)];
    let sp = Sparsity::new(&ds, &ds, &pairs).unwrap();
    assert_matches_naive(&sp, &pairs);
    // Every row holds its diagonal; a node has 2 (a corner in one triangle) to 8 neighbours.
    for i in 0..sp.nrows() {
        assert!(sp.row(i).binary_search(&(i as u32)).is_ok());
        assert!(
            (3..=9).contains(&sp.row(i).len()),
            "row {i}: {:?}",
            sp.row(i)
        );
    }
}

#[test]
fn without_halos_every_non_zero_is_in_the_diagonal_block() {
    let f = fixture();
    let ds3 = DataSet::new(&f.nodes, 3).unwrap();
    let sp = Sparsity::new(&ds3, &ds3, &[(f.m1.clone(), f.m2.clone())]).unwrap();
    assert_eq!(sp.owned_rows(), 40);
    assert_eq!(sp.nnz_diag().len(), 40);
    assert_eq!(sp.nnz_offdiag(), vec![0u32; 40].as_slice());
    for i in 0..40 {
        assert_eq!(sp.nnz_diag()[i] as usize, sp.row(i).len());
    }
    let total: u32 = sp.nnz_diag().iter().sum();
    assert_eq!(total as usize * 9, sp.nnz());
}

#[test]
fn invalid_map_pairs_are_clear_errors() {
    let f = fixture();
    let other = Set::named("other", 40).unwrap();
    let faces = Set::named("faces", 50).unwrap();
    let to_other = random_map("to_other", &f.cells, &other, 3, 2);
    let from_faces = random_map("from_faces", &faces, &f.nodes, 3, 3);
    // No pairs: refused unless square (a square Sparsity holds its diagonal even then).
    let other_ds = op2::DataSet::new(&other, 1).unwrap();
    let e = Sparsity::new(&f.ds, &other_ds, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least one map pair"), "{e}");
    let diag = Sparsity::new(&f.ds, &f.ds, &[]).unwrap();
    assert!((0..diag.owned_rows()).all(|i| diag.row(i) == [i as u32]));
    let e = Sparsity::new(&f.ds, &f.ds, &[(to_other.clone(), f.m1.clone())])
        .unwrap_err()
        .to_string();
    assert!(e.contains("row map to_other targets set other"), "{e}");
    let e = Sparsity::new(&f.ds, &f.ds, &[(f.m1.clone(), to_other)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("column map to_other targets set other"), "{e}");
    let e = Sparsity::new(&f.ds, &f.ds, &[(f.m1.clone(), from_faces)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("starts from set cells") && e.contains("from set faces"),
        "{e}"
    );
    assert!(matches!(
        Sparsity::new(&f.ds, &other_ds, &[]),
        Err(op2::Error::InvalidArgument { .. })
    ));
}

#[test]
fn cache_hits_are_counted_for_the_report() {
    let f = fixture();
    let before = op2::cache::stats::get(op2::linalg::sparsity::CACHE_NAME);
    let a = Sparsity::new(&f.ds, &f.ds, &[(f.m2.clone(), f.m2.clone())]).unwrap();
    let _b = Sparsity::new(&f.ds, &f.ds, &[(f.m2.clone(), f.m2.clone())]).unwrap();
    let after = op2::cache::stats::get(op2::linalg::sparsity::CACHE_NAME);
    assert!(after.hits > before.hits && after.misses > before.misses);
    drop(a);
}
