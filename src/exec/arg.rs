//! par_loop arguments: how a Dat, Global or Mat takes part in a loop, and their validation
//! against the iteration set into the shapes that key the generated code.
//!
//! Owns [`Arg`] and its constructors (`Dat::arg`, `Dat::arg_map`, `Dat::arg_vec`,
//! `Global::arg`, `Mat::arg`) and the checks that turn arguments into `ArgShape`s. It never
//! runs a loop.

use crate::build::key::{ArgShape, MapUse};
use crate::data::access::Access;
use crate::data::dat::{Dat, Global};
use crate::data::map::Map;
use crate::data::set::Set;
use crate::data::view::DatView;
use crate::error::{Error, Result};
use crate::jit::kernel::Kernel;
use crate::linalg::mat::Mat;

#[derive(Clone)]
pub(crate) enum Path {
    Direct,
    Index(Map, usize),
    Vector(Map),
}

/// A Dat argument's data pointer (from its storage, write-locked by the caller) and map
/// pointer (null if direct): what the generated code gets for it.
pub(crate) fn dat_pointers(data: &mut [u64], path: &Path) -> (*mut std::ffi::c_void, *const i32) {
    let map = match path {
        Path::Direct => std::ptr::null(),
        Path::Index(m, _) | Path::Vector(m) => m.values().as_ptr(),
    };
    (data.as_mut_ptr() as *mut std::ffi::c_void, map)
}

#[derive(Clone)]
pub(crate) enum ArgKind {
    Dat {
        dat: Dat,
        path: Path,
        access: Access,
        /// A DatView's component (`None`: the whole Dat).
        view: Option<usize>,
    },
    Global {
        global: Global,
        access: Access,
    },
    Mat {
        mat: Mat,
        rmap: Map,
        cmap: Map,
        access: Access,
    },
}

/// One argument of a par_loop: a Dat (directly, through one map entry, or through all entries
/// of a map), a Global, or a Mat (through a pair of maps; see [`Mat::arg`]), with an access
/// mode.
///
/// ```
/// # let s = op2::Set::new(2).unwrap();
/// # let x = op2::Dat::new(&op2::DataSet::new(&s, 1).unwrap(), vec![1.0f64, 2.0]).unwrap();
/// let a = x.arg(op2::Access::Read);
/// let g = op2::Global::new(vec![0.0f64]).unwrap();
/// let b = g.arg(op2::Access::Inc);
/// # let _ = (a, b);
/// ```
#[derive(Clone)]
pub struct Arg(pub(crate) ArgKind);

impl Dat {
    /// Access this Dat at the iteration element itself.
    pub fn arg(&self, access: Access) -> Arg {
        Arg(ArgKind::Dat {
            dat: self.clone(),
            path: Path::Direct,
            access,
            view: None,
        })
    }
    /// Access this Dat at entry `idx` of `map` (the kernel gets one pointer). A map holding a
    /// negative ("no entry") value at that entry is refused when the loop runs; with
    /// [`Dat::arg_vec`], a negative value at any entry.
    pub fn arg_map(&self, access: Access, map: &Map, idx: usize) -> Arg {
        Arg(ArgKind::Dat {
            dat: self.clone(),
            path: Path::Index(map.clone(), idx),
            access,
            view: None,
        })
    }
    /// Access this Dat at every entry of `map`: the kernel gets one packed array of
    /// `arity * dim` values (`x[k * dim + d]` is component `d` at map entry `k`; PyOP2's
    /// layout), `const T *` for READ, `T *` otherwise. The generated wrapper gathers the values
    /// before the call and, for INC (the array starts at zero), WRITE and RW, scatters them back.
    pub fn arg_vec(&self, access: Access, map: &Map) -> Arg {
        Arg(ArgKind::Dat {
            dat: self.clone(),
            path: Path::Vector(map.clone()),
            access,
            view: None,
        })
    }
}

