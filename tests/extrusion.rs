//! Extruded loops, the behaviours of PyOP2's `tests/pyop2/test_extrusion.py` ported to op2
//! (one process, serial communicator, real compiler, fresh cache directory), plus iteration
//! regions, variable layers and the refusals of extruded arguments.
//!
//! PyOP2's fixtures: 32 elements in a strip, element `i` on nodes `i, i+1, i+2`, node `k` at
//! `(k / 2, k % 2)` on every one of 11 layers (10 wedges). The coordinate map gives each node
//! at the bottom then at the top of the wedge (`[n0, n0', n1, n1', n2, n2']`, offset 1); the
//! field map gives the element's own cell (offset 1).
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
use op2::{
    par_loop_extruded, par_loop_extruded_layer, Access, DType, Dat, DataSet, Entity, ExtrudedMap,
    ExtrudedSet, Global, Kernel, Map, Mat, Region, Set, Sparsity, XArg,
};

const NELEMS: usize = 32;
const NNODES: usize = NELEMS + 2;
const LAYERS: usize = 11;
const WEDGES: usize = LAYERS - 1;

fn setup() {
    static ONCE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let p = ONCE.get_or_init(|| {
        let d = tempfile::Builder::new()
            .prefix("op2-extrusion-")
            .tempdir()
            .unwrap();
        let p = d.path().to_path_buf();
        std::mem::forget(d);
        p
    });
    std::env::set_var("OP2_CACHE_DIR", p);
}

struct Fixture {
    elements: ExtrudedSet,
    coords_map: ExtrudedMap,
    field_map: ExtrudedMap,
    /// dim 2 per node and layer: `(k / 2, k % 2)`.
    coords: Dat,
    /// dim 1 per wedge: 1.0.
    field: Dat,
}

fn fixture() -> Fixture {
    setup();
    let elems = Set::named("elems", NELEMS).unwrap();
    let nodes = Set::named("nodes", NNODES).unwrap();
    let e2n: Vec<i32> = (0..NELEMS as i32).flat_map(|i| [i, i + 1, i + 2]).collect();
    let e2n = Map::named("e2n", &elems, &nodes, 3, e2n).unwrap();
    let e2e = Map::named("e2e", &elems, &elems, 1, (0..NELEMS as i32).collect()).unwrap();
    let elements = ExtrudedSet::new(&elems, LAYERS).unwrap();
    let node_cols = ExtrudedSet::new(&nodes, LAYERS).unwrap();
    let entries = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)];
    let coords_map = ExtrudedMap::new(&elements, &e2n, &entries, &[1; 6], Entity::Nodes).unwrap();
    let field_map = ExtrudedMap::columns(&elements, &e2e, Entity::Cells).unwrap();
    let xy: Vec<f64> = (0..NNODES)
        .flat_map(|k| (0..LAYERS).flat_map(move |_| [(k / 2) as f64, (k % 2) as f64]))
        .collect();
    let coords = Dat::new(&node_cols.dataset(Entity::Nodes, 2).unwrap(), xy).unwrap();
    let field = Dat::new(
        &elements.dataset(Entity::Cells, 1).unwrap(),
        vec![1.0f64; NELEMS * WEDGES],
    )
    .unwrap();
    Fixture {
        elements,
        coords_map,
        field_map,
        coords,
        field,
    }
}

/// PyOP2's `par_loop(k, elements, *args)`: every layer of every column.
fn all(k: &Kernel, f: &Fixture, args: &[XArg]) {
    par_loop_extruded(k, &f.elements, Region::All, args).unwrap();
}

fn cells_dat(f: &Fixture, v: f64) -> Dat {
    Dat::new(
        &f.elements.dataset(Entity::Cells, 1).unwrap(),
        vec![v; NELEMS * WEDGES],
    )
    .unwrap()
}

#[test]
fn test_extrusion_integrates_every_wedge() {
    let f = fixture();
    let g = Global::new(vec![0.0f64]).unwrap();
    let k = Kernel::new(
        "comp_vol",
        "static void comp_vol(double A[1], const double x[6][2], const double y[1])
{
    double abs = x[0][0]*(x[2][1]-x[4][1])+x[2][0]*(x[4][1]-x[0][1])+x[4][0]*(x[0][1]-x[2][1]);
    if (abs < 0) abs = abs * (-1.0);
    A[0]+=0.5*abs*0.1 * y[0];
}",
    )
    .unwrap();
    all(
        &k,
        &f,
        &[
            g.arg(Access::Inc).into(),
            f.coords.arg_extruded(Access::Read, &f.coords_map),
            f.field.arg_extruded(Access::Read, &f.field_map),
        ],
    );
    let want = WEDGES as f64 * 0.1 * (NELEMS / 2) as f64;
    assert!(
        (g.get::<f64>().unwrap() - want).abs() < 1e-12,
        "{:?}",
        g.value::<f64>()
    );
}

