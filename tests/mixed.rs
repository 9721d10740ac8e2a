//! Mixed objects' identity and caching, ported from PyOP2's `tests/pyop2/test_caching.py`
//! (`TestObjectCaching`: mixed sets, maps, datasets, sparsities), plus their lifetimes (freed
//! with their owner sets) and their entries in the cache counters. No MPI.
// The loop test points OP2_CACHE_DIR at a temporary directory.
#![allow(clippy::disallowed_methods)]
use op2::cache::stats;
use op2::{
    Access, DType, DataSet, Kernel, Map, MixedDat, MixedDataSet, MixedMap, MixedMat, MixedSet,
    MixedSparsity, Set, Sparsity,
};

/// PyOP2's fixtures: two one-element sets, maps base_set -> base_set (twice) and -> base_set2.
struct Base {
    set: Set,
    set2: Set,
    map: Map,
    map2: Map,
    map3: Map,
}

fn base() -> Base {
    let set = Set::new(1).unwrap();
    let set2 = Set::new(1).unwrap();
    Base {
        map: Map::new(&set, &set, 1, vec![0]).unwrap(),
        map2: Map::new(&set, &set2, 1, vec![0]).unwrap(),
        map3: Map::new(&set, &set, 1, vec![0]).unwrap(),
        set,
        set2,
    }
}

#[test]
fn mixedset_cache_hit() {
    let b = base();
    let ms = MixedSet::new(&[b.set.clone(), b.set.clone()]).unwrap();
    let ms2 = MixedSet::new(&[b.set.clone(), b.set.clone()]).unwrap();
    assert!(ms.ptr_eq(&ms2));
    assert_eq!(ms, ms2);
    assert_eq!(ms.id(), ms2.id());
}

#[test]
fn mixedset_cache_miss() {
    let b = base();
    let ms = MixedSet::new(&[b.set.clone(), b.set2.clone()]).unwrap();
    let ms2 = MixedSet::new(&[b.set2.clone(), b.set.clone()]).unwrap();
    assert!(!ms.ptr_eq(&ms2));
    assert_ne!(ms, ms2);
    let ms3 = MixedSet::new(&[b.set.clone(), b.set2.clone()]).unwrap();
    assert_eq!(ms, ms3);
    // A prefix is another MixedSet.
    assert_ne!(ms, MixedSet::new(std::slice::from_ref(&b.set)).unwrap());
}

#[test]
fn mixedmap_cache_hit_and_miss() {
    let b = base();
    let mm = MixedMap::new(&[b.map.clone(), b.map2.clone()]).unwrap();
    let mm2 = MixedMap::new(&[b.map.clone(), b.map2.clone()]).unwrap();
    assert_eq!(mm, mm2);
    let swapped = MixedMap::new(&[b.map2.clone(), b.map.clone()]).unwrap();
    assert_ne!(mm, swapped);
    // Maps with equal contents are different maps, hence different MixedMaps.
    assert_ne!(
        MixedMap::new(std::slice::from_ref(&b.map)).unwrap(),
        MixedMap::new(std::slice::from_ref(&b.map3)).unwrap()
    );
    assert_eq!(
        mm.to_set().unwrap(),
        MixedSet::new(&[b.set.clone(), b.set2.clone()]).unwrap()
    );
}

#[test]
fn mixedmap_maps_share_their_iteration_set() {
    let b = base();
    let other = Map::new(&b.set2, &b.set, 1, vec![0]).unwrap();
    let e = MixedMap::new(&[b.map.clone(), other])
        .unwrap_err()
        .to_string();
    assert!(e.contains("iteration set"), "{e}");
}

