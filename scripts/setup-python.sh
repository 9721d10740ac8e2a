#!/usr/bin/env bash
# op2's Python package (python/): install what it needs, idempotently, then build and install
# it. Needs scripts/setup.sh's system packages (MPICH, a C compiler) and Rust. Python packages:
# numpy, pytest, maturin, and mpi4py built from source against the system MPICH (a binary
# wheel may bring another MPI, which cannot share a job with op2's). Builds the extension with
# maturin into target/wheels (cargo's incremental build: quick when nothing changed) and
# installs that wheel (`--deps-only`: the Python packages only, as scripts/setup.sh runs it).
# PYTHON picks the interpreter (default python3); OP2_LOOPY=1 adds the optional loopy package.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
if ! $py -m pip --version >/dev/null 2>&1; then
  echo "setup-python: installing python3-pip"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip python3-dev </dev/null >/dev/null
fi
pipi() {  # plain, then --user, then past Debian's externally-managed guard
  $py -m pip install --quiet "$@" </dev/null 2>/dev/null ||
    $py -m pip install --quiet --user "$@" </dev/null 2>/dev/null ||
    $py -m pip install --quiet --break-system-packages "$@" </dev/null
}
for mod in numpy pytest maturin; do
  $py -c "import $mod" >/dev/null 2>&1 || { echo "setup-python: installing $mod"; pipi "$mod"; }
done
if ! $py -c "import mpi4py" >/dev/null 2>&1; then
  echo "setup-python: building mpi4py against $(command -v mpicc) (a few minutes)"
  MPICC=mpicc pipi --no-binary mpi4py mpi4py
fi
if ! $py -c "from mpi4py import MPI; import sys; sys.exit('MPICH' not in MPI.Get_library_version())"; then
  echo "setup-python: mpi4py is not built on MPICH; reinstall it: MPICC=mpicc $py -m pip install --force-reinstall --no-binary mpi4py mpi4py" >&2
  exit 1
fi
# Optional: loopy, for loopy kernels (`op2.Kernel(loopy_kernel, name)`; without it they are
# refused with a message and their tests skip). OP2_LOOPY=1 installs it; a failure only warns.
if [ "${OP2_LOOPY:-0}" = 1 ] && ! $py -c "import loopy" >/dev/null 2>&1; then
  echo "setup-python: installing loopy (optional)"
  pipi loopy || echo "setup-python: warning: loopy did not install; loopy kernels stay unavailable" >&2
fi
if [ "${1:-}" = "--deps-only" ]; then exit 0; fi
echo "setup-python: building the op2 package (maturin)"
rm -f target/wheels/op2-*.whl
# `python -m maturin` needs the maturin script beside that interpreter; a venv made with
# --system-site-packages has the module but not the script: use the one on PATH then.
maturin=("$py" -m maturin)
"${maturin[@]}" --version >/dev/null 2>&1 || maturin=(maturin)
"${maturin[@]}" build --release --quiet --auditwheel skip --compatibility linux -m python/Cargo.toml -o target/wheels -i "$py" >/dev/null
pipi --force-reinstall --no-deps target/wheels/op2-*.whl
(cd / && $py -c "import op2, op2.pyop2; print('setup-python: ok, op2 from', op2.__file__)")
