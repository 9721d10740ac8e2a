#!/usr/bin/env bash
# Reliability scenarios of issues 11 and 22, with trial counts too big for CI: prints one table
# (scenario, trials, failures). Every trial checks the answer (op2-selftest compares every loop
# with a Rust reference and prints "rank r: ok N loops" on every rank), not just the exit code.
#
#   bash scripts/reliability.sh            # default trial counts
#   TRIALS_KILL=50 LOOPS=2000 bash scripts/reliability.sh
#
# Needs the release build: cargo build --release --bins --examples (scenarios 6, 8 and 9 use
# root for mounts and chown where they can, and say "skipped" otherwise)
set -u
cd "$(dirname "$0")/.."
BIN=target/release
SELF=$BIN/examples/op2-selftest
OP2=$BIN/op2
TRIALS_KILL=${TRIALS_KILL:-20}
LOOPS=${LOOPS:-300}
[ -x "$SELF" ] && [ -x "$OP2" ] || { echo "build first: cargo build --release --bins --examples"; exit 2; }
WORK=$(mktemp -d /tmp/op2-reliability-XXXXXX)
chmod 700 "$WORK"
trap 'umount "$WORK"/full 2>/dev/null; umount "$WORK"/ro 2>/dev/null; rm -rf "$WORK"' EXIT
ROWS=()
row() { ROWS+=("$(printf '%-58s %7s %9s  %s' "$1" "$2" "$3" "${4:-}")"); }

# all_ok OUT NP LOOPS: every rank printed its ok line.
all_ok() {
  local r
  for ((r = 0; r < $2; r++)); do grep -q "rank $r: ok $3 loops" "$1" || return 1; done
}
# job NP CACHE ARGS...: run op2-selftest under a 120 s limit; output in $WORK/out
job() {
  local np=$1 cache=$2
  shift 2
  OP2_CACHE_DIR=$cache timeout -s KILL 120 mpiexec -n "$np" "$SELF" "$@" >"$WORK/out" 2>&1
}
tree() { # tree PID: PID and all its descendants (ranks live in their own sessions under hydra)
  echo "$1"
  local c
  for c in $(pgrep -P "$1"); do tree "$c"; done
}
fake_cc() { # fake_cc NAME BODY: cc for --version, BODY for compilations
  printf '#!/bin/sh\ncase "$*" in *-o*) %s ;; *) exec cc "$@" ;; esac\n' "$2" >"$WORK/$1"
  chmod 755 "$WORK/$1"
  echo "$WORK/$1"
}

# 1. kill -9 mid-compile at random moments, then a normal run must succeed and verify clean.
fails=0
SLOW=$(fake_cc slowcc 'sleep 0.$((RANDOM % 5)); exec cc "$@"')
for ((t = 0; t < TRIALS_KILL; t++)); do
  C=$WORK/kill$t
  mkdir -m 700 "$C"
  OP2_CC=$SLOW OP2_CACHE_DIR=$C mpiexec -n 4 "$SELF" --kernels 4 >/dev/null 2>&1 &
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))"
  kill -9 $(tree "$pid") 2>/dev/null # the launcher, its proxy, the ranks and the compiler
  wait "$pid" 2>/dev/null
  if ! job 4 "$C" --kernels 4 || ! all_ok "$WORK/out" 4 8 || ! "$OP2" cache verify --cache-dir "$C" >/dev/null; then
    fails=$((fails + 1))
  fi
done
row "kill -9 mid-compile, then rerun + verify (4 ranks)" "$TRIALS_KILL" "$fails"

