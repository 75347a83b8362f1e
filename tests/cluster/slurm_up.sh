#!/usr/bin/env bash
# Start a single-node SLURM cluster on localhost (munged, slurmctld, slurmd), as root, for the
# cluster tests (tests/test_cluster.py) and for trying `snakemake --profile slurm` by hand.
#
#   tests/cluster/slurm_up.sh      install (apt) what is missing, configure, start, wait for idle
#   tests/cluster/slurm_down.sh    stop exactly the daemons this script started
#
# Idempotent: a daemon that already runs is kept and not recorded, so running it twice changes
# nothing and slurm_down.sh never stops what it did not start. Everything lives in one state
# folder ($TALKGS_SLURM_DIR, default /var/tmp/talkgs-slurm): slurm.conf, pid files, logs, and
# the job completion log (jobcomp.log), SLURM's own record of every job that ran.
# Clients find the cluster through SLURM_CONF=$TALKGS_SLURM_DIR/slurm.conf; when
# /etc/slurm/slurm.conf does not exist it is also linked there, so plain `sinfo` works.
#
# The configuration is the one measured to work without systemd or cgroups (ENVIRONMENT.md):
# proctrack/linuxproc, task/none, select/cons_tres, the CPUs and memory `slurmd -C` reports, no
# accounting database. MinJobAge keeps finished jobs visible to `squeue` for 10 minutes, which
# the Snakemake SLURM plugin's squeue status polling needs (>= 3 x its first status delay);
# memory is enforced (a job over its --mem is killed, state OUT_OF_MEMORY) as on real clusters.
# TALKGS_SLURM_GPUS=N (default 0: a GRES-free node) gives the node N `gpu` GRES backed by stand-in
# device files (copies of /dev/null; SLURM 22.05 wants a character device per GPU), so jobs that
# ask for `--gpus=1`, as the profile's training rules do, are scheduled here without a GPU.
set -euo pipefail

STATE=${TALKGS_SLURM_DIR:-/var/tmp/talkgs-slurm}
TIMEOUT=${TALKGS_SLURM_TIMEOUT:-90}
GPUS=${TALKGS_SLURM_GPUS:-0}
CONF=$STATE/slurm.conf
STARTED=$STATE/started
SYSTEM_CONF=/etc/slurm/slurm.conf
export SLURM_CONF=$CONF
export PATH=$PATH:/usr/sbin:/sbin

die() {
  echo "slurm_up: error: $*" >&2
  exit 1
}
say() { echo "slurm_up: $*"; }

# Is the process in pid file $1 alive and is its command $2? (guards against reused pids)
alive() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$2" ]
}

record() { grep -qx "$1" "$STARTED" 2>/dev/null || echo "$1" >>"$STARTED"; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs Debian packages and starts daemons)"

# --- packages ------------------------------------------------------------------------------
need=()
for pair in munged:munge slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get to install them"
  say "installing ${need[*]} (apt)"
  apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
      >"$STATE.apt.log" 2>&1
  }
  mkdir -p "$(dirname "$STATE")"
  apt_install || { apt-get update -qq >/dev/null 2>&1 && apt_install; } ||
    die "apt-get install ${need[*]} failed (see $STATE.apt.log)"
fi

mkdir -p "$STATE"/{log,ctld,slurmd,munge}
chmod 755 "$STATE"

# --- munge -----------------------------------------------------------------------------------
if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  if grep -qx munged "$STARTED" 2>/dev/null; then
    say "munged already runs (pid $(cat "$STATE/munge/munged.pid"))"
  else
    say "munged already answers (not started by this script; it stays up)"
  fi
else
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 600 /etc/munge/munge.key
  install -d -o munge -g munge -m 755 /run/munge
  install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
  chown munge:munge "$STATE/munge"
  runuser -u munge -- munged --pid-file="$STATE/munge/munged.pid"
  record munged
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -n </dev/null | unmunge >/dev/null || die "munged started but does not answer"
  say "started munged (pid $(cat "$STATE/munge/munged.pid"))"
fi

