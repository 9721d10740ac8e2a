//! Vectorised loops: SIMD across elements in the generated code, and the choice, per loop,
//! between that path and the scalar one.
//!
//! Owns the *vectorised entry point*. The module source of a vectorised loop is the scalar
//! module (`codegen`) with its entry point renamed to a static `__op2_scalar` (same lines, so
//! compiler messages still map to the kernel call that `jit/check.rs` knows), followed by a new
//! `__op2_loop` with the same ABI that runs the range in chunks of `W` consecutive elements
//! (`W`: [`isa::lanes`] of the job's agreed level, 8 at x86-64-v4, 4 below) and hands the last
//! `end - start mod W` elements to `__op2_scalar`. Per chunk:
//!
//! * direct Dats are passed to the kernel in place (consecutive elements: the compiler's
//!   interleaved loads and stores);
//! * every `arg_map` argument gets a staging row per lane (`s<i>[W][dim]`), an `arg_vec`
//!   argument a packed row per lane (`v<i>[W][arity*dim]`), gathered through the map before
//!   the lanes (READ) or zeroed (INC). Gathering first is what lets GCC vectorise: a kernel
//!   reading `x[1]` through a mapped pointer is "not suitable for gather load" (GCC 12);
//! * the kernel runs once per lane in a `#pragma omp simd` loop (compiled with
//!   `-fopenmp-simd -fno-math-errno`, the entry point `flatten`ed so the kernel body is inlined
//!   and the compiler can vectorise across lanes: inlining is this path's choice, recorded in
//!   the source and so in the key);
//! * staged increments are then added to their targets **lane by lane, in element order**, so
//!   lanes that share a target never collide and a colour's elements may share targets;
//! * Global INC/MIN/MAX are reduced per lane (`gl<i>[W][dim]`, across every chunk of the call)
//!   and folded into the Global lane 0 first, then the scalar tail's: a fixed order, so results
//!   are identical run to run (within round-off of the scalar path's, integers exact).
//!
//! [`choose`] takes the scalar path where lanes would not be independent or the staging would
//! change what the kernel sees: a Mat, a written Global, an indirect WRITE/RW (two lanes could
//! store to one target), a Dat incremented indirectly and also read, or a Dat written directly
//! and passed again, staged rows over 64 KiB of stack; and everywhere under `OP2_SIMD=off` or
//! the checked mode (`OP2_CHECK=1` must see a kernel write its READ argument in place), and
//! for a column kernel through a flat extruded map (`extrude::IN_PLACE`: it reads past the
//! mapped element, which a staged row does not hold). Staged increments start at zero, so
//! an INC kernel must only add to its argument (as OP2's and PyOP2's INC semantics say).
//!
//! This module never compiles, loads or looks at data: it is text, a pure function of the
//! kernel, the shapes and [`Options`] (whose word is part of the class key).

use std::fmt::Write;

use crate::data::access::Access;
use crate::jit::codegen::{distinct_dats, distinct_maps, param_type, ENTRY};
use crate::jit::isa;
use crate::jit::kernel::Kernel;
use crate::jit::shape::{ArgShape, MapUse};

/// What code generation needs to know of the job beyond the loop: whether vectorised code is
/// allowed (`OP2_SIMD`) and the agreed instruction-set level (its lane count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Options {
    pub simd: bool,
    /// Choose each vectorised module's variant by measurement (`OP2_SIMD=auto`), or always
    /// run the vectorised one (`OP2_SIMD=on`).
    pub measure: bool,
    pub level: u8,
}

impl Options {
    /// The options of the configuration in force.
    pub(crate) fn of(config: &crate::config::Config) -> Options {
        Options {
            // The checked mode watches the kernel write the Dats in place (a READ argument
            // written is an error it names); the vectorised path hands it staged copies.
            simd: config.simd && !config.check,
            measure: config.simd_measure,
            level: config.isa_level.max(1),
        }
    }

    /// One word for the class key (the level is in the flags too, through its `-march`).
    pub(crate) fn word(&self) -> u64 {
        (self.measure as u64) << 9 | (self.simd as u64) << 8 | self.level as u64
    }
}