# 2. damage of every kind to a warm entry: detected, rebuilt, right answer.
C=$WORK/damage
mkdir -m 700 "$C"
job 4 "$C" --kernels 2
for kind in truncated empty flipped swapped text fifo symlink no-meta no-so dir; do
  job 4 "$C" --kernels 2 # heal from the previous kind
  mapfile -t SO < <(find "$C" -name '*.so' ! -name '.tmp-*' -path '*/??/*' | sort)
  so=${SO[0]}
  case $kind in
  truncated) truncate -s 100 "$so" ;;
  empty) : >"$so" ;;
  flipped) printf '\xff' | dd of="$so" bs=1 seek=2000 conv=notrunc 2>/dev/null ;;
  swapped) cp "${SO[1]}" "$so"; cp "${SO[1]%.so}.meta" "${so%.so}.meta" ;;
  text) echo 'not a library' >"$so" ;;
  fifo) rm "$so"; mkfifo "$so" ;;
  symlink) rm "$so"; ln -s "${SO[1]}" "$so" ;;
  no-meta) rm "${so%.so}.meta" ;;
  no-so) rm "$so" ;;
  dir) rm "$so"; mkdir "$so" ;;
  esac
  if job 4 "$C" --kernels 2 && all_ok "$WORK/out" 4 4 && "$OP2" cache verify --cache-dir "$C" >/dev/null; then f=0; else f=1; fi
  row "damage: $kind .so -> detected, rebuilt" 1 "$f"
done

# 3. compiler failure, crash, absence, hang at 4 and 8 ranks: every rank fails with the reason.
for np in 4 8; do
  for what in failure crash absent hang; do
    C=$WORK/cc-$what-$np
    mkdir -m 700 "$C"
    case $what in
    failure) CC=$(fake_cc ccfail 'echo "cc: error: broken" >&2; exit 1'); want="broken" ;;
    crash) CC=$(fake_cc cccrash 'kill -SEGV $$'); want="SIGSEGV" ;;
    absent) CC=/nonexistent/cc; want="OP2_CC" ;;
    hang) CC=$(fake_cc cchang 'sleep 600'); want="OP2_COMPILE_TIMEOUT" ;;
    esac
    OP2_CC=$CC OP2_COMPILE_TIMEOUT=3 job "$np" "$C" --kernels 1
    rc=$?
    f=0
    [ $rc -ne 0 ] && [ $rc -ne 137 ] || f=1
    for ((r = 0; r < np; r++)); do grep -q "op2: rank $r: error" "$WORK/out" || f=1; done
    grep -q "$want" "$WORK/out" || f=1
    row "compiler $what, $np ranks: error on every rank" 1 "$f"
  done
done

# 4. a setting on one rank only: every rank fails naming it (never a hang).
for kv in OP2_THREADS=abc OP2_MEMORY_CACHE_MAX_ENTRIES=1 OP2_SPMD_STRICT=1 OP2_PRINT_CACHE_SIZE=1 OP2_CFLAGS=-O1 OP2_CC=gcc OP2_HANG_TIMEOUT=99 OP2_CACHE_REPORT=/dev/null; do
  var=${kv%%=*}
  C=$WORK/div-$var
  mkdir -m 700 "$C"
  OP2_CACHE_DIR=$C timeout -s KILL 60 mpiexec -n 3 sh -c "if [ \"\$PMI_RANK\" = 1 ]; then export $kv; fi; exec \"\$0\" --kernels 1" "$SELF" >"$WORK/out" 2>&1
  rc=$?
  f=0
  [ $rc -ne 0 ] && [ $rc -ne 137 ] || f=1
  grep -q "$var" "$WORK/out" || f=1
  for r in 0 1 2; do grep -q "op2: rank $r: error" "$WORK/out" || f=1; done
  row "divergent $var on rank 1: all ranks fail, named" 1 "$f"
done

