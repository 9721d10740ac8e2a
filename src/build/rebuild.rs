//! `op2 cache unpack --rebuild`: before a pack's entries are published, compile every entry
//! again from the source it carries, with your compiler (which must be the one it records),
//! and refuse the pack unless each result is byte-for-byte the packed library. The pack's
//! own checks and the publishing are `cache::pack`'s; this file adds the compile.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::cache::layout::{Build, DiskCache, Meta};
use crate::cache::pack::{unpack_with, Unpacked};
use crate::error::Result;

/// How [`unpack_rebuilt`] compiles: your compiler command and flags (`OP2_CC`, `OP2_CFLAGS`),
/// never ones a pack names (a pack must not choose a program to run), and a time limit per
/// compile (zero: none).
#[derive(Debug, Clone)]
pub struct Rebuild {
    pub cc: String,
    pub cflags: String,
    pub timeout: Duration,
}

/// `cache::pack::unpack`, and before publishing anything compile every entry again from the
/// source it carries, with your compiler, which must be the one it records (same command,
/// flags and identity), and refuse the pack unless each result is byte-for-byte the packed
/// library.
pub fn unpack_rebuilt(
    file: &Path,
    cache: &DiskCache,
    lock_timeout: Duration,
    rebuild: &Rebuild,
) -> Result<Unpacked> {
    unpack_with(file, cache, lock_timeout, |meta, bytes| {
        rebuilds_to(meta, bytes, rebuild)
    })
}

/// A kernel flag from a pack that `--rebuild` may give the compiler: it changes the code, never
/// which programs or plugins run (`-fplugin`, `-B`, `-wrapper`, `-specs`, `-Wl,`/`-Wa,`/`-Wp,`,
/// `-Xlinker`, `-fuse-ld`, `@file` are refused); `-xc++` makes a C++ kernel's module C++.
fn safe_kernel_flag(f: &str) -> bool {
    let refused = [
        "-fplugin", "-fuse-ld", "-Wl,", "-Wa,", "-Wp,", "-B", "-wrapper", "-specs", "-X", "@",
    ];
    let allowed = ["-D", "-U", "-I", "-O", "-std=", "-g", "-m", "-f", "-W"];
    f == crate::jit::kernel::CXX_FLAG
        || (!refused.iter().any(|p| f.starts_with(p)) && allowed.iter().any(|p| f.starts_with(p)))
}

/// Compile `meta`'s recorded source again with your compiler (which must be the recorded
/// one), in a private scratch folder, and compare the result with `bytes`.
fn rebuilds_to(meta: &Meta, bytes: &[u8], how: &Rebuild) -> std::result::Result<(), String> {
    use crate::jit::compile;
    let b: &Build = meta.build.as_ref().ok_or(
        "it carries no source (packed by an op2 without reproducible builds): cannot rebuild it",
    )?;
    // Your flags, or your flags with the `-march` of an instruction-set level a job agreed on
    // (`jit::isa`: appended to OP2_CFLAGS at startup).
    let level_flags = (1..=crate::jit::isa::MAX_LEVEL)
        .any(|l| crate::jit::isa::with_level(&how.cflags, l) == b.cflags);
    if b.cc != how.cc || (b.cflags != how.cflags && !level_flags) {
        return Err(format!(
            "it was built with OP2_CC={:?} OP2_CFLAGS={:?}; set the same to rebuild it (here: {:?} {:?})",
            b.cc, b.cflags, how.cc, how.cflags
        ));
    }
    if let Some(f) = b.kernel_flags.iter().find(|f| !safe_kernel_flag(f)) {
        return Err(format!(
            "its kernel flag {f:?} is not passed to a compiler by --rebuild (only -D, -U, -I, -O, -std=, -g, -m, -f and -W options that run no other program)"
        ));
    }
    let here = compile::compiler_id(&how.cc, &b.cflags).map_err(|e| e.to_string())?;
    if here != b.compiler_id {
        return Err(format!(
            "it was built by `{}`; here the compiler is `{here}`: the same compiler is needed to rebuild it",
            b.compiler_id.escape_debug()
        ));
    }
    // Content-addressed keys: an entry sits at the hash of what it is built from, else a job
    // running another loop would find it there.
    let want = format!("{:032x}", crate::build::key::disk_key(b));
    if meta.key != want {
        return Err(format!(
            "it sits at key {} but its source and build hash to {want}: a loop it was not built for would load it",
            meta.key.escape_debug()
        ));
    }
    let timeout = how.timeout;
    let scratch = std::env::temp_dir().join(format!(
        "op2-rebuild-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let made = {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new().mode(0o700).create(&scratch)
    };
    made.map_err(|e| format!("cannot make {}: {e}", scratch.display()))?;
    let result = (|| {
        let src = crate::build::produce::source_temp(&scratch, &meta.key);
        crate::build::produce::write_source(&src, &b.source)
            .map_err(|e| format!("cannot write {}: {e}", src.display()))?;
        let out = scratch.join("rebuilt.so");
        compile::compile(&how.cc, &b.cflags, &b.kernel_flags, &src, &out, timeout).map_err(
            |f| {
                format!(
                    "its source does not compile here: {}\n{}",
                    f.command, f.stderr
                )
            },
        )?;
        let rebuilt = fs::read(&out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
        if rebuilt != bytes {
            return Err(format!(
                "the packed library ({} bytes, xxh3 {:016x}) is not what its source compiles to ({} bytes, xxh3 {:016x}): refused",
                bytes.len(),
                xxhash_rust::xxh3::xxh3_64(bytes),
                rebuilt.len(),
                xxhash_rust::xxh3::xxh3_64(&rebuilt)
            ));
        }
        Ok(())
    })();
    let _ = fs::remove_dir_all(&scratch);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuild_passes_no_kernel_flag_that_runs_a_program() {
        for ok in [
            "-DN=3",
            "-I/opt/inc",
            "-O3",
            "-std=c99",
            "-g",
            "-mavx2",
            "-ffast-math",
        ] {
            assert!(safe_kernel_flag(ok), "{ok}");
        }
        for bad in [
            "-fplugin=/tmp/p.so",
            "-Wl,-plugin=/tmp/p.so",
            "-B/tmp/evil",
            "-wrapper",
            "-specs=/tmp/s",
            "-Xlinker",
            "@/tmp/args",
            "-fuse-ld=/tmp/ld",
            "/tmp/x.o",
        ] {
            assert!(!safe_kernel_flag(bad), "{bad}");
        }
    }
}
