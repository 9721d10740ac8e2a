//! Extruded loops through PyOP2's extruded maps into plain sets (`ExtrudedMap::flat`: each
//! column's values name elements at its first layer, advanced by `offset` per layer), compared
//! with a serial loop over the columns in Rust: column-major and layer-major numberings of the
//! target, every iteration region, variable layers, on threads (the loops colour the columns
//! that share target elements), and the refusals.
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
use op2::{
    par_loop_extruded_layer, Access, DType, Dat, DataSet, ExtrudedMap, ExtrudedSet, Kernel, Map,
    Region, Set,
};

fn setup() {
    static ONCE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let p = ONCE.get_or_init(|| {
        let d = tempfile::Builder::new()
            .prefix("op2-extrusion-flat-")
            .tempdir()
            .unwrap();
        let p = d.path().to_path_buf();
        std::mem::forget(d);
        p
    });
    std::env::set_var("OP2_CACHE_DIR", p);
}

const CELLS: usize = 3000;
const NODES: usize = CELLS + 2;
const LAYERS: usize = 6;

/// A strip of triangles (cell `i` on nodes `i, i+1, i+2`) extruded into prisms; nodes of layer
/// `j` numbered `n * LAYERS + j` (column-major, PyOP2's) or `j * NODES + n` (layer-major).
struct Strip {
    xset: ExtrudedSet,
    nodes: Set,
    /// Per cell: the bottom and top of its three nodes (6 entries), and their offsets.
    prism: Vec<i32>,
    offset: i32,
    /// One value per cell and layer (`i * (LAYERS - 1) + l`), through `field_map`.
    field: Dat,
    field_map: ExtrudedMap,
}

fn strip(column_major: bool) -> Strip {
    setup();
    let cells = Set::named("cells", CELLS).unwrap();
    let nodes = Set::named("nodes", NODES * LAYERS).unwrap();
    let wedges = Set::named("wedges", CELLS * (LAYERS - 1)).unwrap();
    let xset = ExtrudedSet::new(&cells, LAYERS).unwrap();
    let offset = if column_major { 1 } else { NODES as i32 };
    let node = move |n: usize, j: usize| match column_major {
        true => (n * LAYERS + j) as i32,
        false => (j * NODES + n) as i32,
    };
    let prism: Vec<i32> = (0..CELLS)
        .flat_map(|i| (i..i + 3).flat_map(move |n| [node(n, 0), node(n, 1)]))
        .collect();
    let w: Vec<i32> = (0..CELLS).map(|i| (i * (LAYERS - 1)) as i32).collect();
    let w = Map::named("cell_wedges", &cells, &wedges, 1, w).unwrap();
    let field_map = ExtrudedMap::flat(&xset, &w, &[1]).unwrap();
    let values: Vec<f64> = (0..CELLS * (LAYERS - 1)).map(|v| 0.5 * v as f64).collect();
    let field = Dat::named("field", &DataSet::new(&wedges, 1).unwrap(), values).unwrap();
    Strip {
        xset,
        nodes,
        prism,
        offset,
        field,
        field_map,
    }
}

/// Layers `[lo, hi)` and facets per layer of `region` on a column of `LAYERS` vertex layers.
fn layers(region: Region) -> (usize, usize, usize) {
    match region {
        Region::All => (0, LAYERS - 1, 1),
        Region::OnBottom => (0, 1, 1),
        Region::OnTop => (LAYERS - 2, LAYERS - 1, 1),
        Region::OnInteriorFacets => (0, LAYERS - 2, 2),
    }
}

