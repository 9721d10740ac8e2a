//! Extruded par_loops (PyOP2's `par_loop` over an `ExtrudedSet`, with an iteration region and
//! optionally the layer passed to the kernel): arguments through extruded maps and their
//! lowering onto an ordinary par_loop over the base set.
//!
//! Owns [`XArg`] and its constructors (`Dat::arg_layer`, `Dat::arg_extruded`,
//! `Mat::arg_extruded`, any [`Arg`] passed unchanged), [`Sparsity::extruded`], and the
//! lowering of a loop over an ExtrudedSet's columns or a subset of them ([`Columns`]: the
//! outer par_loop iterates the base set or its Subset): each extruded argument becomes
//! ordinary arguments over the base set (a mapped Dat one `arg_map` per base map entry,
//! reaching whole target columns, or for a flat map (`data/extruded_flat.rs`) the blocks of a
//! plain set, followed by the map's per-column shifts as a direct READ Dat; a Mat its base map
//! pair, whose blocks are whole column pairs), and the user's kernel is wrapped in the column
//! kernel that `jit/extrude.rs` generates. Everything else (keys, caches, plans, threads over
//! coloured columns, halo exchanges of whole columns, reverse exchanges, reductions) is the
//! ordinary par_loop's. It never generates C itself and never touches MPI.

use crate::data::access::Access;
use crate::data::dat::Dat;
use crate::data::dataset::DataSet;
use crate::data::extruded::{Bounds, Entity, ExtrudedMap, ExtrudedSet, ExtrudedSubset, Region};
use crate::data::set::Set;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::exec::arg::{Arg, ArgKind};
use crate::exec::parloop::par_loop;
use crate::jit::extrude::{column_kernel, column_name, ColArg, Column, Side};
use crate::jit::kernel::Kernel;
use crate::linalg::mat::Mat;
use crate::linalg::sparsity::Sparsity;

/// Largest column element matrix (doubles) an extruded Mat argument may need: it lives on the
/// stack of the generated wrapper (256 KiB).
const MAX_COLUMN_MATRIX: usize = 1 << 15;

#[derive(Clone)]
enum XKind {
    Base(Arg),
    Layer {
        dat: Dat,
        access: Access,
    },
    Mapped {
        dat: Dat,
        access: Access,
        map: ExtrudedMap,
    },
    Mat {
        mat: Mat,
        access: Access,
        maps: (ExtrudedMap, ExtrudedMap),
    },
}

/// One argument of an extruded par_loop: any ordinary [`Arg`] (passed unchanged on every
/// layer: a Global, or a Dat on the base set, which PyOP2 also accesses without a layer
/// index), a cell Dat at the current layer ([`Dat::arg_layer`]), a Dat through an extruded
/// map ([`Dat::arg_extruded`]) or a Mat through a pair of them ([`Mat::arg_extruded`]).
#[derive(Clone)]
pub struct XArg(XKind);

impl From<Arg> for XArg {
    fn from(a: Arg) -> XArg {
        XArg(XKind::Base(a))
    }
}

impl Dat {
    /// In an extruded loop over this Dat's columns: its entry at the current layer (a Dat of
    /// [`Entity::Cells`]; `dim` values, the Dat's dim divided by the cells per column).
    pub fn arg_layer(&self, access: Access) -> XArg {
        XArg(XKind::Layer {
            dat: self.clone(),
            access,
        })
    }

    /// In an extruded loop: every entry of `map` at the current layer (both facets' on interior
    /// facets), packed as PyOP2 packs them: `x[(f * arity + k) * dim + j]`.
    pub fn arg_extruded(&self, access: Access, map: &ExtrudedMap) -> XArg {
        XArg(XKind::Mapped {
            dat: self.clone(),
            access,
            map: map.clone(),
        })
    }
}

