#!/usr/bin/env bash
# A/B fan-out: two Herald builds, alternating, each on a fresh SQLite file,
# measured by the same load generator in one session (this machine's
# absolute figures drift between runs; compare within one file only).
#
#   bash bench/ab-fanout.sh A_DIR B_DIR [ROUNDS]
#
# A_DIR and B_DIR each hold a release `herald`; the generator is
# B_DIR/herald-bench. Scenario: N:M:R from SCENARIO (default 10000:200:20),
# idle memory measured for 5 s. JSON lines go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1 B=$2 ROUNDS=${3:-2}
IFS=: read -r N M R <<<"${SCENARIO:-10000:200:20}"
KEY=hop_bench-operator-key-000000
export HERALD_OPERATOR_KEY=$KEY RUST_LOG=${RUST_LOG:-warn}
ulimit -n 20000
WORK=$(mktemp -d "${DB_DIR:-${TMPDIR:-/tmp}}/herald-ab.XXXXXX")
mkdir -p bench/results
OUT=bench/results/fanout-ab-$(date -u +%Y%m%dT%H%M%SZ).jsonl
HPID=
trap '[ -n "$HPID" ] && kill "$HPID" 2>/dev/null; rm -rf "$WORK"' EXIT

run() { # label dir
  rm -f "$WORK"/h.db*
  "$2/herald" serve --listen 127.0.0.1:18971 --database-url "sqlite://$WORK/h.db" >"$WORK/herald.log" 2>&1 &
  HPID=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18971/healthz >/dev/null && break; sleep 0.1; done
  echo "== $1 N=$N M=$M R=$R"
  "$B/herald-bench" fanout --url http://127.0.0.1:18971 --operator-key "$KEY" --subscribers "$N" --messages "$M" --rate "$R" \
    --source-ips 50 --server-pid "$HPID" --idle 5 | tee "$WORK/out.txt" | grep -v '^{' || true
  local json
  json=$(grep '^{' "$WORK/out.txt" | tail -n 1)
  printf '{"label":"%s",%s\n' "$1" "${json#\{}" >>"$OUT"
  kill "$HPID"; wait "$HPID" 2>/dev/null || true; HPID=
  sleep 3
}

for i in $(seq "$ROUNDS"); do
  run "A round $i" "$A"
  run "B round $i" "$B"
done
echo "results: $OUT"
