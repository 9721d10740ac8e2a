#!/usr/bin/env bash
# The whole test suite: unit, doc and MPI integration tests (the slow ones marked #[ignore]
# included). Integration tests launch `mpiexec -n 4` on the built binaries, each with its own
# temporary cache directory and a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --bins --examples
cargo test --release -- --include-ignored