/// Flags a vectorised module is compiled with (beside the kernel's own).
pub(crate) const FLAGS: [&str; 2] = ["-fopenmp-simd", "-fno-math-errno"];

/// The path a loop's code takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// Vectorised across `lanes` elements, kernel inlined.
    Simd { lanes: u32 },
    /// Element by element (the compiler decides inlining), and why.
    Scalar(&'static str),
}

impl Path {
    /// One line for the module source and the cache report.
    pub(crate) fn describe(&self) -> String {
        match self {
            Path::Simd { lanes } => {
                format!("simd across {lanes} elements, kernel inlined (flatten)")
            }
            Path::Scalar(why) => format!("scalar, inlining left to the compiler ({why})"),
        }
    }
}

/// Which path the loop of `args` takes under `opts` (see the module notes).
pub(crate) fn choose(args: &[ArgShape], opts: &Options) -> Path {
    if !opts.simd {
        return Path::Scalar("OP2_SIMD=off");
    }
    for a in args {
        match *a {
            ArgShape::Mat { .. } => return Path::Scalar("a Mat argument"),
            ArgShape::Dat {
                access: Access::Min | Access::Max,
                ..
            } => return Path::Scalar("a MIN/MAX Dat: each entry is folded after the call"),
            ArgShape::Dat { view, .. } if view != 0 => {
                return Path::Scalar("a DatView: one component of each element")
            }
            ArgShape::Global {
                access: Access::Write | Access::RW,
                ..
            } => return Path::Scalar("a written Global"),
            ArgShape::Dat { access, map, .. }
                if map != MapUse::Direct && matches!(access, Access::Write | Access::RW) =>
            {
                return Path::Scalar("an indirect WRITE/RW: lanes could store to one target")
            }
            _ => {}
        }
    }
    for &(dn, _) in &distinct_dats(args) {
        let group: Vec<(Access, MapUse)> = (args.iter())
            .filter_map(|a| match *a {
                ArgShape::Dat {
                    access,
                    map,
                    datnum,
                    ..
                } if datnum == dn => Some((access, map)),
                _ => None,
            })
            .collect();
        let written = group.iter().any(|(a, _)| *a != Access::Read);
        if !written {
            continue;
        }
        let indirect_inc = (group.iter()).any(|(a, m)| *a == Access::Inc && *m != MapUse::Direct);
        if indirect_inc && group.iter().any(|(a, _)| *a != Access::Inc) {
            return Path::Scalar("a Dat incremented indirectly is also read or written directly");
        }
        if !indirect_inc && group.len() > 1 {
            return Path::Scalar("a Dat written directly is passed twice");
        }
    }
    let lanes = isa::lanes(opts.level);
    let staged_bytes: u32 = (args.iter())
        .filter_map(|a| match (*a, staged(a)) {
            (ArgShape::Dat { dtype, .. }, Some((_, row))) => Some(row * dtype.size() as u32),
            _ => None,
        })
        .sum();
    if staged_bytes.saturating_mul(lanes) > MAX_STAGED_BYTES {
        return Path::Scalar("staged rows would exceed 64 KiB of stack");
    }
    Path::Simd { lanes }
}

/// The most stack one chunk's staged rows may take (all arguments, all lanes).
const MAX_STAGED_BYTES: u32 = 64 << 10;

