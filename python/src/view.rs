//! Buffers over op2's own memory: the Python buffer protocol on a Dat's or Global's storage,
//! from which numpy makes arrays without copying (`numpy.frombuffer`).
//!
//! Owns every `unsafe` block of the Python package. A `Storage` holds a handle to the Dat or
//! Global it shows, so the memory outlives every numpy array made from it (numpy keeps the
//! buffer's object as the array's base). Never resizes or frees op2's memory.

use std::ffi::{c_int, c_void};

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;

/// What keeps the memory alive.
pub(crate) enum Owner {
    Dat(#[allow(dead_code)] op2::Dat),
    Global(#[allow(dead_code)] op2::Global),
}

/// A contiguous byte range of a Dat's or Global's storage.
#[pyclass(module = "op2._op2", frozen)]
pub(crate) struct Storage {
    _owner: Owner,
    ptr: usize,
    len: ffi::Py_ssize_t,
    itemsize: ffi::Py_ssize_t,
    readonly: bool,
}

impl Storage {
    /// `ptr`, `len`: from `Dat::storage` / `Global::storage` of the handle in `owner`.
    pub(crate) fn new(owner: Owner, ptr: *mut u8, len: usize, readonly: bool) -> Storage {
        Storage {
            _owner: owner,
            ptr: ptr as usize,
            len: len as ffi::Py_ssize_t,
            itemsize: 1,
            readonly,
        }
    }
}

#[pymethods]
impl Storage {
    /// # Safety
    /// Called by Python with a `view` to fill (the buffer protocol).
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("View is null"));
        }
        let me = slf.get();
        if (flags & ffi::PyBUF_WRITABLE) == ffi::PyBUF_WRITABLE && me.readonly {
            return Err(PyBufferError::new_err(
                "this view of op2's data is read-only",
            ));
        }
        // SAFETY: `view` is non-null and points to a Py_buffer Python gave us to fill; the
        // pointers stored in it (the data, and `len`/`itemsize` inside this frozen pyclass)
        // stay valid while `view.obj` (a new reference to this object) lives: the object owns
        // a handle to the Dat/Global whose storage never moves (`Dat::storage`).
        unsafe {
            (*view).obj = slf.clone().into_any().into_ptr();
            (*view).buf = me.ptr as *mut c_void;
            (*view).len = me.len;
            (*view).readonly = c_int::from(me.readonly);
            (*view).itemsize = 1;
            (*view).format = if (flags & ffi::PyBUF_FORMAT) == ffi::PyBUF_FORMAT {
                c"B".as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = 1;
            (*view).shape = if (flags & ffi::PyBUF_ND) == ffi::PyBUF_ND {
                (&me.len as *const ffi::Py_ssize_t).cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if (flags & ffi::PyBUF_STRIDES) == ffi::PyBUF_STRIDES {
                (&me.itemsize as *const ffi::Py_ssize_t).cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    /// # Safety
    /// Called by Python when a view is released; nothing to free (Python drops `view.obj`).
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
}