# 5. 4 jobs x 4 ranks on a cold directory while clear and prune loop beside them.
C=$WORK/contend
mkdir -m 700 "$C"
SLOW2=$(fake_cc slow2 'sleep 0.2; exec cc "$@"')
(while [ ! -e "$WORK/stop" ]; do "$OP2" cache clear --cache-dir "$C" >/dev/null || echo clearfail >>"$WORK/bg"; sleep 0.05; done) &
(while [ ! -e "$WORK/stop" ]; do "$OP2" cache prune --max-size 0 --cache-dir "$C" >/dev/null || echo prunefail >>"$WORK/bg"; sleep 0.05; done) &
pids=()
for j in 1 2 3 4; do
  OP2_CC=$SLOW2 OP2_CACHE_DIR=$C timeout -s KILL 300 mpiexec -n 4 "$SELF" --kernels 4 >"$WORK/out$j" 2>&1 &
  pids+=($!)
done
fails=0
for j in 1 2 3 4; do
  wait "${pids[$((j - 1))]}" && all_ok "$WORK/out$j" 4 8 || fails=$((fails + 1))
done
touch "$WORK/stop"
wait
[ -e "$WORK/bg" ] && fails=$((fails + 1))
row "4 jobs x 4 ranks, clear + prune looping beside them" 4 "$fails"

# 6. directories: read-only (hits served), full, file instead of dir, unwritable parent.
C=$WORK/ro-src
mkdir -m 700 "$C" "$WORK/ro"
job 2 "$C" --kernels 2
if mount --bind -o ro "$C" "$WORK/ro" 2>/dev/null && mount -o remount,ro,bind "$WORK/ro" 2>/dev/null; then
  job 2 "$WORK/ro" --kernels 2 && all_ok "$WORK/out" 2 4 && grep -q "read-only" "$WORK/out"
  row "read-only cache: hits served with a warning" 1 $?
  ! job 2 "$WORK/ro" --kernels 3 && grep -q "nothing new can be stored" "$WORK/out"
  row "read-only cache: a miss fails with a message" 1 $?
  umount "$WORK/ro"
else
  row "read-only cache" 0 0 "skipped: no bind mount (not root)"
fi
mkdir -m 700 "$WORK/full"
if mount -t tmpfs -o size=16k,mode=700 tmpfs "$WORK/full" 2>/dev/null; then
  ! job 2 "$WORK/full" --kernels 4 && grep -q "op2: rank 1: error" "$WORK/out" && grep -qi "no space" "$WORK/out"
  row "full filesystem (16k tmpfs): every rank fails, ENOSPC named" 1 $?
  umount "$WORK/full"
else
  row "full filesystem" 0 0 "skipped: cannot mount a tmpfs (not root)"
fi
echo file >"$WORK/afile"
! job 2 "$WORK/afile" --kernels 1 && grep -q "afile" "$WORK/out"
row "a file where the cache dir should be: error naming it" 1 $?
mkdir -m 770 "$WORK/gw"
! job 2 "$WORK/gw" --kernels 1 && grep -q "writable by its group" "$WORK/out"
row "group-writable cache dir refused" 1 $?
C=$WORK/own
mkdir -m 700 "$C"
job 2 "$C" --kernels 1
if chown 65534 "$(find "$C" -name '*.so' -path '*/??/*' | head -1)" 2>/dev/null; then
  ! job 2 "$C" --kernels 1 && grep -q "owned by uid 65534" "$WORK/out"
  row "entry owned by another uid refused" 1 $?
else
  row "entry owned by another uid refused" 0 0 "skipped: not root"
fi