#[test]
fn mixeddataset_cache_hit() {
    let b = base();
    let mds = MixedDataSet::from_sets(&[b.set.clone(), b.set2.clone()]).unwrap();
    let mds2 = MixedDataSet::from_sets(&[b.set.clone(), b.set2.clone()]).unwrap();
    assert_eq!(mds, mds2);
    // Built from a MixedSet with dims 1, or from the DataSets: the same object.
    let ms = MixedSet::new(&[b.set.clone(), b.set2.clone()]).unwrap();
    assert_eq!(MixedDataSet::from_mixed_set(&ms, &[1]).unwrap(), mds);
    let dsets = [
        DataSet::new(&b.set, 1).unwrap(),
        DataSet::new(&b.set2, 1).unwrap(),
    ];
    assert_eq!(MixedDataSet::new(&dsets).unwrap(), mds);
    assert_eq!(mds.set(), ms);
}

#[test]
fn mixeddataset_cache_miss() {
    let b = base();
    let mds = MixedDataSet::from_sets(&[b.set.clone(), b.set2.clone()]).unwrap();
    let mds2 = MixedDataSet::from_sets(&[b.set2.clone(), b.set.clone()]).unwrap();
    let mds3 = MixedDataSet::from_sets(&[b.set.clone(), b.set.clone()]).unwrap();
    assert_ne!(mds, mds2);
    assert_ne!(mds, mds3);
    assert_ne!(mds2, mds3);
    // Another dim is another DataSet, hence another MixedDataSet.
    let ms = MixedSet::new(&[b.set.clone(), b.set2.clone()]).unwrap();
    assert_ne!(MixedDataSet::from_mixed_set(&ms, &[1, 2]).unwrap(), mds);
    assert!(MixedDataSet::from_mixed_set(&ms, &[1, 2, 3]).is_err());
}

/// `test_sparsity_cache_hit`: the mixed Sparsity over (mixed set ** 1)^2 through every
/// (map, map) block is one object, built again from freshly looked-up MixedSets and MixedMaps.
#[test]
fn mixed_sparsity_cache_hit() {
    let b = base();
    let mixed = || {
        let ms = MixedSet::new(&[b.set.clone(), b.set.clone()]).unwrap();
        let mds = MixedDataSet::from_mixed_set(&ms, &[1]).unwrap();
        let mm = MixedMap::new(&[b.map.clone(), b.map.clone()]).unwrap();
        MixedSparsity::new(&mds, &mds, &[(mm.clone(), mm)]).unwrap()
    };
    let sp = mixed();
    let sp2 = mixed();
    assert!(sp.ptr_eq(&sp2));
    // Each block's Sparsity is the ordinary cached one: all four blocks are one object here.
    let ds = DataSet::new(&b.set, 1).unwrap();
    let plain = Sparsity::new(&ds, &ds, &[(b.map.clone(), b.map.clone())]).unwrap();
    for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        assert!(sp.block(i, j).unwrap().ptr_eq(&plain));
        assert!(sp.block(i, j).unwrap().ptr_eq(sp2.block(i, j).unwrap()));
    }
    // Repeated or reordered pairs are the same pair set.
    let mds = sp.row_dataset().clone();
    let mm = MixedMap::new(&[b.map.clone(), b.map.clone()]).unwrap();
    let rep = MixedSparsity::new(&mds, &mds, &[(mm.clone(), mm.clone()), (mm.clone(), mm)]);
    assert_eq!(rep.unwrap(), sp);
}

