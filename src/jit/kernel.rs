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

/// The kernel flag that makes a kernel C++ ([`Kernel::cxx`]): the compiler driver's language
/// switch, which gcc and clang both take.
pub(crate) const CXX_FLAG: &str = "-xc++";

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

    /// A C++ kernel (PyOP2's `Kernel(..., cpp=True)`): `code` is C++, and the whole generated
    /// module is compiled as C++ by the configured compiler driver (`-xc++`, linked with
    /// `-lstdc++`; `jit/compile.rs`), the entry point keeping C linkage. The language is one of
    /// the kernel's flags (`CXX_FLAG`), so it is part of the class and disk keys.
    ///
    /// ```
    /// let k = op2::Kernel::cxx("k", "static void k(double *y) { *y = 1; }", &[]).unwrap();
    /// assert!(k.is_cxx());
    /// assert!(!op2::Kernel::new("k", "void k(double *y) {}").unwrap().is_cxx());
    /// ```
    pub fn cxx(name: &str, code: &str, flags: &[&str]) -> Result<Kernel> {
        let flags: Vec<&str> = std::iter::once(CXX_FLAG)
            .chain(flags.iter().copied().filter(|&f| f != CXX_FLAG))
            .collect();
        Kernel::with_flags(name, code, &flags)
    }
    /// True for a C++ kernel ([`Kernel::cxx`], or `CXX_FLAG` among its flags).
    pub fn is_cxx(&self) -> bool {
        self.0.flags.iter().any(|f| f == CXX_FLAG)
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

impl Kernel {
    /// The parameter declarations of the kernel's definition in its code (comments removed,
    /// whitespace normalised), e.g. `["double *A", "const double x[3][2]"]`; `None` when the
    /// code defines no function of the kernel's name. A light reading of C (no preprocessor),
    /// for messages and for array-typed parameters.
    pub(crate) fn params(&self) -> Option<Vec<String>> {
        kernel_params(&self.0.code, &self.0.name)
    }
    /// Names of the functions the code defines at file scope.
    pub(crate) fn defined_functions(&self) -> Vec<String> {
        defined_functions(&self.0.code)
    }
}

/// The array dimensions after the last bracket-free word of a parameter declaration, e.g.
/// `["3", "2"]` for `const double x[3][2]`; empty for a plain pointer.
pub(crate) fn array_dims(param: &str) -> Vec<String> {
    let mut dims = Vec::new();
    let mut rest = param;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']') else {
            break;
        };
        dims.push(rest[open + 1..open + close].trim().to_string());
        rest = &rest[open + close + 1..];
    }
    dims
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kernel({})", self.0.name)
    }
}

/// The code without comments (replaced by spaces, so offsets keep their meaning roughly).
fn strip_comments(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut it = code.chars().peekable();
    while let Some(c) = it.next() {
        match (c, it.peek()) {
            ('/', Some('/')) => {
                for c in it.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                it.next();
                let mut prev = ' ';
                for c in it.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every function defined at file scope: `(name, parameter text)`.
fn definitions(code: &str) -> Vec<(String, String)> {
    let code = strip_comments(code);
    let b = code.as_bytes();
    let mut out = Vec::new();
    let (mut depth, mut i) = (0i32, 0usize);
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        match b[i] {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b'(' if depth == 0 => {
                // Identifier right before the parenthesis.
                let mut e = i;
                while e > 0 && b[e - 1].is_ascii_whitespace() {
                    e -= 1;
                }
                let mut s = e;
                while s > 0 && ident(b[s - 1]) {
                    s -= 1;
                }
                // Matching parenthesis.
                let (mut d, mut j) = (0i32, i);
                while j < b.len() {
                    match b[j] {
                        b'(' => d += 1,
                        b')' => {
                            d -= 1;
                            if d == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= b.len() {
                    break;
                }
                let mut k = j + 1;
                while k < b.len() && b[k].is_ascii_whitespace() {
                    k += 1;
                }
                if s < e && k < b.len() && b[k] == b'{' {
                    out.push((code[s..e].to_string(), code[i + 1..j].to_string()));
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn defined_functions(code: &str) -> Vec<String> {
    definitions(code).into_iter().map(|d| d.0).collect()
}

/// The parameter declarations of the definition of `name`, whitespace normalised.
fn kernel_params(code: &str, name: &str) -> Option<Vec<String>> {
    let (_, params) = definitions(code).into_iter().rev().find(|d| d.0 == name)?;
    let params = params.trim();
    if params.is_empty() || params == "void" {
        return Some(Vec::new());
    }
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in params.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    Some(
        out.iter()
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_definitions_and_parameters() {
        let code = "/* k(x) */ static double h(const double *x) { return x[0]; }\n\
                    // void k(int);\n\
                    void k(double **x,\n   const double K[9], int (*f)(int, int)) { if (1) { h(0); } }";
        assert_eq!(defined_functions(code), vec!["h", "k"]);
        assert_eq!(
            kernel_params(code, "k").unwrap(),
            vec!["double **x", "const double K[9]", "int (*f)(int, int)"]
        );
        assert_eq!(
            kernel_params("void k(void) {}", "k").unwrap(),
            Vec::<String>::new()
        );
        assert!(kernel_params("void k(double *);", "k").is_none());
    }

    #[test]
    fn reads_array_dimensions() {
        assert_eq!(array_dims("const double x[3][2]"), vec!["3", "2"]);
        assert_eq!(array_dims("double A[N][N]"), vec!["N", "N"]);
        assert!(array_dims("double *restrict x").is_empty());
    }
}
