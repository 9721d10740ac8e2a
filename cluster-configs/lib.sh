# Shared by the batch scripts of this folder (sourced, not submitted). Each script sets, in its
# marked block: OP2_ROOT, OP2_CACHE_DIR, LAUNCHER, WARMUP, CACHE_PACK, OUT_DIR, and calls
#   op2_prepare         check binaries, cache dir, flock, cache mode; set up the cache report
#   op2_warm            the warm-up: compile once on one rank, or unpack a cache pack
#   op2_launch N CMD..  run CMD on N ranks with $LAUNCHER (srun | mpiexec)
#   op2_collect         print the cache report's summary and check the JSON was written
# DRY_RUN=1 prints every command instead of running it (and skips the checks that need the
# programs to have run), for trying a script outside a scheduler: `DRY_RUN=1 bash FILE`.

op2_say() { echo "op2-job: $*"; }
op2_die() { echo "op2-job: ERROR: $*" >&2; exit 1; }

# Print a command, then run it unless DRY_RUN=1.
op2_run() {
  echo "+ $*"
  [ "${DRY_RUN:-0}" = 1 ] || "$@"
}

# Ranks on the scheduler's side: Slurm's, PBS's node file, else 1.
op2_ntasks() {
  if [ -n "${SLURM_NTASKS:-}" ]; then echo "$SLURM_NTASKS"
  elif [ -n "${PBS_NODEFILE:-}" ] && [ -r "$PBS_NODEFILE" ]; then wc -l <"$PBS_NODEFILE"
  else echo "${NP:-1}"; fi
}

# The launch command for N ranks, as words on stdout.
#  srun:    Slurm starts the ranks; MPICH needs --mpi=pmi2 (SRUN_MPI, default pmi2; plain
#           `srun` or --mpi=none starts N separate 1-rank jobs, which op2_airfoil detects from
#           the rank count airfoil prints).
#  mpiexec: MPICH's hydra; inside a Slurm allocation it starts ranks through Slurm by itself,
#           under PBS it reads $PBS_NODEFILE.
op2_launcher() {
  local n=$1
  case "$LAUNCHER" in
    srun) echo "srun --mpi=${SRUN_MPI:-pmi2} -n $n" ;;
    mpiexec)
      if [ -n "${PBS_NODEFILE:-}" ] && [ -z "${SLURM_JOB_ID:-}" ]; then
        echo "mpiexec -f $PBS_NODEFILE -n $n"
      else
        echo "mpiexec -n $n"
      fi ;;
    *) op2_die "LAUNCHER must be srun or mpiexec, not '$LAUNCHER'" ;;
  esac
}

op2_launch() {
  local n=$1; shift
  # shellcheck disable=SC2046
  op2_run $(op2_launcher "$n") "$@"
}

op2_prepare() {
  BIN=$OP2_ROOT/target/release
  if [ "${DRY_RUN:-0}" != 1 ]; then
    for b in airfoil op2; do
      [ -x "$BIN/$b" ] || op2_die "$BIN/$b missing: build first, on a login node: (cd $OP2_ROOT && cargo build --release --bins)"
    done
  fi
  mkdir -p "$OP2_CACHE_DIR" "$OUT_DIR" || op2_die "cannot create OP2_CACHE_DIR=$OP2_CACHE_DIR or OUT_DIR=$OUT_DIR"
  # op2 serialises compiles with flock in OP2_CACHE_DIR. Lustre without `-o flock` (and NFS
  # without lockd) refuse it: op2 would stop with a clear error at the first compile; say it
  # here, before the big run starts.
  if command -v flock >/dev/null 2>&1; then
    flock -w 10 "$OP2_CACHE_DIR/.op2-flock-probe" true 2>/dev/null ||
      op2_die "flock does not work in OP2_CACHE_DIR=$OP2_CACHE_DIR (Lustre without -o flock? NFS without lockd?): use a flock-capable filesystem that every node sees"
    rm -f "$OP2_CACHE_DIR/.op2-flock-probe"
  fi
  # OP2_CACHE_MODE (shared / node / auto) exists only in op2 versions that document it.
  if [ -n "${OP2_CACHE_MODE:-}" ] && ! grep -q OP2_CACHE_MODE "$OP2_ROOT/src/config.rs" 2>/dev/null; then
    op2_say "WARNING: this op2 has no OP2_CACHE_MODE; ignoring OP2_CACHE_MODE=$OP2_CACHE_MODE (OP2_CACHE_DIR must be one directory every rank sees)"
    unset OP2_CACHE_MODE
  fi
  export OP2_CACHE_DIR
  export OP2_PRINT_CACHE_SIZE=1                 # the cache table of all ranks, in the job output
  export OP2_CACHE_REPORT=$OUT_DIR/op2-cache-$JOB_ID.json   # the same as JSON, kept with it
  export OP2_LOCK_TIMEOUT=${OP2_LOCK_TIMEOUT:-600}
  op2_say "job $JOB_ID on $(op2_ntasks) rank(s), $(hostname -s); OP2_ROOT=$OP2_ROOT"
  op2_say "OP2_CACHE_DIR=$OP2_CACHE_DIR${OP2_CACHE_MODE:+ OP2_CACHE_MODE=$OP2_CACHE_MODE} LAUNCHER=$LAUNCHER WARMUP=$WARMUP"
  op2_say "cache report: $OP2_CACHE_REPORT"
}

