#!/usr/bin/env bash
# Install what op2 needs on a Debian machine, idempotently: MPICH (mpiexec, headers),
# libclang (the `mpi` crate generates its bindings with it), strace (file-operation counts) and
# METIS (libmetis-dev: the graph partitioner, linked through the `metis` crate) and HDF5 built
# with MPICH (libhdf5-mpich-dev: OP2's HDF5 mesh files, read in parallel; the default `hdf5`
# cargo feature). Rust must already be installed.
set -euo pipefail

need=()
command -v mpiexec >/dev/null 2>&1 || need+=(mpich)
[ -e /usr/include/x86_64-linux-gnu/mpich/mpi.h ] || [ -e /usr/include/mpich/mpi.h ] || [ -n "$(find /usr/include -name mpi.h -path '*mpich*' -print -quit 2>/dev/null)" ] || need+=(libmpich-dev)
ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' || need+=(libclang-dev)
command -v cc >/dev/null 2>&1 || need+=(gcc)
# strace counts cache-directory file operations per rank (tests/node_cache.rs, bench/stampede.rs).
command -v strace >/dev/null 2>&1 || need+=(strace)
[ -e /usr/include/metis.h ] || need+=(libmetis-dev)
[ -e /usr/lib/x86_64-linux-gnu/hdf5/mpich/include/hdf5.h ] || [ -e /usr/include/hdf5/mpich/hdf5.h ] || need+=(libhdf5-mpich-dev)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq </dev/null
  $SUDO apt-get install -y -qq mpich libmpich-dev libclang-dev gcc strace libmetis-dev libhdf5-mpich-dev </dev/null >/dev/null
fi
# meshio (an independent VTK reader) checks the solver's VTU output in the tests.
if ! python3 -c "import meshio" >/dev/null 2>&1; then
  echo "setup: installing the Python package meshio"
  python3 -m pip install --quiet meshio </dev/null || python3 -m pip install --quiet --user meshio </dev/null
fi
# h5py (with its own HDF5 library) checks op2's HDF5 mesh files independently (scripts/check_h5.py).
if ! python3 -c "import h5py" >/dev/null 2>&1; then
  echo "setup: installing the Python package h5py"
  python3 -m pip install --quiet h5py </dev/null || python3 -m pip install --quiet --user h5py </dev/null
fi
# matplotlib draws the scaling study's plots (bench/plot_scaling.py).
if ! python3 -c "import matplotlib" >/dev/null 2>&1; then
  echo "setup: installing the Python package matplotlib"
  python3 -m pip install --quiet matplotlib </dev/null || python3 -m pip install --quiet --user matplotlib </dev/null
fi
# The Python package's prerequisites (numpy, pytest, maturin, mpi4py on MPICH); building the
# package itself is scripts/setup-python.sh's job (scripts/test-python.sh runs it).
bash "$(dirname "$0")/setup-python.sh" --deps-only
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found; install Rust (https://rustup.rs) first" >&2; exit 1; }
# scripts/test.sh runs clippy (the rules of clippy.toml); rustup toolchains may lack it.
if ! cargo clippy --version >/dev/null 2>&1; then
  echo "setup: installing the Rust component clippy"
  rustup component add clippy </dev/null
fi
echo "setup: ok ($(mpiexec --version 2>/dev/null | sed -n 's/ *Version: *//p' | head -1 | xargs echo MPICH), $(cargo --version))"