/// The module rank 0 compiles for `kernel` over `args` (over a Subset when `indexed`: always
/// the scalar loop) under `opts`: the scalar loop, or the
/// vectorised one around it ([`module`]), then the instruction-set marker ([`isa::marker_source`])
/// and a comment naming the path taken. Returns the source, the path and the flags the path
/// adds to the kernel's own.
pub(crate) fn generate_module(
    kernel: &Kernel,
    args: &[ArgShape],
    indexed: bool,
    opts: &Options,
) -> (String, Path, &'static [&'static str]) {
    let scalar = crate::jit::codegen::generate(kernel, args, indexed);
    let path = if indexed {
        Path::Scalar("a Subset: its elements are not contiguous")
    } else if kernel.code().contains(crate::jit::extrude::IN_PLACE) {
        Path::Scalar("a flat extruded map: the column kernel reaches past its mapped elements")
    } else {
        choose(args, opts)
    };
    let (mut s, flags): (String, &'static [&'static str]) = match path {
        Path::Simd { lanes } => (module(kernel, args, &scalar, lanes), &FLAGS),
        Path::Scalar(_) => (scalar, &[]),
    };
    // After the entry point: the kernel call's lines stay those of `generate_mapped`.
    let _ = writeln!(
        s,
        "\n/* op2 path: {} */\n{}",
        path.describe(),
        isa::marker_source()
    );
    (s, path, flags)
}

/// The vectorised module: `scalar` (the scalar module's source) with its entry point renamed,
/// then the vectorised entry point of `lanes` lanes.
pub(crate) fn module(kernel: &Kernel, args: &[ArgShape], scalar: &str, lanes: u32) -> String {
    let head = format!("__attribute__((visibility(\"default\")))\nvoid {ENTRY}(");
    debug_assert!(scalar.contains(&head), "the scalar entry point's head");
    // Same number of lines: compiler messages about the call map as for the scalar module.
    let mut s = scalar.replacen(
        &head,
        "static __attribute__((unused))\nvoid __op2_scalar(",
        1,
    );
    s.push('\n');
    write_row_types(&mut s, args);
    let _ = writeln!(
        s,
        "__attribute__((visibility(\"default\"), flatten))\nvoid {ENTRY}(int __op2_start, int __op2_end, void **__op2_args, const int **__op2_maps)\n{{\n  int __op2_n0 = __op2_start;\n  {{"
    );
    write_pointers(&mut s, args, lanes);
    let _ = writeln!(
        s,
        "  for (; __op2_n0 + {lanes} <= __op2_end; __op2_n0 += {lanes}) {{"
    );
    write_staging(&mut s, args, lanes);
    let _ = writeln!(
        s,
        "#pragma omp simd\n    for (int __op2_l = 0; __op2_l < {lanes}; __op2_l++) {{\n      const long __op2_n = (long)__op2_n0 + __op2_l;"
    );
    write_lane_call(&mut s, kernel, args);
    s.push_str("    }\n");
    write_lane_scatters(&mut s, args, lanes);
    s.push_str("  }\n");
    write_lane_folds(&mut s, args, lanes);
    // The restrict pointers' block ends before the scalar tail touches the same data.
    let _ = writeln!(
        s,
        "  }}\n  if (__op2_n0 < __op2_end) __op2_scalar(__op2_n0, __op2_end, __op2_args, __op2_maps);\n}}"
    );
    // The other variants the per-kernel measurement chooses from (`exec/choose.rs`).
    let _ = writeln!(
        s,
        "\n__attribute__((visibility(\"default\")))\nvoid {}(int __op2_start, int __op2_end, void **__op2_args, const int **__op2_maps)\n{{ __op2_scalar(__op2_start, __op2_end, __op2_args, __op2_maps); }}\n\n__attribute__((visibility(\"default\"), flatten))\nvoid {}(int __op2_start, int __op2_end, void **__op2_args, const int **__op2_maps)\n{{ __op2_scalar(__op2_start, __op2_end, __op2_args, __op2_maps); }}",
        Variant::Scalar.symbol(),
        Variant::Inlined.symbol()
    );
    s
}

/// The entry points of a vectorised module, one per variant of its loop: the vectorised one
/// (the default entry point), the scalar loop with inlining left to the compiler, and the
/// scalar loop with the kernel forced inline (`flatten`). Which one runs is chosen per kernel
/// by measurement on rank 0 (`exec/choose.rs`), or forced by `OP2_SIMD=on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    Simd = 1,
    Scalar = 2,
    Inlined = 3,
}

impl Variant {
    pub(crate) const ALL: [Variant; 3] = [Variant::Simd, Variant::Scalar, Variant::Inlined];

