//! Differential test (issue #20): seeded random meshes and every kind of par_loop argument,
//! distributed over any number of ranks and threads, compared with a serial reference written
//! with plain `Vec`s and loops (no op2 types).
//!
//! Each case draws, from a small self-contained PRNG (splitmix64) seeded per case:
//! * 2-4 sets of sizes 0, 1, a few, around common block sizes (8, 64, 128) and a few hundred
//!   (at least one set has 150 or more elements, so threaded loops cut it into many blocks);
//! * maps of arity 1-4 between them whose rows repeat targets and point at 1-3 "hub" targets
//!   that hundreds of elements share; always a self map (a set onto itself), two maps with the
//!   same ends ("twins") and a map of the largest set onto 1-2 hub targets;
//! * a partition: RCB (coordinates on a random set), block, METIS, or random user owners;
//! * per set the dims of its Dats (1 or 2), initial values, and a shuffled list of loops:
//!   direct READ/WRITE/RW; `arg_map` READ/WRITE/RW/INC; `arg_vec` READ/WRITE/RW/INC; two maps
//!   into one Dat (READ and INC); a self map with direct WRITE beside it; Globals of every dtype
//!   (f64, f32, i32, i64, u32, u64) with INC/MIN/MAX (u32/u64 MIN/MAX values have the top bit
//!   set on the first half of the set only, so ranks' partial results differ in that bit);
//!   a Mat assembled by INC through a map pair; reads after indirect writes (halo refresh);
//!   an INC into hub targets whose kernel holds the value for a while between reading and
//!   writing it (two blocks that run concurrently on the same target lose an update: the
//!   colouring's check, see the negative control in `tests/diff_mpi.rs`).
//!
//! The direct loop's kernel is often named like a local the generated wrapper once declared
//! (`n`, `d1`, `args`, ...). The loop list runs twice. Results are exactly comparable: integers, and floating values that
//! are dyadic rationals (multiples of 1/64 of modest size), whose sums are exact in any order,
//! so these are compared exactly; a few non-dyadic values (square roots) to 1e-12 relative.
//! Indirect WRITE/RW kernels are order-independent (a value depending only on the target, or a
//! max), so the serial answer is well defined with repeated targets.
//!
//! Rank 0 gathers every Dat, Global and Mat, compares with the reference and broadcasts the
//! verdict: every rank prints `rank R of N: ok: C cases, V values checked (...)`, or every rank
//! fails naming the case, its seed, the Dat and the first differing index.
//! Options: `--seed S` (default 1), `--cases K` (default 4), `--first C` (first case number,
//! default 0: rerun one failing case with `--first C --cases 1`), `--iters I` (default 2),
//! `--spin N` (iterations the hub kernel waits, default 2000). Threads and block size come from
//! `OP2_THREADS` and `OP2_BLOCK_SIZE` as for any op2 program.
use std::collections::BTreeMap;
use std::process::ExitCode;

use op2::mesh::Partitioner;
use op2::{
    par_loop, Access, DType, Dat, DataSet, Error, Global, GlobalMesh, Kernel, Mat, Result, Sparsity,
};

/// splitmix64: small, self-contained and the same on every rank.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
    /// A multiple of 1/8 in [-64, 64].
    fn dyadic(&mut self) -> f64 {
        (self.below(1025) as f64 - 512.0) * 0.125
    }
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as usize) as i64
    }
}

const SIZES: &[usize] = &[
    0, 1, 2, 3, 5, 7, 8, 9, 31, 63, 64, 65, 100, 127, 128, 129, 200, 300, 450,
];

struct MapDef {
    from: usize,
    to: usize,
    arity: usize,
    values: Vec<i32>,
}

enum Part {
    Rcb(usize, Vec<f64>),
    Block,
    Metis,
    Owners(usize, Vec<i32>),
}

/// One loop of a case: its maps (indices into `Case::maps`), map entries and sets.
#[derive(Clone, Copy, Debug)]
enum Loop {
    Direct(usize),
    IncMap(usize, usize),
    IncVec(usize),
    TwoMaps(usize, usize, [usize; 4]),
    SelfMap(usize, usize, usize),
    RdMap(usize, usize),
    RdVec(usize),
    WrMap(usize, usize),
    WrVec(usize),
    RwMap(usize, usize),
    RwVec(usize),
    Globals(usize),
    Mat(usize, usize, usize, usize),
    Slow(usize),
    RdW(usize, usize),
}

/// Initial values of one set's Dats, global numbering.
struct Init {
    x: Vec<f64>,
    z: Vec<i64>,
    acc: Vec<f64>,
    w: Vec<i64>,
    e: Vec<i64>,
    h: Vec<u64>,
}

struct Case {
    seed: u64,
    sizes: Vec<usize>,
    /// Per set: dims of x (and y, z), acc, w, e.
    dims: Vec<[usize; 4]>,
    maps: Vec<MapDef>,
    part: Part,
    loops: Vec<Loop>,
    init: Vec<Init>,
    /// The direct loop's kernel name: often a name the generated wrapper once used for its
    /// own locals (issue #20: such a kernel compiled against a shadowing local).
    direct_name: &'static str,
}

/// Names for the direct loop's kernel.
const DIRECT_NAMES: &[&str] = &[
    "direct", "n", "k", "d", "r", "c", "d0", "d1", "d2", "d3", "m0", "m1", "r0", "r1", "a1", "e2",
    "g3", "l3", "v0", "p4", "ii", "jj", "args", "maps", "start", "end",
];

/// A nonempty set to map `from` onto (any set when `from` is empty).
fn target(rng: &mut Rng, sizes: &[usize], from: usize) -> usize {
    loop {
        let t = rng.below(sizes.len());
        if sizes[t] > 0 || sizes[from] == 0 {
            return t;
        }
    }
}

/// Rows of `arity` targets: some repeat an earlier entry of the row, some hit a hub.
fn gen_map(rng: &mut Rng, sizes: &[usize], from: usize, to: usize, arity: usize) -> MapDef {
    let nt = sizes[to].max(1);
    let hubs: Vec<i32> = (0..1 + rng.below(3))
        .map(|_| rng.below(nt) as i32)
        .collect();
    let hub_in_8 = rng.pick(&[0, 1, 3, 6]);
    let mut values = Vec::with_capacity(sizes[from] * arity);
    for _ in 0..sizes[from] {
        let row = values.len();
        for k in 0..arity {
            let v = if k > 0 && rng.below(5) == 0 {
                values[row + rng.below(k)]
            } else if rng.below(8) < hub_in_8 {
                rng.pick(&hubs)
            } else {
                rng.below(nt) as i32
            };
            values.push(v);
        }
    }
    MapDef {
        from,
        to,
        arity,
        values,
    }
}