# 8. planted symbolic links (issue 22): clear, prune and verify --fix never delete or move a
# file outside the cache; an untrusted root is refused; a link another uid placed at the cache
# path is refused by the runtime and the tool.
victim() { # victim DIR: files that must survive, listed in DIR.list
  mkdir -p "$1/notes" "$1/proj/failed" "$1/proj/ab"
  for f in notes/a.txt notes/b.txt proj/0123456789abcdef0123456789abcd.meta proj/0123456789abcdef0123456789abcd.so proj/failed/keep.c proj/ab/0123456789abcdef0123456789abcd.meta proj/.tmp-old; do
    echo precious >"$1/$f"
    echo "$1/$f"
  done >"$1.list"
  touch -d '2 hours ago' "$1/proj/.tmp-old"
}
intact() { # intact DIR: every victim file still there, unchanged
  local f
  while read -r f; do [ "$(cat "$f" 2>/dev/null)" = precious ] || return 1; done <"$1.list"
}
plant() { # plant CACHE VICTIM: links where the cache tools look
  ln -sfn "$2/notes" "$1/failed"; ln -sfn "$2/notes" "$1/corrupt"; ln -sfn "$2/proj" "$1/ab"; ln -sfn "$2/proj/ab" "$1/cd"
}
for mode in 700 777; do
  for cmd in clear "prune --max-size 0" "verify --fix"; do
    V=$WORK/victim-$mode-${cmd%% *}
    C=$WORK/planted-$mode-${cmd%% *}
    victim "$V"
    mkdir -m 700 "$C"
    job 1 "$C" --kernels 1
    chmod "$mode" "$C"
    plant "$C" "$V"
    "$OP2" cache $cmd --cache-dir "$C" >"$WORK/out" 2>&1
    rc=$?
    f=0
    intact "$V" || f=1
    if [ "$mode" = 777 ]; then
      [ $rc -eq 2 ] && grep -q "refusing to use the op2 cache" "$WORK/out" || f=1
      row "planted links, 777 cache: ${cmd/ --max-size 0/} refused, outside intact" 1 "$f"
    else
      [ $rc -le 1 ] || f=1
      row "planted links, private cache: ${cmd/ --max-size 0/} stays inside" 1 "$f"
    fi
  done
done
V=$WORK/victim-fallback
victim "$V"
FB=/tmp/op2-cache-op2rel$$
ln -sfn "$V/proj" "$FB"
if chown -h 65534 "$FB" 2>/dev/null; then
  env -u HOME -u XDG_CACHE_HOME -u OP2_CACHE_DIR USER=op2rel$$ "$OP2" cache clear >"$WORK/out" 2>&1
  rc=$?
  env -u HOME -u XDG_CACHE_HOME -u OP2_CACHE_DIR USER=op2rel$$ timeout -s KILL 120 mpiexec -n 2 "$SELF" --kernels 1 >>"$WORK/out" 2>&1
  rc2=$?
  [ $rc -eq 2 ] && [ $rc2 -ne 0 ] && [ "$(grep -c "symbolic link owned by uid 65534" "$WORK/out")" -ge 2 ] && intact "$V"
  row "another uid's link as /tmp/op2-cache-\$USER: refused" 1 $?
else
  row "another uid's link at /tmp/op2-cache-\$USER" 0 0 "skipped: not root"
fi
rm -f "$FB"

# 9. a forged pack (issue 22): entry 0's library replaced by entry 1's, sizes, checksums and
# trailer recomputed (examples/op2-pack-forge). Refused when someone else could have written
# it and by `unpack --rebuild` always; a genuine pack rebuilds byte for byte.
FORGE=$BIN/examples/op2-pack-forge
LOGCC=$(fake_cc logcc "echo x >>$WORK/cc.log; exec cc \"\$@\"")
C=$WORK/packsrc
mkdir -m 700 "$C"
OP2_CC=$LOGCC job 2 "$C" --kernels 2
"$OP2" cache pack "$WORK/good.op2pack" --cache-dir "$C" >/dev/null
"$FORGE" "$WORK/good.op2pack" "$WORK/forged.op2pack"
unpacked() { [ -n "$(find "$1" -name '*.so' ! -name '.tmp-*' 2>/dev/null)" ]; }
D=$WORK/packdst1
chmod 666 "$WORK/forged.op2pack"
! "$OP2" cache unpack "$WORK/forged.op2pack" --cache-dir "$D" >"$WORK/out" 2>&1 && grep -q "writable by every user" "$WORK/out" && ! unpacked "$D"
row "forged pack, world-writable: refused, nothing published" 1 $?
chmod 644 "$WORK/forged.op2pack"
if chown 65534 "$WORK/forged.op2pack" 2>/dev/null; then
  D=$WORK/packdst2
  ! "$OP2" cache unpack "$WORK/forged.op2pack" --cache-dir "$D" >"$WORK/out" 2>&1 && grep -q "owned by uid 65534" "$WORK/out" && ! unpacked "$D"
  row "forged pack, another uid's: refused, nothing published" 1 $?
  chown 0 "$WORK/forged.op2pack"
