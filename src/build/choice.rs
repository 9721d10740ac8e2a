//! The recorded variant of a vectorised module (`OP2_SIMD=auto`): one line beside its disk
//! entry, `<key>.choice`, such as `simd: simd 5.9 ms, scalar 11.8 ms, scalar-inlined 11.2 ms
//! over 720000 elements`. Rank 0 writes it after measuring the loop's first run
//! (`exec/choose.rs`) and reads it on a hit (`fetch.rs`: broadcast with the outcome), so a
//! kernel is measured once per cache entry; `op2 cache list` shows it. The element count the
//! line names is what a later, much larger loop compares against to measure again
//! (`exec/choose.rs`, `RETIME_FACTOR`).
//!
//! Owns the file's name and format. Never measures, never touches MPI; a record that cannot be
//! written costs a measurement in the next job, never a wrong answer.

use std::path::{Path, PathBuf};

use crate::jit::simd::Variant;

/// A recorded choice is measured again by a loop whose set has at least this many times the
/// elements the record was measured over (a choice timed on a small test mesh, where every
/// variant's data sits in cache, does not decide for a mesh 10x its size).
pub(crate) const RETIME_FACTOR: usize = 10;

/// The number of elements a record line was measured over (`... over N elements ...`).
pub(crate) fn elements(line: &str) -> Option<usize> {
    let (_, rest) = line.split_once(" over ")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The record beside the library `so`.
pub(crate) fn path_of(so: &Path) -> PathBuf {
    so.with_extension("choice")
}

/// The variant a record line names (its first word, before `:`).
pub(crate) fn parse(line: &str) -> Option<Variant> {
    Variant::parse(line.split(':').next()?.trim())
}

/// The record beside `so`, if one is there and names a variant. The record is untrusted input
/// like every file in the cache: opened as an entry file (no link followed, no FIFO or device
/// read, owner and mode checked: `cache::trust::open_entry`) and read up to 256 bytes; a
/// record refused or unreadable is no record (the loop is measured again).
pub fn read(so: &Path) -> Option<String> {
    use std::io::Read;
    let f = crate::cache::trust::open_entry(&path_of(so)).ok()??;
    let mut text = String::new();
    f.take(256).read_to_string(&mut text).ok()?;
    let line = text.lines().next()?.trim().to_string();
    parse(&line).map(|_| line)
}

/// Write `line` as the record at `path` (a private temporary file renamed into place, so a
/// reader sees the old record or the new one, never a part).
pub(crate) fn write(path: &Path, line: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = crate::cache::fsutil::temp_path(dir, "choice");
    std::fs::write(&tmp, format!("{line}\n"))?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_or_a_fifo_is_no_record() {
        let dir = std::env::temp_dir().join(format!("op2-choice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let so = dir.join("k.so");
        let real = dir.join("real.choice");
        write(&real, "scalar: measured").unwrap();
        std::os::unix::fs::symlink(&real, path_of(&so)).unwrap();
        assert_eq!(read(&so), None, "a record through a link is refused");
        std::fs::remove_file(path_of(&so)).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(path_of(&so))
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(read(&so), None, "a FIFO is refused, never read (no hang)");
        std::fs::remove_file(path_of(&so)).unwrap();
        write(&path_of(&so), "scalar: measured").unwrap();
        assert_eq!(read(&so).as_deref(), Some("scalar: measured"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_record_names_its_variant_and_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let so = dir.path().join("ab.so");
        assert_eq!(read(&so), None);
        let line = "scalar-inlined: simd 2.000 ms, scalar 1.500 ms, scalar-inlined 1.000 ms";
        write(&path_of(&so), line).unwrap();
        assert_eq!(read(&so).as_deref(), Some(line));
        assert_eq!(parse(line), Some(Variant::Inlined));
        assert_eq!(elements(line), None, "no count named");
        let measured =
            "simd: simd 5.1 ms, scalar 9.7 ms, scalar-inlined 9.4 ms over 720000 elements (rank 0)";
        assert_eq!(elements(measured), Some(720000));
        assert_eq!(parse(measured), Some(Variant::Simd));
        std::fs::write(path_of(&so), "fastest: ?\n").unwrap();
        assert_eq!(read(&so), None, "a record naming no variant is ignored");
    }
}
