#!/usr/bin/env bash
# Idle connections across several Herald nodes on one machine: NODES node
# processes share one PostgreSQL database and its LISTEN/NOTIFY bus, and
# NODES load-generator processes (one per node, since one process may open
# at most 20,000 files here) each hold PER idle event streams on their node,
# all at the same time. Each generator then publishes a few notifications
# through its node and checks that every stream got every one.
#
#   bash bench/idle-cluster.sh                  # 6 nodes x 16,700 streams
#   NODES=2 PER=19000 IDLE=15 bash bench/idle-cluster.sh
#
# Needs PostgreSQL on 127.0.0.1:5432 (HERALD_BENCH_PG to change). Readable
# lines on stdout; one JSON line per generator plus a summary line in
# bench/results/. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-6}
PER=${PER:-16700}
IDLE=${IDLE:-30}
PG=${HERALD_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=herald_bench_idle
BASE_PORT=18921
KEY=hop_bench-operator-key-000000
export HERALD_OPERATOR_KEY=$KEY RUST_LOG=${RUST_LOG:-warn}
ulimit -n 20000

cargo build --release -q -p herald -p herald-bench
HERALD=target/release/herald
BENCH=target/release/herald-bench
WORK=$(mktemp -d)
mkdir -p bench/results
OUT=bench/results/idle-cluster-$(date -u +%Y%m%dT%H%M%SZ).jsonl
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
URL="$PG/$DB"
"$HERALD" migrate --database-url "$URL" >/dev/null

node_pids=()
for i in $(seq 0 $((NODES - 1))); do
  port=$((BASE_PORT + i))
  "$HERALD" serve --listen "127.0.0.1:$port" --database-url "$URL" --bus postgres >"$WORK/node$i.log" 2>&1 &
  PIDS+=($!); node_pids+=($!)
done
for i in $(seq 0 $((NODES - 1))); do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((BASE_PORT + i))/healthz" >/dev/null && break; sleep 0.1; done
done
echo "== $NODES nodes on one PostgreSQL database ($DB), $PER idle streams each, idle ${IDLE}s"

gen_pids=()
for i in $(seq 0 $((NODES - 1))); do
  # Connections overlap: every generator is idle for IDLE seconds after its
  # streams are up, long enough for the slowest to finish connecting.
  "$BENCH" fanout --url "http://127.0.0.1:$((BASE_PORT + i))" --operator-key "$KEY" --subscribers "$PER" \
    --messages 10 --rate 2 --source-ips 50 --connect-concurrency 100 --server-pid "${node_pids[$i]}" \
    --idle "$IDLE" --threads 1 >"$WORK/gen$i.txt" 2>&1 &
  PIDS+=($!); gen_pids+=($!)
done

# The most streams open at once, counted by the kernel.
peak=0
ports="( sport >= :$BASE_PORT and sport <= :$((BASE_PORT + NODES - 1)) )"
while :; do
  alive=0
  for p in "${gen_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 1 ] || break
  n=$(ss -Htn state established "$ports" | wc -l)
  [ "$n" -gt "$peak" ] && peak=$n
  sleep 1
done
status=0
for i in $(seq 0 $((NODES - 1))); do
  wait "${gen_pids[$i]}" || status=1
  echo "-- node $i (port $((BASE_PORT + i)))"
  grep -E '^  (connect|delivered|accounting|server|server cpu|result):' "$WORK/gen$i.txt" || tail -n 5 "$WORK/gen$i.txt"
  json=$(grep '^{' "$WORK/gen$i.txt" | tail -n 1 || true)
  [ -n "$json" ] && printf '{"label":"idle-cluster node %s of %s",%s\n' "$i" "$NODES" "${json#\{}" >>"$OUT"
done
echo "== peak established server-side connections on the $NODES nodes at once: $peak (asked $((NODES * PER)))"
printf '{"label":"idle-cluster summary","nodes":%s,"per_node":%s,"peak_established":%s}\n' "$NODES" "$PER" "$peak" >>"$OUT"
echo "results: $OUT"
exit $status
