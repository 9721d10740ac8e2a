#!/bin/bash
# The op2 scaling study (bench/scaling) under PBS Pro / Torque, launching each run with MPICH's
# mpiexec over $PBS_NODEFILE; results file (JSON) and PNG plots in $OUT_DIR. Build first:
#   cargo bench --bench scaling --no-run    (builds the programs and the study)
#   qsub cluster-configs/pbs-scaling.sh
# OUT_DIR must be on a filesystem every node sees. See README.md here.
# ===== EDIT FOR YOUR SITE: resources =========================================================
#PBS -N op2-scaling
#PBS -l select=4:ncpus=32:mpiprocs=32
#PBS -l walltime=02:00:00
#PBS -j oe
# #PBS -A account
# #PBS -q queue
# ===== EDIT FOR YOUR SITE: environment =======================================================
# module load mpich gcc
OP2_ROOT=${OP2_ROOT:-${PBS_O_WORKDIR:-$PWD}}
OP2_CACHE_DIR=${OP2_CACHE_DIR:-$HOME/.cache/op2}
LAUNCHER=${LAUNCHER:-mpiexec}
WARMUP=none
RANKS=${RANKS:-}
BENCH_ARGS=${BENCH_ARGS:---repeat 3}
OUT_DIR=${OUT_DIR:-$OP2_ROOT/results}
# ===== END OF EDIT ===========================================================================
set -euo pipefail
JOB_ID=${PBS_JOBID:-local}
JOB_ID=${JOB_ID%%.*}
cd "$OP2_ROOT"
# shellcheck source=cluster-configs/lib.sh
source "$OP2_ROOT/cluster-configs/lib.sh"

op2_prepare
op2_scaling
