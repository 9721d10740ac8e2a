//! Extruded loops over a subset of the columns (`ExtrudedSet::subset`, PyOP2's `Subset(xset,
//! indices)`) through PyOP2's flat extruded maps, on one process with 2 threads and blocks of
//! 4 columns (the chosen columns that share target elements are coloured apart), compared
//! exactly with a serial loop over the chosen columns: every region, constant and variable
//! layers, a subset of a subset; and the refusals (a map of another ExtrudedSet, a column out
//! of range). The distributed case is `tests/extrude_subset_mpi.rs`.
// A test program: it sets the environment of the op2 it runs (clippy.toml keeps that out of
// the library).
#![allow(clippy::disallowed_methods)]
mod common;
use op2::{
    par_loop_extruded, par_loop_extruded_layer, Access, DType, Dat, DataSet, ExtrudedMap,
    ExtrudedSet, ExtrudedSubset, Kernel, Map, Region, Set,
};

#[path = "../examples/region-layers/layers.rs"]
mod region;
use region::layers;

const CELLS: usize = 400;
const LAYERS: usize = 6;

fn setup() {
    common::two_threads_small_blocks();
}

/// Vertex layers `[start, stop)` of column `c`.
fn span(c: usize, variable: bool) -> (usize, usize) {
    match variable {
        true => (c % 2, LAYERS - usize::from(c.is_multiple_of(3))),
        false => (0, LAYERS),
    }
}

/// A pseudo-random third of the columns, sorted.
fn chosen() -> Vec<usize> {
    (0..CELLS).filter(|c| (c * 2654435761) % 97 < 33).collect()
}

/// A strip of triangles (cell `i` on node columns `i, i+1, i+2`, node `n` at layer `l` is
/// `n * LAYERS + l`) extruded into prisms; the flat prism map names each column's first layer.
struct Strip {
    xset: ExtrudedSet,
    nodes: Set,
    prism: ExtrudedMap,
    values: Vec<i32>,
}

fn strip(variable: bool) -> Strip {
    setup();
    let cells = Set::named("cells", CELLS).unwrap();
    let nodes = Set::named("nodes", (CELLS + 2) * LAYERS).unwrap();
    let xset = match variable {
        true => {
            let spans: Vec<[i32; 2]> = (0..CELLS)
                .map(|c| [span(c, true).0 as i32, span(c, true).1 as i32])
                .collect();
            ExtrudedSet::variable(&cells, &spans).unwrap()
        }
        false => ExtrudedSet::new(&cells, LAYERS).unwrap(),
    };
    let values: Vec<i32> = (0..CELLS)
        .flat_map(|i| {
            let s = span(i, variable).0;
            (0..6).map(move |e| ((i + e % 3) * LAYERS + s + e / 3) as i32)
        })
        .collect();
    let m = Map::named("prism", &cells, &nodes, 6, values.clone()).unwrap();
    let prism = ExtrudedMap::flat(&xset, &m, &[1; 6]).unwrap();
    Strip {
        xset,
        nodes,
        prism,
        values,
    }
}