impl Mat {
    /// In an extruded loop: assemble (INC) the element matrix `A[(f, k, r)][(f', k', c)]` of
    /// the map pair `maps` (row map, column map) at every layer. The Mat's Sparsity must be
    /// [`Sparsity::extruded`] over the same pair.
    pub fn arg_extruded(&self, access: Access, maps: (&ExtrudedMap, &ExtrudedMap)) -> XArg {
        XArg(XKind::Mat {
            mat: self.clone(),
            access,
            maps: (maps.0.clone(), maps.1.clone()),
        })
    }
}

impl Sparsity {
    /// The Sparsity of an extruded Mat from `rows` to `cols` (DataSets of extruded sets,
    /// [`ExtrudedSet::dataset`]) assembled through the extruded map pairs `pairs`: blocks are
    /// whole column pairs (`entries * dim` square for a column), non-zero where the base maps
    /// meet. Cached as every Sparsity, on the base map pairs. Dense column blocks hold every
    /// layer pair of two neighbouring columns, not only the layers a cell couples: suited to
    /// modest layer counts.
    pub fn extruded(
        rows: &DataSet,
        cols: &DataSet,
        pairs: &[(ExtrudedMap, ExtrudedMap)],
    ) -> Result<Sparsity> {
        let base: Vec<_> = pairs
            .iter()
            .map(|(r, c)| (r.base().clone(), c.base().clone()))
            .collect();
        Sparsity::new(rows, cols, &base)
    }
}

/// The columns an extruded loop runs over: every column of an [`ExtrudedSet`] or the chosen
/// ones of an [`ExtrudedSubset`] (`&xset` and `&xsubset` both convert). The loop's arguments
/// are those of the ExtrudedSet either way.
#[derive(Clone, Copy)]
pub struct Columns<'a> {
    set: &'a ExtrudedSet,
    iter: &'a Set,
}

impl<'a> From<&'a ExtrudedSet> for Columns<'a> {
    fn from(set: &'a ExtrudedSet) -> Columns<'a> {
        Columns {
            set,
            iter: set.base(),
        }
    }
}

impl<'a> From<&'a ExtrudedSubset> for Columns<'a> {
    fn from(sub: &'a ExtrudedSubset) -> Columns<'a> {
        Columns {
            set: sub.superset(),
            iter: sub.columns().as_set(),
        }
    }
}

/// Run `kernel` over every layer of `region` of every owned column of `set` (PyOP2's
/// `par_loop(kernel, extruded_set, *args, iteration_region=region)`), or of the chosen owned
/// columns of an [`ExtrudedSubset`]. Collective like [`par_loop`]; the layer loop is generated
/// code (the region, map entries and offsets are part of the cache key; the layer bounds are a
/// runtime argument).
pub fn par_loop_extruded<'a>(
    kernel: &Kernel,
    set: impl Into<Columns<'a>>,
    region: Region,
    args: &[XArg],
) -> Result<()> {
    run(kernel, set.into(), region, false, args)
}

/// [`par_loop_extruded`] with the layer index passed to the kernel as a last `int` argument
/// (PyOP2's `pass_layer_arg=True`).
pub fn par_loop_extruded_layer<'a>(
    kernel: &Kernel,
    set: impl Into<Columns<'a>>,
    region: Region,
    args: &[XArg],
) -> Result<()> {
    run(kernel, set.into(), region, true, args)
}

