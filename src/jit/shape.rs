//! Argument shapes: what the generated code knows of each par_loop argument (kind, access,
//! dtype, dim, map arity and index, which arguments share a map) and the codegen format version.
//!
//! The vocabulary shared by code generation (which turns shapes into C) and the cache keys
//! (which hash them). Holds no identities, sizes, data or pointers.

use crate::data::access::Access;
use crate::dtype::DType;

/// Version of the generated-code format: bump it when codegen output changes.
/// (2: Mat arguments.)
pub const FORMAT_VERSION: u64 = 3;

/// How a Dat argument reaches the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum MapUse {
    /// The iteration element itself.
    Direct,
    /// One entry of a map.
    Index { arity: u32, idx: u32, mapnum: u32 },
    /// All entries of a map (the kernel gets an array of pointers).
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
            } => {
                let (kind, arity, idx, num) = match map {
                    MapUse::Direct => (1u64, 0, 0, 0),
                    MapUse::Index { arity, idx, mapnum } => (2, arity, idx, mapnum),
                    MapUse::Vector { arity, mapnum } => (3, arity, u32::MAX, mapnum),
                };
                out.push(kind << 56 | access.tag() << 48 | (dtype.tag() as u64) << 40 | dim as u64);
                out.push((arity as u64) << 32 | idx as u64);
                out.push(num as u64);
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

    pub(crate) fn describe(&self) -> String {
        match *self {
            ArgShape::Dat {
                access,
                dtype,
                dim,
                map,
            } => {
                let how = match map {
                    MapUse::Direct => "direct".to_string(),
                    MapUse::Index { arity, idx, mapnum } => {
                        format!("map#{mapnum} arity {arity} index {idx}")
                    }
                    MapUse::Vector { arity, mapnum } => format!("map#{mapnum} arity {arity} all"),
                };
                format!("dat {} {dtype} dim {dim} {how}", access.name())
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
