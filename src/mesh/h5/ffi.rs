//! The only `unsafe` of the HDF5 input: one hyperslab read with a collective MPI-IO transfer
//! (hdf5-metno's safe readers always use independent transfers). Everything else (opening
//! files with the MPI-IO driver, datasets, attributes, writing) goes through hdf5-metno's safe
//! API.

use std::ptr;

use hdf5::{Dataset, Datatype, H5Type};
use hdf5_sys::h5::hsize_t;
use hdf5_sys::h5d::H5Dread;
use hdf5_sys::h5p::{H5FD_mpio_xfer_t, H5Pclose, H5Pcreate, H5Pset_dxpl_mpio, H5P_DEFAULT};
use hdf5_sys::h5s::{
    H5S_seloper_t, H5Sclose, H5Screate_simple, H5Sselect_hyperslab, H5Sselect_none,
};

/// Rows `first .. first + count` (each `width` values) of a 1- or 2-dimensional dataset
/// (`[n]` with `width` 1, or `[n, width]`), converted by HDF5 to `T`. With `collective`, the
/// transfer is collective MPI-IO: every rank of the file's communicator must call this for the
/// same dataset, a rank with nothing to read (`count == 0`) included (it selects nothing).
/// The caller has checked the dataset's shape and that the rows lie inside it.
pub(super) fn read_rows<T: H5Type>(
    ds: &Dataset,
    first: usize,
    count: usize,
    width: usize,
    collective: bool,
) -> Result<Vec<T>, String> {
    let space = ds.space().map_err(|e| e.to_string())?;
    let ndim = space.ndim();
    if !(ndim == 2 || (ndim == 1 && width == 1)) {
        return Err(format!("{ndim}-dimensional dataset, expected [n, {width}]"));
    }
    let mem_type = Datatype::from_type::<T>().map_err(|e| e.to_string())?;
    let n = count * width;
    let start: [hsize_t; 2] = [first as hsize_t, 0];
    let rows: [hsize_t; 2] = [count as hsize_t, width as hsize_t];
    // A memory space of at least one row: a rank that reads nothing selects none of it.
    let mem_dims: [hsize_t; 2] = [count.max(1) as hsize_t, width as hsize_t];
    let mut buf: Vec<T> = Vec::with_capacity(n.max(1));
    hdf5::sync::sync(|| {
        // SAFETY: `space` owns a valid dataspace id for the whole block (a copy of the
        // dataset's, ours to select on); `start`, `rows` and `mem_dims` hold at least `ndim`
        // (1 or 2) entries, as H5Screate_simple and H5Sselect_hyperslab read; null stride and
        // block mean 1. `buf` has capacity for `count * width` values of `T`, exactly what
        // the selection (`count` rows of `width`, or none) transfers into the memory space in
        // `T`'s HDF5 type `mem_type`; its length is set only after H5Dread succeeded. The
        // property list and memory space created here are closed on every path. The global
        // HDF5 lock (`sync`) is held, as hdf5-metno requires for every library call.
        unsafe {
            let mspace = H5Screate_simple(ndim as i32, mem_dims.as_ptr(), ptr::null());
            if mspace < 0 {
                return Err("cannot create a memory dataspace".to_string());
            }
            let selected = if count == 0 {
                H5Sselect_none(space.id()) >= 0 && H5Sselect_none(mspace) >= 0
            } else {
                H5Sselect_hyperslab(
                    space.id(),
                    H5S_seloper_t::H5S_SELECT_SET,
                    start.as_ptr(),
                    ptr::null(),
                    rows.as_ptr(),
                    ptr::null(),
                ) >= 0
            };
            let dxpl = if collective {
                let p = H5Pcreate(*hdf5::globals::H5P_DATASET_XFER);
                if p >= 0 && H5Pset_dxpl_mpio(p, H5FD_mpio_xfer_t::H5FD_MPIO_COLLECTIVE) < 0 {
                    H5Pclose(p);
                    -1
                } else {
                    p
                }
            } else {
                H5P_DEFAULT
            };
            // A collective read is entered even after a failed selection (with nothing
            // selected), so that no other rank waits in it alone.
            if !selected {
                H5Sselect_none(space.id());
                H5Sselect_none(mspace);
            }
            let read = H5Dread(
                ds.id(),
                mem_type.id(),
                mspace,
                space.id(),
                if dxpl < 0 { H5P_DEFAULT } else { dxpl },
                buf.as_mut_ptr().cast(),
            );
            if collective && dxpl >= 0 {
                H5Pclose(dxpl);
            }
            H5Sclose(mspace);
            if !selected || dxpl < 0 {
                return Err("cannot select the rows to read".to_string());
            }
            if read < 0 {
                return Err(format!("reading rows {first}..{} failed", first + count));
            }
            buf.set_len(n);
            Ok(())
        }
    })?;
    Ok(buf)
}
