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
#[non_exhaustive]
pub enum Error {
    /// A caller passed a value the API cannot accept (wrong length, zero dim, ...).
    #[error("invalid argument to {what}: {detail}")]
    InvalidArgument {
        /// The function or value at fault (`Set::new`, `par_loop argument 2`).
        what: String,
        /// What is wrong and what would be accepted.
        detail: String,
    },

    /// A configuration variable or builder value could not be used.
    #[error("configuration error in {var}={value:?}: {detail}")]
    Config {
        /// The setting (environment variable or builder method).
        var: String,
        /// The value given.
        value: String,
        /// Why it cannot be used.
        detail: String,
    },

    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What op2 was doing (`open`, `rename`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The C compiler rejected a generated kernel module. Every rank returns this same error.
    #[error(
        "compiling kernel `{kernel}` failed (rank 0 ran: {command})\n\
         source kept at {source_path}\n{stderr}"
    )]
    Compile {
        /// The kernel's name.
        kernel: String,
        /// The compiler command rank 0 ran.
        command: String,
        /// What the compiler printed.
        stderr: String,
        /// Where the generated source was kept.
        source_path: PathBuf,
    },

    /// A kernel's C definition does not match the loop's arguments (wrong parameter types or
    /// count, or no function of the kernel's name in its code): the compiler's check of the
    /// typed call, mapped back to the argument. Every rank returns this same error.
    #[error("kernel `{kernel}` does not match its par_loop arguments: {detail}\nsource kept at {source_path}")]
    KernelMismatch {
        /// The kernel's name.
        kernel: String,
        /// Which argument does not match, and how.
        detail: String,
        /// Where the generated source was kept.
        source_path: PathBuf,
    },

    /// A compiled module could not be loaded or lacks its entry point.
    #[error("loading kernel `{kernel}` from {path} failed on rank {rank}: {detail}")]
    Load {
        /// The kernel's name.
        kernel: String,
        /// The library that failed to load.
        path: PathBuf,
        /// The rank that failed.
        rank: i32,
        /// The loader's message.
        detail: String,
    },

    /// A cache directory or file that someone other than you (or your trusted group) could
    /// have written: op2 refuses to run code from it. `detail` says why and how to fix it.
    #[error("refusing to use the op2 cache at {path}: {detail}")]
    Untrusted {
        /// The cache directory or file refused.
        path: PathBuf,
        /// Why, and how to fix it.
        detail: String,
    },

    /// A disk-cache entry failed verification (checksum, size, header).
    #[error("corrupt cache entry {path}: {detail}")]
    CorruptEntry {
        /// The entry's file.
        path: PathBuf,
        /// What failed (checksum, size, header).
        detail: String,
    },

    /// Ranks disagreed on a collective operation (SPMD violation) that would otherwise deadlock.
    #[error("ranks disagree on {what}: {detail}")]
    SpmdMismatch {
        /// The collective the ranks disagreed on.
        what: String,
        /// What each rank saw.
        detail: String,
    },

    /// An MPI-level failure, or use of MPI after the runtime was finalized.
    #[error("MPI error: {0}")]
    Mpi(/** What failed. */ String),

    /// Another rank failed during a collective operation; this rank stopped with it.
    #[error("rank {rank} failed: {detail}")]
    Remote {
        /// The rank that failed.
        rank: i32,
        /// Its error, as it reported it.
        detail: String,
    },

    /// The checked mode (`OP2_CHECK=1`) found a problem: ranks at different par_loops, a
    /// kernel that wrote a READ argument, a halo copy that differs from its owner's value.
    /// Every rank returns this same error, with every rank's findings.
    #[error("OP2_CHECK: {detail}")]
    Check {
        /// Every rank's findings.
        detail: String,
    },

    /// A Krylov solver stopped without an answer: it broke down (`breakdown`) or reached its
    /// iteration limit. Never a silently unconverged answer.
    #[error("{what}: {detail} after {iterations} iterations (relative residual {relative_residual:.3e})")]
    Solve {
        /// The solver (`CG`, `GMRES(30)`, ...).
        what: String,
        /// Breakdown or iteration limit, in words.
        detail: String,
        /// True when the method broke down, false at the iteration limit.
        breakdown: bool,
        /// Iterations done.
        iterations: usize,
        /// The last relative residual norm.
        relative_residual: f64,
    },

    /// An error every rank of the communicator returns together, marked so by the agreement
    /// that produced it (`mpi/agree.rs`: [`Error::is_agreed`]). It displays as the error it
    /// wraps; [`Error::unmarked`] is that error.
    #[error(transparent)]
    Agreed(Agreed),

    /// A PETSc call of the PETSc bridge (feature `petsc`) returned an error code.
    #[error("PETSc {function} failed on rank {rank} with error {code}: {detail}")]
    Petsc {
        /// The PETSc function that failed.
        function: String,
        /// Its error code.
        code: i32,
        /// The rank it failed on.
        rank: i32,
        /// PETSc's message for the code.
        detail: String,
    },

    /// A data file (a mesh) is truncated, garbled or inconsistent. `line` is 1-based.
    #[error("{path}:{line}: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The 1-based line (0 for binary files).
        line: usize,
        /// What is wrong.
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

/// The mark of an error every rank returns together. Only the agreement in `mpi/agree.rs`
/// makes one (a unit test there checks that no other file does).
#[derive(Debug)]
pub struct Agreed(Box<Error>);

impl Agreed {
    /// Mark `e` agreed (an already marked error stays as it is).
    pub(crate) fn wrap(e: Error) -> Error {
        match e {
            Error::Agreed(_) => e,
            e => Error::Agreed(Agreed(Box::new(e))),
        }
    }
}

impl std::fmt::Display for Agreed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Agreed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

impl Error {
    /// The error without its agreement mark (itself when it has none): match this to look
    /// at the variant of an error every rank returned.
    pub fn unmarked(&self) -> &Error {
        match self {
            Error::Agreed(a) => &a.0,
            e => e,
        }
    }

    /// [`Error::unmarked`], by value.
    pub fn into_unmarked(self) -> Error {
        match self {
            Error::Agreed(a) => *a.0,
            e => e,
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
