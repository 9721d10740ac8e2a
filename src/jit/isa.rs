//! Instruction-set levels: what this host's CPU runs, the level a job agrees on, the `-march`
//! rank 0 compiles with, and how a compiled library says which level it needs.
//!
//! Owns the level numbering (x86-64 psABI levels: 1 = baseline x86-64, 2 = x86-64-v2 (SSE4.2,
//! POPCNT), 3 = x86-64-v3 (AVX2, FMA, BMI2), 4 = x86-64-v4 (AVX-512 F/BW/CD/DQ/VL); on other
//! architectures only level 1, "the compiler's default", which adds no flag), the
//! `OP2_TEST_ISA_LEVEL` cap (a rank that reports a lower level, for tests of mixed-level jobs),
//! and the marker every generated library exports: a function `__op2_isa_v<N>` whose `N` the C
//! preprocessor derives from the macros the compiler defines for the flags it was given, so the
//! marker tells the truth whatever `OP2_CFLAGS` says. The loader (`jit::ffi`) reads it from the
//! dynamic symbol table *before* loading and refuses a library this host cannot run.
//!
//! This module never calls MPI (the agreement is `runtime`'s, through `mpi::agree`) and never
//! compiles or loads anything.

use std::sync::atomic::{AtomicU8, Ordering};

/// The highest level numbered here.
pub(crate) const MAX_LEVEL: u8 = 4;

/// The level this host's CPU supports (x86-64: from cpuid; elsewhere 1).
pub(crate) fn cpu_level() -> u8 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let v2 = has!("sse4.2") && has!("popcnt") && has!("ssse3") && has!("cmpxchg16b");
        let v3 = v2
            && has!("avx2")
            && has!("fma")
            && has!("bmi1")
            && has!("bmi2")
            && has!("lzcnt")
            && has!("movbe")
            && has!("f16c");
        let v4 = v3
            && has!("avx512f")
            && has!("avx512bw")
            && has!("avx512cd")
            && has!("avx512dq")
            && has!("avx512vl");
        1 + v2 as u8 + v3 as u8 + v4 as u8
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        1
    }
}

/// The level this rank reports: the CPU's, lowered to `cap` when set (`OP2_TEST_ISA_LEVEL`).
pub(crate) fn reported_level(cap: Option<u8>) -> u8 {
    let cpu = cpu_level();
    cap.map_or(cpu, |c| c.clamp(1, cpu))
}

/// The level libraries loaded in this process may need at most (0: not yet set, then the
/// CPU's own level applies). Set once the configuration is installed.
static HOST: AtomicU8 = AtomicU8::new(0);

/// Record the level this process runs (its reported level, so a lowered rank behaves as a
/// host of that level would).
pub(crate) fn set_host_level(level: u8) {
    HOST.store(level, Ordering::Release);
}

/// The level this process may run.
pub(crate) fn host_level() -> u8 {
    match HOST.load(Ordering::Acquire) {
        0 => cpu_level(),
        l => l,
    }
}

/// Take `level` as the job's instruction-set level in `config`: record it, add its `-march`
/// to the compiler flags (unless they choose the target), and let the loader refuse libraries
/// that need more than this rank reports.
pub(crate) fn agree(config: &mut crate::config::Config, level: u8) {
    config.isa_level = level;
    config.cflags = with_level(&config.cflags, level);
    set_host_level(reported_level(config.test_isa_level));
}

/// The level's name in messages and keys.
pub(crate) fn name(level: u8) -> String {
    if cfg!(target_arch = "x86_64") {
        match level {
            1 => "x86-64".into(),
            l => format!("x86-64-v{l}"),
        }
    } else {
        "the compiler's default".into()
    }
}

/// The flag rank 0 compiles with for `level` (none off x86-64).
pub(crate) fn march_flag(level: u8) -> Option<String> {
    cfg!(target_arch = "x86_64").then(|| format!("-march={}", name(level)))
}