/// The maps of a case: 2-4 random ones, a self map, twins, the hub map (in that order).
/// Returns the maps and the indices of the self map, the first twin and the hub map.
fn gen_maps(rng: &mut Rng, sizes: &[usize], big: usize) -> (Vec<MapDef>, [usize; 3]) {
    let ns = sizes.len();
    let mut maps = Vec::new();
    for _ in 0..2 + rng.below(3) {
        let from = rng.below(ns);
        let to = target(rng, sizes, from);
        let arity = 1 + rng.below(4);
        maps.push(gen_map(rng, sizes, from, to, arity));
    }
    let s = rng.below(ns);
    let arity = 1 + rng.below(4);
    maps.push(gen_map(rng, sizes, s, s, arity));
    let a = rng.below(ns);
    let b = target(rng, sizes, a);
    for _ in 0..2 {
        let arity = 1 + rng.below(4);
        maps.push(gen_map(rng, sizes, a, b, arity));
    }
    let t = target(rng, sizes, big);
    let nh = 1 + rng.below(sizes[t].min(2));
    let values = (0..sizes[big]).map(|_| rng.below(nh) as i32).collect();
    maps.push(MapDef {
        from: big,
        to: t,
        arity: 1,
        values,
    });
    let n = maps.len();
    (maps, [n - 4, n - 3, n - 1])
}

/// A loop of kind `kind` (0..15) on the case's maps.
fn gen_loop(rng: &mut Rng, kind: usize, maps: &[MapDef], special: [usize; 3], ns: usize) -> Loop {
    let m = rng.below(maps.len());
    let i = rng.below(maps[m].arity);
    let entry = |rng: &mut Rng, m: usize| rng.below(maps[m].arity);
    match kind {
        0 => Loop::Direct(rng.below(ns)),
        1 => Loop::IncMap(m, i),
        2 => Loop::IncVec(m),
        3 => {
            let (a, b) = if rng.below(2) == 0 {
                (special[1], special[1] + 1)
            } else {
                (special[1] + 1, special[1])
            };
            let e = [entry(rng, a), entry(rng, b), entry(rng, a), entry(rng, b)];
            Loop::TwoMaps(a, b, e)
        }
        4 => {
            let s = special[0];
            Loop::SelfMap(s, entry(rng, s), entry(rng, s))
        }
        5 => Loop::RdMap(m, i),
        6 => Loop::RdVec(m),
        7 => Loop::WrMap(m, i),
        8 => Loop::WrVec(m),
        9 => Loop::RwMap(m, i),
        10 => Loop::RwVec(m),
        11 => Loop::Globals(rng.below(ns)),
        12 => {
            let same: Vec<usize> = (0..maps.len())
                .filter(|&k| maps[k].from == maps[m].from)
                .collect();
            Loop::Mat(m, rng.pick(&same), 1 + rng.below(2), 1 + rng.below(2))
        }
        13 => Loop::Slow(special[2]),
        _ => Loop::RdW(m, i),
    }
}

const KINDS: usize = 15;

/// Case `seed` for a job of `nranks` ranks (only user owners depend on it, never the number of
/// draws: the case is the same mesh and loops on any number of ranks).
fn gen_case(seed: u64, nranks: usize) -> Case {
    let mut rng = Rng(seed);
    let ns = 2 + rng.below(3);
    let mut sizes: Vec<usize> = (0..ns).map(|_| rng.pick(SIZES)).collect();
    let big = rng.below(ns);
    if sizes[big] < 150 {
        sizes[big] = 150 + rng.below(300);
    }
    let dims: Vec<[usize; 4]> = (0..ns).map(|_| [0; 4].map(|_| 1 + rng.below(2))).collect();
    let (maps, special) = gen_maps(&mut rng, &sizes, big);
    let part = match rng.below(4) {
        0 => {
            let s = rng.below(ns);
            Part::Rcb(s, (0..2 * sizes[s]).map(|_| rng.dyadic()).collect())
        }
        1 => Part::Block,
        2 => Part::Metis,
        _ => {
            let s = rng.below(ns);
            let own = (0..sizes[s])
                .map(|_| (rng.next() % nranks as u64) as i32)
                .collect();
            Part::Owners(s, own)
        }
    };
    let mut kinds: Vec<usize> = (0..KINDS).collect();
    kinds.extend((0..3).map(|_| rng.below(KINDS)));
    for k in (1..kinds.len()).rev() {
        kinds.swap(k, rng.below(k + 1));
    }
    let loops = kinds
        .iter()
        .map(|&k| gen_loop(&mut rng, k, &maps, special, ns))
        .collect();
    let init = (0..ns)
        .map(|s| {
            let (n, d) = (sizes[s], dims[s]);
            Init {
                x: (0..n * d[0]).map(|_| rng.dyadic()).collect(),
                z: (0..n * d[0]).map(|_| rng.int(-1000, 1000)).collect(),
                acc: (0..n * d[1]).map(|_| rng.dyadic()).collect(),
                w: (0..n * d[2]).map(|_| rng.int(-100, 100)).collect(),
                e: (0..n * d[3]).map(|_| rng.int(0, 1200)).collect(),
                h: (0..n).map(|_| rng.next()).collect(),
            }
        })
        .collect();
    let direct_name = rng.pick(DIRECT_NAMES);
    Case {
        seed,
        sizes,
        dims,
        maps,
        part,
        loops,
        init,
        direct_name,
    }
}

impl Case {
    fn describe(&self) -> String {
        let maps: Vec<String> = self
            .maps
            .iter()
            .enumerate()
            .map(|(k, m)| format!("m{k}: s{} -> s{} x{}", m.from, m.to, m.arity))
            .collect();
        let part = match &self.part {
            Part::Rcb(s, _) => format!("rcb on s{s}"),
            Part::Block => "block".into(),
            Part::Metis => "metis".into(),
            Part::Owners(s, _) => format!("user owners of s{s}"),
        };
        format!(
            "sets {:?}, maps [{}], {part}, loops {:?}, direct kernel `{}`",
            self.sizes,
            maps.join(", "),
            self.loops,
            self.direct_name
        )
    }

    fn mesh(&self) -> GlobalMesh {
        let mut gm = GlobalMesh::new();
        for (s, &n) in self.sizes.iter().enumerate() {
            gm = gm.add_set(&format!("s{s}"), n);
        }
        for (k, m) in self.maps.iter().enumerate() {
            gm = gm.add_map(
                &format!("m{k}"),
                &format!("s{}", m.from),
                &format!("s{}", m.to),
                m.arity,
                m.values.clone(),
            );
        }
        match &self.part {
            Part::Rcb(s, x) => gm.coordinates(&format!("s{s}"), 2, x.clone()),
            Part::Block => gm.partitioner(Partitioner::Block),
            Part::Metis => gm.partitioner(Partitioner::Metis),
            Part::Owners(s, o) => gm.owners(&format!("s{s}"), o.clone()),
        }
    }
}

const KERNELS: &str = r#"
void direct(const int64_t *g, const double *x, double *y, int64_t *z, const int32_t *p) {
  for (int k = 0; k < p[1]; k++) { y[k] = 0.5 * x[k] + sqrt((double)g[0]); z[k] = 2 * z[k] - g[0] + k; } }
