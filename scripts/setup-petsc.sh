#!/usr/bin/env bash
# Install PETSc built on MPICH (the MPI op2 uses) for op2's cargo feature `petsc`: PETSc 3.26.1
# from PyPI's source distribution, configured with only what apt provides (MPICH, BLAS/LAPACK;
# no Fortran, no C++, no downloads), installed into $PETSC_DIR (default /opt/petsc-mpich).
# Debian's own PETSc is built on Open MPI and cannot share op2's MPICH processes.
#
# Idempotent: does nothing when $PETSC_DIR/lib/libpetsc.so exists. Prints the time it took.
# Usage: scripts/setup-petsc.sh   (PETSC_DIR=/other/prefix scripts/setup-petsc.sh)
# Environment: PETSC_VERSION (3.26.1), PETSC_SRC (/opt/src: sources are unpacked there),
# PETSC_TARBALL (an already downloaded sdist), PETSC_JOBS (make jobs, default nproc).
set -euo pipefail
start=$(date +%s)
PREFIX=${PETSC_DIR:-/opt/petsc-mpich}
VERSION=${PETSC_VERSION:-3.26.1}
SRC=${PETSC_SRC:-/opt/src}
JOBS=${PETSC_JOBS:-$(nproc)}
done_msg() { echo "setup-petsc: $1 ($(($(date +%s) - start)) s)"; }

if [ -e "$PREFIX/lib/libpetsc.so" ]; then
    done_msg "PETSc already installed in $PREFIX"
    exit 0
fi

# Build tools and the libraries PETSc is configured against (MPICH is op2's own set-up).
need=()
for p in mpich libmpich-dev liblapack-dev libblas-dev python3 make gcc curl; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# The sdist from PyPI (pip download cannot fetch it without building its metadata).
tarball=${PETSC_TARBALL:-/tmp/petsc-$VERSION.tar.gz}
if [ ! -s "$tarball" ]; then
    # PyPI's simple index names the sdist's address and its sha256.
    link=$(curl -fsSL https://pypi.org/simple/petsc/ \
        | grep -o "https://files.pythonhosted.org/[^\"]*/petsc-$VERSION\.tar\.gz#sha256=[0-9a-f]*" | head -1)
    [ -n "$link" ] || { echo "setup-petsc: no petsc-$VERSION.tar.gz on PyPI's index" >&2; exit 1; }
    curl -fsSL -o "$tarball.part" "${link%%#*}"
    echo "${link##*#sha256=}  $tarball.part" | sha256sum -c --quiet
    mv "$tarball.part" "$tarball"
fi
mkdir -p "$SRC"
dir="$SRC/petsc-$VERSION"
[ -e "$dir/configure" ] || tar -xzf "$tarball" -C "$SRC"
cd "$dir"

export PETSC_DIR="$dir" PETSC_ARCH=arch-linux-c-opt
unset PETSC_OPTIONS
./configure --prefix="$PREFIX" --with-cc=mpicc.mpich --with-cxx=0 --with-fc=0 \
    --with-debugging=0 --with-shared-libraries=1 --with-x=0 \
    --with-blaslapack-lib="-llapack -lblas" COPTFLAGS=-O2 --with-mpiexec=mpiexec.mpich
make MAKE_NP="$JOBS" all
make install
[ -e "$PREFIX/lib/libpetsc.so" ] || { echo "setup-petsc: no $PREFIX/lib/libpetsc.so after make install" >&2; exit 1; }
done_msg "PETSc $VERSION installed in $PREFIX"