#[test]
fn test_extruded_nbytes() {
    let f = fixture();
    assert_eq!(f.field.dim(), WEDGES);
    assert_eq!(
        f.field.to_vec::<f64>().unwrap().len() * 8,
        NELEMS * WEDGES * 8
    );
    // The column layout is cached as any DataSet.
    let ds = f.elements.dataset(Entity::Cells, 1).unwrap();
    assert!(ds.ptr_eq(f.field.dataset()));
    assert!(ds.ptr_eq(&DataSet::new(f.elements.base(), WEDGES).unwrap()));
}

#[test]
fn test_direct_loop_inc() {
    setup();
    let iterset = Set::new(NELEMS).unwrap();
    let dat = Dat::zeros(&DataSet::new(&iterset, 1).unwrap(), DType::F64);
    let xtr = ExtrudedSet::new(&iterset, 10).unwrap();
    let k = Kernel::new("k", "static void k(double *x) { *x += 1.0; }").unwrap();
    par_loop_extruded(&k, &xtr, Region::All, &[dat.arg(Access::Inc).into()]).unwrap();
    assert_eq!(dat.to_vec::<f64>().unwrap(), vec![9.0; NELEMS]);
}

#[test]
fn test_extruded_layer_arg() {
    let f = fixture();
    let dat_f = cells_dat(&f, -1.0);
    let k = Kernel::new(
        "blah",
        "static void blah(double* x, int layer_arg){ x[0] = layer_arg; }",
    )
    .unwrap();
    par_loop_extruded_layer(
        &k,
        &f.elements,
        Region::All,
        &[dat_f.arg_extruded(Access::Write, &f.field_map)],
    )
    .unwrap();
    let v = dat_f.to_vec::<f64>().unwrap();
    for n in 0..NELEMS {
        let want: Vec<f64> = (0..WEDGES).map(|l| l as f64).collect();
        assert_eq!(v[n * WEDGES..(n + 1) * WEDGES], want[..]);
    }
}

#[test]
fn test_write_data_field() {
    let f = fixture();
    let dat_f = cells_dat(&f, -1.0);
    let k = Kernel::new("wo", "static void wo(double* x) { x[0] = 42.0; }\n").unwrap();
    all(&k, &f, &[dat_f.arg_extruded(Access::Write, &f.field_map)]);
    assert!(dat_f.to_vec::<f64>().unwrap().iter().all(|&x| x == 42.0));
}

#[test]
fn test_write_data_coords() {
    let f = fixture();
    let dat_c = Dat::zeros(f.coords.dataset(), DType::F64);
    let k = Kernel::new(
        "wo_c",
        "static void wo_c(double x[6][2]) { for (int i = 0; i < 6; i++) { x[i][0] = 42.0; x[i][1] = 42.0; } }",
    )
    .unwrap();
    all(&k, &f, &[dat_c.arg_extruded(Access::Write, &f.coords_map)]);
    assert!(dat_c.to_vec::<f64>().unwrap().iter().all(|&x| x == 42.0));
}

#[test]
fn test_read_coord_neighbours_write_to_field() {
    let f = fixture();
    let dat_f = cells_dat(&f, -1.0);
    let k = Kernel::new(
        "wtf",
        "static void wtf(double* y, const double x[6][2]) {
   double sum = 0.0;
   for (int i=0; i<6; i++) sum += x[i][0] + x[i][1];
   y[0] = sum;
}",
    )
    .unwrap();
    all(
        &k,
        &f,
        &[
            dat_f.arg_extruded(Access::Write, &f.field_map),
            f.coords.arg_extruded(Access::Read, &f.coords_map),
        ],
    );
    let v = dat_f.to_vec::<f64>().unwrap();
    assert!(v.iter().all(|&x| x >= 0.0));
    for n in 0..NELEMS {
        // Each node twice (bottom and top), with x + y = k / 2 + k % 2.
        let want: f64 = (n..n + 3).map(|k| 2.0 * ((k / 2) + (k % 2)) as f64).sum();
        assert!(
            v[n * WEDGES..(n + 1) * WEDGES].iter().all(|&x| x == want),
            "element {n}"
        );
    }
}