/// `test_sparsity_cache_miss` and the TestSparsityCache cases on mixed maps.
#[test]
fn mixed_sparsity_cache_miss() {
    let b = base();
    let ms = MixedSet::new(&[b.set.clone(), b.set.clone()]).unwrap();
    let mds = MixedDataSet::from_mixed_set(&ms, &[1]).unwrap();
    let mm = MixedMap::new(&[b.map.clone(), b.map.clone()]).unwrap();
    let mm3 = MixedMap::new(&[b.map3.clone(), b.map3.clone()]).unwrap();
    let mm13 = MixedMap::new(&[b.map.clone(), b.map3.clone()]).unwrap();
    let sp = MixedSparsity::new(&mds, &mds, &[(mm.clone(), mm.clone())]).unwrap();
    // Different maps (equal contents), different pairs, different tuples of pairs.
    let sp3 = MixedSparsity::new(&mds, &mds, &[(mm3.clone(), mm3.clone())]).unwrap();
    assert_ne!(sp, sp3);
    let p1 = MixedSparsity::new(&mds, &mds, &[(mm.clone(), mm13.clone())]).unwrap();
    let p2 = MixedSparsity::new(&mds, &mds, &[(mm13.clone(), mm.clone())]).unwrap();
    assert_ne!(p1, p2);
    let t1 = MixedSparsity::new(
        &mds,
        &mds,
        &[(mm.clone(), mm.clone()), (mm3.clone(), mm3.clone())],
    );
    let t2 = MixedSparsity::new(
        &mds,
        &mds,
        &[(mm3.clone(), mm3.clone()), (mm3.clone(), mm3.clone())],
    );
    assert_ne!(t1.unwrap(), t2.unwrap());
    // Other dims: other block Sparsities, another mixed Sparsity.
    let mds2 = MixedDataSet::from_mixed_set(&ms, &[1, 2]).unwrap();
    let sp12 = MixedSparsity::new(&mds2, &mds2, &[(mm.clone(), mm.clone())]).unwrap();
    assert_ne!(sp12, sp);
    assert_eq!(sp12.block(1, 0).unwrap().dims(), (2, 1));
    assert!(!sp12.block(0, 0).unwrap().ptr_eq(sp12.block(1, 1).unwrap()));
    // A MixedMap with the wrong number of components is refused.
    let one = MixedMap::new(std::slice::from_ref(&b.map)).unwrap();
    assert!(MixedSparsity::new(&mds, &mds, &[(one, mm)]).is_err());
}

#[test]
fn mixed_dat_is_not_cached_and_compares_its_dats() {
    let b = base();
    let mds = MixedDataSet::from_sets(&[b.set.clone(), b.set2.clone()]).unwrap();
    let a = MixedDat::zeros(&mds, DType::F64).unwrap();
    let a2 = MixedDat::zeros(&mds, DType::F64).unwrap();
    assert_ne!(
        a, a2,
        "PyOP2 does not cache MixedDats: two zeros are two containers"
    );
    assert_eq!(a, MixedDat::new(a.split()).unwrap());
    assert_eq!(a.dataset(), mds);
    let i = op2::Dat::zeros(&DataSet::new(&b.set, 1).unwrap(), DType::I32);
    assert!(
        MixedDat::new(&[a.split()[0].clone(), i]).is_err(),
        "one dtype"
    );
}

/// Every mixed object is freed with its owner set once no handle is left, and meanwhile counts
/// in the report's counters (entries and bytes).
#[test]
fn mixed_objects_are_freed_with_their_owners_and_reported() {
    let (wset, wms, wmds, wmm, wsp) = {
        let b = base();
        let ms = MixedSet::new(&[b.set.clone(), b.set2.clone()]).unwrap();
        let mds = MixedDataSet::from_mixed_set(&ms, &[1, 1]).unwrap();
        let mm = MixedMap::new(&[b.map.clone(), b.map2.clone()]).unwrap();
        let sp = MixedSparsity::new(&mds, &mds, &[(mm.clone(), mm.clone())]).unwrap();
        for name in [
            "object:MixedSet",
            "object:MixedDataSet",
            "object:MixedMap",
            "object:MixedSparsity",
        ] {
            let c = stats::get(name);
            assert!(c.entries >= 1 && c.bytes > 0, "{name}: {c:?}");
        }
        let w = (
            b.set.downgrade(),
            ms.downgrade(),
            mds.downgrade(),
            mm.downgrade(),
            sp.clone(),
        );
        drop((ms, mds, mm));
        // The set alone keeps the cached objects alive (PyOP2's `ObjectCached`).
        assert!(w.1.is_alive() && w.2.is_alive() && w.3.is_alive());
        let again = MixedSet::new(&[b.set.clone(), b.set2.clone()]).unwrap();
        assert_eq!(again.downgrade().is_alive(), w.1.is_alive());
        (w.0, w.1, w.2, w.3, w.4.block(0, 0).unwrap().downgrade())
    };
    assert!(!wset.is_alive(), "set leaked");
    assert!(
        !wms.is_alive() && !wmds.is_alive() && !wmm.is_alive(),
        "mixed object leaked"
    );
    assert!(!wsp.is_alive(), "block Sparsity leaked");
}

