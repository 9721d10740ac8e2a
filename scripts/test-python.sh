#!/usr/bin/env bash
# The Python package's tests: set up and install it (scripts/setup-python.sh), run its own
# pytest tests (python/tests) on 1, 2 and 3 ranks, each under a timeout, then Firedrake's
# tests/pyop2 files through the PyOP2 harness when OP2_PYOP2_TESTS names a folder holding them
# (python/pyop2_harness/run.py; it says loudly that it skipped them otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
bash scripts/setup-python.sh
for n in 1 2 3; do
  echo "test-python: python/tests on $n rank(s)"
  timeout 900 mpiexec -n "$n" "$py" -m pytest -q -p no:cacheprovider python/tests
done
$py python/pyop2_harness/run.py
if [ -n "${OP2_PYOP2_TESTS:-}" ]; then
  $py python/pyop2_harness/run.py --np 2 test_mpi.py test_caching.py
  $py python/pyop2_harness/run.py --np 3 test_mpi.py test_caching.py
fi