#[test]
fn test_indirect_coords_inc() {
    let f = fixture();
    let dat_c = Dat::zeros(f.coords.dataset(), DType::F64);
    let k = Kernel::new(
        "inc",
        "static void inc(double y[6][2], const double x[6][2]) {
   for (int i=0; i<6; i++) if (y[i][0] == 0) { y[i][0] += 1; y[i][1] += 1; }
}",
    )
    .unwrap();
    all(
        &k,
        &f,
        &[
            dat_c.arg_extruded(Access::RW, &f.coords_map),
            f.coords.arg_extruded(Access::Read, &f.coords_map),
        ],
    );
    let sum: f64 = dat_c.to_vec::<f64>().unwrap().iter().sum();
    assert_eq!(sum, (NNODES * LAYERS * 2) as f64);
}

/// Per column and region, the layers the kernel ran on (counted into a cell Dat).
fn visits(set: &ExtrudedSet, region: Region) -> Vec<f64> {
    let d = Dat::zeros(&set.dataset(Entity::Cells, 1).unwrap(), DType::F64);
    let k = Kernel::new(
        "visit",
        "void visit(double *c, const int *lay, int layer) { c[0] += 1 + layer; }",
    )
    .unwrap();
    // Every visit adds 1 + layer at the current cell; `lay` is a base-set Dat, passed unchanged.
    let lay = Dat::new(
        &DataSet::new(set.base(), 1).unwrap(),
        vec![0i32; set.base().size()],
    )
    .unwrap();
    let cells = Map::new(
        set.base(),
        set.base(),
        1,
        (0..set.base().size() as i32).collect(),
    )
    .unwrap();
    let own = ExtrudedMap::columns(set, &cells, Entity::Cells).unwrap();
    par_loop_extruded_layer(
        &k,
        set,
        region,
        &[
            d.arg_extruded(Access::Inc, &own),
            lay.arg(Access::Read).into(),
        ],
    )
    .unwrap();
    d.to_vec::<f64>().unwrap()
}