void inc_map(const int64_t *g, double *a, int32_t *c, const int32_t *p) {
  for (int k = 0; k < p[1]; k++) a[k] += 0.25 * (double)(g[0] % 5 + 1) + k;
  c[0] += 1; }
void inc_vec(const int64_t *g, double *a, const int32_t *p) {
  for (int i = 0; i < p[0]; i++)
    for (int k = 0; k < p[1]; k++) a[i * p[1] + k] += 0.5 * (double)(g[0] % 3 + 1) + i + 0.125 * k; }
void two_maps(const double *x1, const double *x2, double *a1, double *a2, const int64_t *g, const int32_t *p) {
  double s = 0.0;
  for (int k = 0; k < p[1]; k++) s += x1[k] - 0.5 * x2[k];
  for (int k = 0; k < p[2]; k++) { a1[k] += s + (double)(g[0] % 4); a2[k] += 0.25 * s - k; } }
void self_map(const double *x, double *a, const double *xn, double *o, const int32_t *p) {
  for (int k = 0; k < p[2]; k++) a[k] += 0.5 * x[k % p[1]] + 1.0;
  o[0] = x[0] + 2.0 * xn[0]; }
void rd_map(const double *a, const int64_t *gt, double *r, const int32_t *p) {
  double s = (double)gt[0];
  for (int k = 0; k < p[1]; k++) s += (k + 1) * a[k];
  r[0] = s; }
void rd_vec(const double *a, const int64_t *gt, double *r, const int32_t *p) {
  double s = 0.0;
  for (int i = 0; i < p[0]; i++) {
    s += 0.5 * (double)gt[i];
    for (int k = 0; k < p[1]; k++) s += (i + 1) * a[i * p[1] + k] - k; }
  r[0] = s; }
void wr_map(const int64_t *gt, int64_t *w, const int32_t *p) {
  for (int k = 0; k < p[1]; k++) w[k] = 5 * gt[0] + 1 + k; }
void wr_vec(const int64_t *gt, int64_t *w, const int32_t *p) {
  for (int i = 0; i < p[0]; i++)
    for (int k = 0; k < p[1]; k++) w[i * p[1] + k] = 3 * gt[i] + 2 - k; }
void rw_map(const int64_t *g, int64_t *e, const int32_t *p) {
  for (int k = 0; k < p[1]; k++) { int64_t v = (g[0] * 7919 + 13 * k) % 1009; if (e[k] < v) e[k] = v; } }
void rw_vec(const int64_t *g, int64_t *e, const int32_t *p) {
  for (int i = 0; i < p[0]; i++)
    for (int k = 0; k < p[1]; k++) {
      int64_t v = (g[0] * 104729 + 7 * k) % 997;
      if (e[i * p[1] + k] < v) e[i * p[1] + k] = v; } }
void rd_w(const int64_t *w, double *r, const int32_t *p) {
  double s = 0.0;
  for (int k = 0; k < p[1]; k++) s += (double)w[k] * (k + 1);
  r[0] = s; }
void slow_inc(double *h, const int64_t *g, const int32_t *p) {
  volatile double *vh = h;
  double old = *vh;
  for (volatile int i = 0; i < p[0]; i++) {}
  *vh = old + 0.5 * (double)(g[0] % 4 + 1); }
void mat_inc(double *A, const int64_t *g, const int32_t *p) {
  int ar = p[0], ac = p[1], rd = p[2], cd = p[3];
  for (int ii = 0; ii < ar; ii++) for (int r = 0; r < rd; r++)
    for (int jj = 0; jj < ac; jj++) for (int c = 0; c < cd; c++)
      A[(ii * rd + r) * (ac * cd) + jj * cd + c] =
        (double)(g[0] % 7 + 1) * (ii + 1) + 0.5 * jj + 0.25 * r - 0.125 * c; }
void globals(const uint64_t *h, const int64_t *g, const int32_t *p, double *fi, double *fn, double *fx, double *fs,
             float *gi, float *gn, float *gx, int32_t *ii, int32_t *in, int32_t *ix,
             int64_t *li, int64_t *ln, int64_t *lx, uint32_t *ui, uint32_t *un, uint32_t *ux,
             uint64_t *vi, uint64_t *vn, uint64_t *vx) {
  uint64_t v = h[0];
  fi[0] += (double)(v % 1024) * 0.25 - 100.0;
  double m = (double)(v >> 44) * 0.0009765625 - 500.0;
  if (m < fn[0]) fn[0] = m;
  if (m > fx[0]) fx[0] = m;
  fs[0] += sqrt((double)(v % 1000));
  gi[0] += (float)(v % 64);
  float f = (float)(int)((v >> 8) % 1000) - 500.0f;
  if (f < gn[0]) gn[0] = f;
  if (f > gx[0]) gx[0] = f;
  ii[0] += (int32_t)(v % 1000) - 500;
  int32_t i = (int32_t)(uint32_t)(v >> 32);
  if (i < in[0]) in[0] = i;
  if (i > ix[0]) ix[0] = i;
  li[0] += (int64_t)(v >> 20) - ((int64_t)1 << 43);
  int64_t l = (int64_t)v;
  if (l < ln[0]) ln[0] = l;
  if (l > lx[0]) lx[0] = l;
  ui[0] += (uint32_t)(v % 100000);
  /* Top bit set on the first half of the set (mostly other ranks than the second half). */
  int top = 2 * g[0] < p[0];
  uint32_t u = (uint32_t)(v >> 33) | (top ? 0x80000000u : 0u);
  if (u < un[0]) un[0] = u;
  if (u > ux[0]) ux[0] = u;
  vi[0] += v >> 16;
  uint64_t w = (v >> 1) | (top ? (uint64_t)1 << 63 : 0);
  if (w < vn[0]) vn[0] = w;
  if (w > vx[0]) vx[0] = w; }
"#;

/// Values to compare: exact, or (`Approx`) to 1e-12 relative.
#[derive(Clone, Debug, PartialEq)]
enum Vals {
    F(Vec<f64>),
    Approx(Vec<f64>),
    I(Vec<i64>),
    I32(Vec<i32>),
    U(Vec<u64>),
}

/// Named results, in the same order on both sides.
type Results = Vec<(String, Vals)>;

/// The Globals of a `Globals` loop: (name, access) in the kernel's order.
const GLOBALS: [(&str, Access); 19] = [
    ("f64 INC", Access::Inc),
    ("f64 MIN", Access::Min),
    ("f64 MAX", Access::Max),
    ("f64 INC (sqrt)", Access::Inc),
    ("f32 INC", Access::Inc),
    ("f32 MIN", Access::Min),
    ("f32 MAX", Access::Max),
    ("i32 INC", Access::Inc),
    ("i32 MIN", Access::Min),
    ("i32 MAX", Access::Max),
    ("i64 INC", Access::Inc),
    ("i64 MIN", Access::Min),
    ("i64 MAX", Access::Max),
    ("u32 INC", Access::Inc),
    ("u32 MIN", Access::Min),
    ("u32 MAX", Access::Max),
    ("u64 INC", Access::Inc),
    ("u64 MIN", Access::Min),
    ("u64 MAX", Access::Max),
];

