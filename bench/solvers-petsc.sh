#!/usr/bin/env bash
# op2's CG + Jacobi against PETSc's CG + Jacobi (the same assembled Poisson matrix, the same
# stopping test |r| <= rtol |b|) and PETSc's CG + GAMG, on `poisson --n N` (2 N^2 cells) at
# 1 and 2 ranks x 1 and 2 threads. Writes a Markdown table (default bench/results/petsc.md)
# with the load average. Needs PETSc (scripts/setup-petsc.sh); one run each, a few minutes.
# Usage: bench/solvers-petsc.sh [N] (default 708: ~1M cells)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-708}
RTOL=${RTOL:-1e-8}
OUT=${OUT:-bench/results/petsc.md}
mkdir -p "$(dirname "$OUT")"
# OP2_BENCH_NO_BUILD=1: use the poisson already built with --features petsc.
[ -n "${OP2_BENCH_NO_BUILD:-}" ] || nice cargo build --release --features petsc --bins --examples >&2
BIN=target/release/poisson
CACHE=$(mktemp -d)
trap 'rm -rf "$CACHE"' EXIT
unset PETSC_OPTIONS
field() { tr ' ' '\n' <<<"$1" | grep -A1 -x "$2" | tail -1; }
run() { # np threads args... -> the report
    local np=$1 th=$2
    shift 2
    OP2_CACHE_DIR=$CACHE OP2_THREADS=$th mpiexec -n "$np" "$BIN" --n "$N" --rtol "$RTOL" "$@"
}
OP2_CACHE_DIR=$CACHE "$BIN" --n 8 >/dev/null # compile the kernels once
{
    echo "# op2 CG vs PETSc KSP on poisson --n $N ($((2 * N * N)) cells), rtol $RTOL"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| ranks x threads | solver | iterations | s/iteration | solve s | reductions/iteration | L2 error |"
    echo "|---|---|---|---|---|---|---|"
} >"$OUT"
for layout in "1 1" "1 2" "2 1"; do
    set -- $layout
    np=$1 th=$2
    for solver in op2 petsc gamg; do
        case $solver in
        op2) out=$(run "$np" "$th" --cg single) ;;
        # -log_view must be there when PETSc starts: PETSC_OPTIONS, not --petsc-options.
        petsc) out=$(PETSC_OPTIONS=-log_view run "$np" "$th" --petsc) ;;
        gamg) out=$(PETSC_OPTIONS=-log_view run "$np" "$th" --petsc --petsc-options "-pc_type gamg") ;;
        esac
        its=$(field "$out" cg_iterations)
        spi=$(field "$out" seconds_per_iteration)
        solve=$(grep -o 'cg [0-9.]* total' <<<"$out" | cut -d' ' -f2)
        l2=$(field "$out" l2_error)
        if [ "$solver" = op2 ]; then
            red=$(field "$out" allreduces_per_iteration)
        else
            # PETSc's -log_view: calls of the reducing vector operations (each one allreduce)
            # over the whole run (GAMG's set-up included) / iterations.
            red=$(awk -v i="$its" '/^(VecTDot|VecDot|VecNorm|VecMDot|VecDotNorm2) / { t += $2 }
                END { if (i > 0) printf "%.2f", t / i; else print "-" }' <<<"$out")
            copy=$(field "$out" matrix_copy_seconds)
            solver="$solver (matrix copy ${copy} s)"
        fi
        echo "| $np x $th | $solver | $its | $spi | $solve | $red | $l2 |" >>"$OUT"
    done
done
echo >>"$OUT"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT"
cat "$OUT"