#[test]
fn iteration_regions_run_the_layers_pyop2_runs() {
    setup();
    let base = Set::new(1).unwrap();
    let s = ExtrudedSet::new(&base, 5).unwrap(); // 4 cells: layers 0..=3
    assert_eq!(visits(&s, Region::All), vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(visits(&s, Region::OnBottom), vec![1.0, 0.0, 0.0, 0.0]);
    assert_eq!(visits(&s, Region::OnTop), vec![0.0, 0.0, 0.0, 4.0]);
    assert_eq!(
        visits(&s, Region::OnInteriorFacets),
        vec![1.0, 2.0, 3.0, 0.0]
    );
}

#[test]
fn variable_layers_run_each_column_between_its_bounds() {
    setup();
    let base = Set::new(3).unwrap();
    // Column 0: vertex layers [1, 5) (cells 1..=3); column 1: [0, 2) (cell 0); column 2: none.
    let s = ExtrudedSet::variable(&base, &[[1, 5], [0, 2], [3, 4]]).unwrap();
    assert_eq!(s.layers(), 5);
    assert!(s.is_variable());
    let col = |v: &[f64], c: usize| v[c * 4..(c + 1) * 4].to_vec();
    let all = visits(&s, Region::All);
    assert_eq!(col(&all, 0), vec![0.0, 2.0, 3.0, 4.0]);
    assert_eq!(col(&all, 1), vec![1.0, 0.0, 0.0, 0.0]);
    assert_eq!(col(&all, 2), vec![0.0; 4]);
    let top = visits(&s, Region::OnTop);
    assert_eq!(col(&top, 0), vec![0.0, 0.0, 0.0, 4.0]);
    assert_eq!(col(&top, 1), vec![1.0, 0.0, 0.0, 0.0]);
    assert_eq!(col(&top, 2), vec![0.0; 4]);
    let bottom = visits(&s, Region::OnBottom);
    assert_eq!(col(&bottom, 0), vec![0.0, 2.0, 0.0, 0.0]);
    assert_eq!(col(&bottom, 2), vec![0.0; 4]);
    let facets = visits(&s, Region::OnInteriorFacets);
    assert_eq!(col(&facets, 0), vec![0.0, 2.0, 3.0, 0.0]);
    assert_eq!(col(&facets, 1), vec![0.0; 4]);
    assert!(ExtrudedSet::variable(&base, &[[1, 0], [0, 2], [0, 2]]).is_err());
    assert!(ExtrudedSet::variable(&base, &[[0, 2]]).is_err());
}

/// Over interior facets: each cell below gets the jump to the cell above, each cell above 0.5.
fn facet_jumps(s: &ExtrudedSet, own: &ExtrudedMap, c: &Dat) -> Vec<f64> {
    let jump = Dat::zeros(c.dataset(), DType::F64);
    let k = Kernel::new(
        "jump",
        "void jump(double *j, const double *c) { j[0] += c[1] - c[0]; j[1] += 0.5; }",
    )
    .unwrap();
    let args = [
        jump.arg_extruded(Access::Inc, own),
        c.arg_extruded(Access::Read, own),
    ];
    par_loop_extruded(&k, s, Region::OnInteriorFacets, &args).unwrap();
    jump.to_vec::<f64>().unwrap()
}

#[test]
fn interior_facets_pack_both_cells_below_then_above() {
    setup();
    let base = Set::new(1).unwrap();
    let s = ExtrudedSet::new(&base, 4).unwrap(); // 3 cells, 2 interior facets
    let own = ExtrudedMap::columns(
        &s,
        &Map::new(&base, &base, 1, vec![0]).unwrap(),
        Entity::Cells,
    )
    .unwrap();
    let c = Dat::new(
        &s.dataset(Entity::Cells, 1).unwrap(),
        vec![1.0f64, 10.0, 100.0],
    )
    .unwrap();
    let jump = facet_jumps(&s, &own, &c);
    // Facet 0 (cells 0|1) adds 9 to cell 0 and 0.5 to cell 1; facet 1 adds 90 and 0.5.
    assert_eq!(jump, vec![9.0, 90.5, 0.5]);
}

#[test]
fn extruded_mat_assembles_column_blocks() {
    setup();
    // Two intervals (three base nodes) extruded into 3 vertex layers: quads.
    let (cells, nodes) = (Set::new(2).unwrap(), Set::new(3).unwrap());
    let c2n = Map::new(&cells, &nodes, 2, vec![0, 1, 1, 2]).unwrap();
    let cx = ExtrudedSet::new(&cells, 3).unwrap();
    let nx = ExtrudedSet::new(&nodes, 3).unwrap();
    let quad = ExtrudedMap::prism(&cx, &c2n).unwrap();
    let ds = nx.dataset(Entity::Nodes, 1).unwrap();
    let sp = Sparsity::extruded(&ds, &ds, &[(quad.clone(), quad.clone())]).unwrap();
    assert_eq!(sp.dims(), (3, 3));
    let a = Mat::new(&sp, DType::F64).unwrap();
    let k = Kernel::new(
        "ones",
        "void ones(double *A) { for (int i = 0; i < 16; i++) A[i] = 1.0; }",
    )
    .unwrap();
    par_loop_extruded(
        &k,
        &cx,
        Region::All,
        &[a.arg_extruded(Access::Inc, (&quad, &quad))],
    )
    .unwrap();
    // Row (node 1, layer 1) touches 2 cells x 2 layers, each adding 1 to its 4 vertices.
    let x = Dat::new(&ds, vec![1.0f64; 9]).unwrap();
    let y = Dat::zeros(&ds, DType::F64);
    a.mult(&x, &y).unwrap();
    assert_eq!(
        y.to_vec::<f64>().unwrap(),
        vec![4.0, 8.0, 4.0, 8.0, 16.0, 8.0, 4.0, 8.0, 4.0]
    );
    assert_eq!(a.get(4, 4).unwrap(), 4.0); // (node 1, layer 1) with itself, in 4 quads
    assert_eq!(a.get(0, 8).unwrap(), 0.0);
    let w = par_loop_extruded(
        &k,
        &cx,
        Region::All,
        &[a.arg_extruded(Access::Write, (&quad, &quad))],
    );
    assert!(w.unwrap_err().to_string().contains("assembled with INC"));
}

#[test]
fn bad_extruded_arguments_are_refused_with_their_names() {
    let f = fixture();
    let e2e = f.field_map.base().clone();
    // Shift 1 with offset 1 leaves the column of 10 cells at the top layer.
    let e = ExtrudedMap::new(&f.elements, &e2e, &[(0, 1)], &[1], Entity::Cells);
    assert!(e
        .err()
        .unwrap()
        .to_string()
        .contains("shift + 9 * offset < 10"));
    assert!(ExtrudedMap::new(&f.elements, &e2e, &[(1, 0)], &[1], Entity::Cells).is_err());
    assert!(ExtrudedMap::new(&f.elements, &e2e, &[(0, 0)], &[], Entity::Cells).is_err());
    let k = Kernel::new("k", "void k(double *x) { x[0] = 1; }").unwrap();
    let r = par_loop_extruded(
        &k,
        &f.elements,
        Region::OnInteriorFacets,
        &[f.field.arg_layer(Access::Write)],
    );
    assert!(r.unwrap_err().to_string().contains("argument 0"));
    // A Dat whose columns do not hold whole layers.
    let odd = Dat::zeros(&DataSet::new(f.elements.base(), 7).unwrap(), DType::F64);
    let r = par_loop_extruded(
        &k,
        &f.elements,
        Region::All,
        &[odd.arg_layer(Access::Write)],
    );
    assert!(r.unwrap_err().to_string().contains("not a multiple of 10"));
    assert!(ExtrudedSet::new(f.elements.base(), 1).is_err());
}

#[test]
fn a_kernel_that_does_not_match_its_extruded_arguments_is_an_error_naming_it() {
    let f = fixture();
    let g = Global::new(vec![0.0f64]).unwrap();
    // The coordinates arrive packed (const double *), not as an array of pointers.
    let k = Kernel::new(
        "bad_vol",
        "void bad_vol(double *g, const double **x) { g[0] += x[0][0]; }",
    )
    .unwrap();
    let r = par_loop_extruded(
        &k,
        &f.elements,
        Region::All,
        &[
            g.arg(Access::Inc).into(),
            f.coords.arg_extruded(Access::Read, &f.coords_map),
        ],
    );
    let e = r.unwrap_err().to_string();
    assert!(e.contains("bad_vol"), "{e}");
    assert_eq!(g.get::<f64>().unwrap(), 0.0);
}

#[test]
fn periodic_columns_wrap_their_top_to_their_bottom() {
    setup();
    let base = Set::new(1).unwrap();
    let id = Map::new(&base, &base, 1, vec![0]).unwrap();
    let s = ExtrudedSet::periodic(&base, 5).unwrap(); // 4 cells, 4 vertices in a ring
    assert!(s.is_periodic());
    assert_eq!(s.entries(Entity::Nodes), 4);
    let seg = ExtrudedMap::prism(&s, &id).unwrap(); // bottom and top vertex of each cell
    let v = Dat::zeros(&s.dataset(Entity::Nodes, 1).unwrap(), DType::F64);
    let k = Kernel::new(
        "ends",
        "void ends(double *v, int layer) { v[0] += 1; v[1] += 10 * (layer + 1); }",
    )
    .unwrap();
    par_loop_extruded_layer(&k, &s, Region::All, &[v.arg_extruded(Access::Inc, &seg)]).unwrap();
    // Vertex j is the bottom of cell j and the top of cell j - 1 (cell 3's top is vertex 0).
    assert_eq!(v.to_vec::<f64>().unwrap(), vec![41.0, 11.0, 21.0, 31.0]);
    // Interior facets include the one between the top cell and the bottom cell.
    let own = ExtrudedMap::columns(&s, &id, Entity::Cells).unwrap();
    let c = Dat::new(
        &s.dataset(Entity::Cells, 1).unwrap(),
        vec![1.0f64, 10.0, 100.0, 1000.0],
    )
    .unwrap();
    let jump = facet_jumps(&s, &own, &c);
    assert_eq!(jump, vec![9.5, 90.5, 900.5, -998.5]);
    // An offset of 2 per layer would need 8 entries per column of 4.
    assert!(ExtrudedMap::new(&s, &id, &[(0, 0)], &[2], Entity::Nodes).is_err());
}

/// A repeated extruded loop finds its column kernel in the base set's object cache (reported
/// as `object:ColumnKernel`, with entries and bytes) instead of generating it again.
#[test]
fn a_repeated_extruded_loop_reuses_its_cached_column_kernel() {
    let f = fixture();
    let k = Kernel::new(
        "add_one",
        "static void add_one(double y[1]) { y[0] += 1.0; }",
    )
    .unwrap();
    let field = cells_dat(&f, 0.0);
    let run = || all(&k, &f, &[field.arg_extruded(Access::Inc, &f.field_map)]);
    run();
    let first = op2::cache::stats::get("object:ColumnKernel");
    assert!(first.entries >= 1 && first.bytes > 0, "{first:?}");
    run();
    let second = op2::cache::stats::get("object:ColumnKernel");
    assert!(second.hits > first.hits, "{first:?} then {second:?}");
    assert!(field.to_vec::<f64>().unwrap().iter().all(|&v| v == 2.0));
}