impl DatView {
    /// Access the viewed component at the iteration element (the kernel gets one value).
    pub fn arg(&self, access: Access) -> Arg {
        self.with_view(self.dat.arg(access))
    }
    /// Access the viewed component at entry `idx` of `map` (one value).
    pub fn arg_map(&self, access: Access, map: &Map, idx: usize) -> Arg {
        self.with_view(self.dat.arg_map(access, map, idx))
    }
    /// Access the viewed component at every entry of `map`: the kernel gets `arity` values
    /// packed (`x[k]` at map entry `k`), gathered and scattered as for [`Dat::arg_vec`].
    pub fn arg_vec(&self, access: Access, map: &Map) -> Arg {
        self.with_view(self.dat.arg_vec(access, map))
    }
    fn with_view(&self, mut a: Arg) -> Arg {
        if let ArgKind::Dat { view, .. } = &mut a.0 {
            *view = Some(self.component);
        }
        a
    }
}

impl Mat {
    /// Assemble into this Mat in a par_loop through the map pair `maps` = (row map, column
    /// map), which must be one of its Sparsity's pairs. The kernel receives a `double *` to a
    /// zeroed dense element matrix `A[arity_r * rdim][arity_c * cdim]` (row `i * rdim + r` is
    /// component `r` of row-map entry `i`); after the call it is added into the matrix (INC) or
    /// stored over the touched entries (WRITE). Rows and columns whose map value is negative
    /// ("no entry") are skipped, as PETSc's `MatSetValues` skips them.
    ///
    /// ```
    /// # let s = op2::Set::new(1).unwrap();
    /// # let m = op2::Map::new(&s, &s, 1, vec![0]).unwrap();
    /// # let ds = op2::DataSet::new(&s, 1).unwrap();
    /// let a = op2::Mat::new(&op2::Sparsity::new(&ds, &ds, &[(m.clone(), m.clone())]).unwrap(), op2::DType::F64).unwrap();
    /// let arg = a.arg(op2::Access::Inc, (&m, &m));
    /// # let _ = arg;
    /// ```
    pub fn arg(&self, access: Access, maps: (&Map, &Map)) -> Arg {
        Arg(ArgKind::Mat {
            mat: self.clone(),
            rmap: maps.0.clone(),
            cmap: maps.1.clone(),
            access,
        })
    }
}

impl Global {
    /// Use this Global in a loop (READ, INC, MIN or MAX).
    pub fn arg(&self, access: Access) -> Arg {
        Arg(ArgKind::Global {
            global: self.clone(),
            access,
        })
    }
}

/// The first argument that names the same Dat or Mat as `args[i]` (`i` itself if none before
/// it; Globals are never aliased): the aliasing pattern that plan keys and dispatch slots use.
pub(crate) fn first_alias(args: &[Arg], i: usize) -> usize {
    let same = |b: &Arg| match (&args[i].0, &b.0) {
        (ArgKind::Dat { dat: x, .. }, ArgKind::Dat { dat: y, .. }) => x.ptr_eq(y),
        (ArgKind::Mat { mat: x, .. }, ArgKind::Mat { mat: y, .. }) => x.ptr_eq(y),
        _ => false,
    };
    args[..i].iter().position(same).unwrap_or(i)
}

fn u32_of(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::invalid("par_loop", format!("{what} {v} is too large")))
}

