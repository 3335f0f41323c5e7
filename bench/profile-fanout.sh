#!/usr/bin/env bash
# Where the server's time goes during a fan-out: runs a release Herald and
# `herald-bench fanout`, and records the server with `perf record -g` for
# 12 s in the middle of the run (after 6 s of it).
#
#   bash bench/profile-fanout.sh DIR N M R OUT.perf
#   perf report -i OUT.perf --no-children --sort dso,sym -g none --stdio
#
# DIR holds a release `herald` and `herald-bench` (e.g. target/release).
# Needs `perf` (Debian: linux-perf). Sampling slows the server: read the
# profile's proportions, not the run's latencies.
set -euo pipefail
DIR=$1 N=$2 M=$3 R=$4 OUT=$5
KEY=hop_bench-operator-key-000000
export HERALD_OPERATOR_KEY=$KEY RUST_LOG=${RUST_LOG:-warn}
ulimit -n 20000
W=$(mktemp -d)
HP=
trap '[ -n "$HP" ] && kill "$HP" 2>/dev/null; rm -rf "$W"' EXIT
"$DIR/herald" serve --listen 127.0.0.1:18981 --database-url "sqlite://$W/h.db" >"$W/log" 2>&1 &
HP=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:18981/healthz >/dev/null && break; sleep 0.1; done
"$DIR/herald-bench" fanout --url http://127.0.0.1:18981 --operator-key "$KEY" --subscribers "$N" --messages "$M" --rate "$R" \
  --source-ips 50 --server-pid "$HP" --threads 1 >"$W/out.txt" &
B=$!
sleep 6
perf record -F 2000 -g -p "$HP" -o "$OUT" -- sleep 12 >/dev/null 2>&1
wait "$B" || true
grep -v '^{' "$W/out.txt" | tail -12
