#!/usr/bin/env bash
# Soak test (issue 9): one Herald release build under an hour of moderate
# load with subscribers connecting, dropping and resuming; memory and open
# files must stay flat, delivery exact. Not part of .ci/run or cargo test.
#
#   bash scripts/soak.sh                      # 60 minutes on a fresh SQLite file
#   DURATION=3m SAMPLE=10s bash scripts/soak.sh
#   SOAK_DB=postgres://postgres@127.0.0.1:5432/test bash scripts/soak.sh
#
# Settings (environment): DURATION (60m), SAMPLE (60s), SUBSCRIBERS (500),
# CHANNELS (10), RATE (50 per second), OUT (bench/results/soak-<time>.json,
# plus .csv beside it), SOAK_DB (unset: SQLite in a temporary directory; a
# postgres:// URL: a fresh database is created on that server for the run
# and dropped after it), EXTRA (more herald-bench soak flags). Exits with
# herald-bench's status, or 1 when Herald does not stop cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-60m}
SAMPLE=${SAMPLE:-60s}
SUBSCRIBERS=${SUBSCRIBERS:-500}
CHANNELS=${CHANNELS:-10}
RATE=${RATE:-50}
mkdir -p bench/results
OUT=${OUT:-bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ).json}

# The streams and the server's own files; this machine's hard limit is 20,000.
ulimit -n "$(ulimit -Hn)"

cargo build --release -p herald -p herald-bench --locked
HERALD=target/release/herald
BENCH=target/release/herald-bench

WORK=$(mktemp -d)
HPID=
PG_ADMIN=
PG_NAME=herald_soak_$$
cleanup() {
  if [ -n "$HPID" ] && kill -0 "$HPID" 2>/dev/null; then kill "$HPID" 2>/dev/null || true; fi
  if [ -n "$PG_ADMIN" ]; then psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_NAME WITH (FORCE)" >/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A free port: bind port 0 and read what the kernel chose.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
KEY=hop_soak-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
case "${SOAK_DB:-}" in
  "") DB=sqlite://$WORK/herald.db ;;
  postgres://* | postgresql://*)
    PG_ADMIN=$SOAK_DB
    psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_NAME" >/dev/null
    DB=${SOAK_DB%/*}/$PG_NAME
    ;;
  *) echo "SOAK_DB must be a postgres:// URL (unset: SQLite)"; exit 2 ;;
esac
export HERALD_OPERATOR_KEY=$KEY
# Warnings only: an access log line per reconnect would fill the disk over
# an hour and is not what is measured.
export RUST_LOG=${RUST_LOG:-warn}

"$HERALD" serve --listen "127.0.0.1:$PORT" --database-url "$DB" >"$WORK/herald.log" 2>&1 &
HPID=$!
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "herald did not start:"; cat "$WORK/herald.log"; exit 1; }

echo "== soak: herald pid $HPID on 127.0.0.1:$PORT, database ${DB%%\?*}, commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
echo "== started $(date -u +%Y-%m-%dT%H:%M:%SZ), duration $DURATION"
set +e
# shellcheck disable=SC2086
"$BENCH" soak --url "http://127.0.0.1:$PORT" --server-pid "$HPID" \
  --duration "$DURATION" --sample "$SAMPLE" --subscribers "$SUBSCRIBERS" --channels "$CHANNELS" --rate "$RATE" \
  --out "$OUT" ${EXTRA:-}
status=$?
set -e
echo "== finished $(date -u +%Y-%m-%dT%H:%M:%SZ), herald-bench exit status $status"

kill -TERM "$HPID"
set +e
wait "$HPID"
herald_status=$?
set -e
HPID=
if [ "$herald_status" -ne 0 ]; then
  echo "herald exited with status $herald_status after SIGTERM; its log:"
  tail -n 50 "$WORK/herald.log"
  exit 1
fi
echo "== herald stopped cleanly on SIGTERM (exit 0)"
if grep -qiE 'panic|error' "$WORK/herald.log"; then
  echo "== herald's log has errors:"
  grep -iE 'panic|error' "$WORK/herald.log" | head -n 20
fi
echo "== samples: $OUT and ${OUT%.json}.csv"
exit "$status"
