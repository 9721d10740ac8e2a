//! The one error type of op2.
//!
//! Every fallible public function returns [`Result<T>`]. Variants carry the context a user
//! needs to act: the file, the rank, the kernel, the compiler command. This module owns
//! only the type; it never logs, retries or aborts.

use std::path::PathBuf;

/// Result alias used throughout op2.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in op2.
///
/// ```
/// let err = op2::Error::invalid("Set::new", "size -1 is negative");
/// assert!(err.to_string().contains("Set::new"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller passed a value the API cannot accept (wrong length, zero dim, ...).
    #[error("invalid argument to {what}: {detail}")]
    InvalidArgument { what: String, detail: String },

    /// A configuration variable or builder value could not be used.
    #[error("configuration error in {var}={value:?}: {detail}")]
    Config {
        var: String,
        value: String,
        detail: String,
    },

    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The C compiler rejected a generated kernel module. Every rank returns this same error.
    #[error(
        "compiling kernel `{kernel}` failed (rank 0 ran: {command})\n\
         source kept at {source_path}\n{stderr}"
    )]
    Compile {
        kernel: String,
        command: String,
        stderr: String,
        source_path: PathBuf,
    },

    /// A kernel's C definition does not match the loop's arguments (wrong parameter types or
    /// count, or no function of the kernel's name in its code): the compiler's check of the
    /// typed call, mapped back to the argument. Every rank returns this same error.
    #[error("kernel `{kernel}` does not match its par_loop arguments: {detail}\nsource kept at {source_path}")]
    KernelMismatch {
        kernel: String,
        detail: String,
        source_path: PathBuf,
    },

    /// A compiled module could not be loaded or lacks its entry point.
    #[error("loading kernel `{kernel}` from {path} failed on rank {rank}: {detail}")]
    Load {
        kernel: String,
        path: PathBuf,
        rank: i32,
        detail: String,
    },

    /// A cache directory or file that someone other than you (or your trusted group) could
    /// have written: op2 refuses to run code from it. `detail` says why and how to fix it.
    #[error("refusing to use the op2 cache at {path}: {detail}")]
    Untrusted { path: PathBuf, detail: String },

    /// A disk-cache entry failed verification (checksum, size, header).
    #[error("corrupt cache entry {path}: {detail}")]
    CorruptEntry { path: PathBuf, detail: String },

    /// Ranks disagreed on a collective operation (SPMD violation) that would otherwise deadlock.
    #[error("ranks disagree on {what}: {detail}")]
    SpmdMismatch { what: String, detail: String },

    /// An MPI-level failure, or use of MPI after the runtime was finalized.
    #[error("MPI error: {0}")]
    Mpi(String),

    /// Another rank failed during a collective operation; this rank stopped with it.
    #[error("rank {rank} failed: {detail}")]
    Remote { rank: i32, detail: String },

    /// The checked mode (`OP2_CHECK=1`) found a problem: ranks at different par_loops, a
    /// kernel that wrote a READ argument, a halo copy that differs from its owner's value.
    /// Every rank returns this same error, with every rank's findings.
    #[error("OP2_CHECK: {detail}")]
    Check { detail: String },

    /// A Krylov solver stopped without an answer: it broke down (`breakdown`) or reached its
    /// iteration limit. Never a silently unconverged answer.
    #[error("{what}: {detail} after {iterations} iterations (relative residual {relative_residual:.3e})")]
    Solve {
        what: String,
        detail: String,
        breakdown: bool,
        iterations: usize,
        relative_residual: f64,
    },

    /// A PETSc call of the PETSc bridge (feature `petsc`) returned an error code.
    #[error("PETSc {function} failed on rank {rank} with error {code}: {detail}")]
    Petsc {
        function: String,
        code: i32,
        rank: i32,
        detail: String,
    },

    /// A data file (a mesh) is truncated, garbled or inconsistent. `line` is 1-based.
    #[error("{path}:{line}: {detail}")]
    Format {
        path: PathBuf,
        line: usize,
        detail: String,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::InvalidArgument {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Attach a path and an operation name to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
