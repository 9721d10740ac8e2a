#!/usr/bin/env bash
# op2's Krylov solvers and preconditioners on the Poisson problem (src/bin/poisson.rs):
# CG + Jacobi, CG + SSOR (symmetric Gauss-Seidel), CG + ILU(0), GMRES(30) + ILU(0) and the
# hand-written Jacobi CG from par_loops, each at 1 rank, 2 ranks, and 1 rank x 2 threads.
#
#   bash bench/solvers.sh [N] [RESULTS]
#
# N: squares per side (default 256: 2 N^2 triangles); RESULTS: the Markdown file to write
# (default bench/results/solvers.md). Needs `cargo build --release --bin poisson` and MPICH's
# mpiexec. Every configuration first runs once at n = 16 with the same cache directory, so
# the timed runs compile nothing. Reports, per run, the iterations, the solve's seconds per
# iteration, the allreduces per iteration (after the first iteration; 0 on one rank) and the
# L2 error, with the machine's load average before and after (other users share the cores).
set -euo pipefail
n=${1:-256}
results=${2:-bench/results/solvers.md}
exe=target/release/poisson
export OP2_CACHE_DIR=${OP2_CACHE_DIR:-$(mktemp -d)}
mkdir -p "$(dirname "$results")"

solvers=("CG + Jacobi|--pc jacobi" "CG + SSOR|--pc sor" "CG + ILU(0)|--pc ilu0"
    "GMRES(30) + ILU(0)|--ksp gmres --pc ilu0" "hand-written CG + Jacobi|--cg handwritten")
layouts=("1 rank|1|1" "2 ranks|2|1" "1 rank x 2 threads|1|2")

field() { # the word after $1 in $2
    tr ' ' '\n' <<<"$2" | grep -A1 -x -- "$1" | tail -1
}

run() { # np threads n args...
    local np=$1 th=$2 size=$3
    shift 3
    OP2_THREADS=$th mpiexec -n "$np" "$exe" --n "$size" --solution exp "$@" 2>/dev/null
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "# op2 solvers on Poisson (n = $n: $((2 * n * n)) triangles, rtol 1e-10)"
    echo
    echo "Produced by \`bash bench/solvers.sh $n\` on $(date -u '+%Y-%m-%d %H:%M UTC'),"
    echo "$(nproc) cores, load average before: $load_before."
    echo
    echo "| solver | layout | iterations | s/iteration | allreduces/iteration | solve s | L2 error |"
    echo "|---|---|---|---|---|---|---|"
} >"$results"
for s in "${solvers[@]}"; do
    name=${s%%|*}
    read -r -a args <<<"${s#*|}"
    for l in "${layouts[@]}"; do
        IFS='|' read -r lname np th <<<"$l"
        run "$np" "$th" 16 "${args[@]}" >/dev/null # compile
        out=$(run "$np" "$th" "$n" "${args[@]}")
        it=$(field cg_iterations "$out")
        spi=$(field seconds_per_iteration "$out")
        apr=$(field allreduces_per_iteration "$out")
        l2=$(field l2_error "$out")
        solve=$(grep -o 'cg [0-9.]* total' <<<"$out" | cut -d' ' -f2)
        echo "| $name | $lname | $it | $spi | $apr | $solve | $l2 |" | tee -a "$results"
    done
done
echo >>"$results"
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)." >>"$results"
echo "wrote $results"