/// `y[e] += x[0] * (e + 1) + layer` for every entry `e` of the prism (both facets' on
/// interior facets), through op2 and through a serial loop; the two must agree exactly.
fn prism_inc_matches_a_serial_loop(column_major: bool, region: Region) {
    let s = strip(column_major);
    let (lo, hi, facets) = layers(region);
    let n = 6 * facets;
    let m = Map::named("prism", s.xset.base(), &s.nodes, 6, s.prism.clone()).unwrap();
    let xmap = ExtrudedMap::flat(&s.xset, &m, &[s.offset; 6]).unwrap();
    let y = Dat::zeros(&DataSet::new(&s.nodes, 1).unwrap(), DType::F64);
    let code = format!(
        "static void inc(double *y, const double *x, int layer) {{ for (int e = 0; e < {n}; e++) y[e] += x[0] * (e + 1) + layer; }}"
    );
    let k = Kernel::new("inc", &code).unwrap();
    let args = [
        y.arg_extruded(Access::Inc, &xmap),
        s.field.arg_extruded(Access::Read, &s.field_map),
    ];
    par_loop_extruded_layer(&k, &s.xset, region, &args).unwrap();
    let field = s.field.to_vec::<f64>().unwrap();
    let mut want = vec![0.0f64; NODES * LAYERS];
    for c in 0..CELLS {
        for l in lo..hi {
            let x = field[c * (LAYERS - 1) + l];
            for f in 0..facets {
                for k in 0..6 {
                    let e = f * 6 + k;
                    let at = s.prism[c * 6 + k] as usize + (l + f) * s.offset as usize;
                    want[at] += x * (e + 1) as f64 + l as f64;
                }
            }
        }
    }
    assert_eq!(
        y.to_vec::<f64>().unwrap(),
        want,
        "{region:?}, column-major {column_major}"
    );
}

#[test]
fn column_major_targets_in_every_region_match_a_serial_loop() {
    for region in [
        Region::All,
        Region::OnBottom,
        Region::OnTop,
        Region::OnInteriorFacets,
    ] {
        prism_inc_matches_a_serial_loop(true, region);
    }
}

#[test]
fn layer_major_targets_match_a_serial_loop() {
    prism_inc_matches_a_serial_loop(false, Region::All);
    prism_inc_matches_a_serial_loop(false, Region::OnInteriorFacets);
}

#[test]
fn variable_layers_count_each_columns_layers_from_its_start() {
    // PyOP2's test_indirect_loop layout: column 0 spans layers [1, 3), column 1 [0, 3).
    setup();
    let cells = Set::named("cells", 2).unwrap();
    let nodes = Set::named("nodes", 8).unwrap();
    let xset = ExtrudedSet::variable(&cells, &[[1, 3], [0, 3]]).unwrap();
    let values = vec![5, 6, 7, 0, 1, 2];
    let m = Map::named("m", &cells, &nodes, 3, values.clone()).unwrap();
    let xmap = ExtrudedMap::flat(&xset, &m, &[2; 3]).unwrap();
    let y = Dat::zeros(&DataSet::new(&nodes, 1).unwrap(), DType::F64);
    let k = Kernel::new(
        "w",
        "static void w(double *y, int layer) { for (int i = 0; i < 3; i++) y[i] += 10 * layer + i + 1; }",
    )
    .unwrap();
    par_loop_extruded_layer(
        &k,
        &xset,
        Region::All,
        &[y.arg_extruded(Access::Inc, &xmap)],
    )
    .unwrap();
    let mut want = vec![0.0f64; 8];
    for (c, [start, stop]) in [[1usize, 3], [0, 3]].into_iter().enumerate() {
        for l in start..stop - 1 {
            for i in 0..3 {
                want[values[c * 3 + i] as usize + (l - start) * 2] += (10 * l + i + 1) as f64;
            }
        }
    }
    assert_eq!(y.to_vec::<f64>().unwrap(), want);
}

#[test]
fn a_dat_written_through_a_flat_map_and_another_argument_is_refused() {
    let s = strip(true);
    let m = Map::named("prism", s.xset.base(), &s.nodes, 6, s.prism.clone()).unwrap();
    let xmap = ExtrudedMap::flat(&s.xset, &m, &[1; 6]).unwrap();
    let y = Dat::zeros(&DataSet::new(&s.nodes, 1).unwrap(), DType::F64);
    let k = Kernel::new("k", "static void k(double *a, double *b, int layer) {}").unwrap();
    let args = [
        y.arg_extruded(Access::Inc, &xmap),
        y.arg_map(Access::Inc, &m, 0).into(),
    ];
    let e = par_loop_extruded_layer(&k, &s.xset, Region::All, &args).unwrap_err();
    assert!(e.to_string().contains("one map per loop"), "{e}");
    // Past the target set on the top layer: refused when the map is made.
    let short = Set::named("short", NODES * LAYERS - 1).unwrap();
    let m = Map::named("prism", s.xset.base(), &short, 6, s.prism.clone()).unwrap();
    let e = ExtrudedMap::flat(&s.xset, &m, &[1; 6]).err().unwrap();
    assert!(e.to_string().contains("outside the target set"), "{e}");
}
