#!/bin/bash
#SBATCH --job-name=op2-airfoil
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=32
#SBATCH --time=00:30:00
# Adjust for your site:
# #SBATCH --account=...
# #SBATCH --partition=...
# module load mpich rust

set -euo pipefail
export OP2_CACHE_DIR=${OP2_CACHE_DIR:-$HOME/.cache/op2}   # shared by every job; needs flock
export OP2_CFLAGS=${OP2_CFLAGS:--O3 -march=native}         # the resolved CPU is part of the cache key
export OP2_CACHE_REPORT=airfoil-cache-$SLURM_JOB_ID.json    # per-rank cache counters at exit
export OP2_LOCK_TIMEOUT=300

srun target/release/airfoil --iters 1000