/// `y[e] += (c + 1) * (layer + 1) * (e + 1)` (`c` a per-column Dat) over `sub`, against the
/// serial loop over `columns`.
fn inc_matches_a_serial_loop(s: &Strip, sub: &ExtrudedSubset, columns: &[usize], variable: bool) {
    let ds = DataSet::new(s.xset.base(), 1).unwrap();
    let w = Dat::new(&ds, (1..=CELLS).map(|c| c as f64).collect()).unwrap();
    for region in [
        Region::All,
        Region::OnBottom,
        Region::OnTop,
        Region::OnInteriorFacets,
    ] {
        let n = if region == Region::OnInteriorFacets {
            12
        } else {
            6
        };
        let code = format!(
            "static void inc(double *y, const double *w, int layer) {{ for (int e = 0; e < {n}; e++) y[e] += w[0] * (layer + 1) * (e + 1); }}"
        );
        let k = Kernel::new("inc", &code).unwrap();
        let y = Dat::zeros(&DataSet::new(&s.nodes, 1).unwrap(), DType::F64);
        let args = [
            y.arg_extruded(Access::Inc, &s.prism),
            w.arg(Access::Read).into(),
        ];
        par_loop_extruded_layer(&k, sub, region, &args).unwrap();
        let mut want = vec![0.0f64; s.nodes.size()];
        for &c in columns {
            let (st, t) = span(c, variable);
            let (ls, facets) = layers(region, st, t);
            for l in ls {
                for f in 0..facets {
                    for e in 0..6 {
                        let at = s.values[c * 6 + e] as usize + l - st + f;
                        want[at] += ((c + 1) * (l + 1) * (f * 6 + e + 1)) as f64;
                    }
                }
            }
        }
        let got = y.to_vec::<f64>().unwrap();
        assert_eq!(got, want, "{region:?}, variable layers {variable}");
    }
}

#[test]
fn flat_map_increments_over_a_subset_match_a_serial_loop() {
    for variable in [false, true] {
        let s = strip(variable);
        let columns = chosen();
        let sub = s.xset.subset(&columns).unwrap();
        assert!(sub.superset().ptr_eq(&s.xset));
        assert_eq!(sub.indices().len(), columns.len());
        inc_matches_a_serial_loop(&s, &sub, &columns, variable);
    }
}

#[test]
fn a_subset_of_a_subset_chooses_columns_of_the_extruded_set() {
    let s = strip(true);
    let columns = chosen();
    let sub = s.xset.subset(&columns).unwrap();
    let every_other: Vec<usize> = (0..columns.len()).step_by(2).collect();
    let sub2 = sub.subset(&every_other).unwrap();
    let want: Vec<usize> = every_other.iter().map(|&i| columns[i]).collect();
    let got: Vec<usize> = sub2.indices().iter().map(|&i| i as usize).collect();
    assert_eq!(got, want);
    inc_matches_a_serial_loop(&s, &sub2, &want, true);
}

#[test]
fn a_layer_dat_written_over_a_subset_keeps_the_other_columns() {
    let s = strip(false);
    let columns = chosen();
    let sub = s.xset.subset(&columns).unwrap();
    let ds = s.xset.dataset(op2::Entity::Cells, 1).unwrap();
    let d = Dat::new(&ds, vec![-1.0f64; CELLS * (LAYERS - 1)]).unwrap();
    let k = Kernel::new("w", "static void w(double *d, int l) { d[0] = l; }").unwrap();
    par_loop_extruded_layer(&k, &sub, Region::All, &[d.arg_layer(Access::Write)]).unwrap();
    let got = d.to_vec::<f64>().unwrap();
    for c in 0..CELLS {
        for l in 0..LAYERS - 1 {
            let want = if columns.contains(&c) { l as f64 } else { -1.0 };
            assert_eq!(got[c * (LAYERS - 1) + l], want, "column {c}, layer {l}");
        }
    }
}

#[test]
fn a_map_of_another_extruded_set_and_a_bad_column_are_refused() {
    let s = strip(false);
    let other = strip(false);
    let sub = s.xset.subset(&[1, 2]).unwrap();
    let y = Dat::zeros(&DataSet::new(&other.nodes, 1).unwrap(), DType::F64);
    let k = Kernel::new("z", "static void z(double *y) { y[0] += 1.0; }").unwrap();
    let e = par_loop_extruded(
        &k,
        &sub,
        Region::All,
        &[y.arg_extruded(Access::Inc, &other.prism)],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("another extruded set") && e.contains("prism"),
        "{e}"
    );
    let e = s.xset.subset(&[CELLS]).err().unwrap().to_string();
    assert!(
        e.contains("cells") && e.contains(&format!("{CELLS}")),
        "{e}"
    );
}
