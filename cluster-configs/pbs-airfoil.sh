#!/bin/bash
# OP2's Airfoil benchmark under PBS Pro / Torque: warm the kernel cache on one rank, then the
# big run with MPICH's mpiexec over $PBS_NODEFILE.
#   qsub cluster-configs/pbs-airfoil.sh              (from the op2 checkout, built)
# Output: the job's stdout file with the residual history, `This test is considered PASSED`,
# the cache table of every rank; the cache report as JSON in $OUT_DIR/op2-cache-<job>.json.
# Every variable of the marked block can also be set with qsub -v NAME=value. See README.md.
# ===== EDIT FOR YOUR SITE: resources =========================================================
#PBS -N op2-airfoil
#PBS -l select=2:ncpus=32:mpiprocs=32
#PBS -l walltime=00:30:00
#PBS -j oe
# #PBS -A account
# #PBS -q queue
# ===== EDIT FOR YOUR SITE: environment =======================================================
# module load mpich gcc
OP2_ROOT=${OP2_ROOT:-${PBS_O_WORKDIR:-$PWD}}    # the op2 checkout (target/release built)
# The kernel cache: see slurm-airfoil.sh and README.md (shared filesystem by default).
OP2_CACHE_DIR=${OP2_CACHE_DIR:-$HOME/.cache/op2}
# OP2_CACHE_MODE=${OP2_CACHE_MODE:-shared}     # shared | node | auto (newer op2 only)
export OP2_CFLAGS=${OP2_CFLAGS:--O3}
LAUNCHER=${LAUNCHER:-mpiexec}                  # PBS: mpiexec (with -f $PBS_NODEFILE)
WARMUP=${WARMUP:-compile}                      # compile | pack (CACHE_PACK=file) | none
CACHE_PACK=${CACHE_PACK:-}
AIRFOIL_ARGS=${AIRFOIL_ARGS:---iters 1000}
OUT_DIR=${OUT_DIR:-$OP2_ROOT/results}
# ===== END OF EDIT ===========================================================================
set -euo pipefail
JOB_ID=${PBS_JOBID:-local}
JOB_ID=${JOB_ID%%.*}
cd "$OP2_ROOT"
# shellcheck source=cluster-configs/lib.sh
source "$OP2_ROOT/cluster-configs/lib.sh"

op2_prepare
op2_warm
op2_airfoil