    /// The exported symbol of this variant.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Variant::Simd => ENTRY,
            Variant::Scalar => "__op2_loop_scalar",
            Variant::Inlined => "__op2_loop_inlined",
        }
    }

    /// Its name in choice records, reports and `op2 cache list`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Variant::Simd => "simd",
            Variant::Scalar => "scalar",
            Variant::Inlined => "scalar-inlined",
        }
    }

    /// The variant named `name` ([`Variant::name`]), if any.
    pub(crate) fn parse(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// The staging row (`s`) or packed rows (`v`) of argument `a`, if it needs one.
fn staged(a: &ArgShape) -> Option<(&'static str, u32)> {
    match *a {
        ArgShape::Dat {
            dim,
            map: MapUse::Index { .. },
            ..
        } => Some(("s", dim)),
        ArgShape::Dat {
            dim,
            map: MapUse::Vector { arity, .. },
            ..
        } => Some(("v", arity * dim)),
        _ => None,
    }
}

/// How a staged argument reaches its targets: map entries per lane (1, or the arity of an
/// `arg_vec`), the map's number, and the rest of the map-row index after
/// `(n0 + l) * ` (its arity, plus the entry: `idx` or the loop's `k`). `None` for direct Dats.
fn rows(map: MapUse) -> Option<(u32, u32, String)> {
    match map {
        MapUse::Index { arity, idx, mapnum } => Some((1, mapnum, format!("{arity} + {idx}"))),
        MapUse::Vector { arity, mapnum } => Some((arity, mapnum, format!("{arity} + __op2_k"))),
        MapUse::Direct => None,
    }
}

/// Before the chunks: the Dat, map and Global pointers, and the Globals' per-lane results.
fn write_pointers(s: &mut String, args: &[ArgShape], lanes: u32) {
    for &(dn, i) in &distinct_dats(args) {
        if let ArgShape::Dat { dtype, .. } = args[i] {
            let t = dtype.c_name();
            let _ = writeln!(s, "  {t} *restrict __op2_d{dn} = ({t} *)__op2_args[{i}];");
        }
    }
    for &(mn, _, i) in &distinct_maps(args) {
        let _ = writeln!(s, "  const int *restrict __op2_m{mn} = __op2_maps[{i}];");
    }
    for (i, a) in args.iter().enumerate() {
        if let ArgShape::Global { access, dtype, dim } = *a {
            let t = dtype.c_name();
            let _ = writeln!(s, "  {t} *__op2_g{i} = ({t} *)__op2_args[{i}];");
            let init = match access {
                Access::Inc => "0".to_string(),
                Access::Min | Access::Max => format!("__op2_g{i}[__op2_k % {dim}]"),
                _ => continue,
            };
            let _ = writeln!(
                s,
                "  {t} __op2_gl{i}[{n}];\n  for (int __op2_k = 0; __op2_k < {n}; __op2_k++) __op2_gl{i}[__op2_k] = {init};",
                n = lanes * dim
            );
        }
    }
}

/// Per chunk, before the lanes: staging rows zeroed, packed rows gathered (READ) or zeroed.
fn write_staging(s: &mut String, args: &[ArgShape], lanes: u32) {
    for (i, a) in args.iter().enumerate() {
        let (
            Some((p, row)),
            ArgShape::Dat {
                dtype,
                access,
                map,
                dim,
                datnum: dn,
                ..
            },
        ) = (staged(a), *a)
        else {
            continue;
        };
        let n = lanes * row;
        let _ = writeln!(s, "    {} __op2_{p}{i}[{n}];", dtype.c_name());
        match rows(map) {
            Some((arity, mn, row)) if access == Access::Read => {
                let _ = writeln!(
                    s,
                    "    for (int __op2_l = 0; __op2_l < {lanes}; __op2_l++)\n      for (int __op2_k = 0; __op2_k < {arity}; __op2_k++)\n        for (int __op2_d = 0; __op2_d < {dim}; __op2_d++) __op2_{p}{i}[(__op2_l * {arity} + __op2_k) * {dim} + __op2_d] = __op2_d{dn}[(long)__op2_m{mn}[((long)__op2_n0 + __op2_l) * {row}] * {dim} + __op2_d];"
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "    for (int __op2_k = 0; __op2_k < {n}; __op2_k++) __op2_{p}{i}[__op2_k] = 0;"
                );
            }
        }
    }
}

/// The kernel call of lane `l` (element `n`), one argument per line.
fn write_lane_call(s: &mut String, kernel: &Kernel, args: &[ArgShape]) {
    let params = kernel.params();
    let mut call = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        let cast = param_type(a, params.as_ref().and_then(|p| p.get(i)));
        let expr = match (*a, staged(a)) {
            (_, Some((p, row))) => format!("__op2_{p}{i} + __op2_l * {row}"),
            (
                ArgShape::Dat {
                    dim,
                    map: MapUse::Direct,
                    datnum: dn,
                    ..
                },
                _,
            ) => {
                format!("__op2_d{dn} + __op2_n * {dim}")
            }
            (
                ArgShape::Global {
                    access: Access::Read,
                    ..
                },
                _,
            ) => format!("__op2_g{i}"),
            (ArgShape::Global { dim, .. }, _) => format!("__op2_gl{i} + __op2_l * {dim}"),
            _ => unreachable!("choose() keeps Mats and other shapes on the scalar path"),
        };
        call.push(format!("({cast})({expr})"));
    }
    let _ = writeln!(
        s,
        "      {}(\n        {}\n      );",
        kernel.name(),
        call.join(",\n        ")
    );
}

