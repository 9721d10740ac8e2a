#!/usr/bin/env bash
# The whole test suite: unit, doc and MPI integration tests (the slow ones marked #[ignore]
# included). Integration tests launch `mpiexec -n 4` on the built binaries, each with its own
# temporary cache directory and a timeout; tests/slurm.rs submits cluster-configs/ to a one-node
# Slurm it starts (root). Then the scaling study's quick form (results file + plots).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The rules the tools enforce (rustfmt, Cargo.toml [lints], clippy.toml): warnings are errors.
cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
cargo clippy --release -p op2-python -- -D warnings   # the Python package (python/)
RUSTDOCFLAGS="-D warnings" cargo doc --release --no-deps
cargo build --release --bins --examples
cargo bench --bench scaling --no-run   # tests/slurm.rs runs the built study in a Slurm job
cargo test --release -- --include-ignored
# The Python package (python/): its pytest tests on 1-3 ranks, the PyOP2 harness when its files are given.
bash scripts/test-python.sh
bash scripts/bench.sh --quick --out target/scaling-quick
# The PETSc bridge (cargo feature `petsc`) when asked (OP2_TEST_PETSC=1) or in CI: install PETSc
# on MPICH if missing (scripts/setup-petsc.sh: it builds from source, see README), then its tests.
if [ "${OP2_TEST_PETSC:-0}" = 1 ] || [ -n "${CI:-}" ]; then
    bash scripts/setup-petsc.sh
    cargo build --release --features petsc --bins --examples   # the test runs op2-petsc-check
    cargo test --release --features petsc --test petsc
fi
