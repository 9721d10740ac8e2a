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
//!   par_loop, so it hashes a few dozen bytes, never the kernel source. Lives in one process.
//! * **disk key** (`u128`, content-addressed): xxh3-128 of exactly what the library is built
//!   from — the generated C source (which holds no data), the compiler command, flags and
//!   identity (resolved path, version, target CPU for `-march=native`), the kernel's extra
//!   flags, the flags op2 adds — and of the calling convention the loader relies on. A change
//!   in code generation changes the source, hence the key: no version to bump. Computed on
//!   rank 0 only, on a class-cache miss (which generates the source).

use crate::cache::layout::Build;
use crate::jit::kernel::Kernel;
pub(crate) use crate::jit::shape::{ArgShape, MapUse};

fn hash_words(words: &[u64]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytemuck::cast_slice(words))
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
    /// The loop runs over a Subset's index table (see [`Signature::indexed`]).
    pub indexed: bool,
    pub class_key: u128,
}

/// The metadata of one loop: what its generated code depends on.
pub(crate) struct Signature<'a> {
    pub kernel: &'a Kernel,
    pub args: &'a [ArgShape],
    /// The loop iterates a Subset: the generated code visits `indices[start..end)` instead of
    /// `[start, end)` (other code, so part of the key).
    pub indexed: bool,
}

impl Signature<'_> {
    fn base_words(&self, toolchain: [u64; 2]) -> Vec<u64> {
        let mut w = Vec::with_capacity(8 + 3 * self.args.len());
        let kh = self.kernel.0.hash;
        w.extend([
            kh as u64,
            (kh >> 64) as u64,
            toolchain[0],
            toolchain[1],
            self.args.len() as u64,
            self.indexed as u64,
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

    /// Human-readable description of the loop (the SPMD check compares it with
    /// `OP2_SPMD_STRICT`; a disk entry's key text names the loop it was first built for).
    pub fn text(&self, cc: &str, cflags: &str, compiler_id: &str) -> String {
        let mut s = format!(
            "kernel {} (source {} bytes, hash {:032x})\nflags {:?}\ncc {cc}\ncflags {cflags}\ncompiler {}\n",
            self.kernel.name(),
            self.kernel.code().len(),
            self.kernel.0.hash,
            self.kernel.flags(),
            compiler_id.replace('\n', " | ")
        );
        if self.indexed {
            s.push_str("over a Subset's indices\n");
        }
        for (i, a) in self.args.iter().enumerate() {
            s.push_str(&format!("arg {i}: {}\n", a.describe()));
        }
        s
    }
}

/// The disk key of a library built from `b` (see the module notes): every input is hashed
/// with its length, so no two different inputs run together into one.
pub(crate) fn disk_key(b: &Build) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut field = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(b"op2 disk entry: source, compiler, flags, calling convention");
    field(crate::jit::codegen::ENTRY.as_bytes());
    field(crate::jit::codegen::CALLING_CONVENTION.as_bytes());
    field(crate::jit::compile::added_flags().as_bytes());
    field(b.cc.as_bytes());
    field(b.cflags.as_bytes());
    field(&(b.kernel_flags.len() as u64).to_le_bytes());
    for f in &b.kernel_flags {
        field(f.as_bytes());
    }
    field(b.compiler_id.as_bytes());
    field(b.source.as_bytes());
    h.digest128()
}

/// The text stored beside a disk entry (`op2 cache list`, debugging): what its key hashes
/// (the source by size and hash: the `.meta` carries it whole), then the loop it was first
/// built for (other loops whose generated source is the same share the entry).
pub(crate) fn disk_text(b: &Build, first: &Signature) -> String {
    format!(
        "source {} bytes, xxh3 {:032x}\nentry {} ({})\n{}",
        b.source.len(),
        xxhash_rust::xxh3::xxh3_128(b.source.as_bytes()),
        crate::jit::codegen::ENTRY,
        crate::jit::codegen::CALLING_CONVENTION,
        first.text(&b.cc, &b.cflags, &b.compiler_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::access::Access;
    use crate::dtype::DType;

    fn key(args: &[ArgShape]) -> u128 {
        let k = Kernel::new("k", "void k(double *A) {}").unwrap();
        Signature {
            kernel: &k,
            args,
            indexed: false,
        }
        .class_key([0, 0], 0)
    }

    fn build(k: &Kernel, shapes: &[ArgShape]) -> Build {
        Build {
            source: crate::jit::codegen::generate(k, shapes, false),
            cc: "cc".into(),
            cflags: "-O2".into(),
            kernel_flags: k.flags().to_vec(),
            compiler_id: "gcc 13 x86-64".into(),
        }
    }

    #[test]
    fn the_disk_key_is_the_generated_source_and_how_it_is_built() {
        let code = "void g(double *x) { x[0] = 7.0; }";
        let k = Kernel::new("g", code).unwrap();
        let shapes = |access| {
            [ArgShape::Dat {
                access,
                dtype: DType::F64,
                dim: 1,
                map: MapUse::Direct,
                datnum: 0,
                view: 0,
            }]
        };
        // Two loops whose metadata differ (a direct Dat written or read-written: different
        // class keys) but whose generated source is the same share one disk key.
        let (min, max) = (shapes(Access::Write), shapes(Access::RW));
        let sig = |s| Signature {
            kernel: &k,
            args: s,
            indexed: false,
        };
        assert_ne!(
            sig(&min).class_key([0, 0], 0),
            sig(&max).class_key([0, 0], 0)
        );
        let (bmin, bmax) = (build(&k, &min), build(&k, &max));
        assert_eq!(bmin.source, bmax.source);
        assert_eq!(disk_key(&bmin), disk_key(&bmax));
        // Anything that changes what is compiled, or how, is another key.
        let base = disk_key(&bmin);
        let flagged = Kernel::with_flags("g", code, &["-DUNUSED=1"]).unwrap();
        let bf = build(&flagged, &min);
        assert_eq!(bf.source, bmin.source, "an extra flag is not in the source");
        assert_ne!(disk_key(&bf), base, "an extra flag is a new entry");
        let edited = Kernel::new("g", &code.replace("7.0", "8.0")).unwrap();
        assert_ne!(disk_key(&build(&edited, &min)), base, "other kernel text");
        let read = Kernel::new("g", "void g(const double *x) { }").unwrap();
        let (r, w) = (shapes(Access::Read), shapes(Access::Write));
        assert_ne!(
            disk_key(&build(&read, &r)),
            disk_key(&build(&read, &w)),
            "a const parameter: other source"
        );
        let changes: [fn(&mut Build); 5] = [
            |b: &mut Build| b.cc.push('x'),
            |b: &mut Build| b.cflags.push_str(" -g"),
            |b: &mut Build| b.compiler_id.push('!'),
            |b: &mut Build| b.source.push('\n'),
            // Fields never run together: moving a byte from one to the next is another key.
            |b: &mut Build| {
                b.cc.push('-');
                b.cflags.remove(0);
            },
        ];
        for change in changes {
            let mut b = build(&k, &min);
            change(&mut b);
            assert_ne!(disk_key(&b), base);
        }
        // The text beside the entry names its source and the loop it was first built for.
        let text = disk_text(&bmin, &sig(&min));
        assert!(
            text.contains("kernel g (source") && text.contains("__op2_loop"),
            "{text}"
        );
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
            indexed: false,
        }
        .text("cc", "-O2", "gcc");
        assert!(text.contains("kernel k (source"), "{text}");
        assert!(
            text.contains("mat INC double dims 2x3 arities 4x5"),
            "{text}"
        );
    }
}