/// Every Dat, Map and Mat of a loop is on the iteration set's runtime (communicator): a loop
/// mixing runtimes is refused before any collective, naming the argument.
fn one_runtime(what: &dyn Fn() -> String, set: &Set, args: &[Arg]) -> Result<()> {
    let comm = set.comm();
    for (i, a) in args.iter().enumerate() {
        let sets: Vec<(&str, &Set)> = match &a.0 {
            ArgKind::Dat { dat, path, .. } => {
                let mut v = vec![(dat.name(), dat.set())];
                if let Path::Index(m, _) | Path::Vector(m) = path {
                    v.extend([(m.name(), m.from_set()), (m.name(), m.to_set())]);
                }
                v
            }
            ArgKind::Global { .. } => Vec::new(),
            ArgKind::Mat { rmap, cmap, .. } => vec![
                (rmap.name(), rmap.from_set()),
                (rmap.name(), rmap.to_set()),
                (cmap.name(), cmap.from_set()),
                (cmap.name(), cmap.to_set()),
            ],
        };
        if let Some((name, s)) = sets.into_iter().find(|(_, s)| s.comm() != comm) {
            return Err(Error::invalid(
                what(),
                format!(
                    "argument {i} ({name}) is on another runtime: its set {} is on communicator {} \
                     and the iteration set {} on communicator {}; the objects of one loop must \
                     share a runtime",
                    s.name(),
                    s.comm().id(),
                    set.name(),
                    comm.id()
                ),
            ));
        }
    }
    Ok(())
}

/// Check the arguments against the iteration set and derive their shapes (the key metadata).
pub(crate) fn shapes(kernel: &Kernel, set: &Set, args: &[Arg]) -> Result<Vec<ArgShape>> {
    let what = || format!("par_loop({} over {})", kernel.name(), set.name());
    one_runtime(&what, set, args)?;
    let (mut maps, mut dats) = (Numbering::default(), Numbering::default());
    let mut out = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        out.push(match &a.0 {
            ArgKind::Dat {
                dat,
                path,
                access,
                view,
            } => {
                let map = map_use(&what, i, set, dat, path, &mut maps)?;
                ArgShape::Dat {
                    access: *access,
                    dtype: dat.dtype(),
                    dim: u32_of("dim", dat.dim())?,
                    map,
                    // Which arguments share a Dat (may alias): a numbering, never an address.
                    datnum: dats.number(dat.id()),
                    view: view.map_or(Ok(0), |c| u32_of("view component", c + 1))?,
                }
            }
            ArgKind::Global { global, access } => global_shape(&what, i, global, *access)?,
            ArgKind::Mat {
                mat,
                rmap,
                cmap,
                access,
            } => mat_shape(&what, i, set, mat, rmap, cmap, *access)?,
        });
    }
    check_access_modes(&what, args)?;
    Ok(out)
}

/// Ids numbered in order of first appearance (maps and Dats in a loop's key).
#[derive(Default)]
struct Numbering(Vec<u64>);

impl Numbering {
    fn number(&mut self, id: u64) -> u32 {
        match self.0.iter().position(|&x| x == id) {
            Some(i) => i as u32,
            None => {
                self.0.push(id);
                (self.0.len() - 1) as u32
            }
        }
    }
}

/// Validate how Dat argument `i` is reached from the iteration set (directly, or through a
/// map from the iteration set to the Dat's set) and derive its map use.
fn map_use(
    what: &dyn Fn() -> String,
    i: usize,
    set: &Set,
    dat: &Dat,
    path: &Path,
    maps: &mut Numbering,
) -> Result<MapUse> {
    Ok(match path {
        Path::Direct => {
            if dat.set() != set.elements() {
                return Err(Error::invalid(
                    what(),
                    format!(
                        "argument {i} ({}) is on set {}, not the iteration set",
                        dat.name(),
                        dat.set().name()
                    ),
                ));
            }
            MapUse::Direct
        }
        Path::Index(m, _) | Path::Vector(m) => {
            if m.from_set() != set.elements() {
                return Err(Error::invalid(
                    what(),
                    format!(
                        "argument {i}: map {} starts from set {}, not the iteration set",
                        m.name(),
                        m.from_set().name()
                    ),
                ));
            }
            if m.to_set() != dat.set() {
                return Err(Error::invalid(
                    what(),
                    format!(
                        "argument {i}: map {} targets set {}, but Dat {} is on set {}",
                        m.name(),
                        m.to_set().name(),
                        dat.name(),
                        dat.set().name()
                    ),
                ));
            }
            let idx = match path {
                Path::Index(_, idx) => Some(*idx),
                _ => None,
            };
            m.refuse_negative(what(), idx, &format!("argument {i} (Dat {})", dat.name()))?;
            match path {
                Path::Index(m, idx) => {
                    if *idx >= m.arity() {
                        return Err(Error::invalid(
                            what(),
                            format!(
                                "argument {i}: index {idx} out of range for map {} of arity {}",
                                m.name(),
                                m.arity()
                            ),
                        ));
                    }
                    MapUse::Index {
                        arity: u32_of("arity", m.arity())?,
                        idx: *idx as u32,
                        mapnum: maps.number(m.id()),
                    }
                }
                _ => MapUse::Vector {
                    arity: u32_of("arity", m.arity())?,
                    mapnum: maps.number(m.id()),
                },
            }
        }
    })
}