/// The vector type of one target row of `dim` values of `dtype` (`__op2_row_<type><dim>`,
/// GCC/clang vector extension, element alignment), where a row is 16, 32 or 64 bytes: the
/// staged increments of a lane are added to such a row with one vector add. `None` otherwise
/// (added value by value).
fn row_type(dtype: crate::dtype::DType, dim: u32) -> Option<String> {
    let bytes = dim as usize * dtype.size();
    (dim > 1 && matches!(bytes, 16 | 32 | 64)).then(|| format!("__op2_row_{}{dim}", dtype.c_name()))
}

/// Before the vectorised entry point: the row types [`write_lane_scatters`] uses.
fn write_row_types(s: &mut String, args: &[ArgShape]) {
    let mut seen = Vec::new();
    for a in args {
        if let ArgShape::Dat {
            access: Access::Inc,
            dtype,
            dim,
            map,
            ..
        } = *a
        {
            if map == MapUse::Direct || seen.contains(&(dtype, dim)) {
                continue;
            }
            seen.push((dtype, dim));
            if let Some(r) = row_type(dtype, dim) {
                let (t, size, bytes) = (dtype.c_name(), dtype.size(), dim as usize * dtype.size());
                let _ = writeln!(
                    s,
                    "typedef {t} {r} __attribute__((vector_size({bytes}), aligned({size}), may_alias));"
                );
            }
        }
    }
}

/// After the lanes: staged increments added, packed rows stored back, lane by lane in
/// element order, and inside a lane in argument order: exactly the order in which the scalar
/// loop applies them, so an increment sum rounds as in the serial loop.
fn write_lane_scatters(s: &mut String, args: &[ArgShape], lanes: u32) {
    let mut body = String::new();
    for (i, a) in args.iter().enumerate() {
        let ArgShape::Dat {
            access,
            dtype,
            dim,
            map,
            datnum: dn,
            ..
        } = *a
        else {
            continue;
        };
        if access == Access::Read {
            continue;
        }
        let op = if access == Access::Inc { "+=" } else { "=" };
        let Some((arity, mn, row0)) = rows(map) else {
            continue;
        };
        let p = if matches!(map, MapUse::Vector { .. }) {
            "v"
        } else {
            "s"
        };
        let target =
            format!("__op2_d{dn} + (long)__op2_m{mn}[((long)__op2_n0 + __op2_l) * {row0}] * {dim}");
        let staged = format!("__op2_{p}{i} + (__op2_l * {arity} + __op2_k) * {dim}");
        let _ = match row_type(dtype, dim) {
            // One vector add per target row: the same per-component sums, in the same order.
            Some(r) if access == Access::Inc => writeln!(
                body,
                "      for (int __op2_k = 0; __op2_k < {arity}; __op2_k++) {{ {r} *__op2_t = ({r} *)({target}); *__op2_t = *__op2_t + *({r} *)({staged}); }}"
            ),
            _ => writeln!(
                body,
                "      for (int __op2_k = 0; __op2_k < {arity}; __op2_k++)\n        for (int __op2_d = 0; __op2_d < {dim}; __op2_d++) ({target})[__op2_d] {op} ({staged})[__op2_d];"
            ),
        };
    }
    if !body.is_empty() {
        let _ = write!(
            s,
            "    for (int __op2_l = 0; __op2_l < {lanes}; __op2_l++) {{\n{body}    }}\n"
        );
    }
}

