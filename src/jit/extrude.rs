//! Code generation of extruded loops: the *column kernel* that runs a user kernel over the
//! layers of one column (PyOP2's extruded wrapper: the layer loop, map values advanced by their
//! offsets, iteration regions).
//!
//! Owns the C text of the layer loop. The column kernel is itself an ordinary op2 kernel,
//! called once per base element by the ordinary generated wrapper (`codegen.rs`, unchanged):
//! its first argument is the column's `[start, stop)` vertex layers (a runtime value: a READ
//! Global for constant layers, a direct READ Dat for variable ones); an extruded Dat reaches it
//! as one pointer per base map entry, to the start of that target column (whole columns are
//! what the outer loop maps, colours and exchanges); an extruded Mat as the dense element
//! matrix of the column pair. Everything the text depends on (region, entries, shifts,
//! offsets, dims, whether the layer is passed) is in the column kernel's source and so in the
//! cache keys; data and layer counts are not. It never compiles, loads or looks at data.
//!
//! Per layer `l` and facet `f` (0, or 0 and 1 on interior facets), entry `k` of an extruded
//! map names entry `shift[k] + (l + f) * offset[k]` of its base entry's column. A mapped Dat is
//! staged in PyOP2's packed layout `v[(f * arity + k) * dim + j]` (gathered for READ/RW, zeroed
//! for INC/WRITE, scattered back after the call); an element matrix is
//! `A[(f, k, r)][(f', k', c)]`, added into the column pair's matrix after the call.

use std::fmt::Write;

use crate::data::access::Access;
use crate::data::extruded::Region;
use crate::dtype::DType;
use crate::jit::kernel::{array_dims, Kernel};

/// One side of an extruded map as the column kernel sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Side {
    /// Entries of the base map (one column pointer, or one block of the column matrix, each).
    pub bases: u32,
    /// Per extruded entry: (base entry, shift, offset).
    pub entries: Vec<(u32, i32, i32)>,
    /// Entries per target column (the column matrix's stride; Mats only).
    pub per_column: u32,
    /// Values per entry.
    pub dim: u32,
    /// PyOP2's map into a plain set (`ExtrudedMap::flat`): each column pointer is followed by
    /// nothing, the column kernel takes one more parameter after the pointers (the column's
    /// per-entry shifts, `const int *`), and layers count from the column's first layer.
    pub flat: bool,
}

/// One argument of the user's kernel, as the column kernel receives and passes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ColArg {
    /// Passed through unchanged on every layer (a Global, a Dat on the base set): one parameter
    /// of this C type.
    Pass { c_type: String },
    /// The iteration column's own entry at layer `l` (a cell Dat): one column pointer.
    Layer {
        access: Access,
        dtype: DType,
        dim: u32,
    },
    /// A Dat through an extruded map: `side.bases` column pointers.
    Mapped {
        access: Access,
        dtype: DType,
        side: Side,
    },
    /// A Mat through a pair of extruded maps (INC): the column pair's element matrix.
    Mat { rows: Side, cols: Side },
}

/// Everything the column kernel's text depends on.
pub(crate) struct Column<'a> {
    pub kernel: &'a Kernel,
    pub region: Region,
    pub pass_layer: bool,
    /// Entries wrap around the column (`(shift + l * offset) mod (cells * offset)`).
    pub periodic: bool,
    pub args: Vec<ColArg>,
}

/// Facets per layer: 2 on interior facets (the entries below and above), else 1.
fn facets(region: Region) -> u32 {
    if region == Region::OnInteriorFacets {
        2
    } else {
        1
    }
}

/// Marks a column kernel that reaches past the element its outer loop maps (a flat map's
/// block): the outer loop must pass pointers into the Dats in place, never staged copies of
/// one element (`simd.rs` takes the scalar path for it).
pub(crate) const IN_PLACE: &str =
    "/* op2: in place (a flat extruded map reaches past its mapped element) */";

/// The name of the column kernel of `kernel`.
pub(crate) fn column_name(kernel: &Kernel) -> String {
    format!("op2_column_{}", kernel.name())
}

