#!/usr/bin/env bash
# Where each Airfoil loop's time goes: one rank, one thread, the standard mesh.
#
#   bash bench/profile_airfoil.sh [AIRFOIL_EXE] [ITERS]
#
# AIRFOIL_EXE defaults to target/release/airfoil (build it with
# `cargo build --release --bin airfoil`); ITERS to 50 (perf) and 5 (callgrind).
# Prints, per generated library (one per loop, named by the kernel from its source's first
# line):
#   * perf (cpu-clock sampling): the share of samples in the library, split by symbol: a
#     kernel the compiler kept out of line (res_calc, adt_calc at -O3) shows as its own symbol
#     beside `__op2_loop`, the wrapper's own share (gathers, scatters, map reads);
#   * callgrind: instructions executed per element of the loop (load-independent) and the
#     number of calls from __op2_loop into other functions of the library.
# Also writes the disassembly of each loop's __op2_loop to $OUT/<kernel>.s (OUT defaults to a
# fresh temporary directory, printed at the end).
set -euo pipefail
exe=${1:-target/release/airfoil}
iters=${2:-50}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
cache="$out/cache"
export OP2_CACHE_DIR="$cache" OP2_THREADS=1
"$exe" --iters 2 --progress 0 >/dev/null # compile every loop (not profiled)

libs=$(find "$cache" -name '*.so')
kernel_of() { # the kernel a library was generated for (its entry's .meta names it)
    grep -o '"kernel": *"[A-Za-z0-9_]*"' "${1%.so}.meta" | head -1 | sed 's/.*"\([A-Za-z0-9_]*\)"$/\1/'
}

echo "== perf record -e cpu-clock, $iters iterations (load average $(cut -d' ' -f1-3 /proc/loadavg))"
if perf record -q -e cpu-clock -o "$out/perf.data" -- "$exe" --iters "$iters" --progress 0 \
    >/dev/null 2>"$out/perf.err"; then
    perf report -i "$out/perf.data" --stdio --sort dso,sym --percent-limit 0.5 2>/dev/null |
        grep -v '^#' | grep -v '^$' >"$out/perf.txt" || true
    : >"$out/perf.loops"
    for so in $libs; do
        k=$(kernel_of "$so")
        { grep -F "$(basename "$so")" "$out/perf.txt" || true; } |
            awk -v k="$k" '{sub("%", "", $1); print k, $1, $NF}' >>"$out/perf.loops"
    done
    # Shares of all samples, and of the samples in the five loops' libraries.
    awk '{t += $2; l[NR] = $0; p[NR] = $2} END {
        for (i = 1; i <= NR; i++) { split(l[i], f, " ");
            printf "  %-10s %-10s %6.2f%% of the process  %6.2f%% of loop time\n", f[1], f[3], p[i], 100 * p[i] / t }
        printf "  loops total: %.2f%% of the process samples\n", t }' "$out/perf.loops"
    echo "  (rest of the process:)"
    { grep -v -F "$(for so in $libs; do basename "$so"; done)" "$out/perf.txt" || true; } |
        head -8 | sed 's/^/    /'
else
    echo "  perf unavailable here: $(tail -1 "$out/perf.err")"
fi

echo "== callgrind, 5 iterations: instructions per element of each loop (load-independent)"
valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "$exe" --iters 5 --progress 0 \
    >"$out/cg.stdout" 2>"$out/cg.err"
# The set sizes, from airfoil's header line.
read -r ncell nnode nedge nbedge < <(sed -n 's/^airfoil: \([0-9]*\) cells, \([0-9]*\) nodes, \([0-9]*\) edges, \([0-9]*\) boundary edges.*/\1 \2 \3 \4/p' "$out/cg.stdout")
for so in $libs; do
    k=$(kernel_of "$so")
    objdump -d --no-show-raw-insn "$so" | awk '/<__op2_loop>:/,/^$/' >"$out/$k.s"
    case $k in
    save_soln) n=$((5 * ncell)) ;;
    adt_calc | update) n=$((10 * ncell)) ;;
    res_calc) n=$((10 * nedge)) ;;
    bres_calc) n=$((10 * nbedge)) ;;
    *) n=1 ;;
    esac
    # Self cost of every function of this library (the kernel, when not inlined, is one of
    # them): callgrind's format names an object once as `ob=(id) path`, then `ob=(id)`; a cost
    # line after `calls=` is the callee's inclusive cost and is skipped.
    ir=$(awk -v lib="$so" '
        /^c?ob=/ { id = $1; sub(/^c/, "", id); if (NF > 1) name[id] = $2 }
        /^ob=/ { cur = name[id]; next }
        /^cob=/ { next }
        /^calls=/ { skip = 1; next }
        /^[0-9+-]/ { if (skip) { skip = 0; next } if (cur == lib) t += $2; next }
        END { print t + 0 }' "$out/cg.out")
    calls=$(grep -c 'call' "$out/$k.s" || true)
    awk -v k="$k" -v ir="$ir" -v n="$n" -v c="$calls" 'BEGIN {
        printf "  %-10s %8.1f instructions per element; %d call instruction(s) in __op2_loop\n", k, ir / n, c }'
done
echo "(files, with the disassembly of each __op2_loop as <kernel>.s, in $out)"
