#!/usr/bin/env bash
# Airfoil: 1 rank x 2 threads against 2 ranks x 1 thread, per loop, in interleaved pairs, with
# 1 x 1 scalar (OP2_SIMD=off) and 1 x 1 vectorised (OP2_SIMD=auto) beside them and a triad
# bandwidth measured in the same run (issue 25: "1 x 2 threads within 10% of 2 x 1, per loop").
#
#   bench/threads_vs_ranks.sh [PAIRS] [ITERS]     (defaults 5 and 100; about 5 minutes quiet)
#
# Needs `cargo build --release --bins` (target/release/airfoil), mpiexec and cc. Every
# configuration runs once per pair, the order alternating from pair to pair (1x2 first in odd
# pairs, 2x1 first in even ones), all on one warm disk cache (compiled before the first pair),
# so load changes hit both sides alike. Printed: per loop, the median and the minimum over the
# pairs of ms per call (max over ranks) for each configuration and GB/s (bytes each loop must
# move, as bench/airfoil.rs counts them, over the median time); the 1x2/2x1 ratio per loop and
# for the iteration, as the median of the per-pair ratios and as min/min; the triad (1 and 2
# threads) before and after; the load average at the start and the end (on a shared machine,
# say it beside any figure). Optional: OP2_CFLAGS (as for op2), AIRFOIL_MESH_ARGS (e.g.
# "--mesh new_grid.dat"; default the generated standard mesh, 720000 cells).
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-5}
ITERS=${2:-100}
EXE=target/release/airfoil
[ -x "$EXE" ] || { echo "build first: cargo build --release --bins" >&2; exit 1; }
command -v mpiexec >/dev/null || { echo "mpiexec not found" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OP2_CACHE_DIR="$WORK/cache"
read -r -a MESH <<<"${AIRFOIL_MESH_ARGS:-}"

# A STREAM-like triad a = b + s*c over 3 x 160 MB, best of 5, on 1 and 2 threads (OpenMP).
cat >"$WORK/triad.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>
int main(int argc, char **argv) {
    long n = 20000000; int t = atoi(argv[1]);
    omp_set_num_threads(t);
    double *a = malloc(n * 8), *b = malloc(n * 8), *c = malloc(n * 8), best = 1e30;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) { a[i] = 0; b[i] = 1; c[i] = 2; }
    for (int r = 0; r < 5; r++) {
        double t0 = omp_get_wtime();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) a[i] = b[i] + 3.0 * c[i];
        double dt = omp_get_wtime() - t0; if (dt < best) best = dt;
    }
    if (a[n / 2] != 7.0) return 1;
    printf("%.1f\n", 24.0 * n / best / 1e9);
    return 0;
}
EOF
cc -O3 -fopenmp -o "$WORK/triad" "$WORK/triad.c"
triad() { echo "$("$WORK/triad" 1) GB/s on 1 thread, $("$WORK/triad" 2) GB/s on 2 threads"; }

# run NAME NP THREADS SIMD: one airfoil run, its output kept as $WORK/NAME.N
run() {
    local name=$1 np=$2 threads=$3 simd=$4 n=$5
    OP2_THREADS=$threads OP2_SIMD=$simd mpiexec -n "$np" "$EXE" "${MESH[@]}" \
        --iters "$ITERS" --progress 0 >"$WORK/$name.$n" 2>&1 ||
        { cat "$WORK/$name.$n" >&2; exit 1; }
}

echo "threads vs ranks: $PAIRS pairs x $ITERS iterations, $(nproc) cores, load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "triad before: $(triad)"
# Compile every loop once (scalar and vectorised), outside the timed runs.
run warm 1 1 off 0
run warm 1 1 auto 0
for p in $(seq 1 "$PAIRS"); do
    if [ $((p % 2)) = 1 ]; then
        run t1x2 1 2 auto "$p"; run r2x1 2 1 auto "$p"
    else
        run r2x1 2 1 auto "$p"; run t1x2 1 2 auto "$p"
    fi
    run s1x1 1 1 off "$p"
    run v1x1 1 1 auto "$p"
    echo "  pair $p done (load $(cut -d' ' -f1 /proc/loadavg))"
done
echo "triad after: $(triad)"

python3 - "$WORK" "$PAIRS" "$ITERS" <<'EOF'
import re, statistics, sys
work, pairs, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def parse(path):
    text = open(path).read()
    per = float(re.search(r"([0-9.]+) s per iteration", text).group(1))
    m = re.search(r"(\d+) cells, (\d+) nodes, (\d+) edges, (\d+) boundary edges", text)
    loops = {}
    for l in text.splitlines():
        w = l.split()
        if len(w) == 4 and w[3].endswith("%") and w[1].isdigit():
            loops[w[0]] = float(w[2]) / int(w[1]) * 1e3  # ms per call, max over ranks
    return per, loops, tuple(int(x) for x in m.groups())
runs = {c: [parse(f"{work}/{c}.{p}") for p in range(1, pairs + 1)]
        for c in ["s1x1", "v1x1", "t1x2", "r2x1"]}
nc, nn, ne, nb = runs["s1x1"][0][2]
d = 8.0  # bytes each loop must move per call (bench/airfoil.rs, loop_bytes)
gb = {"save_soln": nc * 8 * d, "adt_calc": nn * 2 * d + nc * 16 + nc * 5 * d,
      "res_calc": nn * 2 * d + nc * 5 * d + nc * 8 * d + ne * 16,
      "bres_calc": nb * (12 + 4 + 4 * d + 5 * d + 8 * d), "update": nc * 17 * d}
names = [k for k in runs["s1x1"][0][1]]
div = lambda a, b: a / b if b > 0 else float("nan")
med = lambda c, k: statistics.median(r[1][k] for r in runs[c])
low = lambda c, k: min(r[1][k] for r in runs[c])
print(f"\nper loop, ms per call (median / min of {pairs}), GB/s at the median; mesh {nc} cells")
print(f"  {'loop':<10}" + "".join(f"{c:>24}" for c in ["1x1 scalar", "1x1 vectorised", "1x2 threads", "2x1 ranks"])
      + f"{'1x2/2x1 med(pair)':>19}{'min/min':>9}")
for k in names:
    cells = ""
    for c in ["s1x1", "v1x1", "t1x2", "r2x1"]:
        m = med(c, k)
        cells += f"{m:9.3f} /{low(c, k):8.3f} {div(gb.get(k, 0), m * 1e6):5.1f}"
    ratio = statistics.median(div(a[1][k], b[1][k]) for a, b in zip(runs["t1x2"], runs["r2x1"]))
    print(f"  {k:<10}{cells}{ratio:19.2f}{div(low('t1x2', k), low('r2x1', k)):9.2f}")
it = lambda c: [r[0] for r in runs[c]]
ratio = statistics.median(a / b for a, b in zip(it("t1x2"), it("r2x1")))
print("  iteration, s: " + "   ".join(
    f"{c} {statistics.median(it(c)):.5f} (min {min(it(c)):.5f})" for c in ["s1x1", "v1x1", "t1x2", "r2x1"]))
print(f"  1x2/2x1 per iteration: {ratio:.2f} (median of pairs), "
      f"{min(it('t1x2')) / min(it('r2x1')):.2f} (min/min); goal <= 1.10 per loop")
print(f"  1x1 scalar / vectorised per iteration: "
      f"{statistics.median(it('s1x1')) / statistics.median(it('v1x1')):.2f}")
EOF
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
