#!/usr/bin/env bash
# Stop the daemons that tests/cluster/slurm_up.sh started, and nothing else.
#
# slurm_up.sh lists what it started in $TALKGS_SLURM_DIR/started; each daemon is stopped by the
# pid in its pid file, and only if that process still runs the expected command. Jobs still in
# the cluster are cancelled first, so no slurmstepd is left behind. Logs, jobcomp.log and
# slurm.conf stay in the state folder for inspection.
set -euo pipefail

STATE=${TALKGS_SLURM_DIR:-/var/tmp/talkgs-slurm}
STARTED=$STATE/started
export SLURM_CONF=$STATE/slurm.conf
export PATH=$PATH:/usr/sbin:/sbin

say() { echo "slurm_down: $*"; }

if [ ! -s "$STARTED" ]; then
  say "nothing to stop (no daemon started by slurm_up.sh is recorded in $STARTED)"
  exit 0
fi

# pid of a recorded daemon if it still runs its command, else empty.
running_pid() {
  local file=$1 comm=$2 pid
  [ -s "$file" ] || return 0
  pid=$(cat "$file")
  if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$comm" ]; then
    echo "$pid"
  fi
}

stop() {
  local name=$1 file=$2 pid
  pid=$(running_pid "$file" "$name")
  if [ -z "$pid" ]; then
    say "$name is not running"
  else
    kill -TERM "$pid"
    for _ in $(seq 100); do
      [ -d "/proc/$pid" ] || break
      sleep 0.2
    done
    if [ -d "/proc/$pid" ]; then
      say "$name (pid $pid) ignored SIGTERM for 20 s; killing it"
      kill -KILL "$pid"
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$file"
  sed -i "/^$name\$/d" "$STARTED"
}

if grep -qx slurmctld "$STARTED" && [ -n "$(running_pid "$STATE/slurmctld.pid" slurmctld)" ]; then
  jobs=$(squeue -h -o %i 2>/dev/null || true)
  if [ -n "$jobs" ]; then
    say "cancelling jobs: $(echo "$jobs" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    scancel $jobs || true
    for _ in $(seq 60); do
      [ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
fi

grep -qx slurmd "$STARTED" && stop slurmd "$STATE/slurmd.pid"
grep -qx slurmctld "$STARTED" && stop slurmctld "$STATE/slurmctld.pid"
grep -qx munged "$STARTED" && stop munged "$STATE/munge/munged.pid"
if grep -qx conf-link "$STARTED"; then
  if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$STATE/slurm.conf" ]; then
    rm -f /etc/slurm/slurm.conf
    say "removed the link /etc/slurm/slurm.conf"
  fi
  sed -i "/^conf-link\$/d" "$STARTED"
fi
exit 0
