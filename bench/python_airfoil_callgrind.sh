#!/usr/bin/env bash
# Instructions per iteration of the Python Airfoil (python/examples/airfoil.py) against the Rust
# `airfoil`, counted by callgrind: a load-independent companion of bench/python_airfoil.py.
#
#   PYTHON=.venv/bin/python bench/python_airfoil_callgrind.sh [I J]   (mesh 100 x 150 default)
#
# One rank, one thread, both programs on the same generated HDF5 mesh and one fresh kernel
# cache (a warm-up run of each first: the counted runs are cache hits on the same entries).
# Each program runs 2 and 12 iterations under callgrind; the difference over 10 is the cost
# of an iteration, setup and start-up cancelled out. Prints, per iteration, the inclusive
# instructions of op2's `par_loop` (the loops themselves: the same on both sides) and of the
# whole iteration (Rust: `airfoil::solve`; Python: the interpreter's outermost frame), and what
# Python adds. Valgrind 3.19 does not decode AVX-512, so the job runs at x86-64-v3
# (OP2_TEST_ISA_LEVEL=3); OPENBLAS_NUM_THREADS=1 keeps numpy's idle threads out of the counts.
set -euo pipefail
cd "$(dirname "$0")/.."
I=${1:-100}; J=${2:-150}
PY=${PYTHON:-python3}
BIN=$PWD/target/release/airfoil
[ -x "$BIN" ] || { echo "build first: cargo build --release --bins" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 1; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
export OP2_CACHE_DIR=$W/cache OP2_TEST_ISA_LEVEL=3 OP2_THREADS=1 OPENBLAS_NUM_THREADS=1
target/release/op2 mesh convert --naca "$I" "$J" -o "$W/mesh.h5" >/dev/null
rust=("$BIN" --mesh-h5 "$W/mesh.h5" --progress 0)
python=("$PY" python/examples/airfoil.py --mesh-h5 "$W/mesh.h5")
"${rust[@]}" --iters 2 >/dev/null
"${python[@]}" --iters 2 >/dev/null
for it in 2 12; do
  valgrind --tool=callgrind --callgrind-out-file="$W/rust-$it.out" "${rust[@]}" --iters $it \
    >"$W/rust-$it.txt" 2>&1
  valgrind --tool=callgrind --callgrind-out-file="$W/python-$it.out" "${python[@]}" \
    --iters $it >"$W/python-$it.txt" 2>&1
  for s in rust python; do
    callgrind_annotate --inclusive=yes --threshold=100 "$W/$s-$it.out" >"$W/$s-$it.inc" 2>/dev/null
  done
done
python3 - "$W" "$I" "$J" <<'PY'
import re, sys
w, i, j = sys.argv[1], sys.argv[2], sys.argv[3]

def inclusive(path, pattern):
    for line in open(path):
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S.*)$", line)
        if m and not m.group(2).startswith("=>") and re.search(pattern, m.group(2)):
            return int(m.group(1).replace(",", ""))
    sys.exit(f"python_airfoil_callgrind: no {pattern!r} in {path}")

def per_iteration(side, pattern):
    return (inclusive(f"{w}/{side}-12.inc", pattern) - inclusive(f"{w}/{side}-2.inc", pattern)) / 10

loops = {s: per_iteration(s, r"op2::exec::parloop::par_loop \[") for s in ("rust", "python")}
whole = {"rust": per_iteration("rust", r"airfoil::solve"),
         "python": per_iteration("python", r"_PyEval_EvalFrameDefault \[")}
print(f"mesh {i} x {j}, 1 rank, 1 thread, instructions per iteration (callgrind):")
for s in ("rust", "python"):
    print(f"  {s:6s} par_loop {loops[s]:14,.0f}   whole iteration {whole[s]:14,.0f}")
print(f"  loops python/rust {loops['python'] / loops['rust']:.6f}; whole iteration "
      f"python/rust {whole['python'] / whole['rust']:.6f} (python adds "
      f"{whole['python'] - whole['rust']:,.0f} instructions per iteration)")
PY