/// Initial values of the Globals: INC from 3 (counted once, not once per rank), MIN/MAX from
/// values inside the elements' range (u32/u64 MIN from a value with the top bit set).
const U32_MIN0: u32 = (1 << 31) | 12345;
const U64_MIN0: u64 = (1 << 63) | 12345;

fn new_globals() -> Result<Vec<Global>> {
    Ok(vec![
        Global::new(vec![3.0f64])?,
        Global::new(vec![0.0f64])?,
        Global::new(vec![0.0f64])?,
        Global::new(vec![3.0f64])?,
        Global::new(vec![3.0f32])?,
        Global::new(vec![0.0f32])?,
        Global::new(vec![0.0f32])?,
        Global::new(vec![3i32])?,
        Global::new(vec![0i32])?,
        Global::new(vec![0i32])?,
        Global::new(vec![3i64])?,
        Global::new(vec![0i64])?,
        Global::new(vec![0i64])?,
        Global::new(vec![3u32])?,
        Global::new(vec![U32_MIN0])?,
        Global::new(vec![5u32])?,
        Global::new(vec![3u64])?,
        Global::new(vec![U64_MIN0])?,
        Global::new(vec![5u64])?,
    ])
}

fn globals_vals(g: &[Global]) -> Result<Vec<Vals>> {
    let mut out = Vec::new();
    for (k, g) in g.iter().enumerate() {
        out.push(match k {
            3 => Vals::Approx(g.value::<f64>()?),
            0..=2 => Vals::F(g.value::<f64>()?),
            4..=6 => Vals::F(g.value::<f32>()?.iter().map(|&v| v as f64).collect()),
            7..=9 => Vals::I32(g.value::<i32>()?),
            10..=12 => Vals::I(g.value::<i64>()?),
            13..=15 => Vals::U(g.value::<u32>()?.iter().map(|&v| v as u64).collect()),
            _ => Vals::U(g.value::<u64>()?),
        });
    }
    Ok(out)
}

/// Names of the Dats every set has that loops write, in result order.
const FIELDS: [&str; 11] = [
    "y", "z", "acc", "cnt", "w", "e", "hub", "so", "r1", "r2", "r4",
];

fn arg(name: &str, default: u64) -> u64 {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|s| s == name)
        .and_then(|i| a.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed of case `c` of a run seeded `seed`.
fn case_seed(seed: u64, c: u64) -> u64 {
    Rng(seed ^ c.wrapping_mul(0xD1B5_4A32_D192_ED03)).next()
}

/// `--without rw`: leave out the indirect RW loops (after drawing the case, so the other
/// loops are the same as with them).
fn without_rw() -> bool {
    let a: Vec<String> = std::env::args().collect();
    a.windows(2).any(|w| w[0] == "--without" && w[1] == "rw")
}

fn check(rt: &op2::Runtime) -> Result<()> {
    let comm = rt.comm();
    let (seed, cases, first) = (arg("--seed", 1), arg("--cases", 4), arg("--first", 0));
    let (iters, spin) = (arg("--iters", 2) as usize, arg("--spin", 2000) as i32);
    let cfg = rt.config();
    println!(
        "rank {}: {} thread(s) per rank, block size {}",
        comm.rank(),
        cfg.threads,
        cfg.block_size
    );
    let mut values = 0;
    for c in first..first + cases {
        let mut case = gen_case(case_seed(seed, c), comm.size() as usize);
        if without_rw() {
            case.loops
                .retain(|l| !matches!(l, Loop::RwMap(..) | Loop::RwVec(..)));
        }
        let got = op2_side::run(comm, &case, iters, spin)?;
        let verdict = match got {
            Some(got) => {
                let want = reference::run(&case, iters);
                match compare(&got, &want) {
                    Ok(n) => {
                        values += n;
                        String::new()
                    }
                    Err(e) => format!(
                        "case {c} of --seed {seed} (rerun: --seed {seed} --first {c} --cases 1; case seed {:#x}): {e}\n  case: {}",
                        case.seed,
                        case.describe()
                    ),
                }
            }
            None => String::new(),
        };
        let verdict = comm.broadcast_bytes(0, verdict.into_bytes())?;
        if !verdict.is_empty() {
            return Err(Error::Remote {
                rank: 0,
                detail: String::from_utf8_lossy(&verdict).into_owned(),
            }
            .on_every_rank());
        }
    }
    let values = comm.broadcast_bytes(0, (values as u64).to_le_bytes().to_vec())?;
    let values = u64::from_le_bytes(values[..8].try_into().unwrap_or([0; 8]));
    println!(
        "rank {} of {}: ok: {cases} cases, {values} values checked (seed {seed}, first case {first})",
        comm.rank(),
        comm.size()
    );
    Ok(())
}

/// Compare named results; the number of values compared, or the first difference.
fn compare(got: &Results, want: &Results) -> std::result::Result<usize, String> {
    fn first_diff<T: PartialEq + std::fmt::Debug>(
        name: &str,
        g: &[T],
        w: &[T],
        same: impl Fn(&T, &T) -> bool,
    ) -> std::result::Result<usize, String> {
        if g.len() != w.len() {
            return Err(format!("{name}: {} values, serial {}", g.len(), w.len()));
        }
        match g.iter().zip(w).position(|(a, b)| !same(a, b)) {
            Some(i) => Err(format!(
                "{name}[{i}] = {:?}, serial {:?} ({} values)",
                g[i],
                w[i],
                g.len()
            )),
            None => Ok(g.len()),
        }
    }
    let close = |a: &f64, b: &f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0);
    let mut n = 0;
    for ((gn, g), (wn, w)) in got.iter().zip(want) {
        assert_eq!(gn, wn, "result lists in the same order");
        n += match (g, w) {
            (Vals::F(g), Vals::F(w)) => first_diff(gn, g, w, |a, b| a == b)?,
            (Vals::Approx(g), Vals::Approx(w)) => first_diff(gn, g, w, close)?,
            (Vals::I(g), Vals::I(w)) => first_diff(gn, g, w, |a, b| a == b)?,
            (Vals::I32(g), Vals::I32(w)) => first_diff(gn, g, w, |a, b| a == b)?,
            (Vals::U(g), Vals::U(w)) => first_diff(gn, g, w, |a, b| a == b)?,
            _ => return Err(format!("{gn}: different kinds of values")),
        };
    }
    if got.len() != want.len() {
        return Err(format!("{} results, serial {}", got.len(), want.len()));
    }
    Ok(n)
}

/// The distributed run with op2 types.
mod op2_side {
    use super::*;

    /// Every set's Dats, in the order of `FIELDS` after the inputs.
    pub(super) struct SetDats {
        gid: Dat,
        h: Dat,
        x: Dat,
        out: Vec<Dat>,
    }

