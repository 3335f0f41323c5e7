#!/usr/bin/env bash
# Stop what bench/peers/start.sh started (only processes recorded in its pid
# files under $PEERS_RUN, default /tmp/herald-peers), then check the peers'
# ports are free. Never touches system services.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${PEERS_RUN:-/tmp/herald-peers}
[ -d "$RUN" ] || { echo "[peers] nothing to stop ($RUN does not exist)" >&2; exit 0; }
RUN=$(cd "$RUN" && pwd)

log() { echo "[peers] $*" >&2; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pidfile_pid() { [ -s "$1" ] && tr -dc '0-9' < "$1" || true; }
ours() { alive "$1" && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"; }
wait_gone() { # seconds pid...
  local secs=$1 i p left; shift
  for ((i = 0; i < secs * 10; i++)); do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    [ $left = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
stop_pid() { # name pid match
  local name=$1 pid=$2 match=$3
  if ours "$pid" "$match"; then
    kill -TERM "$pid" 2>/dev/null
    if ! wait_gone 10 "$pid"; then
      log "$name ($pid) did not stop on TERM, sending KILL"
      kill -KILL "$pid" 2>/dev/null; wait_gone 5 "$pid"
    fi
    log "$name: stopped ($pid)"
  else
    log "$name: not running"
  fi
}

# publish adapter
stop_pid adapter "$(pidfile_pid "$RUN/adapter/adapter.pid")" pushpin_publish_adapter.py
rm -f "$RUN/adapter/adapter.pid"

# pushpin: TERM to the runner stops condure, proxy, handler and zurl; any
# child still alive afterwards is stopped by its own pid file.
PP="$RUN/pushpin"
kids=()
for svc in condure pushpin-proxy pushpin-handler zurl; do
  p=$(pidfile_pid "$PP/run/$svc.pid")
  ours "$p" "$PP" && kids+=("$p:$svc")
done
stop_pid pushpin "$(pidfile_pid "$PP/runner.pid")" "$PP/pushpin.conf"
for k in "${kids[@]}"; do
  # normally already gone with the runner
  ours "${k%%:*}" "$PP" && stop_pid "pushpin/${k#*:}" "${k%%:*}" "$PP"
done
rm -f "$PP/runner.pid"

# the two nginx instances: TERM to the master (fast shutdown), which also
# ends its workers.
for name in nchan pushpin-origin; do
  prefix="$RUN/$name"
  m=$(pidfile_pid "$prefix/logs/nginx.pid")
  workers=()
  alive "$m" && mapfile -t workers < <(pgrep -P "$m")
  stop_pid "$name nginx" "$m" "$prefix/"
  [ ${#workers[@]} -gt 0 ] && wait_gone 5 "${workers[@]}"
done

busy=0
for port in 18801 18802 18803 18804 18812; do
  if ss -Hltn "sport = :$port" | grep -q .; then
    log "port 127.0.0.1:$port is still in use"; busy=1
  fi
done
[ $busy = 0 ] && log "all peer ports (18801-18804, 18812) are free"
exit $busy
