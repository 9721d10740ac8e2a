#!/bin/bash
# The op2 scaling study (bench/scaling) under Slurm: strong and weak Airfoil scaling, cold and
# warm start-up, compiles per kernel, dispatch, sparsity vs assembly, C baseline; one results
# file (JSON) and PNG plots in $OUT_DIR. Build first on a login node:
#   cargo bench --bench scaling --no-run    (builds the programs and the study)
#   sbatch cluster-configs/slurm-scaling.sh
# The study uses its own fresh cache directories under $OUT_DIR (cold start-up is measured), so
# OUT_DIR must be on a filesystem every node sees. See README.md here.
# ===== EDIT FOR YOUR SITE: resources =========================================================
#SBATCH --job-name=op2-scaling
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=32
#SBATCH --time=02:00:00
#SBATCH --output=slurm-scaling-%j.out
# #SBATCH --account=...
# #SBATCH --partition=...
# ===== EDIT FOR YOUR SITE: environment =======================================================
# module load mpich gcc
OP2_ROOT=${OP2_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
OP2_CACHE_DIR=${OP2_CACHE_DIR:-$HOME/.cache/op2}  # checked for flock; the study's caches are in OUT_DIR
LAUNCHER=${LAUNCHER:-srun}                     # srun (srun --mpi=$SRUN_MPI) | mpiexec (hydra)
SRUN_MPI=${SRUN_MPI:-pmi2}                     # MPICH: pmi2 (`srun --mpi=list` shows yours)
WARMUP=none                                    # the study warms its own caches
RANKS=${RANKS:-}                               # e.g. 1,2,4,...,128 (default: powers of 2 and the job size)
BENCH_ARGS=${BENCH_ARGS:---repeat 3}           # e.g. --mesh-scale 4 --iters 200 --threads 1,2, or --quick
OUT_DIR=${OUT_DIR:-$OP2_ROOT/results}
# ===== END OF EDIT ===========================================================================
set -euo pipefail
JOB_ID=${SLURM_JOB_ID:-local}
# shellcheck source=cluster-configs/lib.sh
source "$OP2_ROOT/cluster-configs/lib.sh"

op2_prepare
op2_scaling