/// The column kernel's source: the user's code, then the column function.
pub(crate) fn column_kernel(c: &Column) -> String {
    let mut s = String::new();
    s.push_str(c.kernel.code());
    if !s.ends_with('\n') {
        s.push('\n');
    }
    let f = facets(c.region);
    if (c.args.iter()).any(|a| matches!(a, ColArg::Mapped { side, .. } if side.flat)) {
        s.push_str(IN_PLACE);
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\n/* op2 extruded column: region {}, {} facet(s) per layer */",
        c.region.name(),
        f
    );
    // Entry of a column at `shift + lf * offset`, wrapped on a periodic column of `n` cells.
    s.push_str("static inline long __op2_ix(int s, int o, int lf, int n)\n{\n  return n > 0 && o > 0 ? (s + lf * o) % (n * o) : s + lf * o;\n}\n");
    let mut params = vec!["const int *__op2_lay".to_string()];
    for (i, a) in c.args.iter().enumerate() {
        params.extend(column_params(i, a));
    }
    let _ = writeln!(
        s,
        "static void {}({})\n{{",
        column_name(c.kernel),
        params.join(", ")
    );
    let (lo, hi) = match c.region {
        Region::All => ("__op2_lay[0]", "__op2_lay[1] - 1"),
        Region::OnBottom => ("__op2_lay[0]", "__op2_lay[0] + 1"),
        Region::OnTop => ("__op2_lay[1] - 2", "__op2_lay[1] - 1"),
        Region::OnInteriorFacets if c.periodic => ("__op2_lay[0]", "__op2_lay[1] - 1"),
        Region::OnInteriorFacets => ("__op2_lay[0]", "__op2_lay[1] - 2"),
    };
    // Clamped to the column: no layer below `start`, no entry above `stop - 1` (a periodic
    // column's top facet wraps to its bottom). `__op2_n`: cells of a periodic column, else 0.
    let top = if c.periodic { 1 } else { f };
    let n = if c.periodic {
        "__op2_lay[1] - __op2_lay[0] - 1"
    } else {
        "0"
    };
    let _ = writeln!(
        s,
        "  int __op2_lo = {lo}, __op2_hi = {hi};\n  if (__op2_lo < __op2_lay[0]) __op2_lo = __op2_lay[0];\n  if (__op2_hi > __op2_lay[1] - {top}) __op2_hi = __op2_lay[1] - {top};\n  const int __op2_n = {n};"
    );
    for (i, a) in c.args.iter().enumerate() {
        write_tables(&mut s, i, a);
    }
    s.push_str("  for (int __op2_l = __op2_lo; __op2_l < __op2_hi; __op2_l++) {\n");
    let declared = c.kernel.params();
    let mut call = Vec::new();
    for (i, a) in c.args.iter().enumerate() {
        let d = declared.as_ref().and_then(|p| p.get(i)).map(String::as_str);
        call.push(write_gather(&mut s, i, a, f, d));
    }
    if c.pass_layer {
        call.push("__op2_l".into());
    }
    let _ = writeln!(
        s,
        "    {}(\n      {}\n    );",
        c.kernel.name(),
        call.join(",\n      ")
    );
    for (i, a) in c.args.iter().enumerate() {
        write_scatter(&mut s, i, a, f);
    }
    s.push_str("  }\n}\n");
    s
}

/// The C type of a pointer to `dtype` for `access` (the calling convention).
fn ptr(access: Access, dtype: DType) -> String {
    if access == Access::Read {
        format!("const {} *", dtype.c_name())
    } else {
        format!("{} *", dtype.c_name())
    }
}

/// The cast of a kernel argument of pointer type `base`: a pointer to rows when the kernel
/// declares the parameter as a multi-dimensional array (`double x[6][2]`), as `codegen.rs` does.
fn cast(base: &str, declared: Option<&str>) -> String {
    let dims = declared.map(array_dims).unwrap_or_default();
    if dims.len() < 2 {
        return base.to_string();
    }
    let rows: String = dims[1..].iter().map(|d| format!("[{d}]")).collect();
    format!("{} (*){rows}", base.trim_end_matches('*').trim_end())
}

