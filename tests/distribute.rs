//! Mesh distribution and halo exchanges under real MPI: `op2-dist-check` distributes a
//! structured quad mesh and checks numbering, maps, core/boundary layering, forward and
//! reverse halo exchanges and scatter/gather on every rank (see its module docs).
mod common;
use std::time::Duration;

fn check(np: usize, args: &[&str]) -> common::Outcome {
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(np, "op2-dist-check", args, cache.path()),
        Duration::from_secs(120),
    );
    out.assert_ok();
    for r in 0..np {
        let prefix = format!("rank {r} of {np}: ok: nodes ");
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("rank {r} did not report ok\n{}", out.stdout));
        for set in ["cells", "edges", "bedges"] {
            assert!(line.contains(&format!(", {set} ")), "{line}");
        }
    }
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("rank "))
            .count(),
        np,
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "3111 nodes, 3000 cells, 5890 edges, 220 boundary edges on {np} rank(s)"
        )),
        "{}",
        out.stdout
    );
    out
}

#[test]
fn one_rank_is_the_identity_without_halo() {
    let out = check(1, &[]);
    assert!(
        out.stdout.contains(
            "rank 0 of 1: ok: nodes 3111/3111 core 3111, cells 3000/3000 core 3000, \
             edges 5890/5890 core 5890, bedges 220/220 core 220; node neighbours []"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn two_ranks() {
    let out = check(2, &[]);
    // Each rank's nodes have a halo, and the other rank is its neighbour.
    assert!(
        out.stdout.contains("rank 0 of 2: ok: nodes 1556/"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("node neighbours [1]"), "{}", out.stdout);
    assert!(out.stdout.contains("node neighbours [0]"), "{}", out.stdout);
}

#[test]
fn three_ranks() {
    check(3, &[]);
}

#[test]
fn four_ranks() {
    check(4, &[]);
}

#[test]
fn four_ranks_without_coordinates_use_the_block_partition() {
    check(4, &["--block"]);
}

#[test]
fn a_bad_map_on_rank_0_fails_every_rank_with_the_same_message() {
    let np = 3;
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(np, "op2-dist-check", &["--bad-map"], cache.path()),
        Duration::from_secs(120),
    );
    assert!(!out.success(), "{}", out.stdout);
    let msg = "rank 0 failed: invalid argument to distribute: map `edge_nodes` (edges -> nodes): \
               value 3111 at element 5, slot 1 is outside the target set `nodes` [0, 3111)";
    for r in 0..np {
        let want = format!("op2: rank {r}: error: {msg}");
        assert!(
            // Rank 0 prints the error in full; the others print its first line plus a note.
            out.stderr.lines().any(|l| l == want
                || (r > 0 && l.starts_with(&want) && l.contains("same error on every rank"))),
            "rank {r} did not report `{want}`\n--- stderr\n{}",
            out.stderr
        );
    }
    // Nobody aborted: every rank left through the collective error path.
    assert!(!out.stderr.contains("MPI_Abort"), "{}", out.stderr);
    assert!(!out.stdout.contains(": ok:"), "{}", out.stdout);
}