    fn field<'a>(d: &'a SetDats, name: &str) -> &'a Dat {
        &d.out[FIELDS.iter().position(|f| *f == name).expect("a field")]
    }

    fn dats(dm: &op2::DistributedMesh, case: &Case, s: usize) -> Result<SetDats> {
        let name = format!("s{s}");
        let (n, d) = (case.sizes[s], case.dims[s]);
        let root = dm.comm().is_root();
        let init = &case.init[s];
        let on_root = |v: Vec<f64>| root.then_some(v);
        let on_root_i = |v: Vec<i64>| root.then_some(v);
        let zeros = |dim: usize, t: DType| -> Result<Dat> {
            Ok(Dat::zeros(&DataSet::new(dm.set(&name)?, dim)?, t))
        };
        let gid = dm.scatter_dat("gid", &name, 1, on_root_i((0..n as i64).collect()))?;
        let h = dm.scatter_dat("h", &name, 1, root.then(|| init.h.clone()))?;
        let x = dm.scatter_dat("x", &name, d[0], on_root(init.x.clone()))?;
        let out = vec![
            zeros(d[0], DType::F64)?,
            dm.scatter_dat("z", &name, d[0], on_root_i(init.z.clone()))?,
            dm.scatter_dat("acc", &name, d[1], on_root(init.acc.clone()))?,
            zeros(1, DType::I32)?,
            dm.scatter_dat("w", &name, d[2], on_root_i(init.w.clone()))?,
            dm.scatter_dat("e", &name, d[3], on_root_i(init.e.clone()))?,
            zeros(1, DType::F64)?,
            zeros(1, DType::F64)?,
            zeros(1, DType::F64)?,
            zeros(1, DType::F64)?,
            zeros(1, DType::F64)?,
        ];
        Ok(SetDats { gid, h, x, out })
    }

    /// What one loop instance owns across iterations (its Mat or its Globals).
    enum Own {
        None,
        Mat(Mat),
        Globals(Vec<Global>),
    }

    /// Run the case on every rank; rank 0 gets the gathered results.
    pub(super) fn run(
        comm: op2::Comm,
        case: &Case,
        iters: usize,
        spin: i32,
    ) -> Result<Option<Results>> {
        let dm = op2::distribute(comm, comm.is_root().then(|| case.mesh()))?;
        let sets: Vec<SetDats> = (0..case.sizes.len())
            .map(|s| dats(&dm, case, s))
            .collect::<Result<_>>()?;
        let maps: Vec<&op2::Map> = (0..case.maps.len())
            .map(|k| dm.map(&format!("m{k}")))
            .collect::<Result<_>>()?;
        let mut own = Vec::new();
        for l in &case.loops {
            own.push(match *l {
                Loop::Mat(a, b, rd, cd) => {
                    let (ta, tb) = (maps[a].to_set(), maps[b].to_set());
                    let sp = Sparsity::new(
                        &DataSet::new(ta, rd)?,
                        &DataSet::new(tb, cd)?,
                        &[(maps[a].clone(), maps[b].clone())],
                    )?;
                    Own::Mat(Mat::new(&sp, DType::F64)?)
                }
                Loop::Globals(_) => Own::Globals(new_globals()?),
                _ => Own::None,
            });
        }
        let ctx = Ctx {
            case,
            dm: &dm,
            sets: &sets,
            maps: &maps,
            spin,
        };
        for _ in 0..iters {
            for (l, o) in case.loops.iter().zip(&own) {
                ctx.run_loop(*l, o)?;
            }
        }
        let mut got = Vec::new();
        for (s, d) in sets.iter().enumerate() {
            for (f, dat) in FIELDS.iter().zip(&d.out) {
                let name = format!("s{s}.{f}");
                let v = match dat.dtype() {
                    // y holds square roots: not dyadic.
                    DType::F64 if *f == "y" => dat.gather::<f64>(0)?.map(Vals::Approx),
                    DType::F64 => dat.gather::<f64>(0)?.map(Vals::F),
                    DType::I32 => dat.gather::<i32>(0)?.map(Vals::I32),
                    _ => dat.gather::<i64>(0)?.map(Vals::I),
                };
                got.push((name, v));
            }
        }
        for (k, o) in own.iter().enumerate() {
            match o {
                Own::Mat(m) => {
                    let g = m.gather(0)?;
                    for (f, v) in mat_vals(g) {
                        got.push((format!("loop {k} Mat {f}"), v));
                    }
                }
                Own::Globals(g) => {
                    for (v, (name, _)) in globals_vals(g)?.into_iter().zip(GLOBALS) {
                        got.push((format!("loop {k} Global {name}"), Some(v)));
                    }
                }
                Own::None => {}
            }
        }
        Ok(comm.is_root().then(|| {
            got.into_iter()
                .map(|(n, v)| (n, v.expect("rank 0 gathers")))
                .collect()
        }))
    }

    fn mat_vals(g: Option<op2::GatheredMat>) -> Vec<(&'static str, Option<Vals>)> {
        let (mut r, mut c, mut v) = (None, None, None);
        if let Some(g) = g {
            r = Some(Vals::I(g.rowptr.iter().map(|&x| x as i64).collect()));
            c = Some(Vals::I(g.colidx.iter().map(|&x| x as i64).collect()));
            v = Some(Vals::F(g.values));
        }
        vec![("rowptr", r), ("colidx", c), ("values", v)]
    }

    struct Ctx<'a> {
        case: &'a Case,
        dm: &'a op2::DistributedMesh,
        sets: &'a [SetDats],
        maps: &'a [&'a op2::Map],
        spin: i32,
    }

    fn p(v: [usize; 4]) -> Result<Global> {
        Global::new(v.iter().map(|&x| x as i32).collect::<Vec<i32>>())
    }

    impl Ctx<'_> {
        fn k(&self, name: &str) -> Result<Kernel> {
            Kernel::new(name, KERNELS)
        }

        /// (map, source set's Dats, target set's Dats, arity, target dims).
        fn ends(&self, m: usize) -> (&op2::Map, &SetDats, &SetDats, usize, [usize; 4]) {
            let d = &self.case.maps[m];
            (
                self.maps[m],
                &self.sets[d.from],
                &self.sets[d.to],
                d.arity,
                self.case.dims[d.to],
            )
        }

        fn run_loop(&self, l: Loop, own: &Own) -> Result<()> {
            use Access::{Inc, Read, Write, RW};
            let set_of = |m: usize| self.maps[m].from_set();
            match l {
                Loop::Direct(s) => {
                    let d = &self.sets[s];
                    let set = self.dm.set(&format!("s{s}"))?;
                    let pg = p([0, self.case.dims[s][0], 0, 0])?;
                    let name = self.case.direct_name;
                    let code = KERNELS.replace("void direct(", &format!("void {name}("));
                    par_loop(
                        &Kernel::new(name, &code)?,
                        set,
                        &[
                            d.gid.arg(Read),
                            d.x.arg(Read),
                            field(d, "y").arg(Write),
                            field(d, "z").arg(RW),
                            pg.arg(Read),
                        ],
                    )
                }
                Loop::IncMap(m, i) => {
                    let (map, s, t, _, dt) = self.ends(m);
                    par_loop(
                        &self.k("inc_map")?,
                        set_of(m),
                        &[
                            s.gid.arg(Read),
                            field(t, "acc").arg_map(Inc, map, i),
                            field(t, "cnt").arg_map(Inc, map, i),
                            p([0, dt[1], 0, 0])?.arg(Read),
                        ],
                    )
                }
                Loop::IncVec(m) => {
                    let (map, s, t, a, dt) = self.ends(m);
                    par_loop(
                        &self.k("inc_vec")?,
                        set_of(m),
                        &[
                            s.gid.arg(Read),
                            field(t, "acc").arg_vec(Inc, map),
                            p([a, dt[1], 0, 0])?.arg(Read),
                        ],
                    )
                }
                Loop::TwoMaps(a, b, e) => {
                    let (ma, s, t, _, dt) = self.ends(a);
                    let mb = self.maps[b];
                    let acc = field(t, "acc");
                    par_loop(
                        &self.k("two_maps")?,
                        set_of(a),
                        &[
                            t.x.arg_map(Read, ma, e[0]),
                            t.x.arg_map(Read, mb, e[1]),
                            acc.arg_map(Inc, ma, e[2]),
                            acc.arg_map(Inc, mb, e[3]),
                            s.gid.arg(Read),
                            p([0, dt[0], dt[1], 0])?.arg(Read),
                        ],
                    )
                }
                Loop::SelfMap(m, i, j) => {
                    let (map, s, _, _, dt) = self.ends(m);
                    par_loop(
                        &self.k("self_map")?,
                        set_of(m),
                        &[
                            s.x.arg(Read),
                            field(s, "acc").arg_map(Inc, map, i),
                            s.x.arg_map(Read, map, j),
                            field(s, "so").arg(Write),
                            p([0, dt[0], dt[1], 0])?.arg(Read),
                        ],
                    )
                }
                _ => self.run_loop2(l, own),
            }
        }

        fn run_loop2(&self, l: Loop, own: &Own) -> Result<()> {
            use Access::{Inc, Read, Write, RW};
            let set_of = |m: usize| self.maps[m].from_set();
            let (kernel, set, args) = match l {
                Loop::RdMap(m, i) => {
                    let (map, s, t, _, dt) = self.ends(m);
                    let args = vec![
                        field(t, "acc").arg_map(Read, map, i),
                        t.gid.arg_map(Read, map, i),
                        field(s, "r1").arg(Write),
                        p([0, dt[1], 0, 0])?.arg(Read),
                    ];
                    ("rd_map", set_of(m), args)
                }
                Loop::RdVec(m) => {
                    let (map, s, t, a, dt) = self.ends(m);
                    let args = vec![
                        field(t, "acc").arg_vec(Read, map),
                        t.gid.arg_vec(Read, map),
                        field(s, "r2").arg(Write),
                        p([a, dt[1], 0, 0])?.arg(Read),
                    ];
                    ("rd_vec", set_of(m), args)
                }
                Loop::WrMap(m, i) => {
                    let (map, _, t, _, dt) = self.ends(m);
                    let args = vec![
                        t.gid.arg_map(Read, map, i),
                        field(t, "w").arg_map(Write, map, i),
                        p([0, dt[2], 0, 0])?.arg(Read),
                    ];
                    ("wr_map", set_of(m), args)
                }
                Loop::WrVec(m) => {
                    let (map, _, t, a, dt) = self.ends(m);
                    let args = vec![
                        t.gid.arg_vec(Read, map),
                        field(t, "w").arg_vec(Write, map),
                        p([a, dt[2], 0, 0])?.arg(Read),
                    ];
                    ("wr_vec", set_of(m), args)
                }
                Loop::RwMap(m, i) => {
                    let (map, s, t, _, dt) = self.ends(m);
                    let args = vec![
                        s.gid.arg(Read),
                        field(t, "e").arg_map(RW, map, i),
                        p([0, dt[3], 0, 0])?.arg(Read),
                    ];
                    ("rw_map", set_of(m), args)
                }
                Loop::RwVec(m) => {
                    let (map, s, t, a, dt) = self.ends(m);
                    let args = vec![
                        s.gid.arg(Read),
                        field(t, "e").arg_vec(RW, map),
                        p([a, dt[3], 0, 0])?.arg(Read),
                    ];
                    ("rw_vec", set_of(m), args)
                }
                Loop::RdW(m, i) => {
                    let (map, s, t, _, dt) = self.ends(m);
                    let args = vec![
                        field(t, "w").arg_map(Read, map, i),
                        field(s, "r4").arg(Write),
                        p([0, dt[2], 0, 0])?.arg(Read),
                    ];
                    ("rd_w", set_of(m), args)
                }
                Loop::Slow(m) => {
                    let (map, s, t, _, _) = self.ends(m);
                    let args = vec![
                        field(t, "hub").arg_map(Inc, map, 0),
                        s.gid.arg(Read),
                        p([self.spin as usize, 0, 0, 0])?.arg(Read),
                    ];
                    ("slow_inc", set_of(m), args)
                }
                Loop::Mat(a, b, rd, cd) => {
                    let Own::Mat(mat) = own else {
                        unreachable!("a Mat loop owns a Mat")
                    };
                    let (ma, s, _, ar, _) = self.ends(a);
                    let ac = self.case.maps[b].arity;
                    let args = vec![
                        mat.arg(Inc, (ma, self.maps[b])),
                        s.gid.arg(Read),
                        p([ar, ac, rd, cd])?.arg(Read),
                    ];
                    ("mat_inc", set_of(a), args)
                }
                Loop::Globals(s) => {
                    let Own::Globals(g) = own else {
                        unreachable!("a Globals loop owns Globals")
                    };
                    let n = self.case.sizes[s];
                    let d = &self.sets[s];
                    let mut args = vec![d.h.arg(Read), d.gid.arg(Read), p([n, 0, 0, 0])?.arg(Read)];
                    args.extend(g.iter().zip(GLOBALS).map(|(g, (_, a))| g.arg(a)));
                    ("globals", self.dm.set(&format!("s{s}"))?, args)
                }
                _ => unreachable!("run_loop runs the others"),
            };
            par_loop(&self.k(kernel)?, set, &args)
        }
    }
}