else
  row "forged pack, another uid's" 0 0 "skipped: not root"
fi
D=$WORK/packdst3
! OP2_CC=$LOGCC "$OP2" cache unpack --rebuild "$WORK/forged.op2pack" --cache-dir "$D" >"$WORK/out" 2>&1 && grep -q "is not what its source compiles to" "$WORK/out" && ! unpacked "$D"
row "forged pack, unpack --rebuild: refused, nothing published" 1 $?
D=$WORK/packdst4
: >"$WORK/cc.log"
OP2_CC=$LOGCC "$OP2" cache unpack --rebuild "$WORK/good.op2pack" --cache-dir "$D" >/dev/null 2>&1 && [ "$(wc -l <"$WORK/cc.log")" -eq 2 ] &&
  OP2_CC=$LOGCC job 2 "$D" --kernels 2 && all_ok "$WORK/out" 2 4 && [ "$(wc -l <"$WORK/cc.log")" -eq 2 ]
row "genuine pack, unpack --rebuild: rebuilt, job compiles none" 1 $?

# 7. many distinct loops under small bounds: RSS stays flat (class cache 50, disk 2M).
C=$WORK/many
mkdir -m 700 "$C"
if [ -x /usr/bin/time ]; then
  OP2_MEMORY_CACHE_MAX_ENTRIES=50 OP2_CACHE_MAX_SIZE=2M OP2_CACHE_DIR=$C /usr/bin/time -f "%M" -o "$WORK/rss" \
    "$SELF" --kernels "$LOOPS" --repeat 1 >"$WORK/out" 2>&1
  ok=$?
  all_ok "$WORK/out" 1 "$LOOPS" && [ $ok -eq 0 ]
  row "$LOOPS distinct loops, 50-entry class cache, 2M disk bound" 1 $? "max RSS $(cat "$WORK/rss") KiB"
fi

# 10. issue 22: the compiler's descendants, rank 0's death, node mode on one directory, groups.
# A descendant holding the compiler's stdout/stderr (its own session): the job ends normally.
C=$WORK/holder
mkdir -m 700 "$C"
HOLD=$(fake_cc holdcc "setsid sleep 4244 & echo \$! >>'$WORK/holders'; exec cc \"\$@\"")
SECONDS=0
OP2_CC=$HOLD job 2 "$C" --kernels 2 && all_ok "$WORK/out" 2 4 && [ $SECONDS -lt 60 ]
row "compiler's descendant holds its output: job ends normally" 1 $? "${SECONDS} s"
C=$WORK/holder-hang
mkdir -m 700 "$C"
HOLDHANG=$(fake_cc holdhang "setsid sleep 4244 & echo \$! >>'$WORK/holders'; exec sleep 600")
SECONDS=0
! OP2_CC=$HOLDHANG OP2_COMPILE_TIMEOUT=3 job 2 "$C" --kernels 1 && grep -q OP2_COMPILE_TIMEOUT "$WORK/out" && [ $SECONDS -lt 60 ]
row "...and the compiler hangs: OP2_COMPILE_TIMEOUT still holds" 1 $? "${SECONDS} s"
kill -9 $(cat "$WORK/holders" 2>/dev/null) 2>/dev/null
# kill -9 of rank 0 mid-compile: the job ends within 30 s and the compiler dies with rank 0.
TRIALS_RANK0=${TRIALS_RANK0:-5}
fails=0
for ((t = 0; t < TRIALS_RANK0; t++)); do
  C=$WORK/rank0-$t
  mkdir -m 700 "$C"
  rm -f "$WORK/ccpid"
  SLEEPCC=$(fake_cc sleepcc "echo \$\$ >'$WORK/ccpid'; exec sleep 4245")
  OP2_CC=$SLEEPCC OP2_CACHE_DIR=$C timeout -s KILL 120 mpiexec -n 3 "$SELF" --kernels 1 >/dev/null 2>&1 &
  pid=$!
  for ((w = 0; w < 600; w++)); do [ -s "$WORK/ccpid" ] && break; sleep 0.1; done
  sleep 0.2
  cc=$(cat "$WORK/ccpid" 2>/dev/null)
  rank0=$(ps -o ppid= -p "$cc" 2>/dev/null | tr -d ' ')
  [ -n "$rank0" ] && kill -9 "$rank0"
  SECONDS=0
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt 30 ]; do sleep 0.2; done
  f=0
  kill -0 "$pid" 2>/dev/null && f=1
  sleep 1
  [ -n "$cc" ] && ps -o stat= -p "$cc" 2>/dev/null | grep -qv Z && f=1
  [ -z "$rank0" ] && f=1
  kill -9 $(tree "$pid") "$cc" 2>/dev/null
  wait "$pid" 2>/dev/null
  fails=$((fails + f))
