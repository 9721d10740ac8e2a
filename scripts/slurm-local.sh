#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing the batch scripts in cluster-configs/:
#
#   bash scripts/slurm-local.sh up     # install slurm-wlm + munge if missing, configure, start
#   export SLURM_CONF=/tmp/op2-slurm/slurm.conf   # (printed by `up`) then sbatch/squeue/sinfo
#   bash scripts/slurm-local.sh down   # stop every daemon this script started
#
# Idempotent and non-interactive (CI=true, no stdin): `up` twice restarts cleanly, `down` with
# nothing running does nothing. Everything lives in $OP2_SLURM_DIR (default /tmp/op2-slurm):
# slurm.conf, state, spool, logs, pid files; /etc/slurm is not touched. The node is this host
# (`hostname -s`, address 127.0.0.1) with its real core count (nproc) and memory, in one
# partition `op2`; no cgroups (proctrack/linuxproc, task/none), no accounting database.
# munged runs as the munge user with the Debian key (/etc/munge/munge.key).
# Needs root (apt-get, daemons). Ports: $OP2_SLURM_PORT (default 6817) and the next one.
set -euo pipefail

DIR=${OP2_SLURM_DIR:-/tmp/op2-slurm}
PORT=${OP2_SLURM_PORT:-6817}
CONF=$DIR/slurm.conf
MUNGE_SOCKET=/run/munge/munge.socket.2

say() { echo "slurm-local: $*"; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Stop a daemon by the pid file it wrote; wait for it to go.
stop_pidfile() {
  local f=$1
  if pid_alive "$f"; then
    local p
    p=$(cat "$f")
    kill "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  if [ -f "$CONF" ] && pid_alive "$DIR/slurmctld.pid"; then
    # Cancel what is left so that no job outlives the cluster.
    SLURM_CONF=$CONF scancel --quiet --full "--partition=op2" 2>/dev/null || true
  fi
  stop_pidfile "$DIR/slurmd.pid"
  stop_pidfile "$DIR/slurmctld.pid"
  stop_pidfile "$DIR/munged.pid"
  say "down"
}

install() {
  local need=()
  command -v slurmctld >/dev/null 2>&1 || need+=(slurm-wlm)
  command -v munged >/dev/null 2>&1 || need+=(munge)
  if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "slurm-local: installing ${need[*]} needs root" >&2; exit 1; }
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq "${need[@]}" </dev/null >/dev/null
  fi
}

up() {
  [ "$(id -u)" -eq 0 ] || { echo "slurm-local: needs root (daemons run as root)" >&2; exit 1; }
  install
  down >/dev/null
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  mkdir -p "$DIR/state" "$DIR/spool"
  rm -rf "${DIR:?}/state/"* "${DIR:?}/spool/"*   # a fresh cluster each time: job ids from 1
  cat >"$CONF" <<EOF
# Written by scripts/slurm-local.sh: a one-node test cluster.
ClusterName=op2test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=op2 Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  # munge: its key comes with the Debian package; the daemon runs as the munge user.
  [ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; chown munge:munge /etc/munge/munge.key; }
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    for _ in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$DIR/munged.pid"
  fi
  munge -n | unmunge >/dev/null || { echo "slurm-local: munge does not work" >&2; exit 1; }
  export SLURM_CONF=$CONF
  /usr/sbin/slurmctld -f "$CONF"
  /usr/sbin/slurmd -f "$CONF"
  # Wait until the node is idle (it registers with slurmctld first).
  local state=""
  for _ in $(seq 100); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
    [ "$state" = idle ] && break
    sleep 0.3
  done
  if [ "$state" != idle ]; then
    echo "slurm-local: node state '$state' (want idle); logs:" >&2
    tail -20 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 || true
    down
    exit 1
  fi
  say "up: node $host, $cpus CPUs, ${mem} MB, partition op2; export SLURM_CONF=$CONF"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) SLURM_CONF=$CONF sinfo; SLURM_CONF=$CONF squeue ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
