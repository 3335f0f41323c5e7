#!/usr/bin/env bash
# Fan-out: Herald vs Nchan vs Pushpin with the same N subscribers, M
# messages and rate R, in one session (this machine is shared and noisy;
# only same-run ratios are meaningful). Release builds, fresh servers.
#
#   bash bench/fanout.sh            # all scenarios
#   SCENARIOS="1000:1000:200" bash bench/fanout.sh
#   PEERS=nchan ROUNDS=3 bash bench/fanout.sh   # only Nchan, three rounds
#   DB_DIR=/dev/shm bash bench/fanout.sh         # Herald's SQLite file on tmpfs,
#                                                # where fsync costs nothing: what
#                                                # durability costs, by difference
#   BIN_DIR=/tmp/new bash bench/fanout.sh        # binaries built before, no cargo
#   DB_DIRS="/tmp /dev/shm" bash bench/fanout.sh # Herald once per directory in each
#                                                # round (labelled by it), so disk and
#                                                # tmpfs meet Nchan in the same run
#
# A scenario is N:M:R. Results: readable lines on stdout, JSON lines in
# bench/results/. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIOS=${SCENARIOS:-"1000:1000:200 10000:200:20"}
PEERS=${PEERS:-"nchan pushpin"}
ROUNDS=${ROUNDS:-1}
KEY=hop_bench-operator-key-000000
export HERALD_OPERATOR_KEY=$KEY RUST_LOG=${RUST_LOG:-warn}
ulimit -n 20000

# BIN_DIR: binaries built before (herald and herald-bench), for example a
# copy kept while the tree moves on; otherwise this tree's release build.
if [ -n "${BIN_DIR:-}" ]; then
  HERALD=$BIN_DIR/herald BENCH=$BIN_DIR/herald-bench
else
  cargo build --release -q -p herald -p herald-bench
  HERALD=target/release/herald BENCH=target/release/herald-bench
fi
WORK=$(mktemp -d)
DB_DIRS=${DB_DIRS:-${DB_DIR:-${TMPDIR:-/tmp}}}
DBS=()
for d in $DB_DIRS; do DBS+=("$(mktemp -d "$d/herald-fanout-db.XXXXXX")"); done
mkdir -p bench/results
OUT=bench/results/fanout-$(date -u +%Y%m%dT%H%M%SZ).jsonl
HPID=
cleanup() {
  [ -n "$HPID" ] && kill "$HPID" 2>/dev/null || true
  bash bench/peers/stop.sh >/dev/null 2>&1 || true
  rm -rf "$WORK" "${DBS[@]}"
}
trap cleanup EXIT

rss_kib() { # sum of VmRSS of the given pids
  local sum=0 p
  for p in ${1//,/ }; do sum=$((sum + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done
  echo "$sum"
}

record() { # label file
  local json
  json=$(grep '^{' "$2" | tail -n 1)
  printf '{"label":"%s",%s\n' "$1" "${json#\{}" >>"$OUT"
}

run_herald() { # N M R DB LABEL
  local db=$4 label=$5
  rm -f "$db"/h.db*
  "$HERALD" serve --listen 127.0.0.1:18901 --database-url "sqlite://$db/h.db" >"$WORK/herald.log" 2>&1 &
  HPID=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18901/healthz >/dev/null && break; sleep 0.1; done
  echo "== $label N=$1 M=$2 R=$3"
  "$BENCH" fanout --url http://127.0.0.1:18901 --operator-key "$KEY" --subscribers "$1" --messages "$2" --rate "$3" \
    --source-ips 50 --server-pid "$HPID" --threads 1 | tee "$WORK/out.txt" | grep -v '^{' || true
  record "$label N=$1 M=$2 R=$3" "$WORK/out.txt"
  kill "$HPID"; wait "$HPID" 2>/dev/null || true; HPID=
  sleep 3
}

run_peer() { # name sub pub pids N M R concurrency
  local name=$1 sub=$2 pub=$3 pids=$4
  echo "== $name N=$5 M=$6 R=$7"
  local before after
  before=$(rss_kib "$pids")
  "$BENCH" fanout --subscribe-template "$sub" --publish-template "$pub" --subscribers "$5" --messages "$6" --rate "$7" \
    --source-ips 50 --connect-concurrency "$8" --settle 3 --threads 1 --server-pid "$pids" >"$WORK/out.txt" &
  local bench=$!
  # Sample the peer's memory while the subscribers are connected and idle.
  local peak=$before
  while kill -0 "$bench" 2>/dev/null; do
    after=$(rss_kib "$pids"); [ "$after" -gt "$peak" ] && peak=$after; sleep 0.5
  done
  wait "$bench" || true
  grep -v '^{' "$WORK/out.txt" || true
  echo "  server:     $name RSS $before KiB before, peak $peak KiB while connected: $(( (peak - before) / $5 )) KiB per connection (sampled, includes in-flight messages)"
  record "$name N=$5 M=$6 R=$7" "$WORK/out.txt"
  sleep 3
}

bash bench/peers/start.sh >"$WORK/peers.txt"
# shellcheck disable=SC1091
source "${PEERS_RUN:-/tmp/herald-peers}/peers.env"
# Rounds alternate the servers, so a slow minute of this shared machine
# does not fall on one of them only.
for round in $(seq "$ROUNDS"); do
  for s in $SCENARIOS; do
    IFS=: read -r n m r <<<"$s"
    [ "$ROUNDS" -gt 1 ] && echo "=== round $round"
    for i in "${!DBS[@]}"; do
      # The first directory is plain `herald`, as in earlier results.
      label=herald; [ "$i" -gt 0 ] && label="herald(db in $(dirname "${DBS[$i]}"))"
      run_herald "$n" "$m" "$r" "${DBS[$i]}" "$label"
    done
    case " $PEERS " in *" nchan "*) run_peer nchan "$NCHAN_SUB" "$NCHAN_PUB" "$NCHAN_PIDS" "$n" "$m" "$r" 200 ;; esac
    case " $PEERS " in *" pushpin "*) run_peer pushpin "$PUSHPIN_SUB" "$PUSHPIN_PUB" "$PUSHPIN_PIDS" "$n" "$m" "$r" 20 ;; esac
  done
done
echo "JSON lines: $OUT"