/// Lower the extruded loop onto a par_loop over the chosen columns (`cols.iter`: the base set
/// or a Subset of it, which visits its elements with the base set's Dats and Maps).
fn run(
    kernel: &Kernel,
    cols: Columns<'_>,
    region: Region,
    pass_layer: bool,
    args: &[XArg],
) -> Result<()> {
    let set = cols.set;
    let what = || {
        format!(
            "par_loop_extruded({} over {}, {})",
            kernel.name(),
            cols.iter.name(),
            region.name()
        )
    };
    let mut outer = vec![match &set.0.bounds {
        Bounds::Constant(g) => g.arg(Access::Read),
        Bounds::Variable(d) => d.arg(Access::Read),
    }];
    check_flat_writes(args).map_err(|d| Error::invalid(what(), d))?;
    let mut column_args = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        let fail = |detail: String| Error::invalid(what(), format!("argument {i}: {detail}"));
        column_args.push(lower(set, region, &a.0, &mut outer).map_err(fail)?);
    }
    let how = (region, pass_layer, set.is_periodic());
    let column = column_for(set.base(), kernel, how, column_args)?;
    par_loop(&column, cols.iter, &outer)
}

/// The name of the column-kernel cache in the cache report: the base set's object cache maps
/// (user kernel, how the layers run, column arguments) to the generated column kernel, so a
/// repeated extruded loop reuses its Kernel (no regeneration, no rehash; the ordinary
/// par_loop's caches do the rest) and the entry is freed with the base set.
pub(crate) const COLUMN_CACHE: &str = "object:ColumnKernel";

/// How the layers run: region, whether the layer is passed, whether columns are periodic.
type How = (Region, bool, bool);

/// The column kernel of `kernel` for these column arguments over `base`: cached or generated.
fn column_for(base: &Set, kernel: &Kernel, how: How, cols: Vec<ColArg>) -> Result<Kernel> {
    let hash = kernel.0.hash;
    let shape = xxhash_rust::xxh3::xxh3_64(format!("{how:?}|{cols:?}").as_bytes());
    let key = vec![hash as u64, (hash >> 64) as u64, shape];
    let entry = base.cache().get_or_try_insert(COLUMN_CACHE, key, |_| {
        let (region, pass_layer, periodic) = how;
        let code = column_kernel(&Column {
            kernel,
            region,
            pass_layer,
            periodic,
            args: cols,
        });
        let flags: Vec<&str> = kernel.flags().iter().map(String::as_str).collect();
        let column = Kernel::with_flags(&column_name(kernel), &code, &flags)?;
        Ok((column, code.len() as u64))
    })?;
    Ok(Kernel::clone(&entry))
}

/// `size / entries` when it divides exactly.
fn per_entry(what: &str, size: usize, entries: usize) -> std::result::Result<u32, String> {
    if entries == 0 || !size.is_multiple_of(entries) {
        return Err(format!(
            "{what} has {size} values per column, not a multiple of {entries} entries per column"
        ));
    }
    Ok((size / entries) as u32)
}

/// The column kernel's view of one extruded map holding `size` values per target column (a
/// flat map's: per target element).
fn side(
    set: &ExtrudedSet,
    map: &ExtrudedMap,
    what: &str,
    size: usize,
) -> std::result::Result<Side, String> {
    if !map.from_set().ptr_eq(set) {
        return Err(format!(
            "extruded map {} starts at another extruded set",
            map.base().name()
        ));
    }
    let flat = map.is_flat();
    let entries = if flat { 1 } else { set.entries(map.target()) };
    Ok(Side {
        bases: map.base().arity() as u32,
        entries: map.0.entries.clone(),
        per_column: entries as u32,
        dim: per_entry(what, size, entries)?,
        flat,
    })
}

/// A Dat written through a flat map must not be written through anything else in the same
/// loop: the loop colours a flat map's writes by its own blocks, which another map's writes
/// to the same Dat do not share.
fn check_flat_writes(args: &[XArg]) -> std::result::Result<(), String> {
    fn written(a: &XKind) -> Option<(u64, Option<&ExtrudedMap>)> {
        match a {
            XKind::Base(Arg(ArgKind::Dat { dat, access, .. })) if access.writes() => {
                Some((dat.id(), None))
            }
            XKind::Layer { dat, access } if access.writes() => Some((dat.id(), None)),
            XKind::Mapped { dat, access, map } if access.writes() => Some((dat.id(), Some(map))),
            _ => None,
        }
    }
    let all: Vec<_> = args.iter().filter_map(|a| written(&a.0)).collect();
    for (id, map) in &all {
        let Some(m) = map.filter(|m| m.is_flat()) else {
            continue;
        };
        if all
            .iter()
            .any(|(i, o)| i == id && !o.is_some_and(|o| std::sync::Arc::ptr_eq(&o.0, &m.0)))
        {
            return Err(format!(
                "a Dat is written through the flat extruded map {} and through another argument: write it through one map per loop",
                m.base().name()
            ));
        }
    }
    Ok(())
}