# --- configuration ---------------------------------------------------------------------------
host=$(hostname -s)
# NodeName=... CPUs=... RealMemory=... as slurmd sees this machine (first line of slurmd -C).
node=$(slurmd -C | head -1)
gres_types="" node_gres=""
if [ "$GPUS" -gt 0 ]; then
  gres_types="GresTypes=gpu"
  node_gres="Gres=gpu:$GPUS"
fi
conf_text="# Written by tests/cluster/slurm_up.sh: a single-node test cluster on localhost.
ClusterName=talkgs
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=5
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
$gres_types
$node NodeAddr=127.0.0.1 $node_gres State=UNKNOWN
PartitionName=talkgs Nodes=ALL Default=YES MaxTime=INFINITE State=UP"

ctld_running=false
alive "$STATE/slurmctld.pid" slurmctld && ctld_running=true
if ! $ctld_running; then
  if pgrep -x slurmctld >/dev/null; then
    die "a slurmctld not started by this script runs (pid $(pgrep -x slurmctld | head -1)); stop it first"
  fi
  printf '%s\n' "$conf_text" >"$CONF"
  if [ "$GPUS" -gt 0 ]; then
    for i in $(seq 0 $((GPUS - 1))); do
      [ -c "$STATE/gpu$i" ] || mknod "$STATE/gpu$i" c 1 3
    done
    echo "Name=gpu File=$STATE/gpu[0-$((GPUS - 1))]" >"$STATE/gres.conf"
  else
    rm -f "$STATE/gres.conf"
  fi
elif [ "$(cat "$CONF")" != "$conf_text" ]; then
  say "warning: $CONF differs from what this script would write now; kept (running cluster)"
fi

if [ ! -e "$SYSTEM_CONF" ] && [ ! -L "$SYSTEM_CONF" ]; then
  mkdir -p "$(dirname "$SYSTEM_CONF")"
  ln -s "$CONF" "$SYSTEM_CONF"
  record conf-link
fi

# --- daemons ---------------------------------------------------------------------------------
if $ctld_running; then
  say "slurmctld already runs (pid $(cat "$STATE/slurmctld.pid"))"
else
  # -c: start from a clean state, without jobs left over from an earlier run of the cluster.
  slurmctld -c -f "$CONF"
  record slurmctld
  for _ in $(seq "$((TIMEOUT * 5))"); do
    scontrol ping 2>/dev/null | grep -q "is UP" && break
    sleep 0.2
  done
  scontrol ping 2>/dev/null | grep -q "is UP" ||
    die "slurmctld does not answer after ${TIMEOUT}s (see $STATE/log/slurmctld.log)"
  say "started slurmctld (pid $(cat "$STATE/slurmctld.pid"))"
fi

if alive "$STATE/slurmd.pid" slurmd; then
  say "slurmd already runs (pid $(cat "$STATE/slurmd.pid"))"
else
  if pgrep -x slurmd >/dev/null; then
    die "a slurmd not started by this script runs (pid $(pgrep -x slurmd | head -1)); stop it first"
  fi
  slurmd -f "$CONF"
  record slurmd
  for _ in $(seq 50); do
    alive "$STATE/slurmd.pid" slurmd && break
    sleep 0.1
  done
  alive "$STATE/slurmd.pid" slurmd || die "slurmd did not start (see $STATE/log/slurmd.log)"
  say "started slurmd (pid $(cat "$STATE/slurmd.pid"))"
fi

# --- wait until the node takes jobs ----------------------------------------------------------
# A fresh node goes UNKNOWN -> idle once slurmd has registered; a running cluster may be busy.
state=""
for _ in $(seq "$((TIMEOUT * 2))"); do
  state=$(sinfo -h -N -n "$host" -o %T 2>/dev/null | head -1)
  case "$state" in
  idle | mixed | allocated | completing) break ;;
  esac
  sleep 0.5
done
case "$state" in
idle | mixed | allocated | completing) ;;
*)
  reason=$(sinfo -h -R -o "%E" 2>/dev/null | head -1)
  die "node $host is '${state:-unknown}' after ${TIMEOUT}s${reason:+ ($reason)} (see $STATE/log/)"
  ;;
esac
say "node $host is $state; export SLURM_CONF=$CONF"
