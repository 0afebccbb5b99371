#!/usr/bin/env bash
# tests/it_fuzz.sh: smoke run of the libFuzzer targets (tests/fuzz/): build them (clang-14, from
# `make deps`), then run each over its seed corpus tests/fuzz/corpus/<target>/ plus FUZZ_SMOKE_SECONDS
# (default 5) of fuzzing, the three at once, new inputs in a temporary directory. One TAP line per target:
# ok if nothing crashed and no property broke (a failing input is kept in tests/fuzz/crashes/).
# Skipped when clang-14 is not installed. Under 30 s in all. The long run is `make fuzz`.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
secs=${FUZZ_SMOKE_SECONDS:-5}
if ! command -v clang-14 >/dev/null 2>&1; then
  echo "ok - fuzz smoke # SKIP clang-14 not installed (make deps installs it)"
  exit 0
fi
TMP=$(mktemp -d /tmp/gravrd-fuzz-smoke.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
if ! make --no-print-directory fuzz-build >"$TMP/build.log" 2>&1; then
  echo "not ok - fuzz build: $(grep -m1 -E 'error|Error' "$TMP/build.log" | head -c 300)"
  exit 1
fi
echo "ok - fuzz build"
status=0
pids=()
for t in expr formula csv; do
  FUZZ_WORK="$TMP/work" ./tests/fuzz/run.sh --tap -t "$secs" "$t" >"$TMP/$t.out" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
for t in expr formula csv; do
  cat "$TMP/$t.out"
  grep -qE '^(not )?ok ' "$TMP/$t.out" || { echo "not ok - fuzz $t: no result"; status=1; }
done
exit $status