done
row "kill -9 of rank 0 mid-compile: job ends, compiler gone" "$TRIALS_RANK0" "$fails"
# Node mode on one directory for every node (no {node}): runs as shared, no lock timeout.
C=$WORK/node-one-dir
mkdir -m 700 "$C"
OP2_CACHE_MODE=node OP2_FAKE_NODE_SIZE=2 OP2_LOCK_TIMEOUT=10 job 4 "$C" --kernels 3 && all_ok "$WORK/out" 4 6
row "node mode, 2 fake nodes, one shared directory (4 ranks)" 1 $?
# Two real users of one trusted group share a cache; the second compiles nothing.
if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null && command -v runuser >/dev/null; then
  G=op2rel$$
  SHARE=$(mktemp -d /tmp/op2-reliability-share-XXXXXX)
  groupadd "$G" && useradd -M -U -G "$G" -s /bin/sh "${G}a" && useradd -M -U -G "$G" -s /bin/sh "${G}b"
  chown "${G}a:$G" "$SHARE" && chmod 750 "$SHARE"
  printf '#!/bin/sh\necho "$*" >>%s/cc.log\nexec cc "$@"\n' "$SHARE" >"$SHARE/cc" && chmod 755 "$SHARE/cc"
  : >"$SHARE/cc.log" && chmod 666 "$SHARE/cc.log"
  as() { # as USER: op2-selftest --kernels 2 on 2 ranks as USER in the shared cache
    OP2_CC=$SHARE/cc OP2_CACHE_TRUSTED_GROUP=$G OP2_CACHE_DIR=$SHARE/cache timeout -s KILL 120 \
      runuser -u "$1" -- mpiexec -n 2 "$SELF" --kernels 2 >"$WORK/out" 2>&1 && all_ok "$WORK/out" 2 4
  }
  as "${G}a" && n=$(grep -c -- ' -o ' "$SHARE/cc.log") && as "${G}b" && [ "$(grep -c -- ' -o ' "$SHARE/cc.log")" = "$n" ]
  row "two users of a trusted group share a cache, no recompile" 1 $?
  userdel "${G}a"; userdel "${G}b"; groupdel "$G" 2>/dev/null; rm -rf "$SHARE"
else
  row "two users of a trusted group share a cache" 0 0 "skipped: needs root, useradd, runuser"
fi

printf '%-58s %7s %9s  %s\n' scenario trials failures note
for r in "${ROWS[@]}"; do echo "$r"; done
