//! OP2's HDF5 mesh layout (`new_grid.h5`), read in parallel and written by a converter.
//!
//! The layout, as OP2's `op_dump_to_hdf5` / `op_write_const_hdf5` write it and its
//! `op_decl_set_hdf5` / `op_decl_map_hdf5` / `op_decl_dat_hdf5` / `op_get_const_hdf5` read it:
//! one dataset per set (`int`, shape `[1]`: the set's size), per map (`int`, shape
//! `[size(from), dim]`, attributes `size`, `dim`, `type`), per dat (its type, shape
//! `[size(set), dim]`, the same attributes) and per global constant (shape `[dim]`, attributes
//! `dim`, `type`), all in the root group. The file does not say which sets a map joins: the
//! program declares it ([`H5Layout`]).
//!
//! [`H5MeshFile`] reads: every rank its own contiguous block ([`crate::mesh::block_range`]) of
//! each map and dat, with collective MPI-IO hyperslab reads, into a
//! [`crate::mesh::MeshBlock`]; no rank reads the whole mesh. [`H5Writer`] writes, from one
//! process. Built with the `hdf5` cargo feature (on by default).
mod airfoil;
mod ffi;
mod read;
mod write;

pub use airfoil::airfoil_constants;
pub use read::{H5Layout, H5MeshFile};
pub use write::H5Writer;

use crate::dtype::DType;

/// OP2's name for an element type (the `type` attribute).
pub(crate) fn op2_c_type(t: DType) -> &'static str {
    match t {
        DType::F64 => "double",
        DType::F32 => "float",
        DType::I32 => "int",
        DType::I64 => "long long",
        DType::U32 => "unsigned int",
        DType::U64 => "unsigned long long",
    }
}
