//! Code generation: the C wrapper that runs a user kernel over a range of set elements.
//!
//! Owns the generated source text, a pure function of the kernel and the argument shapes (the
//! same metadata as the cache key, so equal keys always mean equal code). It never compiles,
//! loads or looks at data.
//!
//! Every generated module exports one function with a fixed ABI:
//!
//! ```c
//! void __op2_loop(int start, int end, void **args, const int **maps);
//! ```
//!
//! **Names.** Every identifier the wrapper declares (its parameters, locals and the entry point
//! itself) starts with `__op2_`: identifiers with two leading underscores are reserved in C, so
//! no kernel name a user may legally choose (the one user identifier the wrapper refers to) is
//! shadowed or redefined by them (a kernel called `d1` or `n` compiles as any other). Below,
//! the names are written without the prefix.
//!
//! `args[i]` is the base pointer of argument `i` (a Dat's storage, or a Global's reduction
//! buffer); `maps[i]` is that argument's map values (`arity` per element) or `NULL`. Global
//! INC/MIN/MAX are reduced in locals and folded into `args[i]` once at the end of the range.
//!
//! **The kernel call is typed and checked.** The user's code comes first; the wrapper then
//! calls the kernel with one argument per line, each cast to the C type of the calling
//! convention ([`ArgShape::c_param`]: `const T *` for READ, `T *` otherwise; an `arg_vec`
//! argument is a packed `T *` of `arity * dim` values). The compiler thus checks the call
//! against the kernel's own definition: with the flags `compile.rs` adds
//! (`-Werror=incompatible-pointer-types`, `-Werror=implicit-function-declaration`,
//! `-Werror=int-conversion`, `-Wl,-z,defs`) a wrong pointer type, a wrong argument count or a
//! kernel name that the code does not define is a compile error, which `jit/check.rs` maps back
//! to the argument (by the line of the call it points at) and the expected type. A kernel that
//! declares a READ argument without `const` compiles with a warning; a parameter declared as a
//! multi-dimensional array (`double A[3][3]`) is passed as a pointer to its rows (same layout).
//!
//! **Specialised loop.** Dims, arities and map indices are constants in the text. Arguments
//! naming the same Dat (the shapes' `datnum`) share one base pointer, `d<datnum>`, and
//! arguments through the same map (`mapnum`) one map pointer, `m<mapnum>`, whose row for the
//! element, `r<mapnum>`, is read once per element: Airfoil's res_calc keeps 4 data and 2 map
//! pointers live instead of 16. Each is loaded from `args`/`maps` once, before the loop.
//!
//! **Aliasing.** Every access to a Dat goes through its one base pointer and distinct Dats
//! never share storage, so every Dat pointer is `restrict` (a Dat written through two
//! arguments, e.g. `res` INC through both cells of an edge, is still one pointer: the kernel
//! sees two pointers into one array, which the compiler must and does assume may alias). Map
//! pointers are read-only and `restrict`.
//!
//! **Inlining is the compiler's choice.** Forcing the kernel inline
//! (`__attribute__((flatten))` on the wrapper, codegen format 5) was measured on Airfoil
//! (`bench/airfoil_loops_ab.c`, thread CPU time, both orders): res_calc 14% slower than the
//! same loop calling the kernel (the inlined body spills beside the loop's live pointers and
//! constants), adt_calc unchanged; so the wrapper leaves it to the compiler (GCC 12 at -O3
//! keeps res_calc and adt_calc as calls, inlines small kernels). This scalar loop has no
//! `ivdep`/`omp simd` (a Global reduction keeps the sequential order); SIMD across elements,
//! with the kernel inlined, is `jit/simd.rs`'s vectorised entry point around it
//! (`simd::generate_module`, which calls [`generate`]).
//!
//! For a **Mat** argument (assembled through a row map of arity `ar` and a column map of arity
//! `ac`, block dims `rd x cd`), `args[i]` is the matrix's block CSR values (`double`, block `k`
//! at `k * rd * cd`, row-major) and `maps[i]` its Sparsity's *position table* for that map
//! pair: `ar * ac` block indices per element, `maps[i][(n * ar + ii) * ac + jj]` being the
//! block (row-map entry `ii`, column-map entry `jj`) of element `n`. The maps themselves are
//! not needed: the table already encodes them, so no extra pointers follow the regular
//! arguments. Per element the wrapper zeros a local `double e[ar * rd][ac * cd]`, passes it to
//! the kernel as `double *` (element-matrix row `ii * rd + r` is component `r` of row entry
//! `ii`), then adds it (INC) or stores it (WRITE) into the blocks the table names; a negative
//! table entry (a negative, "no entry", map value) is skipped, as PETSc's `MatSetValues` skips
//! negative rows and columns.