# Compile every kernel once before the big run, so that it starts warm.
#  compile: a 1-rank Airfoil on a tiny mesh, 1 iteration (the generated code does not depend
#           on the mesh or the rank count, so the big run then compiles nothing);
#  pack:    unpack CACHE_PACK with `op2 cache unpack` (only in op2 versions that have it);
#  none:    nothing (the big run's rank 0 compiles, the others wait for it).
op2_warm() {
  case "$WARMUP" in
    compile)
      OP2_CACHE_REPORT= OP2_PRINT_CACHE_SIZE=0 op2_launch 1 "$BIN/airfoil" --i 8 --j 8 --iters 1 --progress 0 ||
        op2_die "warm-up run failed" ;;
    pack)
      if [ "${DRY_RUN:-0}" != 1 ] && ! "$BIN/op2" cache --help 2>/dev/null | grep -qw unpack; then
        op2_die "WARMUP=pack: this op2 has no 'op2 cache unpack'; use WARMUP=compile"
      fi
      [ -n "${CACHE_PACK:-}" ] || op2_die "WARMUP=pack needs CACHE_PACK=file"
      op2_run "$BIN/op2" cache --cache-dir "$OP2_CACHE_DIR" unpack "$CACHE_PACK" || op2_die "unpacking $CACHE_PACK failed" ;;
    none) ;;
    *) op2_die "WARMUP must be compile, pack or none, not '$WARMUP'" ;;
  esac
}

# After the run: the JSON report must exist; print its summary.
op2_collect() {
  [ "${DRY_RUN:-0}" = 1 ] && return 0
  [ -s "$OP2_CACHE_REPORT" ] || op2_die "no cache report at $OP2_CACHE_REPORT"
  op2_say "cache report written: $OP2_CACHE_REPORT"
  grep -o '"summary": *"[^"]*"' "$OP2_CACHE_REPORT" | sed 's/^/op2-job: /'
}

# The Airfoil run on every rank of the job, its output in $OUT_DIR/airfoil-$JOB_ID.log too.
op2_airfoil() {
  local np log
  np=$(op2_ntasks)
  log=$OUT_DIR/airfoil-$JOB_ID.log
  # shellcheck disable=SC2086
  op2_launch "$np" "$BIN/airfoil" $AIRFOIL_ARGS --progress 0 | tee "$log"
  if [ "${DRY_RUN:-0}" != 1 ]; then
    # MPICH under plain `srun` (no --mpi=pmi2) gives N separate 1-rank runs.
    grep -q " on $np rank(s)" "$log" || op2_die "airfoil did not run as one job of $np ranks (srun without --mpi=pmi2?)"
  fi
  op2_collect
}

# The scaling study (bench/scaling) at rank counts $RANKS (default 1, 2, 4, ... and the job's
# size), launching each run with $LAUNCHER; results file and plots in $OUT_DIR. It runs the
# bench executable that `cargo bench --bench scaling --no-run` built (the newest
# target/release/deps/scaling-*, or $SCALING_BIN), so compute nodes need no Rust toolchain.
op2_scaling() {
  local np ranks exe plot=()
  np=$(op2_ntasks)
  ranks=${RANKS:-}
  if [ -z "$ranks" ]; then
    ranks=1
    local r=2
    while [ "$r" -lt "$np" ]; do ranks="$ranks,$r"; r=$((r * 2)); done
    [ "$np" -gt 1 ] && ranks="$ranks,$np"
  fi
  exe=${SCALING_BIN:-$(find "$OP2_ROOT/target/release/deps" -maxdepth 1 -type f -perm -u+x -name 'scaling-*' -printf '%T@ %p\n' 2>/dev/null | sort -rn | head -1 | cut -d' ' -f2-)}
  if [ "${DRY_RUN:-0}" != 1 ] && [ ! -x "$exe" ]; then
    op2_die "the scaling bench is not built: (cd $OP2_ROOT && cargo bench --bench scaling --no-run)"
  fi
  # Plots need matplotlib; without it, plot later: python3 bench/plot_scaling.py FILE.
  python3 -c "import matplotlib" 2>/dev/null || plot=(--no-plot)
  # The study sets its own cache directories and reports.
  # shellcheck disable=SC2086
  OP2_CACHE_REPORT= OP2_PRINT_CACHE_SIZE=0 op2_run "${exe:-scaling}" \
    --ranks "$ranks" --launcher "$(op2_launcher '%n')" --out "$OUT_DIR" "${plot[@]}" $BENCH_ARGS
  [ "${DRY_RUN:-0}" = 1 ] && return 0
  local res
  res=$(ls -t "$OUT_DIR"/scaling-*.json 2>/dev/null | head -1)
  [ -n "$res" ] || op2_die "no results file in $OUT_DIR"
  op2_say "results file written: $res"
}
