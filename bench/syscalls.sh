#!/usr/bin/env bash
# Which system calls Herald's server makes during a fan-out, counted by
# `perf stat` (kernel tracepoints: the counts do not depend on how busy
# the machine is, unlike CPU time). Starts a fresh server on a fresh
# SQLite file, runs `herald-bench fanout` against it and counts for
# SECONDS seconds from the middle of the publishing.
#
#   bash bench/syscalls.sh BIN_DIR [N M R] [SECONDS]
#   bash bench/syscalls.sh /tmp/bin 1000 500 50 8
#
# BIN_DIR holds `herald` and `herald-bench` (release builds). Needs perf and
# permission to read tracepoints (root, or perf_event_paranoid <= -1).
set -euo pipefail
BIN=${1:?usage: bench/syscalls.sh BIN_DIR [N M R] [SECONDS]}
N=${2:-1000} M=${3:-500} R=${4:-50} SECS=${5:-8}
KEY=hop_bench-operator-key-000000
PORT=18903
ulimit -n 20000
WORK=$(mktemp -d)
HPID=
cleanup() {
  [ -n "$HPID" ] && kill "$HPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
EVENTS=raw_syscalls:sys_enter
for s in sendto write writev epoll_wait futex recvfrom read; do EVENTS+=",syscalls:sys_enter_$s"; done

HERALD_OPERATOR_KEY=$KEY RUST_LOG=warn "$BIN/herald" serve --listen 127.0.0.1:$PORT \
  --database-url "sqlite://$WORK/h.db" >"$WORK/herald.log" 2>&1 &
HPID=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done
"$BIN/herald-bench" fanout --url http://127.0.0.1:$PORT --operator-key "$KEY" --subscribers "$N" --messages "$M" \
  --rate "$R" --source-ips 50 --server-pid "$HPID" --threads 1 >"$WORK/bench.txt" &
BENCH=$!
# Publishing starts once every stream is live; count from within it.
until grep -q '^publishing' "$WORK/bench.txt" 2>/dev/null; do sleep 0.2; done
sleep 1
perf stat -x, -e "$EVENTS" -p "$HPID" -- sleep "$SECS" 2>"$WORK/perf.csv"
wait "$BENCH" || true
grep -E 'latency:|server cpu|result:' "$WORK/bench.txt" || true
# Per event at the nominal rate (N * R a second: right while the server
# keeps up, too low a divisor when it saturates), and per sendto (one
# sendto carries one or several frames).
awk -F, -v per=$((N * R * SECS)) '
  $1 ~ /^[0-9]+$/ { n[NR] = $1; name[NR] = $3; if ($3 == "syscalls:sys_enter_sendto") sends = $1 }
  END { for (i in n) printf "  %-32s %10d  %.3f per nominal event  %.3f per sendto\n", name[i], n[i], n[i] / per, n[i] / sends }
' "$WORK/perf.csv" | sort