/// True when `cflags` already choose the target (`-march`, `-mcpu`, or `-mavx...`-style
/// feature flags): `OP2_CFLAGS` then overrides the agreed level.
pub(crate) fn flags_choose_target(cflags: &str) -> bool {
    cflags.split_whitespace().any(|f| {
        f.starts_with("-march=")
            || f.starts_with("-mcpu=")
            || f.starts_with("-mavx")
            || f.starts_with("-msse")
    })
}

/// The compiler flags for a job agreed on `level`: `cflags` with the level's `-march` and
/// `-ffp-contract=off` added, unless `cflags` choose the target themselves.
pub(crate) fn with_level(cflags: &str, level: u8) -> String {
    match march_flag(level) {
        // No FMA contraction: a kernel's arithmetic rounds as at the baseline level, so the
        // agreed level changes speed, never an element's result (only a vectorised Global
        // INC's summation order differs).
        Some(m) if !flags_choose_target(cflags) => {
            format!("{cflags} {m} -ffp-contract=off").trim().to_string()
        }
        _ => cflags.to_string(),
    }
}

/// Lanes of the vectorised loops for `level`: a 512-bit register of doubles at level 4,
/// otherwise 4 (one AVX2 register, two SSE ones).
pub(crate) fn lanes(level: u8) -> u32 {
    if level >= 4 {
        8
    } else {
        4
    }
}

/// C text exporting the marker symbol of the level the compiler targets (see the module notes).
pub(crate) fn marker_source() -> &'static str {
    "#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512CD__) && defined(__AVX512DQ__) && defined(__AVX512VL__)\n\
     __attribute__((visibility(\"default\"))) int __op2_isa_v4(void) { return 4; }\n\
     #elif defined(__AVX2__) && defined(__FMA__) && defined(__BMI2__)\n\
     __attribute__((visibility(\"default\"))) int __op2_isa_v3(void) { return 3; }\n\
     #elif defined(__SSE4_2__) && defined(__POPCNT__)\n\
     __attribute__((visibility(\"default\"))) int __op2_isa_v2(void) { return 2; }\n\
     #else\n\
     __attribute__((visibility(\"default\"))) int __op2_isa_v1(void) { return 1; }\n\
     #endif\n"
}

/// The marker's symbol name for `level`.
pub(crate) fn marker_symbol(level: u8) -> String {
    format!("__op2_isa_v{level}")
}

/// Why a library needing `needed` may not run on a host of level `host` (`None`: it may).
pub(crate) fn refuse(needed: u8, host: u8) -> Option<String> {
    (needed > host).then(|| {
        format!(
            "it was compiled for {} (its {} symbol), but this host runs only {}: running it could \
             crash on an illegal instruction (a cache shared with a newer CPU, or OP2_CFLAGS with \
             a -march this host lacks; remove the -march or clear the entry)",
            name(needed),
            marker_symbol(needed),
            name(host)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_flags_and_refusal() {
        let cpu = cpu_level();
        assert!((1..=MAX_LEVEL).contains(&cpu));
        assert_eq!(reported_level(Some(1)), 1);
        assert_eq!(reported_level(Some(9)), cpu, "a cap never raises the level");
        assert_eq!(reported_level(None), cpu);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                with_level("-O3", 3),
                "-O3 -march=x86-64-v3 -ffp-contract=off"
            );
            assert_eq!(with_level("-O3", 1), "-O3 -march=x86-64 -ffp-contract=off");
        }
        assert_eq!(with_level("-O2 -march=native", 3), "-O2 -march=native");
        assert_eq!(with_level("-mavx2 -O3", 2), "-mavx2 -O3");
        assert!(refuse(4, 3).unwrap().contains("x86-64-v4"));
        assert!(refuse(3, 3).is_none() && refuse(2, 4).is_none());
        assert_eq!((lanes(4), lanes(3), lanes(1)), (8, 4, 4));
        for l in 1..=MAX_LEVEL {
            assert!(marker_source().contains(&marker_symbol(l)));
        }
    }
}
