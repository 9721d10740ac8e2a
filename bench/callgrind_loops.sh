#!/usr/bin/env bash
# Instructions per element of each Airfoil loop (issue 25's load-independent figure), for the
# scalar (OP2_SIMD=off) and the vectorised (OP2_SIMD=on) generated code, counted by callgrind.
#
#   bench/callgrind_loops.sh [I J ITERS]     (default mesh 100 x 150 per block, 10 iterations)
#
# Needs valgrind and `cargo build --release --bins`. op2 loads generated code from anonymous
# memory files, which valgrind cannot name; bench/memfd_shim.c (built here, preloaded into the
# profiled run only) makes memfd_create return a real file instead, so each loop's library is
# a named object. Valgrind 3.19 does not decode AVX-512, so the job runs at x86-64-v3
# (OP2_TEST_ISA_LEVEL=3: 4 lanes). A warm-up run compiles into a fresh cache first; the counted
# run is all cache hits. Libraries are named in load order, which is the loops' first-call
# order: save_soln, adt_calc, res_calc, bres_calc, update.
set -euo pipefail
cd "$(dirname "$0")/.."
I=${1:-100}; J=${2:-150}; ITERS=${3:-10}
BIN=$PWD/target/release/airfoil
[ -x "$BIN" ] || { echo "build first: cargo build --release --bins" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 1; }
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
cc -O2 -shared -fPIC -o "$WORK/shim.so" bench/memfd_shim.c
for mode in off on; do
  d=$WORK/$mode; mkdir -p "$d/libs"
  export OP2_CACHE_DIR=$d/cache OP2_TEST_ISA_LEVEL=3 OP2_THREADS=1 OP2_SIMD=$mode MEMFD_DIR=$d/libs
  "$BIN" --iters 1 --i "$I" --j "$J" --progress 0 >/dev/null 2>&1
  LD_PRELOAD=$WORK/shim.so valgrind --tool=callgrind --compress-strings=no \
    --callgrind-out-file="$d/cg.out" "$BIN" --iters "$ITERS" --i "$I" --j "$J" --progress 0 \
    > "$d/run.txt" 2>&1
  python3 - "$d/cg.out" "$d/run.txt" "$mode" "$ITERS" <<'PY'
import collections, re, sys
out, run, mode, iters = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tot, ob, after_calls = collections.Counter(), None, False
for line in open(out):
    if line.startswith('ob='):
        ob = line[3:].strip()
    elif line.startswith('calls='):
        after_calls = True          # the next cost line is a call's inclusive cost: skip it
    elif line[:1].isdigit() or line[:1] in '+-*':
        if after_calls:
            after_calls = False
        elif ob and 'op2-kernel' in ob:
            tot[ob] += int(line.split()[1])
text = open(run).read()
m = re.search(r'airfoil: (\d+) cells, (\d+) nodes, (\d+) edges, (\d+) boundary edges', text)
cells, nodes, edges, bedges = map(int, m.groups())
loops = [('save_soln', cells, iters), ('adt_calc', cells, 2 * iters), ('res_calc', edges, 2 * iters),
         ('bres_calc', bedges, 2 * iters), ('update', cells, 2 * iters)]
libs = sorted(tot, key=lambda o: int(re.search(r'-(\d+)\.so$', o).group(1)))
assert len(libs) == 5, f"expected 5 loop libraries, found {len(libs)}"
for (name, n, calls), lib in zip(loops, libs):
    print(f"OP2_SIMD={mode:3}  {name:10} {tot[lib] / (n * calls):8.1f} instructions per element")
PY
done
