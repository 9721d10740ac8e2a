//! Mats on a distributed mesh, on 1, 2, 3 and 4 ranks: `op2-mat-check` assembles three Mats
//! (2x2 blocks with two map pairs and a WRITE loop; a scalar WRITE into halo rows; a
//! rectangular nodes x cells matrix whose merged rows reach extra columns), gathers them to
//! rank 0 and compares them with a serial assembly (exact structure, values 1e-12 relative),
//! together with `mult` (before and after `x`'s halo goes stale), `diagonal` and every owned
//! row's diagonal/off-diagonal block counts.
mod common;
use std::time::Duration;

/// Run the check on `np` ranks; return each rank's count of extra columns of B.
fn check(np: usize) -> Vec<usize> {
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(np, "op2-mat-check", &[], cache.path()),
        Duration::from_secs(180),
    );
    out.assert_ok();
    (0..np)
        .map(|r| {
            let line = out
                .stdout
                .lines()
                .find(|l| l.starts_with(&format!("rank {r} of {np}: ok: 12562 values checked")))
                .unwrap_or_else(|| panic!("rank {r}\n{}", out.stdout));
            line.split("B: ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no extra-column count in {line}"))
        })
        .collect()
}

#[test]
fn mats_on_one_rank() {
    assert_eq!(check(1), vec![0]);
}

#[test]
fn mats_on_two_ranks() {
    // Merged rows really reached columns the receiving rank had never seen.
    assert!(check(2).iter().all(|&e| e > 0));
}

#[test]
fn mats_on_three_ranks() {
    assert!(check(3).iter().all(|&e| e > 0));
}

#[test]
fn mats_on_four_ranks() {
    assert!(check(4).iter().all(|&e| e > 0));
}
