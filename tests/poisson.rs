//! The `poisson` example solver under `mpiexec -n 1`: the L2 error of P1 elements falls as
//! O(h²) (a ratio near 4 per halving of h) for a zero and a non-zero Dirichlet solution, and
//! more ranks are refused with a clear message instead of a wrong answer or a hang.
mod common;

use std::time::Duration;

/// Run the solver at refinement `n`; return (L2 error, CG iterations).
fn solve(n: usize, solution: &str, cache: &std::path::Path) -> (f64, usize) {
    let out = common::run(
        common::mpiexec(
            1,
            "poisson",
            &["--n", &n.to_string(), "--solution", solution],
            cache,
        ),
        Duration::from_secs(120),
    );
    out.assert_ok();
    let field = |name: &str| -> String {
        out.stdout
            .split_whitespace()
            .skip_while(|w| *w != name)
            .nth(1)
            .unwrap_or_else(|| panic!("no {name} in the output:\n{}", out.stdout))
            .to_string()
    };
    (
        field("l2_error").parse().unwrap(),
        field("cg_iterations").parse().unwrap(),
    )
}

fn assert_second_order(solution: &str) {
    let cache = common::cache_dir();
    let runs: Vec<(usize, f64, usize)> = [16, 32, 64]
        .into_iter()
        .map(|n| {
            let (e, it) = solve(n, solution, cache.path());
            (n, e, it)
        })
        .collect();
    let table: String = runs
        .iter()
        .map(|(n, e, it)| format!("n {n:3}  l2 {e:.4e}  cg {it}\n"))
        .collect();
    for w in runs.windows(2) {
        let ratio = w[0].1 / w[1].1;
        assert!(
            ratio > 3.5 && ratio < 4.5,
            "{solution}: error ratio {ratio:.3} from n = {} to {} is not ~4\n{table}",
            w[0].0,
            w[1].0
        );
        assert!(w[1].2 > w[0].2, "CG iterations grow with n\n{table}");
    }
    eprintln!("{solution}:\n{table}");
}

#[test]
fn l2_error_is_second_order_for_zero_boundary_values() {
    assert_second_order("sine");
}

#[test]
fn l2_error_is_second_order_with_non_zero_dirichlet_values() {
    assert_second_order("exp");
}

#[test]
fn more_than_one_rank_is_refused_clearly() {
    let cache = common::cache_dir();
    let out = common::run(
        common::mpiexec(2, "poisson", &["--n", "8"], cache.path()),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("not supported yet") && out.stderr.contains("mpiexec -n 1"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("not supported yet").count(),
        1,
        "printed once, by rank 0"
    );
}
