#!/usr/bin/env bash
# Start the benchmark peers for Herald's fan-out benchmark (idempotent):
#   nchan   - nginx + nchan module, 127.0.0.1:18801
#   pushpin - Pushpin (condure + pushpin-proxy + pushpin-handler + zurl),
#             clients on 127.0.0.1:18802, GRIP origin nginx on 127.0.0.1:18812,
#             control API on 127.0.0.1:18804, publish adapter on 127.0.0.1:18803
# Everything runs from $PEERS_RUN (default /tmp/herald-peers) with its own
# configs, pid files and logs; the system nginx/pushpin/zurl services are
# never started, stopped or reconfigured. Stop with bench/peers/stop.sh.
#
# Prints one line per peer on stdout:
#   <name> sub=<url template> pub=<url template> pid=<pids to measure> aux_pid=<helpers>
# and writes the same data as shell variables to $PEERS_RUN/peers.env.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${PEERS_RUN:-/tmp/herald-peers}
mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)

log() { echo "[peers] $*" >&2; }
die() { echo "[peers] ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- packages
PKGS=(nginx libnginx-mod-nchan pushpin)
BINS_OK() { command -v nginx >/dev/null && command -v pushpin >/dev/null \
  && command -v condure >/dev/null && command -v zurl >/dev/null \
  && [ -f /usr/lib/nginx/modules/ngx_nchan_module.so ]; }
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || ! BINS_OK; then
  [ "$(id -u)" = 0 ] || die "need root to apt-get install ${missing[*]:-${PKGS[*]}}"
  log "installing ${missing[*]:-${PKGS[*]}}"
  # Keep the packages' maintainer scripts from starting the system nginx /
  # pushpin services (which would take port 80 and 7999/5560-5563): a
  # temporary policy-rc.d, only if the machine has none of its own.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  APT_OPTS=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  if ! apt-get install "${APT_OPTS[@]}" "${PKGS[@]}" >"$RUN/apt.log" 2>&1; then
    log "apt-get install failed; running apt-get update once and retrying"
    apt-get update -q >>"$RUN/apt.log" 2>&1 || true
    apt-get install "${APT_OPTS[@]}" "${PKGS[@]}" >>"$RUN/apt.log" 2>&1 \
      || { [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d; die "apt-get install failed, see $RUN/apt.log"; }
  fi
  [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  BINS_OK || die "packages installed but binaries/module missing"
fi

# ---------------------------------------------------------------- limits
# At most 20000 open files per process on this machine (hard limit).
HARD=$(ulimit -Hn)
if [ "$HARD" = unlimited ] || [ "$HARD" -ge 20000 ]; then ulimit -n 20000; else ulimit -n "$HARD"; fi
log "open files limit: $(ulimit -n)"

# ---------------------------------------------------------------- helpers
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pidfile_pid() { [ -s "$1" ] && tr -dc '0-9' < "$1" || true; }
# True when pid $1 is alive and its command line contains $2 (guards against
# stale pid files whose number was reused by an unrelated process).
ours() { alive "$1" && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"; }
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
wait_http() { # url expected_code_regex seconds
  local url=$1 want=$2 secs=$3 code i
  for ((i = 0; i < secs * 10; i++)); do
    code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url" || true)
    [[ $code =~ ^($want)$ ]] && return 0
    sleep 0.1
  done
  return 1
}
csv() { local IFS=,; echo "$*"; }

start_nginx() { # name conf port
  local name=$1 conf=$2 port=$3 prefix="$RUN/$1"
  mkdir -p "$prefix/logs" "$prefix/temp"
  local pid; pid=$(pidfile_pid "$prefix/logs/nginx.pid")
  if ours "$pid" "$conf"; then
    log "$name: already running (master $pid)"
    return 0
  fi
  port_busy "$port" && die "$name: port 127.0.0.1:$port is already in use by something else"
  nginx -q -t -c "$conf" -p "$prefix/" -e logs/error.log 2>>"$prefix/logs/error.log" \
    || die "$name: nginx -t failed, see $prefix/logs/error.log"
  nginx -c "$conf" -p "$prefix/" -e logs/error.log
  log "$name: started nginx master $(pidfile_pid "$prefix/logs/nginx.pid")"
}

# ---------------------------------------------------------------- nchan
start_nginx nchan "$HERE/nchan.conf" 18801
# An EventSource GET with a subscriber that answers at once: a 404 path.
wait_http http://127.0.0.1:18801/ready 404 10 || die "nchan did not answer on 127.0.0.1:18801"

# ---------------------------------------------------------------- pushpin origin
start_nginx pushpin-origin "$HERE/pushpin-origin.conf" 18812
wait_http http://127.0.0.1:18812/ready 404 10 || die "pushpin origin did not answer on 127.0.0.1:18812"

# ---------------------------------------------------------------- pushpin
PP="$RUN/pushpin"
mkdir -p "$PP/run" "$PP/log"
ppid=$(pidfile_pid "$PP/runner.pid")
if ours "$ppid" "$PP/pushpin.conf"; then
  log "pushpin: already running (runner $ppid)"
else
  for port in 18802 18804; do
    port_busy $port && die "pushpin: port 127.0.0.1:$port is already in use by something else"
  done
  sed "s#@RUN@#$PP#g" "$HERE/pushpin.conf.in" > "$PP/pushpin.conf"
  # Debian's internal.conf points pushpin-proxy at a system zurl daemon
  # (ipc:///var/run/zurl/...) that is not running; use our own zurl instead,
  # which the runner starts with its sockets in our rundir.
  sed 's#ipc:///var/run/zurl/zurl-#ipc://{rundir}/{ipc_prefix}zurl-#' \
    /usr/lib/pushpin/internal.conf > "$PP/internal.conf"
  grep -q '/var/run/zurl' "$PP/internal.conf" && die "could not redirect zurl sockets in internal.conf"
  echo '* 127.0.0.1:18812' > "$PP/routes"
  rm -f "$PP"/run/*.pid
  setsid pushpin --config "$PP/pushpin.conf" >"$PP/log/runner.log" 2>&1 </dev/null &
  echo $! > "$PP/runner.pid"
  log "pushpin: started runner $!"
fi
# Ready when a request goes client -> condure -> proxy -> zurl -> origin and
# back (the origin's 404 for a non-/sub path), and the control API answers.
wait_http http://127.0.0.1:18802/ready 404 20 || die "pushpin did not answer on 127.0.0.1:18802, see $PP/log/"
wait_http http://127.0.0.1:18804/publish/ '[1-5][0-9][0-9]' 10 || die "pushpin control API did not answer on 127.0.0.1:18804"

# ---------------------------------------------------------------- publish adapter
AD="$RUN/adapter"
mkdir -p "$AD"
apid=$(pidfile_pid "$AD/adapter.pid")
if ours "$apid" pushpin_publish_adapter.py; then
  log "adapter: already running ($apid)"
else
  port_busy 18803 && die "adapter: port 127.0.0.1:18803 is already in use by something else"
  setsid python3 "$HERE/pushpin_publish_adapter.py" --listen 127.0.0.1:18803 --pushpin 127.0.0.1:18804 \
    >"$AD/adapter.log" 2>&1 </dev/null &
  echo $! > "$AD/adapter.pid"
  log "adapter: started $!"
fi
wait_http http://127.0.0.1:18803/health 200 10 || die "publish adapter did not answer on 127.0.0.1:18803"

# ---------------------------------------------------------------- report
nchan_master=$(pidfile_pid "$RUN/nchan/logs/nginx.pid")
nchan_workers=$(pgrep -P "$nchan_master" | sort -n | paste -sd, -)
origin_master=$(pidfile_pid "$RUN/pushpin-origin/logs/nginx.pid")
origin_workers=$(pgrep -P "$origin_master" | sort -n | paste -sd, -)
pp_runner=$(pidfile_pid "$PP/runner.pid")
pp_pids=()
for svc in condure pushpin-proxy pushpin-handler zurl; do
  p=$(pidfile_pid "$PP/run/$svc.pid")
  alive "$p" || die "pushpin: $svc is not running (see $PP/log/$svc.log)"
  pp_pids+=("$p")
done
adapter_pid=$(pidfile_pid "$AD/adapter.pid")

NCHAN_LINE="nchan sub=http://127.0.0.1:18801/sub/{channel} pub=http://127.0.0.1:18801/pub/{channel} pid=$nchan_master,$nchan_workers"
PUSHPIN_LINE="pushpin sub=http://127.0.0.1:18802/sub/{channel} pub=http://127.0.0.1:18803/pub/{channel} pid=$(csv "${pp_pids[@]}") aux_pid=$pp_runner,$origin_master,$origin_workers,$adapter_pid"
cat > "$RUN/peers.env" <<EOF
NCHAN_SUB='http://127.0.0.1:18801/sub/{channel}'
NCHAN_PUB='http://127.0.0.1:18801/pub/{channel}'
NCHAN_PIDS='$nchan_master,$nchan_workers'
PUSHPIN_SUB='http://127.0.0.1:18802/sub/{channel}'
PUSHPIN_PUB='http://127.0.0.1:18803/pub/{channel}'
PUSHPIN_PIDS='$(csv "${pp_pids[@]}")'
PUSHPIN_AUX_PIDS='$pp_runner,$origin_master,$origin_workers,$adapter_pid'
EOF
log "nchan subscribers must send 'Accept: text/event-stream' (else 403)"
log "pushpin: open subscriber connections at most ~20 at a time (bursts get 502)"
echo "$NCHAN_LINE"
echo "$PUSHPIN_LINE"