/// The serial reference: plain vectors and loops, global numbering, no op2 types.
mod reference {
    use super::*;

    #[derive(Clone)]
    struct SetVals {
        x: Vec<f64>,
        h: Vec<u64>,
        y: Vec<f64>,
        z: Vec<i64>,
        acc: Vec<f64>,
        cnt: Vec<i32>,
        w: Vec<i64>,
        e: Vec<i64>,
        hub: Vec<f64>,
        so: Vec<f64>,
        r1: Vec<f64>,
        r2: Vec<f64>,
        r4: Vec<f64>,
    }

    /// Block (row, column) -> values, per Mat loop.
    type Blocks = BTreeMap<(usize, usize), Vec<f64>>;

    /// The 19 Globals of a Globals loop, in `GLOBALS` order.
    #[derive(Clone)]
    struct Globals {
        f: [f64; 4],
        g: [f32; 3],
        i: [i32; 3],
        l: [i64; 3],
        u: [u32; 3],
        v: [u64; 3],
    }

    impl Globals {
        fn new() -> Globals {
            Globals {
                f: [3.0, 0.0, 0.0, 3.0],
                g: [3.0, 0.0, 0.0],
                i: [3, 0, 0],
                l: [3, 0, 0],
                u: [3, U32_MIN0, 5],
                v: [3, U64_MIN0, 5],
            }
        }

