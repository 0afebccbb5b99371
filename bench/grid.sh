#!/usr/bin/env bash
# bench/grid.sh PANEL: the grid runner's speed (issue #11). Not a test: it prints figures, medians of REPS
# runs (default 5), interleaved 1 rank / 2 ranks, each the whole process (mpirun start to results written):
#   1. configs/grid-150.yaml: 5 bandwidths x 5 control groups x 2 outcomes x 3 directions, the segment-pair
#      design, exporter-month and importer-month FEs, clustered by pair (the anchors' 150-spec grid, here
#      with real bandwidths); beside it ../shared/bench/anchors.md: fixest 30.0 s (1 thread) and 20.4 s
#      (2 threads), gravrd as 25 mpirun ... estimate processes 16.9 s (1 rank) and 14.1 s (2 ranks).
#   2. configs/sweep-large.yaml (2,100 specifications): specifications per second on 1 and 2 ranks (one run
#      each: minutes), and the speed-up over estimating every specification from scratch, measured two ways:
#      --no-merge (one model per specification, in one process) and one `gravrd estimate` process per
#      specification, timed on SAMPLE specifications drawn with a fixed seed and scaled to the sweep.
#   3. configs/table3.yaml end to end on 2 ranks: grid, then `gravrd table` when it exists.
#   4. bench/grid-150-log1p.yaml: section 1's grid with log1p outcomes (finite on every row: balanced samples),
#      where the exact pair-level shortcut applies (docs/grid.md), 1 and 2 ranks, beside the same grid run
#      --no-merge (the full computation, one model per specification).
# QUICK=1: REPS=3 and skips the sweep's 1-rank run. SKIP150=1 skips section 1, SKIPSWEEP=1 sections 2 and 3,
# SKIPBAL=1 section 4.
# DIAG=off: section 1 with `cluster-diag: "off"` in the config's base (issue #11 measures the grid without the
# clustering diagnostic). BEFORE=path: section 1 also times that build, interleaved run by run with this one
# (before/after on a loaded machine), and both report CPU seconds (all processes: user + system) beside wall.
# The machine's load (uptime) is printed before and after: on a shared machine, read the figures with it.
set -euo pipefail
cd "$(dirname "$0")/.."
PANEL=${1:-data/default.h5}
REPS=${REPS:-5}
SAMPLE=${SAMPLE:-20}
[ "${QUICK:-0}" = 1 ] && REPS=3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
OUT=$(mktemp -d /tmp/gravrd-gridbench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
GR=${GR:-./bin/gravrd}  # GR=path: another build, for a before/after comparison
[ -x "$GR" ] || { echo "bench/grid.sh: build first (make)" >&2; exit 1; }
[ -f "$PANEL" ] || { echo "bench/grid.sh: no panel $PANEL (make data/default.h5)" >&2; exit 1; }

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now() { date +%s.%N; }
# run_grid NP CONFIG DIR [ARGS...]: wall seconds of one whole run (GRB=path: that build instead of $GR);
# the CPU seconds of all its processes go to $OUT/cpu
run_grid() {
  local np=$1 cfg=$2 dir=$3 t0 t1 bin=${GRB:-$GR}; shift 3
  rm -rf "$dir"
  t0=$(now)
  local rc=0
  /usr/bin/time -f '%U %S' -o "$OUT/time" mpirun -n "$np" "$bin" grid "$cfg" --data "$PANEL" --out "$dir" --quiet "$@" \
    >/dev/null 2>"$OUT/err" || rc=$?
  # 4: some specifications failed (recorded; sweep-large has specifications with no residual degrees of freedom)
  [ $rc = 0 ] || [ $rc = 4 ] || { echo "bench/grid.sh: grid $cfg on $np ranks failed: $(tail -n 2 "$OUT/err")" >&2; exit 1; }
  t1=$(now)
  awk '{ print $1 + $2 }' "$OUT/time" >"$OUT/cpu"
  echo "$t1 - $t0" | bc -l
}
mnum() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "# bench/grid.sh on $PANEL ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), $($GR --version | head -1))"
echo "# load before: $(uptime | sed 's/.*load average/load average/')"
echo

# 1. the 150-specification grid (SKIP150=1 skips it)
if [ "${SKIP150:-0}" != 1 ]; then
CFG150=configs/grid-150.yaml
if [ "${DIAG:-}" = off ]; then
  CFG150=$OUT/grid-150-diag-off.yaml
  sed 's/^  cluster: pair$/  cluster: pair\n  cluster-diag: "off"/' configs/grid-150.yaml >"$CFG150"
  grep -q 'cluster-diag: "off"' "$CFG150" || { echo "bench/grid.sh: could not set cluster-diag off" >&2; exit 1; }
fi
: >"$OUT/g1"; : >"$OUT/g2"; : >"$OUT/c1"; : >"$OUT/c2"; : >"$OUT/b1"; : >"$OUT/b2"; : >"$OUT/bc1"; : >"$OUT/bc2"
for r in $(seq "$REPS"); do
  for np in 1 2; do
    run_grid $np "$CFG150" "$OUT/d$np" >>"$OUT/g$np"; cat "$OUT/cpu" >>"$OUT/c$np"
    if [ -n "${BEFORE:-}" ]; then GRB=$BEFORE run_grid $np "$CFG150" "$OUT/e$np" >>"$OUT/b$np"; cat "$OUT/cpu" >>"$OUT/bc$np"; fi
  done
done
g1=$(median <"$OUT/g1"); g2=$(median <"$OUT/g2")
dem=$(mnum "$OUT/d2/manifest.json" demeaned_columns); scr=$(mnum "$OUT/d2/manifest.json" demeaned_columns_from_scratch)
echo "## 150-specification grid ($CFG150), whole process, median of $REPS"
echo
echo "| | 1 rank / 1 thread | 2 ranks / 2 threads |"
echo "|---|---|---|"
printf '| gravrd grid (this build) | %.2f s (CPU %.2f s) | %.2f s (CPU %.2f s) |\n' "$g1" "$(median <"$OUT/c1")" "$g2" "$(median <"$OUT/c2")"
[ -n "${BEFORE:-}" ] && printf '| gravrd grid (%s, interleaved) | %.2f s (CPU %.2f s) | %.2f s (CPU %.2f s) |\n' "$BEFORE" \
  "$(median <"$OUT/b1")" "$(median <"$OUT/bc1")" "$(median <"$OUT/b2")" "$(median <"$OUT/bc2")"
echo "| fixest 0.12.1, one R process (anchors.md) | 30.0 s | 20.4 s |"
echo "| gravrd, 25 mpirun ... estimate (anchors.md) | 16.9 s | 14.1 s |"
echo
echo "Runs (s): 1 rank $(tr '\n' ' ' <"$OUT/g1"); 2 ranks $(tr '\n' ' ' <"$OUT/g2")"
echo "Shared work: $dem columns demeaned; $scr when every specification is estimated alone ($(echo "scale=2; $scr / $dem" | bc) x)."
echo
fi

# 2. the large sweep
if [ "${SKIPSWEEP:-0}" != 1 ]; then
n=$($GR grid configs/sweep-large.yaml --data "$PANEL" --dry-run | tail -n 1 | sed 's/# \([0-9]*\).*/\1/')
s2=$(run_grid 2 configs/sweep-large.yaml "$OUT/s2")
s2n=$(run_grid 2 configs/sweep-large.yaml "$OUT/s2n" --no-merge)
if [ "${QUICK:-0}" != 1 ]; then s1=$(run_grid 1 configs/sweep-large.yaml "$OUT/s1"); else s1=; fi
# from scratch: one estimate process per specification, SAMPLE of them (seed 11), on 2 ranks
$GR grid configs/sweep-large.yaml --data "$PANEL" --dry-run | grep -v '^#' \
  | awk -v seed=11 'BEGIN { srand(seed) } { print rand() "\t" $0 }' | sort -g >"$OUT/drawn"
head -n "$SAMPLE" "$OUT/drawn" | cut -f2- >"$OUT/sample"  # (head in a pipe would end sort with SIGPIPE: pipefail)
t_est=0
while IFS=$'\t' read -r id label formula where settings; do
  args=(--data "$PANEL" --formula "$formula" --quiet)
  [ "$where" != "-" ] && args+=(--where "$where")
  for kv in $settings; do [ "$kv" != "-" ] && args+=("--${kv%%=*}" "${kv#*=}"); done
  t0=$(now)  # </dev/null: mpirun would read the rest of the sample list from stdin
  mpirun -n 2 "$GR" estimate "${args[@]}" </dev/null >/dev/null 2>"$OUT/err" || { echo "estimate $id failed: $(tail -n 1 "$OUT/err")" >&2; exit 1; }
  t_est=$(echo "$t_est + $(now) - $t0" | bc -l)
done <"$OUT/sample"
per=$(echo "$t_est / $SAMPLE" | bc -l)
echo "## Large sweep (configs/sweep-large.yaml, $n specifications), whole process, one run each"
echo
echo "| | seconds | specifications per second |"
echo "|---|---|---|"
[ -n "$s1" ] && printf '| gravrd grid, 1 rank | %.1f | %.1f |\n' "$s1" "$(echo "$n / $s1" | bc -l)"
printf '| gravrd grid, 2 ranks | %.1f | %.1f |\n' "$s2" "$(echo "$n / $s2" | bc -l)"
printf '| gravrd grid --no-merge (one model per specification), 2 ranks | %.1f | %.1f |\n' "$s2n" "$(echo "$n / $s2n" | bc -l)"
printf '| one `mpirun -n 2 gravrd estimate` per specification (%d drawn, seed 11: %.2f s each), scaled | %.0f | %.2f |\n' \
  "$SAMPLE" "$per" "$(echo "$per * $n" | bc -l)" "$(echo "1 / $per" | bc -l)"
echo
printf 'Speed-up of the grid on 2 ranks: %.1f x over --no-merge, %.0f x over one process per specification.\n' \
  "$(echo "$s2n / $s2" | bc -l)" "$(echo "$per * $n / $s2" | bc -l)"
echo "Shared work (2 ranks): $(mnum "$OUT/s2/manifest.json" demeaned_columns) columns demeaned; $(mnum "$OUT/s2/manifest.json" demeaned_columns_from_scratch) from scratch."
echo

# 3. Table 3 end to end on 2 ranks
: >"$OUT/t3"
for r in $(seq "$REPS"); do
  t0=$(now)
  mpirun -n 2 "$GR" grid configs/table3.yaml --data "$PANEL" --out "$OUT/t3d" --quiet >/dev/null 2>&1 || true
  if $GR table --help >/dev/null 2>&1; then $GR table "$OUT/t3d" --config configs/table3.yaml >/dev/null; fi
  echo "$(now) - $t0" | bc -l >>"$OUT/t3"
  rm -rf "$OUT/t3d"
done
printf '## Table 3 (configs/table3.yaml, 24 specifications) end to end on 2 ranks: %.2f s (median of %d; grid%s)\n' \
  "$(median <"$OUT/t3")" "$REPS" "$($GR table --help >/dev/null 2>&1 && echo ' + gravrd table' || echo ' only')"
fi

# 4. the balanced variant: the pair-level shortcut (SKIPBAL=1 skips it)
[ "${SKIPBAL:-0}" = 1 ] && exit 0
: >"$OUT/l1"; : >"$OUT/l2"; : >"$OUT/ln"
for r in $(seq "$REPS"); do
  run_grid 1 bench/grid-150-log1p.yaml "$OUT/e1" >>"$OUT/l1"
  run_grid 2 bench/grid-150-log1p.yaml "$OUT/e2" >>"$OUT/l2"
  run_grid 2 bench/grid-150-log1p.yaml "$OUT/en" --no-merge >>"$OUT/ln"
done
echo
echo "## bench/grid-150-log1p.yaml (balanced: the pair-level shortcut), whole process, median of $REPS"
echo
printf '1 rank %.2f s, 2 ranks %.2f s; --no-merge (full computation) on 2 ranks %.2f s.\n' "$(median <"$OUT/l1")" "$(median <"$OUT/l2")" "$(median <"$OUT/ln")"
echo "Runs (s): 1 rank $(tr '\n' ' ' <"$OUT/l1"); 2 ranks $(tr '\n' ' ' <"$OUT/l2"); --no-merge $(tr '\n' ' ' <"$OUT/ln")"
echo "Columns by the shortcut: $(mnum "$OUT/e2/manifest.json" columns_shortcut); demeaned: $(mnum "$OUT/e2/manifest.json" demeaned_columns) (within parts); from scratch: $(mnum "$OUT/e2/manifest.json" demeaned_columns_from_scratch)."
echo
echo "# load after: $(uptime | sed 's/.*load average/load average/')"