/// Validate Global argument `i` and derive its shape.
fn global_shape(
    what: &dyn Fn() -> String,
    i: usize,
    global: &Global,
    access: Access,
) -> Result<ArgShape> {
    if matches!(access, Access::Write | Access::RW) {
        return Err(Error::invalid(
            what(),
            format!(
                "argument {i} (Global {}): Globals take READ, INC, MIN or MAX",
                global.name()
            ),
        ));
    }
    Ok(ArgShape::Global {
        access,
        dtype: global.dtype(),
        dim: u32_of("dim", global.dim())?,
    })
}

/// A Dat read indirectly and incremented/written in the same loop has no serial meaning
/// that halo exchanges could preserve (OP2 forbids it too); the same holds for a Mat.
fn check_access_modes(what: &dyn Fn() -> String, args: &[Arg]) -> Result<()> {
    fn target(a: &Arg) -> Option<(&'static str, u64, &str, Access)> {
        match &a.0 {
            ArgKind::Dat { dat, access, .. } => Some(("Dat", dat.id(), dat.name(), *access)),
            ArgKind::Mat { mat, access, .. } => Some(("Mat", mat.id(), mat.name(), *access)),
            ArgKind::Global { .. } => None,
        }
    }
    for (i, a) in args.iter().enumerate() {
        for b in &args[i + 1..] {
            if let (Some((kind, id1, name, a1)), Some((_, id2, _, a2))) = (target(a), target(b)) {
                if id1 == id2 && a1 != a2 {
                    return Err(Error::invalid(
                        what(),
                        format!(
                            "{kind} {name} is passed with two access modes ({} and {})",
                            a1.name(),
                            a2.name()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Validate a Mat argument of a loop over `set` and derive its shape (the key metadata).
fn mat_shape(
    what: &dyn Fn() -> String,
    i: usize,
    set: &Set,
    mat: &Mat,
    rmap: &Map,
    cmap: &Map,
    access: Access,
) -> Result<ArgShape> {
    let ctx = || format!("{} argument {i} (Mat {})", what(), mat.name());
    if !matches!(access, Access::Inc | Access::Write) {
        return Err(Error::invalid(
            ctx(),
            format!("Mats take INC or WRITE, not {}", access.name()),
        ));
    }
    for m in [rmap, cmap] {
        if m.from_set() != set.elements() {
            return Err(Error::invalid(
                ctx(),
                format!(
                    "map {} starts from set {}, not the iteration set",
                    m.name(),
                    m.from_set().name()
                ),
            ));
        }
    }
    if mat.sparsity().pair_index(rmap, cmap).is_none() {
        return Err(Error::invalid(
            ctx(),
            format!(
                "the map pair ({}, {}) is not one of the pairs of the Mat's sparsity",
                rmap.name(),
                cmap.name()
            ),
        ));
    }
    let (rd, cd) = mat.sparsity().dims();
    let u = |v: usize| u32::try_from(v).map_err(|_| Error::invalid(ctx(), "dims too large"));
    Ok(ArgShape::Mat {
        access,
        dims: (u(rd)?, u(cd)?),
        arities: (u(rmap.arity())?, u(cmap.arity())?),
    })
}