        /// Element `g` of a set of `n` elements, with hash `v`.
        fn fold(&mut self, v: u64, g: usize, n: usize) {
            let top = 2 * g < n;
            self.f[0] += (v % 1024) as f64 * 0.25 - 100.0;
            let m = (v >> 44) as f64 * 0.0009765625 - 500.0;
            self.f[1] = self.f[1].min(m);
            self.f[2] = self.f[2].max(m);
            self.f[3] += ((v % 1000) as f64).sqrt();
            self.g[0] += (v % 64) as f32;
            let f = ((v >> 8) % 1000) as f32 - 500.0;
            self.g[1] = self.g[1].min(f);
            self.g[2] = self.g[2].max(f);
            self.i[0] += (v % 1000) as i32 - 500;
            let i = (v >> 32) as u32 as i32;
            self.i[1] = self.i[1].min(i);
            self.i[2] = self.i[2].max(i);
            self.l[0] += (v >> 20) as i64 - (1i64 << 43);
            self.l[1] = self.l[1].min(v as i64);
            self.l[2] = self.l[2].max(v as i64);
            self.u[0] = self.u[0].wrapping_add((v % 100000) as u32);
            let u = (v >> 33) as u32 | if top { 1 << 31 } else { 0 };
            self.u[1] = self.u[1].min(u);
            self.u[2] = self.u[2].max(u);
            self.v[0] = self.v[0].wrapping_add(v >> 16);
            let w = (v >> 1) | if top { 1 << 63 } else { 0 };
            self.v[1] = self.v[1].min(w);
            self.v[2] = self.v[2].max(w);
        }

        fn vals(&self) -> Vec<Vals> {
            let mut out: Vec<Vals> = self.f[..3].iter().map(|&x| Vals::F(vec![x])).collect();
            out.push(Vals::Approx(vec![self.f[3]]));
            out.extend(self.g.iter().map(|&x| Vals::F(vec![x as f64])));
            out.extend(self.i.iter().map(|&x| Vals::I32(vec![x])));
            out.extend(self.l.iter().map(|&x| Vals::I(vec![x])));
            out.extend(self.u.iter().map(|&x| Vals::U(vec![x as u64])));
            out.extend(self.v.iter().map(|&x| Vals::U(vec![x])));
            out
        }
    }

    enum Own {
        None,
        Mat(Blocks),
        Globals(Globals),
    }

    /// Row `n` of map `m`, as target indices.
    fn row(case: &Case, m: usize, n: usize) -> Vec<usize> {
        let d = &case.maps[m];
        d.values[n * d.arity..(n + 1) * d.arity]
            .iter()
            .map(|&v| v as usize)
            .collect()
    }

