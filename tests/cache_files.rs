//! Issue 22, faults 9 and 11: the files of a cache entry under abuse. A library rewritten in
//! place (`cp` over it: same inode, truncated) while it is verified never kills the reader
//! (it used to be hashed through a memory map: SIGBUS), and a failed write of the generated
//! source (disk full) leaves no temporary behind.
mod common;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

fn find(d: &Path, ext: &str) -> std::path::PathBuf {
    common::files_under(d)
        .into_iter()
        .find(|p| {
            p.extension().is_some_and(|e| e == ext)
                && !p
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".tmp-")
        })
        .unwrap()
}

#[test]
fn a_library_rewritten_in_place_during_verification_never_kills_the_reader() {
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(1, "op2-selftest", &["--kernels", "1"], cache.path()),
        T,
    );
    common::assert_all_ok(&out, 1, 2);
    let (so, meta) = (find(cache.path(), "so"), find(cache.path(), "meta"));
    // A big entry (the library with 64 MiB of padding; still a valid ELF file), so that
    // hashing it takes long enough for a rewrite to land in the middle.
    let mut big = std::fs::read(&so).unwrap();
    big.resize(big.len() + (64 << 20), 0);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    m["size"] = (big.len() as u64).into();
    m["checksum"] = xxhash_rust::xxh3::xxh3_64(&big).into();
    std::fs::write(&meta, serde_json::to_vec(&m).unwrap()).unwrap();
    std::fs::write(&so, &big).unwrap();
    let ok = common::run(common::op2_cache(cache.path(), &["verify"]), T);
    assert_eq!(ok.code, Some(0), "{ok:?}");
    // `cp` semantics: open with O_TRUNC (same inode) and write, again and again.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, so, big) = (stop.clone(), so.clone(), big.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::fs::write(&so, &big).unwrap();
                std::thread::sleep(Duration::from_millis(3));
                std::fs::write(&so, &big[..big.len() / 3]).unwrap();
            }
        })
    };
    let t0 = Instant::now();
    let mut runs = 0;
    let mut killed = Vec::new();
    while t0.elapsed() < Duration::from_secs(8) {
        let out = common::run(common::op2_cache(cache.path(), &["verify"]), T);
        runs += 1;
        if !matches!(out.code, Some(0) | Some(1)) {
            killed.push(format!("{:?} {}", out.code, out.stderr));
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        killed.is_empty(),
        "{} of {runs} verifications died: {killed:?}",
        killed.len()
    );
    assert!(runs >= 5, "only {runs} verifications ran");
}

#[test]
fn a_failed_write_of_the_generated_source_leaves_no_temporary() {
    // A full filesystem (a tmpfs filled up) under the cache: the source write fails.
    if !common::users::is_root() {
        return common::skip_or_fail("this test needs root (it mounts a tmpfs)");
    }
    let work = common::cache_dir();
    let mnt = work.path().join("full");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k,mode=700", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    if !mounted.success() {
        return common::skip_or_fail("this test needs to mount a tmpfs");
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mnt);
    let cache = mnt.join("cache");
    std::fs::create_dir(&cache).unwrap();
    // Fill it to the last byte.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(mnt.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        while f.write_all(&chunk[..1]).is_ok() {}
    }
    let out = common::run(
        common::mpiexec(2, "op2-selftest", &["--kernels", "1"], &cache),
        T,
    );
    assert!(!out.success(), "a full disk must fail the job\n{out:?}");
    assert!(
        out.stderr.contains("No space left on device"),
        "{}",
        out.stderr
    );
    let left: Vec<_> = common::files_under(&cache)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect();
    assert!(left.is_empty(), "temporaries left behind: {left:?}");
}
