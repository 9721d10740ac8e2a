//! The one thing the cache knows of a library's contents: that it is an ELF shared object
//! exporting the generated entry point. Reads bytes only (no code runs, nothing is loaded), so
//! it is safe on untrusted cache files and cheap enough for every verification of an entry.
//!
//! Owns the entry point's name ([`ENTRY`]): code generation writes it, the loader looks it up
//! and verification checks it, so it lives below all three. Never loads, compiles or writes.

use std::path::Path;

/// The symbol every generated library exports: `void __op2_loop(int start, int end, void
/// **args, const int **maps)` (the calling convention is `jit::codegen`'s).
pub const ENTRY: &str = "__op2_loop";

/// Check, without loading it, that the shared object at `path` is an ELF file whose dynamic
/// symbol table defines the generated entry point (`__op2_loop`) as a visible global function.
/// Reads the file only (no code runs), so it is safe on untrusted cache files and cheap enough
/// for every verification of an entry.
pub(crate) fn check_exports(path: &Path) -> std::result::Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    check_exports_bytes(&bytes, path)
}

/// [`check_exports`] on a library's bytes already read (`path` names it in messages).
pub(crate) fn check_exports_bytes(bytes: &[u8], path: &Path) -> std::result::Result<(), String> {
    let found = elf_defines(bytes, ENTRY.as_bytes())
        .map_err(|e| format!("{} is not a usable shared object: {e}", path.display()))?;
    if found {
        Ok(())
    } else {
        Err(format!(
            "{} does not export the entry point `{}`",
            path.display(),
            ENTRY
        ))
    }
}

/// The instruction-set level a generated library says it needs: the `N` of the
/// `__op2_isa_v<N>` function it exports (`jit::isa`), `None` when it exports none.
pub(crate) fn isa_marker(bytes: &[u8], max: u8) -> std::result::Result<Option<u8>, String> {
    for level in (1..=max).rev() {
        let name = format!("__op2_isa_v{level}");
        if elf_defines(bytes, name.as_bytes()).map_err(|e| e.to_string())? {
            return Ok(Some(level));
        }
    }
    Ok(None)
}

/// Does the ELF image `b` define `name` as a visible global/weak function in `.dynsym`?
fn elf_defines(b: &[u8], name: &[u8]) -> std::result::Result<bool, &'static str> {
    if b.len() < 0x34 || &b[..4] != b"\x7fELF" {
        return Err("no ELF header");
    }
    let wide = match b[4] {
        1 => false,
        2 => true,
        _ => return Err("bad ELF class"),
    };
    let big = match b[5] {
        1 => false,
        2 => true,
        _ => return Err("bad ELF byte order"),
    };
    let get = |off: usize, len: usize| -> std::result::Result<u64, &'static str> {
        let s = b
            .get(off..off.checked_add(len).ok_or("offset overflow")?)
            .ok_or("truncated")?;
        let mut v = 0u64;
        for k in 0..len {
            let byte = if big { s[k] } else { s[len - 1 - k] };
            v = v << 8 | byte as u64;
        }
        Ok(v)
    };
    let us = |v: u64| usize::try_from(v).map_err(|_| "offset too large");
    let (shoff, shentsize, shnum) = if wide {
        (get(0x28, 8)?, get(0x3A, 2)?, get(0x3C, 2)?)
    } else {
        (get(0x20, 4)?, get(0x2E, 2)?, get(0x30, 2)?)
    };
    let (shoff, shentsize) = (us(shoff)?, us(shentsize)?);
    // Section header fields: (type, offset, size, link, entsize).
    let section =
        |i: usize| -> std::result::Result<(u64, usize, usize, usize, usize), &'static str> {
            let h = shoff.saturating_add(i.saturating_mul(shentsize));
            Ok(if wide {
                (
                    get(h.saturating_add(4), 4)?,
                    us(get(h.saturating_add(24), 8)?)?,
                    us(get(h.saturating_add(32), 8)?)?,
                    us(get(h.saturating_add(40), 4)?)?,
                    us(get(h.saturating_add(56), 8)?)?,
                )
            } else {
                (
                    get(h.saturating_add(4), 4)?,
                    us(get(h.saturating_add(16), 4)?)?,
                    us(get(h.saturating_add(20), 4)?)?,
                    us(get(h.saturating_add(24), 4)?)?,
                    us(get(h.saturating_add(36), 4)?)?,
                )
            })
        };
    const SHT_DYNSYM: u64 = 11;
    for i in 0..us(shnum)? {
        let (kind, off, size, link, entsize) = section(i)?;
        if kind != SHT_DYNSYM {
            continue;
        }
        let min = if wide { 24 } else { 16 };
        if entsize < min {
            return Err("bad symbol size");
        }
        let (_, stroff, strsize, _, _) = section(link)?;
        let strtab = b
            .get(stroff..stroff.checked_add(strsize).ok_or("offset overflow")?)
            .ok_or("truncated string table")?;
        for k in 0..size / entsize {
            let e = off.saturating_add(k.saturating_mul(entsize));
            let (st_name, info, other, shndx) = if wide {
                (
                    us(get(e, 4)?)?,
                    get(e.saturating_add(4), 1)?,
                    get(e.saturating_add(5), 1)?,
                    get(e.saturating_add(6), 2)?,
                )
            } else {
                (
                    us(get(e, 4)?)?,
                    get(e.saturating_add(12), 1)?,
                    get(e.saturating_add(13), 1)?,
                    get(e.saturating_add(14), 2)?,
                )
            };
            let Some(rest) = strtab.get(st_name..) else {
                return Err("bad symbol name");
            };
            let sym = &rest[..rest.iter().position(|&c| c == 0).unwrap_or(rest.len())];
            let (bind, typ, vis) = (info >> 4, info & 0xf, other & 3);
            if sym == name
                && shndx != 0
                && matches!(bind, 1 | 2)
                && typ == 2
                && matches!(vis, 0 | 3)
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn exports_are_read_from_the_dynamic_symbol_table() {
        let dir = tempfile::tempdir().unwrap();
        let build = |name: &str, code: &str| {
            let c = dir.path().join(format!("{name}.c"));
            let so = dir.path().join(format!("{name}.so"));
            std::fs::write(&c, code).unwrap();
            let ok = Command::new("cc")
                .args(["-shared", "-fPIC", "-fvisibility=hidden", "-o"])
                .arg(&so)
                .arg(&c)
                .status()
                .unwrap()
                .success();
            assert!(ok);
            so
        };
        let good = build(
            "good",
            "__attribute__((visibility(\"default\"))) void __op2_loop(void) {}",
        );
        assert_eq!(check_exports(&good), Ok(()));
        let hidden = build("hidden", "void __op2_loop(void) {}");
        assert!(check_exports(&hidden)
            .unwrap_err()
            .contains("does not export"));
        let other = build(
            "other",
            "__attribute__((visibility(\"default\"))) void __op2_loop2(void) {}",
        );
        assert!(check_exports(&other).is_err());
        // Garbage and truncated files are errors, never panics.
        let junk = dir.path().join("junk.so");
        std::fs::write(&junk, b"\x7fELF\x02\x01junk").unwrap();
        assert!(check_exports(&junk).unwrap_err().contains("not a usable"));
        let bytes = std::fs::read(&good).unwrap();
        for cut in [0, 16, 64, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&junk, &bytes[..cut]).unwrap();
            let _ = check_exports(&junk);
        }
    }
}
