#!/usr/bin/env bash
# bench/whole.sh OLD_BIN NEW_BIN PANEL: issue #16's 1-rank target, the main model's whole process (launch
# to exit, isolated singleton, pml ob1) with two builds, interleaved: ROUNDS rounds (default 5), each
# `perf stat -r REPS` (default 10) of OLD then of NEW. Prints per build the median over rounds of the mean
# elapsed seconds and of the mean CPU (task-clock) milliseconds, and the same for `gravrd --version`
# (start-up and shut-down alone). EXTRA: more estimate arguments (e.g. EXTRA="--cluster-diag off").
# CPU is the steadier figure on a loaded machine: elapsed waits for the cores others use. Not a test.
set -euo pipefail
OLD=$1 NEW=$2 PANEL=$3 ROUNDS=${ROUNDS:-5} REPS=${REPS:-10}
command -v perf >/dev/null || { echo "bench/whole.sh: needs perf (linux-perf)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_pml=ob1 OMPI_MCA_ess_singleton_isolated=1
read -r -a extra <<<"${EXTRA:-}"
FORM='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
OUT=$(mktemp -d /tmp/gravrd-whole.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
stat1() {  # label, command...: append "elapsed_s cpu_ms" of one perf stat -r REPS
  local label=$1; shift
  perf stat -x, -r "$REPS" -e task-clock -o "$OUT/perf" "$@" >/dev/null 2>"$OUT/err" || { cat "$OUT/err" >&2; exit 1; }
  local cpu el
  cpu=$(awk -F, '/task-clock/ { print $1 }' "$OUT/perf")
  el=$(LC_ALL=C perf stat -r "$REPS" "$@" 2>&1 >/dev/null | awk '/seconds time elapsed/ { print $1 }')
  echo "$el $cpu" >>"$OUT/$label"
}
for r in $(seq "$ROUNDS"); do
  for b in old new; do
    bin=$OLD; [ $b = new ] && bin=$NEW
    stat1 "$b.model" "$bin" estimate --quiet --data "$PANEL" --formula "$FORM" --cluster pair "${extra[@]}" \
      --json "$OUT/$b.json"
    stat1 "$b.version" "$bin" --version
  done
done
for w in model version; do
  for b in old new; do
    printf '%-4s %-8s whole process median %.4f s   CPU median %.1f ms   (%d rounds of %d runs; rounds: %s)\n' \
      "$b" "$w" "$(awk '{ print $1 }' "$OUT/$b.$w" | median)" "$(awk '{ print $2 }' "$OUT/$b.$w" | median)" \
      "$ROUNDS" "$REPS" "$(awk '{ printf "%s%.3f s/%.0f ms", (NR > 1 ? ", " : ""), $1, $2 }' "$OUT/$b.$w")"
  done
done