use std::fmt::Write;

use crate::data::access::Access;
use crate::jit::kernel::{array_dims, Kernel};
use crate::jit::shape::{ArgShape, MapUse};

/// Name of the exported entry point (owned by `cache::elf`, which checks every library for it).
pub use crate::cache::elf::ENTRY;

/// The calling convention the loader (`jit::ffi`) and the run step (`exec/`) rely on beyond
/// the generated text: the entry point's C type and what the run step passes in its tables.
/// Part of every disk key (`build::key`), so changing it can never reuse a library built for
/// the old one.
///
/// A loop over a Subset also reads `maps[nargs]` (the subset's index table) and visits the
/// elements it names at positions `[start, end)`: an extension that code generated for a set
/// never reads, so its libraries stay valid (and the indexed code differs in its source, hence
/// in its disk key).
pub(crate) const CALLING_CONVENTION: &str = "void __op2_loop(int start, int end, void **args, const int **maps); args[i]: argument i's data (Dat base, Global buffer, Mat values); maps[i]: its map's table (indirect Dat) or position table (Mat); elements [start, end)";

/// Generate the module source for `kernel` called with arguments of the given shapes.
/// `indexed`: the loop iterates a Subset (see [`element_loop`]).
pub(crate) fn generate(kernel: &Kernel, args: &[ArgShape], indexed: bool) -> String {
    generate_lines(kernel, args, indexed).0
}

/// Where the kernel call sits in the generated source (1-based lines), for mapping compiler
/// messages back to arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallLines {
    /// Lines of the user's code: `[first, last]`.
    pub user: (usize, usize),
    /// The line naming the kernel (the call expression).
    pub call: usize,
    /// The line of each argument.
    pub args: Vec<usize>,
}

/// The distinct Dats of the loop, in order of first use: `(datnum, first argument index)`.
/// Arguments naming the same Dat (equal `datnum`) share one base pointer `d<datnum>`.
pub(crate) fn distinct_dats(args: &[ArgShape]) -> Vec<(u32, usize)> {
    let mut out: Vec<(u32, usize)> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if let ArgShape::Dat { datnum, .. } = *a {
            if !out.iter().any(|&(d, _)| d == datnum) {
                out.push((datnum, i));
            }
        }
    }
    out
}

/// The distinct maps Dat arguments go through, in order of first use:
/// `(mapnum, arity, first argument index)`. Arguments through the same map share one map
/// pointer `m<mapnum>` and, per element, one row pointer `r<mapnum>`.
pub(crate) fn distinct_maps(args: &[ArgShape]) -> Vec<(u32, u32, usize)> {
    let mut out: Vec<(u32, u32, usize)> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if let ArgShape::Dat {
            map: MapUse::Index { arity, mapnum, .. } | MapUse::Vector { arity, mapnum },
            ..
        } = *a
        {
            if !out.iter().any(|&(m, _, _)| m == mapnum) {
                out.push((mapnum, arity, i));
            }
        }
    }
    out
}

