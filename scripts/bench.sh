#!/usr/bin/env bash
# The scaling study: builds op2's programs and runs `cargo bench --bench scaling` with the
# given options, which writes a results file (JSON) and plots (PNG) into --out
# (default target/scaling). `--quick` is the CI smoke run; `--help` lists the options.
#   bash scripts/bench.sh --quick
#   bash scripts/bench.sh --ranks 1,2,4,8 --repeat 5 --out results/
# Plot results files again, e.g. copied from a cluster: python3 bench/plot_scaling.py FILE...
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench scaling -- "$@"
