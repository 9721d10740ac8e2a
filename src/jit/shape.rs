//! Argument shapes: what the generated code knows of each par_loop argument (kind, access,
//! dtype, dim, map arity and index, which arguments share a map, which share a Dat).
//!
//! The vocabulary shared by code generation (which turns shapes into C) and the cache keys
//! (which hash them). Holds no identities, sizes, data or pointers.

use crate::data::access::Access;
use crate::dtype::DType;

/// How a Dat argument reaches the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum MapUse {
    /// The iteration element itself.
    Direct,
    /// One entry of a map.
    Index { arity: u32, idx: u32, mapnum: u32 },
    /// All entries of a map: the kernel gets one packed array of `arity * dim` values
    /// (PyOP2's layout), gathered before and scattered (INC/WRITE/RW) after the call.
    Vector { arity: u32, mapnum: u32 },
}

/// The metadata of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ArgShape {
    Dat {
        access: Access,
        dtype: DType,
        dim: u32,
        map: MapUse,
        /// Numbering of the Dat's identity within the loop (first Dat 0, next new Dat 1, ...):
        /// arguments with equal numbers are the same Dat and may alias. Never an address.
        datnum: u32,
        /// 0: the whole Dat (`dim` values per element); `c + 1`: a DatView of component `c`
        /// (the kernel sees one value per element, at `c` of the `dim` stored).
        view: u32,
    },
    Global {
        access: Access,
        dtype: DType,
        dim: u32,
    },
    /// An f64 Mat assembled through a map pair: block dims (rdim, cdim) and arities (row, col).
    Mat {
        access: Access,
        dims: (u32, u32),
        arities: (u32, u32),
    },
}

impl ArgShape {
    pub(crate) fn words(&self, out: &mut Vec<u64>) {
        match *self {
            ArgShape::Dat {
                access,
                dtype,
                dim,
                map,
                datnum,
                view,
            } => {
                let (kind, arity, idx, num) = match map {
                    MapUse::Direct => (1u64, 0, 0, 0),
                    MapUse::Index { arity, idx, mapnum } => (2, arity, idx, mapnum),
                    MapUse::Vector { arity, mapnum } => (3, arity, u32::MAX, mapnum),
                };
                out.push(kind << 56 | access.tag() << 48 | (dtype.tag() as u64) << 40 | dim as u64);
                out.push((arity as u64) << 32 | idx as u64);
                out.push((datnum as u64) << 32 | num as u64);
                out.push(view as u64);
            }
            ArgShape::Global { access, dtype, dim } => {
                out.push(4u64 << 56 | access.tag() << 48 | (dtype.tag() as u64) << 40 | dim as u64);
            }
            ArgShape::Mat {
                access,
                dims,
                arities,
            } => {
                out.push(5u64 << 56 | access.tag() << 48 | (DType::F64.tag() as u64) << 40);
                out.push((dims.0 as u64) << 32 | dims.1 as u64);
                out.push((arities.0 as u64) << 32 | arities.1 as u64);
            }
        }
    }

    /// The C type the kernel's parameter receives (the calling convention, in one place):
    /// `const T *` for READ, `T *` for every other access; an `arg_vec` argument is one packed
    /// array of `arity * dim` values; a Mat's element matrix is `double *`.
    /// A Dat argument's layout: (values the kernel sees per element or map entry, the first
    /// stored component they start at). `(dim, 0)` for a whole Dat, `(1, c)` for a view.
    pub(crate) fn dat_layout(&self) -> (u32, u32) {
        match *self {
            ArgShape::Dat { dim, view: 0, .. } => (dim, 0),
            ArgShape::Dat { view, .. } => (1, view - 1),
            _ => (0, 0),
        }
    }

    pub(crate) fn c_param(&self) -> String {
        match *self {
            ArgShape::Dat { access, dtype, .. } | ArgShape::Global { access, dtype, .. } => {
                if access == Access::Read {
                    format!("const {} *", dtype.c_name())
                } else {
                    format!("{} *", dtype.c_name())
                }
            }
            ArgShape::Mat { .. } => "double *".into(),
        }
    }

    /// What the kernel's parameter points to, in words (for error messages).
    pub(crate) fn pointee(&self) -> String {
        match *self {
            ArgShape::Dat { access, map, .. } => match (map, self.dat_layout().0) {
                (MapUse::Direct, dim) => format!("{dim} value(s) of a direct {} Dat argument", access.name()),
                (MapUse::Index { .. }, dim) => {
                    format!("{dim} value(s) of an arg_map {} Dat argument", access.name())
                }
                (MapUse::Vector { arity, .. }, dim) => format!(
                    "an arg_vec {} Dat argument: {arity} x {dim} values packed (x[k * {dim} + d]), not an array of pointers",
                    access.name()
                ),
            },
            ArgShape::Global { access, dim, .. } => {
                format!("{dim} value(s) of a {} Global", access.name())
            }
            ArgShape::Mat { dims, arities, .. } => format!(
                "a dense {}x{} element matrix",
                arities.0 * dims.0,
                arities.1 * dims.1
            ),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match *self {
            ArgShape::Dat {
                access,
                dtype,
                dim,
                map,
                datnum,
                view,
            } => {
                let how = match map {
                    MapUse::Direct => "direct".to_string(),
                    MapUse::Index { arity, idx, mapnum } => {
                        format!("map#{mapnum} arity {arity} index {idx}")
                    }
                    MapUse::Vector { arity, mapnum } => format!("map#{mapnum} arity {arity} all"),
                };
                let part = match view {
                    0 => String::new(),
                    c => format!(" component {}", c - 1),
                };
                format!(
                    "dat#{datnum} {} {dtype} dim {dim}{part} {how}",
                    access.name()
                )
            }
            ArgShape::Global { access, dtype, dim } => {
                format!("global {} {dtype} dim {dim}", access.name())
            }
            ArgShape::Mat {
                access,
                dims,
                arities,
            } => format!(
                "mat {} double dims {}x{} arities {}x{}",
                access.name(),
                dims.0,
                dims.1,
                arities.0,
                arities.1
            ),
        }
    }
}