/// Two cells over a 3-element space `p` (2 entries per cell) and a 2-element space `q` (1).
struct Spaces {
    cells: Set,
    p: Set,
    q: Set,
    c2p: Map,
    c2q: Map,
}

fn spaces() -> Spaces {
    let cells = Set::new(2).unwrap();
    let (p, q) = (Set::new(3).unwrap(), Set::new(2).unwrap());
    Spaces {
        c2p: Map::new(&cells, &p, 2, vec![0, 1, 1, 2]).unwrap(),
        c2q: Map::new(&cells, &q, 1, vec![0, 1]).unwrap(),
        cells,
        p,
        q,
    }
}

/// A mixed loop: a MixedDat through a MixedMap and a MixedMat through a mixed pair expand to
/// one argument per block; the mat-vec combines the blocks.
#[test]
fn mixed_loop_assembles_blocks_and_multiplies() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("OP2_CACHE_DIR", dir.path());
    let Spaces {
        cells,
        p,
        q,
        c2p,
        c2q,
    } = spaces();
    let mm = MixedMap::new(&[c2p, c2q]).unwrap();
    let mds =
        MixedDataSet::new(&[DataSet::new(&p, 1).unwrap(), DataSet::new(&q, 2).unwrap()]).unwrap();
    let sp = MixedSparsity::new(&mds, &mds, &[(mm.clone(), mm.clone())]).unwrap();
    let a = MixedMat::named("A", &sp, DType::F64).unwrap();
    // Element matrices: A00 [2][2], A01 [2][2], A10 [2][2], A11 [2][2] (q has dim 2).
    let k = Kernel::new(
        "blocks",
        "void blocks(double *a00, double *a01, double *a10, double *a11) {
           for (int k = 0; k < 4; k++) { a00[k] = 1 + k; a01[k] = 10 + k; a10[k] = 20 + k; a11[k] = 30 + k; }
         }",
    )
    .unwrap();
    op2::par_loop(&k, &cells, &a.arg(Access::Inc, (&mm, &mm)).unwrap()).unwrap();
    assert_eq!(
        a.block(0, 0).unwrap().values().unwrap(),
        vec![1.0, 2.0, 0.0, 3.0, 5.0, 2.0, 0.0, 3.0, 4.0]
    );
    // a01: row p_i, column q (2 components): cell 0 adds rows p0, p1; cell 1 rows p1, p2.
    assert_eq!(
        a.block(0, 1).unwrap().values().unwrap(),
        vec![10.0, 11.0, 0.0, 0.0, 12.0, 13.0, 10.0, 11.0, 0.0, 0.0, 12.0, 13.0]
    );
    let x = MixedDat::new(&[
        op2::Dat::new(&mds.split()[0], vec![1.0f64, 2.0, 3.0]).unwrap(),
        op2::Dat::new(&mds.split()[1], vec![1.0f64, 0.0, 0.0, 1.0]).unwrap(),
    ])
    .unwrap();
    let y = MixedDat::zeros(&mds, DType::F64).unwrap();
    a.mult(&x, &y).unwrap();
    let dense = |m: &op2::Mat| m.values().unwrap();
    // y_i = sum_j A_ij x_j, computed densely.
    let xs = x.to_vecs::<f64>().unwrap();
    let mut want = vec![vec![0.0; 3], vec![0.0; 4]];
    let nrows = [3, 4];
    for (i, wi) in want.iter_mut().enumerate() {
        for (j, xj) in xs.iter().enumerate() {
            let v = dense(a.block(i, j).unwrap());
            for r in 0..nrows[i] {
                wi[r] += (0..xj.len())
                    .map(|c| v[r * xj.len() + c] * xj[c])
                    .sum::<f64>();
            }
        }
    }
    assert_eq!(y.to_vecs::<f64>().unwrap(), want);
    // A MixedDat through the MixedMap: one packed array per block.
    let k = Kernel::new(
        "inc",
        "void inc(double *u, double *v) { u[0] += 1; u[1] += 2; v[1] += 5; }",
    )
    .unwrap();
    let z = MixedDat::zeros(&mds, DType::F64).unwrap();
    op2::par_loop(&k, &cells, &z.arg_vec(Access::Inc, &mm).unwrap()).unwrap();
    assert_eq!(
        z.to_vecs::<f64>().unwrap(),
        vec![vec![1.0, 3.0, 2.0], vec![0.0, 5.0, 0.0, 5.0]]
    );
    assert!(a.mult(&x, &x).is_err(), "x and y share Dats");
    assert!(z
        .arg_vec(Access::Inc, &MixedMap::new(&mm.split()[..1]).unwrap())
        .is_err());
}

