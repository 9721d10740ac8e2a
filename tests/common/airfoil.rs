//! Airfoil in the tests: OP2's standard mesh (400 x 600 NACA0012, 720000 cells) in OP2's HDF5
//! layout, converted once per test binary by `op2 mesh convert` (about 50 MB and seconds of
//! work) however many tests read it, and what the tests read from Airfoil's output.
//!
//! The file lives in `$TMPDIR/op2-test-mesh-<pid>/`; a static is never dropped, so each new
//! process removes the folders of processes that are gone.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

const PREFIX: &str = "op2-test-mesh-";

/// OP2's standard mesh as an HDF5 file (`--mesh-h5`), converted on first use in this process.
pub fn standard_h5() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let tmp = std::env::temp_dir();
        sweep(&tmp);
        let dir = tmp.join(format!("{PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let h5 = dir.join("new_grid.h5");
        let mut c = std::process::Command::new(super::bin("op2"));
        c.args(["mesh", "convert", "--naca", "400", "600", "-o"])
            .arg(&h5);
        super::run(c, Duration::from_secs(300)).assert_ok();
        h5
    })
}

/// Remove the mesh folders of processes that no longer run.
fn sweep(tmp: &Path) {
    for e in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The full-precision final rms Airfoil prints (`airfoil: final rms ...`).
pub fn final_rms(out: &super::Outcome) -> f64 {
    let l = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("airfoil: final rms "))
        .unwrap_or_else(|| panic!("no final rms\n{}", out.stdout));
    l.split_whitespace().next().unwrap().parse().unwrap()
}