/// The type the call casts argument `a` to: the convention's pointer type, or, when the
/// kernel declares the parameter as a multi-dimensional array (`double A[3][3]`,
/// `const double x[3][2]`: the same packed layout), a pointer to its rows.
pub(crate) fn param_type(a: &ArgShape, declared: Option<&String>) -> String {
    let base = a.c_param();
    let dims = declared.map(|p| array_dims(p)).unwrap_or_default();
    if dims.len() < 2 {
        return base;
    }
    let rows: String = dims[1..].iter().map(|d| format!("[{d}]")).collect();
    format!("{} (*){rows}", base.trim_end_matches('*').trim_end())
}

/// [`generate`], plus the lines of the kernel call.
/// The lines are the same whether the loop is indexed or not ([`element_loop`] is one line).
pub(crate) fn generate_mapped(kernel: &Kernel, args: &[ArgShape]) -> (String, CallLines) {
    generate_lines(kernel, args, false)
}

fn generate_lines(kernel: &Kernel, args: &[ArgShape], indexed: bool) -> (String, CallLines) {
    let mut s = String::new();
    let user = write_prelude(&mut s, kernel);
    let maps = distinct_maps(args);
    write_declarations(&mut s, args, &maps);
    s.push_str(&element_loop(args.len(), indexed));
    write_map_rows(&mut s, &maps);
    let call = write_gathers(&mut s, kernel, args);
    let (call_line, arg_lines) = write_call(&mut s, kernel, &call);
    write_scatters(&mut s, args);
    s.push_str("  }\n");
    write_global_folds(&mut s, args);
    s.push_str("}\n");
    let lines = CallLines {
        user,
        call: call_line,
        args: arg_lines,
    };
    (s, lines)
}

/// The head of the element loop, one line (so compiler messages map to the same lines
/// either way), opening the loop body with the element `n` defined. Over a set the loop visits
/// elements `[start, end)`; over a Subset (`indexed`) it visits positions `[start, end)` of the
/// subset's index table, which the run step passes after the arguments' maps (`maps[nargs]`),
/// and `n` is the superset element there: direct Dats, map rows and Mat position tables are
/// all read at `n`, exactly as in a loop over the superset.
fn element_loop(nargs: usize, indexed: bool) -> String {
    if indexed {
        format!("  for (int __op2_i = __op2_start; __op2_i < __op2_end; __op2_i++) {{ const int __op2_n = __op2_maps[{nargs}][__op2_i];\n")
    } else {
        "  for (int __op2_n = __op2_start; __op2_n < __op2_end; __op2_n++) {\n".to_string()
    }
}

/// The file's head (includes, the user's kernel, whose first and last lines it returns) and
/// the entry point's signature.
fn write_prelude(s: &mut String, kernel: &Kernel) -> (usize, usize) {
    let _ = writeln!(s, "/* generated by op2 for kernel {} */", kernel.name());
    s.push_str("#include <stdint.h>\n#include <math.h>\n#include <float.h>\n\n");
    let first = s.lines().count() + 1;
    s.push_str(kernel.code());
    if !s.ends_with('\n') {
        s.push('\n');
    }
    let user = (first, s.lines().count());
    s.push('\n');
    if kernel.is_cxx() {
        // A C++ module: `restrict` is spelled `__restrict__`, and the entry point keeps C
        // linkage (a later definition inherits the linkage of this first declaration).
        let _ = writeln!(
            s,
            "#define restrict __restrict__\nextern \"C\" void {ENTRY}(int, int, void **, const int **);"
        );
    }
    // No `flatten`/`always_inline`: the compiler decides whether to inline the kernel (see
    // the module docs: forcing it made Airfoil's res_calc slower).
    let _ = writeln!(
        s,
        "__attribute__((visibility(\"default\")))\nvoid {ENTRY}(int __op2_start, int __op2_end, void **__op2_args, const int **__op2_maps)\n{{"
    );
    user
}

