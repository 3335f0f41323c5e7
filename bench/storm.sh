#!/usr/bin/env bash
# Reconnect storm: Herald vs Nchan, one after the other in one session, on
# the same machine (it is shared and noisy: only same-run ratios mean
# anything). Every subscriber drops at once, notifications are published
# while they are away, and all come back with Last-Event-ID while more are
# published (`herald-bench storm --help`). Release builds, fresh servers.
#
#   bash bench/storm.sh                  # ROUNDS=3 N=5000 MISSED=200 LIVE=20
#
# Results: readable lines on stdout, JSON lines in bench/results/ (one per
# run, labelled). Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-5000}
MISSED=${MISSED:-200}
LIVE=${LIVE:-20}
LIVE_RATE=${LIVE_RATE:-10}
KEY=hop_bench-operator-key-000000
export HERALD_OPERATOR_KEY=$KEY RUST_LOG=${RUST_LOG:-warn}
ulimit -n 20000

cargo build --release -q -p herald -p herald-bench
HERALD=target/release/herald
BENCH=target/release/herald-bench
WORK=$(mktemp -d)
mkdir -p bench/results
OUT=bench/results/storm-$(date -u +%Y%m%dT%H%M%SZ).jsonl
HPID=
cleanup() {
  [ -n "$HPID" ] && kill "$HPID" 2>/dev/null || true
  bash bench/peers/stop.sh >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

record() { # label file
  local json
  json=$(grep '^{' "$2" | tail -n 1)
  printf '{"label":"%s","commit":"%s",%s\n' "$1" "$(git rev-parse --short HEAD)" "${json#\{}" >>"$OUT"
}

ARGS=(--subscribers "$N" --missed "$MISSED" --live "$LIVE" --live-rate "$LIVE_RATE" --source-ips 50 --threads 1)

run_herald() { # round
  rm -f "$WORK"/h.db*
  "$HERALD" serve --listen 127.0.0.1:18901 --database-url "sqlite://$WORK/h.db" >"$WORK/herald.log" 2>&1 &
  HPID=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18901/healthz >/dev/null && break; sleep 0.1; done
  echo "== herald round $1"
  "$BENCH" storm --url http://127.0.0.1:18901 --operator-key "$KEY" "${ARGS[@]}" --server-pid "$HPID" \
    | tee "$WORK/out.txt" | grep -v '^{' || true
  curl -s http://127.0.0.1:18901/metrics | grep -E '^herald_stream_resumes_total' | sed 's/^/  /' || true
  record "herald storm N=$N missed=$MISSED live=$LIVE round=$1" "$WORK/out.txt"
  kill "$HPID"; wait "$HPID" 2>/dev/null || true; HPID=
  sleep 3
}

run_nchan() { # round
  echo "== nchan round $1"
  "$BENCH" storm --subscribe-template "$NCHAN_SUB" --publish-template "$NCHAN_PUB" "${ARGS[@]}" --server-pid "$NCHAN_PIDS" \
    | tee "$WORK/out.txt" | grep -v '^{' || true
  record "nchan storm N=$N missed=$MISSED live=$LIVE round=$1" "$WORK/out.txt"
  sleep 3
}

bash bench/peers/start.sh >"$WORK/peers.txt"
# shellcheck disable=SC1091
source "${PEERS_RUN:-/tmp/herald-peers}/peers.env"
for r in $(seq "$ROUNDS"); do
  run_herald "$r"
  run_nchan "$r"
done
echo "JSON lines: $OUT"