/// Mixed arguments and products are checked against their Sparsity and DataSets.
#[test]
fn mixed_mismatches_are_errors() {
    let Spaces {
        cells,
        p,
        q,
        c2p,
        c2q,
    } = spaces();
    let c2q2 = Map::new(&cells, &q, 1, vec![1, 0]).unwrap();
    let mm = MixedMap::new(&[c2p.clone(), c2q]).unwrap();
    let other = MixedMap::new(&[c2p, c2q2]).unwrap();
    let mds = MixedDataSet::from_sets(&[p.clone(), q.clone()]).unwrap();
    let sp = MixedSparsity::new(&mds, &mds, &[(mm.clone(), mm.clone())]).unwrap();
    let a = MixedMat::named("A", &sp, DType::F64).unwrap();
    assert_eq!(a.blocks().len(), 4);
    assert_eq!(a.block(1, 0).unwrap().name(), "A[1,0]");
    assert!(a.block(2, 0).is_none());
    let Err(e) = a.arg(Access::Inc, (&mm, &other)) else {
        panic!("a pair outside the sparsity was accepted")
    };
    let e = e.to_string();
    assert!(
        e.contains("block (0, 1)") && e.contains("not one of the pairs"),
        "{e}"
    );
    assert!(a.arg(Access::Inc, (&mm, &mm)).unwrap().len() == 4);
    // x on another MixedDataSet (other dims) is refused.
    let mds2 =
        MixedDataSet::new(&[DataSet::new(&p, 1).unwrap(), DataSet::new(&q, 2).unwrap()]).unwrap();
    let x = MixedDat::zeros(&mds2, DType::F64).unwrap();
    let y = MixedDat::zeros(&mds, DType::F64).unwrap();
    let e = a.mult(&x, &y).unwrap_err().to_string();
    assert!(e.contains("column MixedDataSet"), "{e}");
    assert!(MixedDat::zeros(&mds, DType::F64)
        .unwrap()
        .set_values(&[vec![0.0f64; 3]])
        .is_err());
    assert!(MixedSparsity::new(&mds, &mds, &[]).is_err());
}