/// Before the element loop: one typed base pointer per distinct Dat and one pointer per
/// distinct map (loaded once), a Mat's values, position table and element-matrix buffer, and a
/// Global's pointer with its local reduction buffer.
fn write_declarations(s: &mut String, args: &[ArgShape], mapv: &[(u32, u32, usize)]) {
    // One typed base pointer per distinct Dat, one pointer per distinct map: loaded once,
    // before the loop. Every access to a Dat in this function goes through its one pointer
    // and distinct Dats never share storage, so each may be `restrict`.
    let dats = distinct_dats(args);
    for &(dn, i) in &dats {
        if let ArgShape::Dat { dtype, .. } = args[i] {
            let _ = writeln!(
                s,
                "  {t} *restrict __op2_d{dn} = ({t} *)__op2_args[{i}];",
                t = dtype.c_name()
            );
        }
    }
    for &(mn, _, i) in mapv {
        let _ = writeln!(s, "  const int *restrict __op2_m{mn} = __op2_maps[{i}];");
    }
    for (i, a) in args.iter().enumerate() {
        match *a {
            ArgShape::Dat { .. } => {}
            ArgShape::Mat { dims, arities, .. } => {
                let size = arities.0 * dims.0 * arities.1 * dims.1;
                let _ = writeln!(
                    s,
                    "  double *__op2_a{i} = (double *)__op2_args[{i}];\n  const int *restrict __op2_p{i} = __op2_maps[{i}];\n  double __op2_e{i}[{size}];"
                );
            }
            ArgShape::Global { access, dtype, dim } => {
                let t = dtype.c_name();
                let _ = writeln!(s, "  {t} *__op2_g{i} = ({t} *)__op2_args[{i}];");
                match access {
                    Access::Read => {}
                    Access::Inc => {
                        let _ = writeln!(
                            s,
                            "  {t} __op2_l{i}[{dim}];\n  for (int __op2_d = 0; __op2_d < {dim}; __op2_d++) __op2_l{i}[__op2_d] = 0;"
                        );
                    }
                    _ => {
                        let _ = writeln!(s, "  {t} __op2_l{i}[{dim}];\n  for (int __op2_d = 0; __op2_d < {dim}; __op2_d++) __op2_l{i}[__op2_d] = __op2_g{i}[__op2_d];");
                    }
                }
            }
        }
    }
}

/// At the top of the element loop: this element's row of every map.
fn write_map_rows(s: &mut String, mapv: &[(u32, u32, usize)]) {
    // This element's row of every map, read once whatever the number of arguments using it.
    for &(mn, arity, _) in mapv {
        let _ = writeln!(
            s,
            "    const int *__op2_r{mn} = __op2_m{mn} + (long)__op2_n * {arity};"
        );
    }
}

