#!/bin/bash
# OP2's Airfoil benchmark under Slurm: warm the kernel cache on one rank, then the big run.
#   sbatch cluster-configs/slurm-airfoil.sh          (from the op2 checkout, built with
#                                                     cargo build --release --bins)
# Output: slurm-airfoil-<job>.out with the residual history, `This test is considered PASSED`
# (standard mesh, 1000 iterations), the cache table of every rank; the cache report as JSON in
# $OUT_DIR/op2-cache-<job>.json. Every variable of the marked block can also be set in the
# environment of sbatch (e.g. AIRFOIL_ARGS="--iters 200" sbatch ...). See README.md here.
# ===== EDIT FOR YOUR SITE: resources =========================================================
#SBATCH --job-name=op2-airfoil
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=32
#SBATCH --time=00:30:00
#SBATCH --output=slurm-airfoil-%j.out
# #SBATCH --account=...
# #SBATCH --partition=...
# ===== EDIT FOR YOUR SITE: environment =======================================================
# module load mpich gcc                        # the MPI op2 was built against, a C compiler
OP2_ROOT=${OP2_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}} # the op2 checkout (target/release built)
# The kernel cache. Shared filesystem (default): every job and every rank uses one directory;
# rank 0 compiles under flock, the others load. Node-local scratch ($TMPDIR, /local/...) only
# for single-node jobs, or with OP2_CACHE_MODE=node in op2 versions that have it.
OP2_CACHE_DIR=${OP2_CACHE_DIR:-$HOME/.cache/op2}
# OP2_CACHE_MODE=${OP2_CACHE_MODE:-shared}     # shared | node | auto (newer op2 only)
export OP2_CFLAGS=${OP2_CFLAGS:--O3}           # -march=native: part of the key, per CPU type
LAUNCHER=${LAUNCHER:-srun}                     # srun (srun --mpi=$SRUN_MPI) | mpiexec (hydra)
SRUN_MPI=${SRUN_MPI:-pmi2}                     # MPICH: pmi2 (`srun --mpi=list` shows yours)
WARMUP=${WARMUP:-compile}                      # compile | pack (CACHE_PACK=file) | none
CACHE_PACK=${CACHE_PACK:-}
AIRFOIL_ARGS=${AIRFOIL_ARGS:---iters 1000}     # standard mesh, OP2's 1000 iterations
OUT_DIR=${OUT_DIR:-$OP2_ROOT/results}          # cache reports (JSON) go here
# ===== END OF EDIT ===========================================================================
set -euo pipefail
JOB_ID=${SLURM_JOB_ID:-local}
# shellcheck source=cluster-configs/lib.sh
source "$OP2_ROOT/cluster-configs/lib.sh"

op2_prepare
op2_warm
op2_airfoil
