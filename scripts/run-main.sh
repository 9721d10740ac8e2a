#!/usr/bin/env bash
# The main job: set up, build, and run the flagship solver under mpiexec on 4 ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --bins
NP=${NP:-4}
exec mpiexec -n "$NP" target/release/hello "$@"