/// The column kernel's parameters for argument `i`.
fn column_params(i: usize, a: &ColArg) -> Vec<String> {
    match a {
        ColArg::Pass { c_type } => vec![format!("{c_type}__op2_p{i}")],
        ColArg::Layer { access, dtype, .. } => vec![format!("{}__op2_p{i}", ptr(*access, *dtype))],
        ColArg::Mapped {
            access,
            dtype,
            side,
        } => {
            let mut p: Vec<String> = (0..side.bases)
                .map(|b| format!("{}__op2_p{i}_{b}", ptr(*access, *dtype)))
                .collect();
            if side.flat {
                p.push(format!("const int *__op2_p{i}_s"));
            }
            p
        }
        ColArg::Mat { .. } => vec![format!("double *__op2_p{i}")],
    }
}

/// Before the layer loop: an extruded map's entries as constant tables, a mapped Dat's column
/// pointers as one array.
fn write_tables(s: &mut String, i: usize, a: &ColArg) {
    let table = |s: &mut String, name: &str, side: &Side| {
        let col = |f: fn(&(u32, i32, i32)) -> String| {
            side.entries.iter().map(f).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(
            s,
            "  static const int __op2_{name}b{i}[] = {{{}}};\n  static const int __op2_{name}s{i}[] = {{{}}};\n  static const int __op2_{name}o{i}[] = {{{}}};",
            col(|e| e.0.to_string()),
            col(|e| e.1.to_string()),
            col(|e| e.2.to_string())
        );
    };
    match a {
        ColArg::Mapped {
            access,
            dtype,
            side,
        } => {
            table(s, "", side);
            let ptrs: Vec<String> = (0..side.bases).map(|b| format!("__op2_p{i}_{b}")).collect();
            let _ = writeln!(
                s,
                "  {}const __op2_c{i}[{}] = {{{}}};",
                ptr(*access, *dtype),
                side.bases,
                ptrs.join(", ")
            );
        }
        ColArg::Mat { rows, cols } => {
            table(s, "r", rows);
            table(s, "c", cols);
        }
        _ => {}
    }
}

/// Per layer, what the kernel gets for argument `i` (staging mapped Dats and element
/// matrices): the call's argument expression.
fn write_gather(s: &mut String, i: usize, a: &ColArg, f: u32, declared: Option<&str>) -> String {
    match a {
        ColArg::Pass { c_type } => format!("({})__op2_p{i}", cast(c_type, declared)),
        ColArg::Layer { access, dtype, dim } => format!(
            "({})(__op2_p{i} + (long)__op2_l * {dim})",
            cast(&ptr(*access, *dtype), declared)
        ),
        ColArg::Mapped {
            access,
            dtype,
            side,
        } => {
            let (n, d) = (side.entries.len(), side.dim);
            let _ = writeln!(
                s,
                "    {} __op2_v{i}[{}];",
                dtype.c_name(),
                f as usize * n * d as usize
            );
            let body = if matches!(access, Access::Read | Access::RW) {
                format!("__op2_v{i}[(__op2_f * {n} + __op2_k) * {d} + __op2_j] = __op2_c{i}[__op2_b{i}[__op2_k]][__op2_x + __op2_j];")
            } else {
                format!("__op2_v{i}[(__op2_f * {n} + __op2_k) * {d} + __op2_j] = 0;")
            };
            write_entries(s, i, side, f, &body);
            format!("({})__op2_v{i}", cast(&ptr(*access, *dtype), declared))
        }
        ColArg::Mat { rows, cols } => {
            let size = (f * rows.entries.len() as u32 * rows.dim)
                * (f * cols.entries.len() as u32 * cols.dim);
            let _ = writeln!(
                s,
                "    double __op2_A{i}[{size}];\n    for (int __op2_k = 0; __op2_k < {size}; __op2_k++) __op2_A{i}[__op2_k] = 0.0;"
            );
            format!("({})__op2_A{i}", cast("double *", declared))
        }
    }
}

/// A loop over facets `f`, entries `k` and components `j` of argument `i`'s map tables, with
/// `__op2_x` the first value of entry `k` in its column (a flat map's: in its block, from the
/// column's shift table and its layer counted from the column's start), around `body`.
fn write_entries(s: &mut String, i: usize, side: &Side, f: u32, body: &str) {
    let (n, d) = (side.entries.len(), side.dim);
    let x = if side.flat {
        format!("__op2_ix(__op2_p{i}_s[__op2_k], __op2_o{i}[__op2_k], __op2_l - __op2_lay[0] + __op2_f, 0)")
    } else {
        format!("__op2_ix(__op2_s{i}[__op2_k], __op2_o{i}[__op2_k], __op2_l + __op2_f, __op2_n)")
    };
    let _ = writeln!(
        s,
        "    for (int __op2_f = 0; __op2_f < {f}; __op2_f++)\n      for (int __op2_k = 0; __op2_k < {n}; __op2_k++) {{\n        const long __op2_x = {x} * {d};\n        for (int __op2_j = 0; __op2_j < {d}; __op2_j++) {body}\n      }}"
    );
}

/// After the call: mapped Dats written back (INC adds, WRITE/RW store), element matrices added
/// into the column pair's matrix.
fn write_scatter(s: &mut String, i: usize, a: &ColArg, f: u32) {
    match a {
        ColArg::Mapped { access, side, .. } if *access != Access::Read => {
            let (n, d) = (side.entries.len(), side.dim);
            let op = if *access == Access::Inc { "+=" } else { "=" };
            let body = format!("__op2_c{i}[__op2_b{i}[__op2_k]][__op2_x + __op2_j] {op} __op2_v{i}[(__op2_f * {n} + __op2_k) * {d} + __op2_j];");
            write_entries(s, i, side, f, &body);
        }
        ColArg::Mat { rows, cols } => {
            let (nr, nc) = (rows.entries.len(), cols.entries.len());
            let (dr, dc) = (rows.dim, cols.dim);
            // The column matrix: row `b * (per_column * dr) + e * dr + r`, row length
            // `bases * per_column * dc` over the column side (codegen.rs's element matrix).
            let (rstride, cstride) = (rows.per_column * dr, cols.per_column * dc);
            let width = cols.bases * cstride;
            let acols = f as usize * nc * dc as usize;
            let _ = writeln!(
                s,
                "    for (int __op2_fr = 0; __op2_fr < {f}; __op2_fr++)\n    for (int __op2_kr = 0; __op2_kr < {nr}; __op2_kr++)\n    for (int __op2_r = 0; __op2_r < {dr}; __op2_r++) {{\n      const long __op2_row = (long)__op2_rb{i}[__op2_kr] * {rstride} + __op2_ix(__op2_rs{i}[__op2_kr], __op2_ro{i}[__op2_kr], __op2_l + __op2_fr, __op2_n) * {dr} + __op2_r;\n      const double *__op2_a = __op2_A{i} + (long)((__op2_fr * {nr} + __op2_kr) * {dr} + __op2_r) * {acols};\n      for (int __op2_fc = 0; __op2_fc < {f}; __op2_fc++)\n      for (int __op2_kc = 0; __op2_kc < {nc}; __op2_kc++) {{\n        const long __op2_col = (long)__op2_cb{i}[__op2_kc] * {cstride} + __op2_ix(__op2_cs{i}[__op2_kc], __op2_co{i}[__op2_kc], __op2_l + __op2_fc, __op2_n) * {dc};\n        for (int __op2_c = 0; __op2_c < {dc}; __op2_c++) __op2_p{i}[__op2_row * {width} + __op2_col + __op2_c] += __op2_a[(__op2_fc * {nc} + __op2_kc) * {dc} + __op2_c];\n      }}\n    }}"
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(entries: Vec<(u32, i32, i32)>, dim: u32) -> Side {
        Side {
            bases: 3,
            entries,
            per_column: 5,
            dim,
            flat: false,
        }
    }

    #[test]
    fn layer_loop_bounds_follow_the_region() {
        let k = Kernel::new("k", "void k(double *x) {}").unwrap();
        let mk = |region| {
            column_kernel(&Column {
                kernel: &k,
                region,
                pass_layer: false,
                periodic: false,
                args: vec![ColArg::Layer {
                    access: Access::Inc,
                    dtype: DType::F64,
                    dim: 2,
                }],
            })
        };
        let all = mk(Region::All);
        assert!(
            all.contains("int __op2_lo = __op2_lay[0], __op2_hi = __op2_lay[1] - 1;"),
            "{all}"
        );
        assert!(
            all.contains("static void op2_column_k(const int *__op2_lay, double *__op2_p0)"),
            "{all}"
        );
        assert!(
            all.contains("(double *)(__op2_p0 + (long)__op2_l * 2)"),
            "{all}"
        );
        assert!(
            mk(Region::OnTop).contains("__op2_lo = __op2_lay[1] - 2, __op2_hi = __op2_lay[1] - 1;")
        );
        assert!(
            mk(Region::OnBottom).contains("__op2_lo = __op2_lay[0], __op2_hi = __op2_lay[0] + 1;")
        );
        let facets = mk(Region::OnInteriorFacets);
        assert!(facets.contains("__op2_hi = __op2_lay[1] - 2;"), "{facets}");
        assert!(
            facets.contains("if (__op2_hi > __op2_lay[1] - 2) __op2_hi = __op2_lay[1] - 2;"),
            "{facets}"
        );
    }

    #[test]
    fn mapped_dats_advance_by_their_offsets_and_mats_scatter_into_the_column_matrix() {
        let k = Kernel::new("k", "void k(double *A, const double x[6][2], int layer) {}").unwrap();
        let prism = vec![
            (0, 0, 1),
            (1, 0, 1),
            (2, 0, 1),
            (0, 1, 1),
            (1, 1, 1),
            (2, 1, 1),
        ];
        let src = column_kernel(&Column {
            kernel: &k,
            region: Region::OnInteriorFacets,
            pass_layer: true,
            periodic: false,
            args: vec![
                ColArg::Mat {
                    rows: side(prism.clone(), 1),
                    cols: side(prism.clone(), 1),
                },
                ColArg::Mapped {
                    access: Access::Read,
                    dtype: DType::F64,
                    side: side(prism, 2),
                },
            ],
        });
        assert!(!src.contains(IN_PLACE), "{src}");
        assert!(
            src.contains("static const int __op2_s1[] = {0, 0, 0, 1, 1, 1};"),
            "{src}"
        );
        assert!(
            src.contains("const double *const __op2_c1[3] = {__op2_p1_0, __op2_p1_1, __op2_p1_2};"),
            "{src}"
        );
        // Two facets of 6 entries of dim 2, gathered from (shift + (l + f) * offset) * dim.
        assert!(src.contains("double __op2_v1[24];"), "{src}");
        assert!(
            src.contains(
                "__op2_ix(__op2_s1[__op2_k], __op2_o1[__op2_k], __op2_l + __op2_f, __op2_n) * 2;"
            ),
            "{src}"
        );
        assert!(src.contains("(const double (*)[2])__op2_v1"), "{src}");
        // A 12 x 12 element matrix into the 3 * 5 wide column matrix; the layer passed last.
        assert!(src.contains("double __op2_A0[144];"), "{src}");
        assert!(
            src.contains("__op2_p0[__op2_row * 15 + __op2_col + __op2_c] +="),
            "{src}"
        );
        assert!(
            src.contains("(const double (*)[2])__op2_v1,\n      __op2_l\n    );"),
            "{src}"
        );
    }

    #[test]
    fn flat_maps_take_their_shifts_per_column_and_count_layers_from_the_start() {
        let k = Kernel::new("k", "void k(double *x) {}").unwrap();
        let mut flat = side(vec![(0, 0, 2), (1, 0, 2), (2, 0, 2)], 1);
        flat.flat = true;
        let src = column_kernel(&Column {
            kernel: &k,
            region: Region::All,
            pass_layer: false,
            periodic: false,
            args: vec![ColArg::Mapped {
                access: Access::Inc,
                dtype: DType::F64,
                side: flat,
            }],
        });
        assert!(
            src.contains("double *__op2_p0_2, const int *__op2_p0_s)"),
            "{src}"
        );
        assert!(
            src.contains("__op2_ix(__op2_p0_s[__op2_k], __op2_o0[__op2_k], __op2_l - __op2_lay[0] + __op2_f, 0) * 1;"),
            "{src}"
        );
        assert!(!src.contains("__op2_s0[__op2_k]"), "{src}");
        assert!(src.contains(IN_PLACE), "{src}");
    }
}
