#!/usr/bin/env bash
# Noisy neighbour: tenant B's publish-to-receive latency alone, then while
# tenant A attacks the same node (herald-bench noisy-neighbour), each round
# on a fresh SQLite file. Alternates the plugin threads' nice value (10, and
# 0, the default) so both are measured in one session; this machine's
# absolute figures drift between runs, so compare within one file only.
#
#   bash bench/noisy-neighbour.sh BIN_DIR [ROUNDS]     (COUNT=1000: B's notifications per phase, at 50/s)
#
# BIN_DIR holds release builds of `herald` and `herald-bench`
# (`cargo build --release -p herald -p herald-bench`, then target/release).
# JSON lines go to bench/results/noisy-neighbour-<time>.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1 ROUNDS=${2:-3}
KEY=hop_bench-operator-key-000000
export HERALD_OPERATOR_KEY=$KEY RUST_LOG=${RUST_LOG:-warn}
ulimit -n 20000
WORK=$(mktemp -d)
mkdir -p bench/results
OUT=bench/results/noisy-neighbour-$(date -u +%Y%m%dT%H%M%SZ).jsonl
HPID=
trap '[ -n "$HPID" ] && kill "$HPID" 2>/dev/null; rm -rf "$WORK"' EXIT

run() { # nice
  rm -f "$WORK"/h.db*
  HERALD_PLUGINS__THREAD_NICE=$1 "$BIN/herald" serve --listen 127.0.0.1:18972 --database-url "sqlite://$WORK/h.db" >"$WORK/herald.log" 2>&1 &
  HPID=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18972/healthz >/dev/null && break; sleep 0.1; done
  echo "== plugins.thread_nice=$1"
  "$BIN/herald-bench" noisy-neighbour --url http://127.0.0.1:18972 --operator-key "$KEY" --count "${COUNT:-1000}" --rate 50 \
    | tee "$WORK/out.txt" | grep -v '^{' | grep -v '^setup\|^running\|^phase\|^attack:' || true
  local json
  json=$(grep '^{' "$WORK/out.txt" | tail -n 1)
  printf '{"thread_nice":%s,%s\n' "$1" "${json#\{}" >>"$OUT"
  kill "$HPID"; wait "$HPID" 2>/dev/null || true; HPID=
  sleep 2
}

for _ in $(seq "$ROUNDS"); do
  run 10
  run 0
done
echo "results: $OUT"
