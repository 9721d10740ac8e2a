//! Cache keys of generated code (axiom 2: metadata, never data).
//!
//! Owns the canonical description of a loop — kernel (name, source, flags), per argument its
//! kind, access, dtype, dim and map arity/index (for a Mat: block dims and the arities of its
//! row and column maps), which arguments share a map (an identity
//! *numbering*, never addresses) — and its hashes. It never sees set sizes, data values or
//! pointers, so two loops that differ only in those share one compiled library.
//!
//! * **class key** (`u128`): xxh3-128 over binary words (the kernel's precomputed hash, the
//!   argument shapes, the compiler command and flags, the communicator id). Computed on every
//!   par_loop, so it hashes a few dozen bytes, never the kernel source.
//! * **disk key**: the class key's words minus the communicator, plus the compiler identity
//!   (resolved path, version, target CPU for `-march=native`) and the codegen format version.
//!   Computed on rank 0 only, on a class-cache miss.

use crate::jit::kernel::Kernel;
pub(crate) use crate::jit::shape::{ArgShape, MapUse, FORMAT_VERSION};

fn hash_words(words: &[u64]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytemuck::cast_slice(words))
}

/// Hash of a string, as two words for key building.
pub(crate) fn str_words(s: &str) -> [u64; 2] {
    let h = xxhash_rust::xxh3::xxh3_128(s.as_bytes());
    [h as u64, (h >> 64) as u64]
}

/// Hash of the configured compiler command and flags, without allocating (par_loop's hot path).
pub(crate) fn toolchain_words(cc: &str, cflags: &str) -> [u64; 2] {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(cc.as_bytes());
    h.update(&[0]);
    h.update(cflags.as_bytes());
    let d = h.digest128();
    [d as u64, (d >> 64) as u64]
}

/// Everything the protocol needs about one loop.
pub(crate) struct Request<'a> {
    pub kernel: &'a Kernel,
    pub shapes: &'a [ArgShape],
    pub class_key: u128,
    pub toolchain: [u64; 2],
}

/// The metadata of one loop: what its generated code depends on.
pub(crate) struct Signature<'a> {
    pub kernel: &'a Kernel,
    pub args: &'a [ArgShape],
}

impl Signature<'_> {
    fn base_words(&self, toolchain: [u64; 2]) -> Vec<u64> {
        let mut w = Vec::with_capacity(8 + 3 * self.args.len());
        let kh = self.kernel.0.hash;
        w.extend([
            FORMAT_VERSION,
            kh as u64,
            (kh >> 64) as u64,
            toolchain[0],
            toolchain[1],
            self.args.len() as u64,
        ]);
        for a in self.args {
            a.words(&mut w);
        }
        w
    }

    /// The class-cache key: cheap, computed on every loop. `toolchain` is the hash of the
    /// configured compiler command and flags; `comm` the communicator id (ranks on different
    /// communicators must not share a "hit" that skips a collective).
    pub fn class_key(&self, toolchain: [u64; 2], comm: u64) -> u128 {
        let mut w = self.base_words(toolchain);
        w.push(comm);
        hash_words(&w)
    }

    /// The disk key: adds the compiler's identity (`compiler_id`: resolved path, version,
    /// target CPU). Rank 0 only.
    pub fn disk_key(&self, toolchain: [u64; 2], compiler_id: &str) -> u128 {
        let mut w = self.base_words(toolchain);
        w.extend(str_words(compiler_id));
        hash_words(&w)
    }

    /// Human-readable key text, stored beside a disk entry for `op2 cache list` and debugging.
    pub fn text(&self, cc: &str, cflags: &str, compiler_id: &str) -> String {
        let mut s = format!(
            "format {FORMAT_VERSION}\nkernel {} (source {} bytes, hash {:032x})\nflags {:?}\ncc {cc}\ncflags {cflags}\ncompiler {}\n",
            self.kernel.name(),
            self.kernel.code().len(),
            self.kernel.0.hash,
            self.kernel.flags(),
            compiler_id.replace('\n', " | ")
        );
        for (i, a) in self.args.iter().enumerate() {
            s.push_str(&format!("arg {i}: {}\n", a.describe()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::access::Access;
    use crate::dtype::DType;

    fn key(args: &[ArgShape]) -> u128 {
        let k = Kernel::new("k", "void k(double *A) {}").unwrap();
        Signature { kernel: &k, args }.class_key([0, 0], 0)
    }

    #[test]
    fn mat_shapes_enter_the_key_and_its_text() {
        let m = |access, dims, arities| ArgShape::Mat {
            access,
            dims,
            arities,
        };
        let base = key(&[m(Access::Inc, (1, 1), (3, 3))]);
        assert_eq!(base, key(&[m(Access::Inc, (1, 1), (3, 3))]));
        for other in [
            m(Access::Write, (1, 1), (3, 3)),
            m(Access::Inc, (2, 1), (3, 3)),
            m(Access::Inc, (1, 2), (3, 3)),
            m(Access::Inc, (1, 1), (3, 2)),
            m(Access::Inc, (1, 1), (2, 3)),
        ] {
            assert_ne!(base, key(&[other]), "{other:?}");
        }
        // Not confusable with a Dat or Global shape.
        assert_ne!(
            base,
            key(&[ArgShape::Global {
                access: Access::Inc,
                dtype: DType::F64,
                dim: 1
            }])
        );
        let k = Kernel::new("k", "void k(double *A) {}").unwrap();
        let text = Signature {
            kernel: &k,
            args: &[m(Access::Inc, (2, 3), (4, 5))],
        }
        .text("cc", "-O2", "gcc");
        assert!(text.contains(&format!("format {FORMAT_VERSION}")), "{text}");
        assert!(
            text.contains("mat INC double dims 2x3 arities 4x5"),
            "{text}"
        );
    }
}