/// Per argument, what the kernel gets for this element (staging Vector-map Dats and Mats in
/// local buffers): the call's argument expressions, in argument order.
fn write_gathers(s: &mut String, kernel: &Kernel, args: &[ArgShape]) -> Vec<String> {
    let mut call = Vec::with_capacity(args.len());
    let params = kernel.params();
    for (i, a) in args.iter().enumerate() {
        let cast = param_type(a, params.as_ref().and_then(|p| p.get(i)));
        match *a {
            ArgShape::Dat {
                access: Access::Min | Access::Max,
                ..
            } => {
                stage_copy(s, i, a);
                call.push(format!("({cast})__op2_v{i}"));
            }
            ArgShape::Dat {
                dtype,
                dim,
                map,
                access,
                datnum: dn,
                ..
            } => match map {
                MapUse::Direct => call.push(format!(
                    "({cast})(__op2_d{dn} + (long)__op2_n * {dim}{at})",
                    at = component(a)
                )),
                MapUse::Index {
                    idx, mapnum: mn, ..
                } => call.push(format!(
                    "({cast})(__op2_d{dn} + (long)__op2_r{mn}[{idx}] * {dim}{at})",
                    at = component(a)
                )),
                MapUse::Vector { arity, mapnum: mn } => {
                    // Packed: v[k * w + d] = component d at map entry k (w = dim, or 1 for a
                    // view, whose values start at its component).
                    let (w, at) = (a.dat_layout().0, component(a));
                    let size = arity * w;
                    let _ = writeln!(s, "    {t} __op2_v{i}[{size}];", t = dtype.c_name());
                    if matches!(access, Access::Read | Access::RW) {
                        let _ = writeln!(
                            s,
                            "    for (int __op2_k = 0; __op2_k < {arity}; __op2_k++)\n      for (int __op2_d = 0; __op2_d < {w}; __op2_d++) __op2_v{i}[__op2_k * {w} + __op2_d] = __op2_d{dn}[(long)__op2_r{mn}[__op2_k] * {dim}{at} + __op2_d];"
                        );
                    } else {
                        let _ = writeln!(s, "    for (int __op2_k = 0; __op2_k < {size}; __op2_k++) __op2_v{i}[__op2_k] = 0;");
                    }
                    call.push(format!("({cast})__op2_v{i}"));
                }
            },
            ArgShape::Global {
                access: Access::Read,
                ..
            } => call.push(format!("({cast})__op2_g{i}")),
            ArgShape::Global { .. } => call.push(format!("({cast})__op2_l{i}")),
            ArgShape::Mat { dims, arities, .. } => {
                let size = arities.0 * dims.0 * arities.1 * dims.1;
                let _ = writeln!(s, "    for (int __op2_k = 0; __op2_k < {size}; __op2_k++) __op2_e{i}[__op2_k] = 0.0;");
                call.push(format!("({cast})__op2_e{i}"));
            }
        }
    }
    call
}

/// PyOP2's MIN/MAX on a Dat: the kernel gets a copy of the values, local `v<i>` (after the call
/// each entry keeps the smaller or larger of its value and the copy's: [`write_scatters`]).
fn stage_copy(s: &mut String, i: usize, a: &ArgShape) {
    let ArgShape::Dat {
        dtype,
        dim,
        map,
        datnum: dn,
        ..
    } = *a
    else {
        return;
    };
    let (w, count) = staged_extent(a);
    let (t, size, at) = (dtype.c_name(), count * w, staged_offset(a, dim, map));
    let _ = writeln!(
        s,
        "    {t} __op2_v{i}[{size}];\n    for (int __op2_k = 0; __op2_k < {count}; __op2_k++)\n      for (int __op2_d = 0; __op2_d < {w}; __op2_d++) __op2_v{i}[__op2_k * {w} + __op2_d] = __op2_d{dn}[{at} + __op2_d];"
    );
}

/// A staged Dat argument's extent: values per entry (its dim, or 1 for a view) and entries
/// (the map's arity for a Vector map, else 1).
fn staged_extent(a: &ArgShape) -> (u32, u32) {
    match *a {
        ArgShape::Dat {
            map: MapUse::Vector { arity, .. },
            ..
        } => (a.dat_layout().0, arity),
        _ => (a.dat_layout().0, 1),
    }
}

/// The index in its Dat of entry `k` of a staged argument (the element itself, one map entry,
/// or map entry `k`), at the argument's component.
fn staged_offset(a: &ArgShape, dim: u32, map: MapUse) -> String {
    let at = component(a);
    match map {
        MapUse::Direct => format!("(long)__op2_n * {dim}{at}"),
        MapUse::Index {
            idx, mapnum: mn, ..
        } => format!("(long)__op2_r{mn}[{idx}] * {dim}{at}"),
        MapUse::Vector { mapnum: mn, .. } => format!("(long)__op2_r{mn}[__op2_k] * {dim}{at}"),
    }
}

/// The offset of a DatView's component inside an element (` + c`), empty for a whole Dat (so
/// the code of loops without views is unchanged).
fn component(a: &ArgShape) -> String {
    match a.dat_layout() {
        (_, 0) => String::new(),
        (_, c) => format!(" + {c}"),
    }
}