/// PyOP2's block-dict form: `Sparsity(dsets, {(i, j): [(rm, cm, None)]})`. With every block it
/// is the object the mixed-pair form builds; absent blocks are zero in loops and products.
#[test]
fn mixed_sparsity_from_blocks() {
    use op2::BlockPairs;
    let Spaces {
        cells,
        p,
        q,
        c2p,
        c2q,
    } = spaces();
    let mm = MixedMap::new(&[c2p.clone(), c2q.clone()]).unwrap();
    let mds = MixedDataSet::from_sets(&[p, q]).unwrap();
    let maps = [c2p.clone(), c2q.clone()];
    let all: Vec<BlockPairs> = (0..4)
        .rev()
        .map(|k| {
            (
                (k / 2, k % 2),
                vec![(maps[k / 2].clone(), maps[k % 2].clone())],
            )
        })
        .collect();
    let sp = MixedSparsity::new(&mds, &mds, &[(mm.clone(), mm.clone())]).unwrap();
    assert_eq!(MixedSparsity::from_blocks(&mds, &mds, &all).unwrap(), sp);
    // Only the diagonal blocks: another object, off-diagonal blocks absent.
    let diag: Vec<BlockPairs> = vec![
        ((0, 0), vec![(c2p.clone(), c2p.clone())]),
        ((1, 1), vec![(c2q.clone(), c2q.clone())]),
    ];
    let sd = MixedSparsity::from_blocks(&mds, &mds, &diag).unwrap();
    assert_ne!(sd, sp);
    assert!(sd.block(0, 1).is_none() && sd.block(1, 0).is_none());
    assert!(sd.block(0, 0).unwrap().ptr_eq(sp.block(0, 0).unwrap()));
    assert!(MixedSparsity::from_blocks(&mds, &mds, &[((2, 0), vec![(c2p.clone(), c2p)])]).is_err());
    assert!(MixedSparsity::from_blocks(&mds, &mds, &[]).is_err());
    // A loop through the mixed pair assembles the two present blocks only.
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("OP2_CACHE_DIR", dir.path());
    let a = MixedMat::new(&sd, DType::F64).unwrap();
    let args = a.arg(Access::Inc, (&mm, &mm)).unwrap();
    assert_eq!(args.len(), 2);
    let k = Kernel::new(
        "diag",
        "void diag(double *a, double *b) { for (int k = 0; k < 4; k++) { a[k] = 1; b[k] = 2; } }",
    )
    .unwrap();
    op2::par_loop(&k, &cells, &args).unwrap();
    let x = MixedDat::zeros(&mds, DType::F64).unwrap();
    x.set_values(&[vec![1.0f64, 1.0, 1.0], vec![1.0, 1.0]])
        .unwrap();
    let y = MixedDat::zeros(&mds, DType::F64).unwrap();
    a.mult(&x, &y).unwrap();
    // Row sums: p0 and p2 are in one cell (2 entries), p1 in two (3 columns, 4 entries).
    assert_eq!(
        y.to_vecs::<f64>().unwrap(),
        vec![vec![2.0, 4.0, 2.0], vec![2.0, 2.0]]
    );
}

/// PyOP2's MixedDat vector operations, block by block.
#[test]
fn mixed_dat_vector_operations() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("OP2_CACHE_DIR", dir.path());
    let Spaces { p, q, .. } = spaces();
    let mds =
        MixedDataSet::new(&[DataSet::new(&p, 1).unwrap(), DataSet::new(&q, 2).unwrap()]).unwrap();
    let x = MixedDat::zeros(&mds, DType::F64).unwrap();
    x.set_values(&[vec![1.0f64, 2.0, 3.0], vec![1.0, -1.0, 0.5, 2.0]])
        .unwrap();
    let y = MixedDat::zeros(&mds, DType::F64).unwrap();
    x.copy(&y).unwrap();
    y.axpy(-0.5, &x).unwrap();
    assert_eq!(
        y.to_vecs::<f64>().unwrap(),
        vec![vec![0.5, 1.0, 1.5], vec![0.5, -0.5, 0.25, 1.0]]
    );
    assert_eq!(x.inner(&y).unwrap(), 0.5 * (14.0 + 6.25));
    y.zero().unwrap();
    assert_eq!(y.inner(&y).unwrap(), 0.0);
    let other = MixedDat::zeros(&MixedDataSet::from_sets(&[p, q]).unwrap(), DType::F64).unwrap();
    assert!(x.inner(&other).is_err() && x.copy(&other).is_err() && x.axpy(1.0, &other).is_err());
}
