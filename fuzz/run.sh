#!/usr/bin/env bash
# Runs Herald's fuzz targets for a bounded time each, against their committed
# corpus (fuzz/corpus/<target>), and fails if any of them crashes. CI runs
# it; see docs/fuzzing.md.
#
#   bash fuzz/run.sh                 every target, FUZZ_SECONDS (30) each
#   bash fuzz/run.sh jwt cursor      only these
#
# FUZZ_SECONDS  time per target (default 30)
# FUZZ_JOBS     targets run at once (default: the number of CPUs)
# FUZZ_MERGE=1  afterwards, rebuild fuzz/corpus/<target>: the named seeds
#               plus inputs that reach new code, FUZZ_CORPUS_MAX (200) in all
#
# New inputs found during a run go to fuzz/target/corpus/<target> (not
# committed; later runs start from them too); crash inputs go to
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-$(nproc)}

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
cargo fuzz --version

# cargo-fuzz hands rustc flags that only a nightly compiler takes; this
# machine has stable Rust only, which takes them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
# No sanitizer: herald-core forbids unsafe code, so AddressSanitizer would
# cost speed for little. Debug assertions turn on overflow checks.
flags=(--fuzz-dir fuzz --sanitizer none --debug-assertions)

start=$SECONDS
cargo fuzz build "${flags[@]}"
echo "built in $((SECONDS - start)) s"

logs=fuzz/target/logs
mkdir -p "$logs"

# Longest input per target: a token may be up to 8 KiB (limits::MAX_TOKEN).
max_len() {
  case "$1" in
    jwt) echo 10000 ;;
    *) echo 4096 ;;
  esac
}

fuzz_one() {
  local t=$1 scratch=fuzz/target/corpus/$1
  mkdir -p "$scratch" "fuzz/corpus/$t" "fuzz/artifacts/$t"
  # The first corpus directory is where libFuzzer writes what it finds; the
  # committed corpus is read only.
  cargo fuzz run "${flags[@]}" "$t" "$scratch" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -max_len="$(max_len "$t")" -print_final_stats=1 \
    >"$logs/$t.log" 2>&1
}

for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_targets/$t.rs" ] || { echo "no fuzz target $t" >&2; exit 2; }
done
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "fuzzing $t for ${seconds} s"
  rm -f "$logs/$t.rc"
  (if fuzz_one "$t"; then echo 0; else echo $?; fi >"$logs/$t.rc") &
done
wait

failed=()
for t in "${targets[@]}"; do
  if [ "$(cat "$logs/$t.rc" 2>/dev/null)" = 0 ]; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log")
    echo "ok   $t: ${runs:-?} runs, ${rate:-?} exec/s"
  else
    failed+=("$t")
    echo "FAIL $t (full log: $logs/$t.log)"
    # The panic if there is one, else the end of libFuzzer's report.
    grep -m1 -A4 'panicked at' "$logs/$t.log" || grep -v '^#[0-9]' "$logs/$t.log" | tail -n 40
    for crash in "fuzz/artifacts/$t"/*; do
      [ -e "$crash" ] || continue
      echo "crash input: $crash"
      echo "reproduce:   RUSTC_BOOTSTRAP=1 cargo fuzz run ${flags[*]} $t $crash"
    done
  fi
done

# Rebuilds the committed corpus of target $1: the hand-written seeds (any
# name that is not a SHA-1) stay; of the other inputs, committed or found,
# it keeps those that reach code nothing before them reached (libFuzzer's
# merge, smallest input first), the ones reaching the most first, up to
# FUZZ_CORPUS_MAX (200) files in all.
merge_corpus() {
  local t=$1 work room
  work=$(mktemp -d)
  mkdir "$work/seeds" "$work/found"
  for f in "fuzz/corpus/$t"/*; do
    [ -f "$f" ] || continue
    if [[ $(basename "$f") =~ ^[0-9a-f]{40}$ ]]; then cp "$f" "$work/found/"; else cp "$f" "$work/seeds/"; fi
  done
  room=$((${FUZZ_CORPUS_MAX:-200} - $(find "$work/seeds" -type f | wc -l)))
  # Seeds first: what they reach is not counted for the others. (The merge
  # also copies inputs into the first directory; that copy is not used.)
  cargo fuzz run "${flags[@]}" "$t" "$work/seeds" "$work/found" "fuzz/target/corpus/$t" -- \
    -merge=1 -merge_control_file="$work/control" >"$logs/$t.merge.log" 2>&1
  # The control file: file count, seed count, the paths, then per input
  # `COV <index> <edges it reached first>`.
  awk 'NR == 1 { n = $1 } NR == 2 { seeds = $1 } NR > 2 && NR <= n + 2 { path[NR - 3] = $0 }
       $1 == "COV" && NF > 2 && $2 >= seeds { print NF - 2, path[$2] }' "$work/control" |
    sort -k1,1nr -s | head -n "$((room > 0 ? room : 0))" | cut -d' ' -f2- >"$work/keep"
  find "fuzz/corpus/$t" -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
  while read -r f; do
    cp "$f" "fuzz/corpus/$t/$(sha1sum "$f" | cut -d' ' -f1)"
  done <"$work/keep"
  rm -rf "$work"
  echo "corpus $t: $(find "fuzz/corpus/$t" -type f | wc -l) inputs, $(cat "fuzz/corpus/$t"/* | wc -c) bytes"
}

if [ "${FUZZ_MERGE:-0}" = 1 ] && [ ${#failed[@]} -eq 0 ]; then
  for t in "${targets[@]}"; do merge_corpus "$t"; done
fi

echo "building and fuzzing took $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz targets that crashed: ${failed[*]}" >&2
  exit 1
fi