/// The call of the user's kernel, one argument per line: the call's line and each argument's.
fn write_call(s: &mut String, kernel: &Kernel, call: &[String]) -> (usize, Vec<usize>) {
    // One argument per line: a compiler message about argument i points at its own line.
    let call_line = s.lines().count() + 1;
    let _ = writeln!(s, "    {}(", kernel.name());
    let mut arg_lines = Vec::with_capacity(call.len());
    for (k, c) in call.iter().enumerate() {
        arg_lines.push(s.lines().count() + 1);
        let sep = if k + 1 < call.len() { "," } else { "" };
        let _ = writeln!(s, "      {c}{sep}");
    }
    s.push_str("    );\n");
    (call_line, arg_lines)
}

/// After the call: Vector-map Dats written back through the map (INC adds, WRITE/RW store),
/// MIN/MAX Dats folded into their entries,
/// element matrices added or stored into their Mat blocks.
fn write_scatters(s: &mut String, args: &[ArgShape]) {
    for (i, a) in args.iter().enumerate() {
        match *a {
            ArgShape::Dat {
                dim,
                map,
                access: access @ (Access::Min | Access::Max),
                datnum: dn,
                ..
            } => {
                let (w, count) = staged_extent(a);
                let (at, cmp) = (
                    staged_offset(a, dim, map),
                    if access == Access::Min { "<" } else { ">" },
                );
                let _ = writeln!(
                    s,
                    "    for (int __op2_k = 0; __op2_k < {count}; __op2_k++)\n      for (int __op2_d = 0; __op2_d < {w}; __op2_d++)\n        if (__op2_v{i}[__op2_k * {w} + __op2_d] {cmp} __op2_d{dn}[{at} + __op2_d]) __op2_d{dn}[{at} + __op2_d] = __op2_v{i}[__op2_k * {w} + __op2_d];"
                );
            }
            ArgShape::Dat {
                dim,
                map: MapUse::Vector { arity, mapnum: mn },
                access,
                datnum: dn,
                ..
            } if access != Access::Read => {
                let op = if access == Access::Inc { "+=" } else { "=" };
                let (w, at) = (a.dat_layout().0, component(a));
                let _ = writeln!(
                    s,
                    "    for (int __op2_k = 0; __op2_k < {arity}; __op2_k++)\n      for (int __op2_d = 0; __op2_d < {w}; __op2_d++) __op2_d{dn}[(long)__op2_r{mn}[__op2_k] * {dim}{at} + __op2_d] {op} __op2_v{i}[__op2_k * {w} + __op2_d];"
                );
            }
            ArgShape::Mat {
                access,
                dims: (rd, cd),
                arities: (ar, ac),
            } => {
                let op = if access == Access::Write { "=" } else { "+=" };
                let _ = writeln!(
                    s,
                    "    for (int __op2_ii = 0; __op2_ii < {ar}; __op2_ii++)\n      for (int __op2_jj = 0; __op2_jj < {ac}; __op2_jj++) {{\n        const int __op2_q = __op2_p{i}[((long)__op2_n * {ar} + __op2_ii) * {ac} + __op2_jj];\n        if (__op2_q < 0) continue;\n        double *__op2_blk = __op2_a{i} + (long)__op2_q * {rdcd};\n        const double *__op2_loc = __op2_e{i} + __op2_ii * {rcols} + __op2_jj * {cd};\n        for (int __op2_r = 0; __op2_r < {rd}; __op2_r++)\n          for (int __op2_c = 0; __op2_c < {cd}; __op2_c++) __op2_blk[__op2_r * {cd} + __op2_c] {op} __op2_loc[__op2_r * {ccols} + __op2_c];\n      }}",
                    rdcd = rd * cd,
                    rcols = rd * ac * cd,
                    ccols = ac * cd,
                );
            }
            _ => {}
        }
    }
}

