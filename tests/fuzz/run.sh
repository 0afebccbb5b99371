#!/usr/bin/env bash
# tests/fuzz/run.sh: run the libFuzzer targets built by `make fuzz-build` (build/fuzz/fuzz_<target>).
#   tests/fuzz/run.sh [-t SECONDS] [--tap] [target...]     (targets: expr formula csv; default all)
# Each target first runs every input of its seed corpus tests/fuzz/corpus/<target>/ (and of its work
# corpus), then fuzzes for SECONDS (default 60) with the dictionary tests/fuzz/<target>.dict. New inputs
# are written to $FUZZ_WORK/<target> (default $TMPDIR/gravrd-fuzz, never into the repository); inputs
# that crash or break a property go to tests/fuzz/crashes/<target>-*. Prints per target: executions,
# coverage (libFuzzer's cov = edges, ft = features), corpus size, and the outcome; with --tap one line
# "ok - fuzz <target> ..." or "not ok - fuzz <target>: ..." each. Exits 1 if any target failed.
cd "$(dirname "$0")/../.." || exit 2
secs=60 tap=0 targets=()
while [ $# -gt 0 ]; do
  case $1 in
    -t) secs=$2; shift 2 ;;
    --tap) tap=1; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(expr formula csv)
work=${FUZZ_WORK:-${TMPDIR:-/tmp}/gravrd-fuzz}
mkdir -p tests/fuzz/crashes || exit 2
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
status=0
for t in "${targets[@]}"; do
  bin=build/fuzz/fuzz_$t seeds=tests/fuzz/corpus/$t
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    [ $tap = 1 ] && echo "not ok - fuzz $t: $bin or $seeds missing (make fuzz-build)" || echo "fuzz $t: $bin or $seeds missing"
    status=1; continue
  fi
  mkdir -p "$work/$t" || exit 2
  log="$work/$t.log"
  dict=(); [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  case $t in expr) maxlen=24000 ;; csv) maxlen=16384 ;; *) maxlen=8192 ;; esac  # expr: past MAX_TEXT (20000)
  t0=$SECONDS
  "./$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=$maxlen -print_final_stats=1 \
    -artifact_prefix="tests/fuzz/crashes/$t-" "${dict[@]}" "$work/$t" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/cov \1, ft \2, corpus \3/p' <<<"$last")
  seeds_n=$(find "$seeds" -type f | wc -l)
  summary="$t: ${execs:-?} executions in $((SECONDS - t0)) s, ${cov:-no coverage line}, $seeds_n seeds"
  if [ $rc -eq 0 ] && [ -n "$execs" ]; then
    [ $tap = 1 ] && echo "ok - fuzz $summary" || echo "fuzz $summary: no crash"
  else
    status=1
    art=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -1)
    why=$(grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|property failed' "$log" | head -1)
    # 126/127: the shell could not run the binary (seen once in CI, cause unknown): its own words and the file
    if [ $rc -eq 126 ] || [ $rc -eq 127 ]; then
      why="could not run $bin: $(head -n 2 "$log" | tr '\n' ' ') [$(ls -l "$bin" 2>&1)]"
    fi
    if [ $tap = 1 ]; then echo "not ok - fuzz $t: rc=$rc ${why:0:200} input ${art:-none} (log $log)"
    else echo "fuzz $summary: FAILED rc=$rc: $why; input ${art:-none}; log $log"; fi
    grep -E 'runtime error|property failed|^    #[0-9] ' "$log" | head -12 | sed 's/^/# /'
  fi
done
exit $status