/// After the chunks: every reducing Global's lanes folded into it, lane 0 first.
fn write_lane_folds(s: &mut String, args: &[ArgShape], lanes: u32) {
    for (i, a) in args.iter().enumerate() {
        let ArgShape::Global { access, dim, .. } = *a else {
            continue;
        };
        let fold = match access {
            Access::Inc => format!("__op2_g{i}[__op2_d] += __op2_x;"),
            Access::Min => {
                format!("if (__op2_x < __op2_g{i}[__op2_d]) __op2_g{i}[__op2_d] = __op2_x;")
            }
            Access::Max => {
                format!("if (__op2_x > __op2_g{i}[__op2_d]) __op2_g{i}[__op2_d] = __op2_x;")
            }
            _ => continue,
        };
        let _ = writeln!(
            s,
            "  for (int __op2_l = 0; __op2_l < {lanes}; __op2_l++)\n    for (int __op2_d = 0; __op2_d < {dim}; __op2_d++) {{ __typeof__(__op2_g{i}[0]) __op2_x = __op2_gl{i}[__op2_l * {dim} + __op2_d]; {fold} }}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

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
    const ON: Options = Options {
        simd: true,
        measure: true,
        level: 3,
    };
    fn idx(i: u32) -> MapUse {
        MapUse::Index {
            arity: 2,
            idx: i,
            mapnum: 0,
        }
    }

    #[test]
    fn the_path_is_scalar_where_lanes_are_not_independent() {
        let inc2 = [
            dat(Access::Inc, 4, idx(0), 0),
            dat(Access::Inc, 4, idx(1), 0),
        ];
        assert_eq!(choose(&inc2, &ON), Path::Simd { lanes: 4 });
        let v4 = Options { level: 4, ..ON };
        assert_eq!(choose(&inc2, &v4), Path::Simd { lanes: 8 });
        let off = Options { simd: false, ..ON };
        assert_eq!(choose(&inc2, &off), Path::Scalar("OP2_SIMD=off"));
        for args in [
            vec![dat(Access::RW, 1, idx(0), 0)],
            vec![dat(
                Access::Write,
                1,
                MapUse::Vector {
                    arity: 2,
                    mapnum: 0,
                },
                0,
            )],
            vec![
                dat(Access::Inc, 1, idx(0), 0),
                dat(Access::Read, 1, idx(1), 0),
            ],
            vec![
                dat(Access::Write, 1, MapUse::Direct, 0),
                dat(Access::Read, 1, idx(1), 0),
            ],
            vec![dat(
                Access::Read,
                100,
                MapUse::Vector {
                    arity: 100,
                    mapnum: 0,
                },
                0,
            )],
            vec![ArgShape::Mat {
                access: Access::Inc,
                dims: (1, 1),
                arities: (2, 2),
            }],
        ] {
            assert!(matches!(choose(&args, &ON), Path::Scalar(_)), "{args:?}");
        }
        // Reads of a Dat nobody writes, through any map, vectorise.
        let reads = [
            dat(Access::Read, 2, idx(0), 0),
            dat(Access::Read, 2, idx(1), 0),
            dat(Access::Write, 1, MapUse::Direct, 1),
        ];
        assert_eq!(choose(&reads, &ON), Path::Simd { lanes: 4 });
    }

    #[test]
    fn increments_go_back_a_row_at_a_time_where_a_row_is_a_vector() {
        assert_eq!(
            row_type(DType::F64, 4).as_deref(),
            Some("__op2_row_double4")
        );
        assert_eq!(row_type(DType::F32, 4).as_deref(), Some("__op2_row_float4"));
        assert_eq!(
            row_type(DType::I32, 16).as_deref(),
            Some("__op2_row_int32_t16")
        );
        for (t, dim) in [
            (DType::F64, 1),
            (DType::F64, 3),
            (DType::F64, 16),
            (DType::F32, 2),
        ] {
            assert_eq!(row_type(t, dim), None, "{t:?} x {dim}: value by value");
        }
        assert_eq!(Variant::parse("scalar-inlined"), Some(Variant::Inlined));
        assert_eq!(Variant::parse(Variant::Simd.name()), Some(Variant::Simd));
    }

    #[test]
    fn the_module_stages_lanes_scatters_in_order_and_keeps_the_scalar_lines() {
        let k = Kernel::new(
            "k",
            "void k(const double *x, double *a, double *b, double *g) {}",
        )
        .unwrap();
        let args = [
            dat(Access::Read, 2, idx(1), 0),
            dat(Access::Inc, 4, idx(0), 1),
            dat(Access::Inc, 4, idx(1), 1),
            ArgShape::Global {
                access: Access::Min,
                dtype: DType::F64,
                dim: 1,
            },
        ];
        let scalar = crate::jit::codegen::generate(&k, &args, false);
        let src = module(&k, &args, &scalar, 4).replace("__op2_", "");
        // The scalar function keeps its lines (compiler messages map as before).
        let n = scalar.lines().count();
        assert_eq!(
            src.lines().take(n).filter(|l| l.contains("loop(")).count(),
            0,
            "{src}"
        );
        assert!(
            src.contains("static __attribute__((unused))\nvoid scalar("),
            "{src}"
        );
        assert!(
            src.contains("visibility(\"default\"), flatten))\nvoid loop("),
            "{src}"
        );
        // Gathered READ rows, zeroed INC rows, a lane loop under omp simd.
        assert!(
            src.contains("s0[(l * 1 + k) * 2 + d] = d0[(long)m0[((long)n0 + l) * 2 + 1] * 2 + d];"),
            "{src}"
        );
        assert!(
            src.contains("for (int k = 0; k < 16; k++) s1[k] = 0;"),
            "{src}"
        );
        assert!(
            src.contains("#pragma omp simd\n    for (int l = 0; l < 4; l++) {"),
            "{src}"
        );
        assert!(src.contains("(double *)(gl3 + l * 1)"), "{src}");
        // Increments added lane by lane, after the lanes, a row (4 doubles) at a time;
        // Global lanes folded in lane order.
        assert!(
            src.contains("typedef double row_double4 __attribute__((vector_size(32), aligned(8), may_alias));\n"),
            "{src}"
        );
        assert!(
            src.contains(
                "for (int k = 0; k < 1; k++) { row_double4 *t = (row_double4 *)(d1 + (long)m0[((long)n0 + l) * 2 + 1] * 4); *t = *t + *(row_double4 *)(s2 + (l * 1 + k) * 4); }"
            ),
            "{src}"
        );
        // The scalar variants follow the vectorised entry point.
        assert!(
            src.contains("void loop_scalar(int start, int end, void **args, const int **maps)\n{ scalar(start, end, args, maps); }"),
            "{src}"
        );
        assert!(
            src.contains("flatten))\nvoid loop_inlined(int start, int end"),
            "{src}"
        );
        assert!(src.contains("gl3[k] = g3[k % 1];"), "{src}");
        assert!(src.contains("if (x < g3[d]) g3[d] = x;"), "{src}");
        // The scalar tail runs after the restrict pointers' block.
        assert!(
            src.contains("  }\n  if (n0 < end) scalar(n0, end, args, maps);\n}"),
            "{src}"
        );
    }
}