/// After the element loop: every reducing Global's local result folded into its value.
fn write_global_folds(s: &mut String, args: &[ArgShape]) {
    for (i, a) in args.iter().enumerate() {
        if let ArgShape::Global { access, dim, .. } = *a {
            let fold = match access {
                Access::Inc => format!("__op2_g{i}[__op2_d] += __op2_l{i}[__op2_d];"),
                Access::Min => format!("if (__op2_l{i}[__op2_d] < __op2_g{i}[__op2_d]) __op2_g{i}[__op2_d] = __op2_l{i}[__op2_d];"),
                Access::Max => format!("if (__op2_l{i}[__op2_d] > __op2_g{i}[__op2_d]) __op2_g{i}[__op2_d] = __op2_l{i}[__op2_d];"),
                _ => continue,
            };
            let _ = writeln!(
                s,
                "  for (int __op2_d = 0; __op2_d < {dim}; __op2_d++) {fold}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    /// The source with the wrapper's reserved prefix taken off its names.
    fn unprefixed(src: &str) -> String {
        src.replace("__op2_", "")
    }

    #[test]
    fn wrapper_zeros_and_scatters_element_matrices() {
        let k = Kernel::new("k", "void k(double *A, double *B) {}").unwrap();
        let src = unprefixed(&generate(
            &k,
            &[
                ArgShape::Mat {
                    access: Access::Inc,
                    dims: (2, 1),
                    arities: (3, 4),
                },
                ArgShape::Mat {
                    access: Access::Write,
                    dims: (1, 1),
                    arities: (1, 1),
                },
            ],
            false,
        ));
        assert!(src.contains("double e0[24];"), "{src}");
        assert!(
            src.contains("for (int k = 0; k < 24; k++) e0[k] = 0.0;"),
            "{src}"
        );
        assert!(
            src.contains("    k(\n      (double *)e0,\n      (double *)e1\n    );"),
            "{src}"
        );
        assert!(
            src.contains("const int q = p0[((long)n * 3 + ii) * 4 + jj];"),
            "{src}"
        );
        // A negative ("no entry") position adds nothing, as PETSc's MatSetValues.
        assert!(src.contains("if (q < 0) continue;"), "{src}");
        assert!(src.contains("double *blk = a0 + (long)q * 2;"), "{src}");
        assert!(src.contains("e0 + ii * 8 + jj * 1;"), "{src}");
        assert!(src.contains("blk[r * 1 + c] += loc[r * 4 + c];"), "{src}");
        assert!(src.contains("blk[r * 1 + c] = loc[r * 1 + c];"), "{src}");
    }

    fn dat(access: Access, dim: u32, map: MapUse, datnum: u32) -> ArgShape {
        ArgShape::Dat {
            access,
            dtype: DType::F64,
            dim,
            map,
            datnum,
            view: 0,
        }
    }

    #[test]
    fn wrapper_gathers_packs_scatters_and_reduces_globals() {
        let k = Kernel::new(
            "k",
            "void k(double *a, const double *b, double *c, double *g) {}",
        )
        .unwrap();
        let idx = MapUse::Index {
            arity: 3,
            idx: 1,
            mapnum: 0,
        };
        let vec = MapUse::Vector {
            arity: 3,
            mapnum: 0,
        };
        let args = [
            dat(Access::Inc, 2, idx, 0),
            dat(Access::Read, 1, vec, 1),
            dat(Access::Inc, 2, vec, 2),
            ArgShape::Global {
                access: Access::Max,
                dtype: DType::F64,
                dim: 1,
            },
        ];
        let (raw, lines) = generate_mapped(&k, &args);
        assert!(
            raw.contains("void __op2_loop(int __op2_start, int __op2_end, void **__op2_args, const int **__op2_maps)"),
            "{raw}"
        );
        // Every name of the wrapper is reserved (`__op2_`); compare without the prefix.
        let src = unprefixed(&raw);
        assert!(src.contains("(double *)(d0 + (long)r0[1] * 2)"), "{src}");
        // Packed gather of a READ, zeroed INC, scatter-add of the INC.
        assert!(src.contains("double v1[3];"), "{src}");
        assert!(
            src.contains("v1[k * 1 + d] = d1[(long)r0[k] * 1 + d];"),
            "{src}"
        );
        assert!(
            src.contains("for (int k = 0; k < 6; k++) v2[k] = 0;"),
            "{src}"
        );
        assert!(
            src.contains("d2[(long)r0[k] * 2 + d] += v2[k * 2 + d];"),
            "{src}"
        );
        assert!(
            !src.contains("d1[(long)r0[k] * 1 + d] ="),
            "READ is not scattered"
        );
        assert!(src.contains("(const double *)v1,"), "{src}");
        assert!(src.contains("if (l3[d] > g3[d]) g3[d] = l3[d];"), "{src}");
        // The line map points at each argument of the call.
        let text: Vec<&str> = src.lines().collect();
        assert_eq!(text[lines.call - 1].trim(), "k(");
        assert_eq!(text[lines.args[1] - 1].trim(), "(const double *)v1,");
        assert_eq!(text[lines.args[3] - 1].trim(), "(double *)l3");
        assert_eq!(text[lines.user.0 - 1], k.code());
        // Every Dat is distinct: three restrict base pointers; one map, read once per element.
        for i in 0..3 {
            assert!(
                src.contains(&format!("  double *restrict d{i} = (double *)args[{i}];")),
                "{src}"
            );
        }
        assert_eq!(src.matches("const int *restrict m").count(), 1, "{src}");
        assert!(
            src.contains("  const int *restrict m0 = maps[0];\n"),
            "{src}"
        );
        assert!(
            src.contains("    const int *r0 = m0 + (long)n * 3;\n"),
            "{src}"
        );
        assert!(
            src.contains("__attribute__((visibility(\"default\")))\nvoid loop("),
            "{src}"
        );
    }

    #[test]
    fn a_dat_passed_twice_has_one_pointer_and_maps_one_row() {
        let k = Kernel::new(
            "k",
            "void k(double *a, double *b, const double *c, const double *x) {}",
        )
        .unwrap();
        let m = |idx, mapnum| MapUse::Index {
            arity: 2,
            idx,
            mapnum,
        };
        let src = unprefixed(&generate(
            &k,
            &[
                dat(Access::Inc, 1, m(0, 0), 0),
                dat(Access::Inc, 1, m(1, 0), 0),
                dat(Access::Read, 1, MapUse::Direct, 1),
                dat(Access::Read, 2, m(1, 1), 2),
            ],
            false,
        ));
        // The Dat of arguments 0 and 1 has one (restrict) pointer, through which both go.
        assert!(
            src.contains("  double *restrict d0 = (double *)args[0];\n"),
            "{src}"
        );
        assert!(!src.contains("args[1]"), "{src}");
        assert!(src.contains("(double *)(d0 + (long)r0[0] * 1),"), "{src}");
        assert!(src.contains("(double *)(d0 + (long)r0[1] * 1),"), "{src}");
        assert!(
            src.contains("  double *restrict d1 = (double *)args[2];\n"),
            "{src}"
        );
        assert!(src.contains("(const double *)(d1 + (long)n * 1),"), "{src}");
        // Two maps: the first from argument 0 (not 1), the second from argument 3.
        assert!(
            src.contains("  const int *restrict m0 = maps[0];\n"),
            "{src}"
        );
        assert!(
            src.contains("  const int *restrict m1 = maps[3];\n"),
            "{src}"
        );
        assert!(
            !src.contains("maps[1]") && !src.contains("maps[2]"),
            "{src}"
        );
        assert!(
            src.contains("(const double *)(d2 + (long)r1[1] * 2)\n"),
            "{src}"
        );
    }
}
