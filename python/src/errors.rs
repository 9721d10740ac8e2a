//! op2's errors as Python exceptions with PyOP2's names.
//!
//! Owns the one mapping from an `op2::Error` to the class of `op2.pyop2.exceptions` that PyOP2
//! raises for the same mistake; the message is op2's, unchanged. Never invents a message.

use pyo3::prelude::*;
use pyo3::types::PyType;

/// Raise `name` (a class of `op2.pyop2.exceptions`) with `msg`.
pub(crate) fn raise(name: &str, msg: impl Into<String>) -> PyErr {
    let msg = msg.into();
    Python::with_gil(|py| {
        let cls = py
            .import("op2.pyop2.exceptions")
            .and_then(|m| m.getattr(name))
            .and_then(|c| c.downcast_into::<PyType>().map_err(PyErr::from));
        match cls {
            Ok(cls) => PyErr::from_type(cls, msg),
            Err(_) => pyo3::exceptions::PyRuntimeError::new_err(msg),
        }
    })
}

/// The PyOP2 exception class for an op2 error.
fn class_of(e: &op2::Error) -> &'static str {
    use op2::Error as E;
    match e.unmarked() {
        E::InvalidArgument { what, detail } => invalid_class(what, detail),
        E::Compile { .. } | E::KernelMismatch { .. } => "CompilationError",
        E::Config { .. } => "ConfigurationError",
        // Every rank raises another rank's error: named as that error would be.
        E::Remote { detail, .. } => remote_class(detail),
        E::SpmdMismatch { .. } | E::Mpi(..) => "Op2MpiError",
        _ => "Op2Error",
    }
}

/// The class of another rank's error, from its message (op2's Display of the error).
fn remote_class(detail: &str) -> &'static str {
    if let Some(rest) = detail.strip_prefix("invalid argument to ") {
        if let Some((what, detail)) = rest.split_once(": ") {
            return invalid_class(what, detail);
        }
    }
    if detail.starts_with("compiling kernel")
        || detail.contains("does not match its par_loop arguments")
    {
        return "CompilationError";
    }
    "Op2MpiError"
}

/// InvalidArgument carries the function at fault: PyOP2 names the object kind instead.
fn invalid_class(what: &str, detail: &str) -> &'static str {
    if what.starts_with("Map") {
        "MapValueError"
    } else if what.starts_with("DataSet") {
        "DimTypeError"
    } else if what.starts_with("Set") {
        "SizeTypeError"
    } else if what.starts_with("Dat") || what.starts_with("Global") {
        "DataValueError"
    } else if what.starts_with("Sparsity") {
        "SparsityTypeError"
    } else if what.starts_with("Mat") {
        "MatTypeError"
    } else if detail.contains("MIN/MAX")
        || detail.contains("take READ")
        || detail.contains("take INC")
    {
        "ModeValueError"
    } else if detail.contains("iteration set") || detail.contains("map ") {
        "MapValueError"
    } else {
        "Op2ValueError"
    }
}

/// An op2 error as the Python exception PyOP2 raises for it.
pub(crate) fn to_py(e: op2::Error) -> PyErr {
    raise(class_of(&e), e.to_string())
}