/// One extruded argument as ordinary arguments over the base set (appended to `outer`) and
/// the column kernel's view of it.
fn lower(
    set: &ExtrudedSet,
    region: Region,
    a: &XKind,
    outer: &mut Vec<Arg>,
) -> std::result::Result<ColArg, String> {
    let ptr = |access: Access, dtype: DType| {
        if access == Access::Read {
            format!("const {} *", dtype.c_name())
        } else {
            format!("{} *", dtype.c_name())
        }
    };
    if let XKind::Layer { dat, access } | XKind::Mapped { dat, access, .. } = a {
        if matches!(access, Access::Min | Access::Max) {
            return Err(format!(
                "{}: MIN/MAX on a Dat of the extruded set is not supported (use RW)",
                dat.name()
            ));
        }
    }
    Ok(match a {
        XKind::Base(arg) => {
            let c_type = match &arg.0 {
                ArgKind::Dat { dat, access, .. } => ptr(*access, dat.dtype()),
                ArgKind::Global { global, access } => ptr(*access, global.dtype()),
                ArgKind::Mat { .. } => {
                    return Err("a Mat in an extruded loop goes through Mat::arg_extruded".into())
                }
            };
            outer.push(arg.clone());
            ColArg::Pass { c_type }
        }
        XKind::Layer { dat, access } => {
            if region == Region::OnInteriorFacets {
                return Err(format!(
                    "{}: a facet has two cells; reach them through an extruded map",
                    dat.name()
                ));
            }
            let dim = per_entry(dat.name(), dat.dim(), set.entries(Entity::Cells))?;
            outer.push(dat.arg(*access));
            ColArg::Layer {
                access: *access,
                dtype: dat.dtype(),
                dim,
            }
        }
        XKind::Mapped { dat, access, map } => {
            let side = side(set, map, dat.name(), dat.dim())?;
            for b in 0..map.base().arity() {
                outer.push(dat.arg_map(*access, map.base(), b));
            }
            if let Some(shifts) = &map.0.shifts {
                outer.push(shifts.arg(Access::Read));
            }
            ColArg::Mapped {
                access: *access,
                dtype: dat.dtype(),
                side,
            }
        }
        XKind::Mat { mat, access, maps } => {
            if *access != Access::Inc {
                return Err(format!(
                    "Mat {}: an extruded Mat is assembled with INC (layers of a column share entries)",
                    mat.name()
                ));
            }
            if maps.0.is_flat() || maps.1.is_flat() {
                return Err(format!(
                    "Mat {}: an extruded Mat is assembled through column maps (ExtrudedMap::new), not flat ones",
                    mat.name()
                ));
            }
            let (rd, cd) = mat.sparsity().dims();
            let rows = side(set, &maps.0, mat.name(), rd)?;
            let cols = side(set, &maps.1, mat.name(), cd)?;
            let size = rows.bases as usize * rd * cols.bases as usize * cd;
            if size > MAX_COLUMN_MATRIX {
                return Err(format!(
                    "Mat {}: a column pair's element matrix has {size} values (more than {MAX_COLUMN_MATRIX}); use fewer layers",
                    mat.name()
                ));
            }
            outer.push(mat.arg(Access::Inc, (maps.0.base(), maps.1.base())));
            ColArg::Mat { rows, cols }
        }
    })
}
