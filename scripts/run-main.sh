#!/usr/bin/env bash
# The main job: set up, build, and run the flagship solver (OP2's Airfoil benchmark on the
# standard 720k-cell NACA0012 mesh, generated in memory, 1000 iterations) under mpiexec on 4
# ranks (NP=... to change; extra arguments go to airfoil, e.g. --iters 200 --png mach.png).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --bins
NP=${NP:-4}
exec mpiexec -n "$NP" target/release/airfoil "$@"
