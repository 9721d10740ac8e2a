//! Kernels: user C code plus the name of the function a par_loop calls.
//!
//! Owns the kernel's source, name and extra compiler flags, and a hash of them computed once at
//! construction, so that building a loop's cache key never rehashes the source.

use std::sync::Arc;

use crate::error::{Error, Result};

pub(crate) struct KernelInner {
    pub(crate) name: String,
    pub(crate) code: String,
    pub(crate) flags: Vec<String>,
    /// xxh3-128 of name, code and flags.
    pub(crate) hash: u128,
}

/// A C function that a par_loop calls once per set element, with one pointer per argument.
///
/// ```
/// let k = op2::Kernel::new("scale", "void scale(double *x) { x[0] *= 2.0; }").unwrap();
/// assert_eq!(k.name(), "scale");
/// assert!(op2::Kernel::new("not an identifier", "").is_err());
/// ```
#[derive(Clone)]
pub struct Kernel(pub(crate) Arc<KernelInner>);

impl Kernel {
    /// A kernel named `name` (a C identifier defined in `code`).
    pub fn new(name: &str, code: &str) -> Result<Kernel> {
        Kernel::with_flags(name, code, &[])
    }

    /// A kernel with extra compiler flags (e.g. `-I/path`, `-DN=3`), part of its cache key.
    pub fn with_flags(name: &str, code: &str, flags: &[&str]) -> Result<Kernel> {
        let ident = !name.is_empty()
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident {
            return Err(Error::invalid(
                "Kernel::new",
                format!("{name:?} is not a C identifier"),
            ));
        }
        if !code.contains(name) {
            return Err(Error::invalid(
                format!("Kernel::new({name})"),
                "the code does not mention the kernel's name",
            ));
        }
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for part in std::iter::once(name)
            .chain(std::iter::once(code))
            .chain(flags.iter().copied())
        {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        Ok(Kernel(Arc::new(KernelInner {
            name: name.to_string(),
            code: code.to_string(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            hash: h.digest128(),
        })))
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The C source.
    pub fn code(&self) -> &str {
        &self.0.code
    }
    /// Extra compiler flags.
    pub fn flags(&self) -> &[String] {
        &self.0.flags
    }
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kernel({})", self.0.name)
    }
}