    pub(super) fn run(case: &Case, iters: usize) -> Results {
        let mut sets: Vec<SetVals> = case
            .init
            .iter()
            .zip(&case.sizes)
            .map(|(i, &n)| SetVals {
                x: i.x.clone(),
                h: i.h.clone(),
                y: vec![0.0; i.x.len()],
                z: i.z.clone(),
                acc: i.acc.clone(),
                cnt: vec![0; n],
                w: i.w.clone(),
                e: i.e.clone(),
                hub: vec![0.0; n],
                so: vec![0.0; n],
                r1: vec![0.0; n],
                r2: vec![0.0; n],
                r4: vec![0.0; n],
            })
            .collect();
        let mut own: Vec<Own> = case
            .loops
            .iter()
            .map(|l| match l {
                Loop::Mat(..) => Own::Mat(Blocks::new()),
                Loop::Globals(_) => Own::Globals(Globals::new()),
                _ => Own::None,
            })
            .collect();
        for _ in 0..iters {
            for (l, o) in case.loops.iter().zip(own.iter_mut()) {
                if !run_own(case, &sets, *l, o) {
                    run_loop(case, &mut sets, *l);
                }
            }
        }
        let mut out = Vec::new();
        for (s, v) in sets.into_iter().enumerate() {
            let f = |name: &str| format!("s{s}.{name}");
            out.push((f("y"), Vals::Approx(v.y)));
            out.push((f("z"), Vals::I(v.z)));
            out.push((f("acc"), Vals::F(v.acc)));
            out.push((f("cnt"), Vals::I32(v.cnt)));
            out.push((f("w"), Vals::I(v.w)));
            out.push((f("e"), Vals::I(v.e)));
            for (name, x) in [
                ("hub", v.hub),
                ("so", v.so),
                ("r1", v.r1),
                ("r2", v.r2),
                ("r4", v.r4),
            ] {
                out.push((f(name), Vals::F(x)));
            }
        }
        for (k, (o, l)) in own.into_iter().zip(&case.loops).enumerate() {
            match (o, *l) {
                (Own::Mat(mut b), Loop::Mat(m1, m2, rd, cd)) => {
                    let nrows = case.sizes[case.maps[m1].to];
                    // One DataSet for rows and columns (DataSet::new is cached per set and
                    // dim): a square Sparsity reserves every row's diagonal, zero if no
                    // element reaches it.
                    if case.maps[m1].to == case.maps[m2].to && rd == cd {
                        for r in 0..nrows {
                            b.entry((r, r)).or_insert_with(|| vec![0.0; rd * cd]);
                        }
                    }
                    let (mut rowptr, mut colidx, mut values) = (vec![0i64], vec![], vec![]);
                    for r in 0..nrows {
                        for ((_, c), v) in b.range((r, 0)..(r + 1, 0)) {
                            colidx.push(*c as i64);
                            values.extend_from_slice(v);
                        }
                        rowptr.push(colidx.len() as i64);
                    }
                    debug_assert_eq!(values.len(), colidx.len() * rd * cd);
                    out.push((format!("loop {k} Mat rowptr"), Vals::I(rowptr)));
                    out.push((format!("loop {k} Mat colidx"), Vals::I(colidx)));
                    out.push((format!("loop {k} Mat values"), Vals::F(values)));
                }
                (Own::Globals(g), _) => {
                    for (v, (name, _)) in g.vals().into_iter().zip(GLOBALS) {
                        out.push((format!("loop {k} Global {name}"), v));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The loops that own a Mat or Globals; false for the others.
    fn run_own(case: &Case, sets: &[SetVals], l: Loop, own: &mut Own) -> bool {
        match (l, own) {
            (Loop::Mat(m1, m2, rd, cd), Own::Mat(b)) => {
                for n in 0..case.sizes[case.maps[m1].from] {
                    let (r, c) = (row(case, m1, n), row(case, m2, n));
                    for (ii, &t1) in r.iter().enumerate() {
                        for (jj, &t2) in c.iter().enumerate() {
                            let blk = b.entry((t1, t2)).or_insert_with(|| vec![0.0; rd * cd]);
                            for rr in 0..rd {
                                for cc in 0..cd {
                                    blk[rr * cd + cc] += ((n % 7) + 1) as f64 * (ii + 1) as f64
                                        + 0.5 * jj as f64
                                        + 0.25 * rr as f64
                                        - 0.125 * cc as f64;
                                }
                            }
                        }
                    }
                }
                true
            }
            (Loop::Globals(s), Own::Globals(g)) => {
                let n = sets[s].h.len();
                for (k, &v) in sets[s].h.iter().enumerate() {
                    g.fold(v, k, n);
                }
                true
            }
            _ => false,
        }
    }

    fn run_loop(case: &Case, sets: &mut [SetVals], l: Loop) {
        let ends = |m: usize| {
            let d = &case.maps[m];
            (d.from, d.to, case.sizes[d.from], case.dims[d.to])
        };
        match l {
            Loop::Direct(s) => {
                let dx = case.dims[s][0];
                let v = &mut sets[s];
                for n in 0..case.sizes[s] {
                    for k in 0..dx {
                        v.y[n * dx + k] = 0.5 * v.x[n * dx + k] + (n as f64).sqrt();
                        v.z[n * dx + k] = 2 * v.z[n * dx + k] - n as i64 + k as i64;
                    }
                }
            }
            Loop::IncMap(m, i) => {
                let (_, t, ns, dt) = ends(m);
                let v = &mut sets[t];
                for n in 0..ns {
                    let r = row(case, m, n)[i];
                    for k in 0..dt[1] {
                        v.acc[r * dt[1] + k] += 0.25 * (n % 5 + 1) as f64 + k as f64;
                    }
                    v.cnt[r] += 1;
                }
            }
            Loop::IncVec(m) => {
                let (_, t, ns, dt) = ends(m);
                let v = &mut sets[t];
                for n in 0..ns {
                    for (i, r) in row(case, m, n).into_iter().enumerate() {
                        for k in 0..dt[1] {
                            v.acc[r * dt[1] + k] +=
                                0.5 * (n % 3 + 1) as f64 + i as f64 + 0.125 * k as f64;
                        }
                    }
                }
            }
            Loop::TwoMaps(a, b, e) => {
                let (_, t, ns, dt) = ends(a);
                let v = &mut sets[t];
                let (dx, da) = (dt[0], dt[1]);
                for n in 0..ns {
                    let (ra, rb) = (row(case, a, n), row(case, b, n));
                    let mut s = 0.0;
                    for k in 0..dx {
                        s += v.x[ra[e[0]] * dx + k] - 0.5 * v.x[rb[e[1]] * dx + k];
                    }
                    for k in 0..da {
                        v.acc[ra[e[2]] * da + k] += s + (n % 4) as f64;
                        v.acc[rb[e[3]] * da + k] += 0.25 * s - k as f64;
                    }
                }
            }
            Loop::SelfMap(m, i, j) => {
                let (s, _, ns, dt) = ends(m);
                let v = &mut sets[s];
                let (dx, da) = (dt[0], dt[1]);
                for n in 0..ns {
                    let r = row(case, m, n);
                    for k in 0..da {
                        v.acc[r[i] * da + k] += 0.5 * v.x[n * dx + k % dx] + 1.0;
                    }
                    v.so[n] = v.x[n * dx] + 2.0 * v.x[r[j] * dx];
                }
            }
            _ => run_loop2(case, sets, l),
        }
    }

    fn run_loop2(case: &Case, sets: &mut [SetVals], l: Loop) {
        let ends = |m: usize| {
            let d = &case.maps[m];
            (d.from, d.to, case.sizes[d.from], case.dims[d.to])
        };
        match l {
            Loop::RdMap(m, i) => {
                let (s, t, ns, dt) = ends(m);
                let acc = sets[t].acc.clone();
                for n in 0..ns {
                    let r = row(case, m, n)[i];
                    let mut x = r as f64;
                    for k in 0..dt[1] {
                        x += (k + 1) as f64 * acc[r * dt[1] + k];
                    }
                    sets[s].r1[n] = x;
                }
            }
            Loop::RdVec(m) => {
                let (s, t, ns, dt) = ends(m);
                let acc = sets[t].acc.clone();
                for n in 0..ns {
                    let mut x = 0.0;
                    for (i, r) in row(case, m, n).into_iter().enumerate() {
                        x += 0.5 * r as f64;
                        for k in 0..dt[1] {
                            x += (i + 1) as f64 * acc[r * dt[1] + k] - k as f64;
                        }
                    }
                    sets[s].r2[n] = x;
                }
            }
            Loop::WrMap(m, i) => {
                let (_, t, ns, dt) = ends(m);
                for n in 0..ns {
                    let r = row(case, m, n)[i];
                    for k in 0..dt[2] {
                        sets[t].w[r * dt[2] + k] = 5 * r as i64 + 1 + k as i64;
                    }
                }
            }
            Loop::WrVec(m) => {
                let (_, t, ns, dt) = ends(m);
                for n in 0..ns {
                    for r in row(case, m, n) {
                        for k in 0..dt[2] {
                            sets[t].w[r * dt[2] + k] = 3 * r as i64 + 2 - k as i64;
                        }
                    }
                }
            }
            Loop::RwMap(m, i) => {
                let (_, t, ns, dt) = ends(m);
                for n in 0..ns {
                    let r = row(case, m, n)[i];
                    for k in 0..dt[3] {
                        let v = (n as i64 * 7919 + 13 * k as i64) % 1009;
                        let e = &mut sets[t].e[r * dt[3] + k];
                        *e = (*e).max(v);
                    }
                }
            }
            Loop::RwVec(m) => {
                let (_, t, ns, dt) = ends(m);
                for n in 0..ns {
                    for r in row(case, m, n) {
                        for k in 0..dt[3] {
                            let v = (n as i64 * 104729 + 7 * k as i64) % 997;
                            let e = &mut sets[t].e[r * dt[3] + k];
                            *e = (*e).max(v);
                        }
                    }
                }
            }
            Loop::RdW(m, i) => {
                let (s, t, ns, dt) = ends(m);
                let w = sets[t].w.clone();
                for n in 0..ns {
                    let r = row(case, m, n)[i];
                    let mut x = 0.0;
                    for k in 0..dt[2] {
                        x += w[r * dt[2] + k] as f64 * (k + 1) as f64;
                    }
                    sets[s].r4[n] = x;
                }
            }
            Loop::Slow(m) => {
                let (_, t, ns, _) = ends(m);
                for n in 0..ns {
                    let r = row(case, m, n)[0];
                    sets[t].hub[r] += 0.5 * (n % 4 + 1) as f64;
                }
            }
            _ => unreachable!("run_loop and run_own run the others"),
        }
    }
}

fn main() -> ExitCode {
    op2::run(check)
}
