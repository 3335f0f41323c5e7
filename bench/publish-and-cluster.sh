#!/usr/bin/env bash
# Publishing throughput (SQLite and PostgreSQL) and cross-node latency
# (PostgreSQL LISTEN/NOTIFY and NATS buses), on release builds, each run
# against a freshly started server and a fresh database. Prints the
# herald-bench summaries; the JSON lines go to bench/results/.
#
#   bash bench/publish-and-cluster.sh
#
# Needs PostgreSQL at $PG (default postgres://postgres@127.0.0.1:5432) and
# NATS at $NATS (default nats://127.0.0.1:4222). Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}
NATS=${NATS:-nats://127.0.0.1:4222}
DURATION=${DURATION:-10}
KEY=hop_bench-operator-key-000000
export HERALD_OPERATOR_KEY=$KEY RUST_LOG=${RUST_LOG:-info}

cargo build --release -q -p herald -p herald-bench
HERALD=target/release/herald
BENCH=target/release/herald-bench
WORK=$(mktemp -d)
mkdir -p bench/results
OUT=bench/results/publish-and-cluster-$(date -u +%Y%m%dT%H%M%SZ).jsonl
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG/test" -qc "DROP DATABASE IF EXISTS herald_bench WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start() { # port database-url [extra serve args]
  local port=$1 url=$2; shift 2
  "$HERALD" serve --listen 127.0.0.1:"$port" --database-url "$url" "$@" >"$WORK/node-$port.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "node on $port did not start" >&2; cat "$WORK/node-$port.log" >&2; exit 1
}
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
fresh_pg() { psql "$PG/test" -qc "DROP DATABASE IF EXISTS herald_bench WITH (FORCE)" >/dev/null; psql "$PG/test" -qc "CREATE DATABASE herald_bench" >/dev/null; }
run() { # label, then herald-bench arguments
  local label=$1; shift
  echo "== $label"
  "$BENCH" "$@" --operator-key "$KEY" | tee "$WORK/last.txt" | grep -v '^{'
  local json
  json=$(tail -n 1 "$WORK/last.txt")
  printf '{"label":"%s",%s\n' "$label" "${json#\{}" >>"$OUT"
}

for backend in sqlite postgres; do
  for shape in "1 64" "1 256" "1 512" "10 64" "100 16"; do
    set -- $shape
    if [ "$backend" = sqlite ]; then rm -f "$WORK"/h.db*; url="sqlite://$WORK/h.db"; else fresh_pg; url="$PG/herald_bench"; fi
    start 18501 "$url"
    run "$backend batch=$1 connections=$2" publish --url http://127.0.0.1:18501 --connections "$2" --batch "$1" --duration "$DURATION"
    stop_all
  done
done

for bus in postgres "$NATS"; do
  fresh_pg
  start 18511 "$PG/herald_bench" --bus "$bus"
  start 18512 "$PG/herald_bench" --bus "$bus"
  run "latency bus=$bus" latency --publish-url http://127.0.0.1:18511 --subscribe-url http://127.0.0.1:18512 --count 3000 --rate 500
  stop_all
done
echo "JSON lines: $OUT"
