#!/usr/bin/env bash
# bench/scaling.sh OUTDIR [SIZES]: strong scaling of the main model on one node with many cores (issue #16).
# Not a test and not part of make bench (which is sized for the 2-core machine): run it on a cluster node,
# or inside the root file system of bench/rootfs.sh where gravrd's packages are missing.
# It simulates each panel on all the cores, then estimates the main model on 1, 2, 4, ... ranks up to the
# cores, REPS runs each, and records for every run the whole process (launch to exit) in OUTDIR/runs.tsv
# with the run's JSON (OUTDIR/json/). It also records the node (OUTDIR/node.tsv) and the memory bandwidth of
# 1, 2, 4, ... concurrent copies of bench/membw (OUTDIR/membw.tsv), the bound that strong scaling meets.
# SIZES: "east:west:name" panels (default "430:581:30m 870:958:100m": 30M and 100M rows), plus the default
# panel's main model and --split dir on 1 and 2 ranks.
# Env: NPS (rank counts for the SIZES panels; default 1 2 4 ... up to SCALING_NP), REPS (default 3),
# GR (default ./bin/gravrd), MEMBW (default build/membw), KEEP=1 keeps the panels, SCALING_TMP (where the
# panels go, default /tmp/gravrd-scaling), SCALING_NP (the most ranks, default the cores: nproc),
# SCALING_LAUNCH (the launcher, {n} standing for the rank count, e.g. "srun --mpi=pmix --ntasks={n}":
# jobs/scaling.sbatch sets it; default: 1 rank as a singleton, more through mpirun --bind-to core).
# Exits 1 if a simulation or a run failed (each failed run is recorded with its status in runs.tsv).
set -uo pipefail
OUT=${1:?usage: bench/scaling.sh OUTDIR [SIZES]}
SIZES=${2:-"430:581:30m 870:958:100m"}
REPS=${REPS:-3}
GR=${GR:-./bin/gravrd}
MEMBW=${MEMBW:-build/membw}
DIR=${SCALING_TMP:-/tmp/gravrd-scaling}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_ess_singleton_isolated=1
mkdir -p "$OUT/json" "$DIR"
NP=${SCALING_NP:-$(nproc)}
FAILED=0
FORM='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
now() { date +%s.%N; }
sec() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }
# launch NP CMD...: CMD on NP ranks; LAUNCHED gets the launcher's words as run (runs.tsv records them)
launch() {
  local np=$1 l=(); shift
  if [ -n "${SCALING_LAUNCH:-}" ]; then read -r -a l <<<"${SCALING_LAUNCH//\{n\}/$np}"
  elif [ "$np" != 1 ]; then l=(mpirun -n "$np" --bind-to core); fi
  LAUNCHED=${l[*]:-singleton}
  "${l[@]}" "$@"
}
pows() { local k=1; while [ $k -le "$NP" ]; do echo $k; k=$((k * 2)); done; [ $((k / 2)) -lt "$NP" ] && echo "$NP"; }

{ echo "cpu	$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"; echo "cores	$NP"
  echo "memory_gib	$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel	$(uname -r)"; echo "gravrd	$("$GR" --version | head -1)"; echo "mpi	$(mpirun --version 2>&1 | head -1)"
  echo "load	$(cut -d' ' -f1-3 /proc/loadavg)"; echo "date	$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "settings	SIZES=$SIZES NPS=${NPS:-all} REPS=$REPS DEFAULT=${DEFAULT:-1}"
  echo "launch	${SCALING_LAUNCH:-1 rank a singleton, more: mpirun -n {n} --bind-to core}"; } >"$OUT/node.tsv"
cat "$OUT/node.tsv" >&2

# memory bandwidth: k concurrent single-threaded copies, summed triad (GB/s)
if [ -x "$MEMBW" ]; then
  echo "copies	triad_gbs_sum	fresh_gbs_sum" >"$OUT/membw.tsv"
  for k in $(pows); do
    for i in $(seq "$k"); do "$MEMBW" >"$DIR/membw.$i" & done; wait
    cat "$DIR"/membw.[0-9]* | awk -v k="$k" '/^triad_gbs/ { t += $2 } /^fresh_gbs/ { f += $2 }
      END { printf "%d\t%.2f\t%.2f\n", k, t, f }' >>"$OUT/membw.tsv"
    rm -f "$DIR"/membw.[0-9]*
  done
  cat "$OUT/membw.tsv" >&2
fi

for np in ${NPS:-}; do
  [ "$np" -ge 1 ] 2>/dev/null && [ "$np" -le "$NP" ] || { echo "bench/scaling.sh: NPS: $np is not a rank count in 1..$NP" >&2; exit 1; }
done
echo "case	np	rep	rows	whole_s	rc	launch" >"$OUT/runs.tsv"
# run CASE NP REP PANEL ARGS...: one estimate, whole process timed, JSON kept
run() {
  local name=$1 np=$2 rep=$3 panel=$4; shift 4
  local j="$OUT/json/$name-${np}r-$rep.json" t0 t1 rc
  t0=$(now); launch "$np" "$GR" estimate --quiet --data "$panel" "$@" --json "$j" >/dev/null 2>"$DIR/err"; rc=$?
  t1=$(now)
  [ $rc = 0 ] || { echo "  $name ${np}r: exit $rc: $(tail -1 "$DIR/err")" >&2; FAILED=1; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$np" "$rep" "${ROWS[$panel]:-}" "$(sec "$t0" "$t1")" "$rc" "$LAUNCHED" \
    >>"$OUT/runs.tsv"
}
declare -A ROWS
simulate() {  # simulate NAME PATH ARGS...: on all cores, timed
  local name=$1 path=$2 t0 t1; shift 2
  t0=$(now); launch "$NP" "$GR" simulate --out "$path" "$@" >"$DIR/sim.log" 2>&1 || {
    echo "simulate $name failed: $(tail -2 "$DIR/sim.log")" >&2; FAILED=1; return 1; }
  t1=$(now)
  sync  # the file's writeback must not overlap the timed runs
  ROWS[$path]=$("$GR" check "$path" | sed -n 's/.*rows: \([0-9]*\).*/\1/p')
  [ -n "${ROWS[$path]}" ] || { echo "simulate $name: gravrd check $path gave no row count" >&2; FAILED=1; return 1; }
  printf 'simulate_%s	%s ranks	%s rows	%s s	%s bytes\n' "$name" "$NP" "${ROWS[$path]}" "$(sec "$t0" "$t1")" \
    "$(stat -c %s "$path")" | tee -a "$OUT/node.tsv" >&2
}

# the default panel: main model and --split dir, 1 and 2 ranks (DEFAULT=0 skips it)
if [ "${DEFAULT:-1}" = 1 ] && simulate default "$DIR/default.h5"; then
  for np in 1 2; do
    [ "$np" -le "$NP" ] || continue
    for rep in $(seq 7); do
      run main "$np" "$rep" "$DIR/default.h5" --formula "$FORM" --cluster pair
      run splitdir "$np" "$rep" "$DIR/default.h5" --formula "$FORM" --cluster pair --split dir
    done
  done
fi
for s in $SIZES; do
  IFS=: read -r east west name <<<"$s"
  p="$DIR/sim-$name.h5"
  simulate "$name" "$p" --east "$east" --west "$west" || continue
  # the rank counts interleaved within each repetition: a slow spell of the machine hits them all
  for rep in $(seq "$REPS"); do
    for np in ${NPS:-$(pows)}; do run "scale$name" "$np" "$rep" "$p" --formula "$FORM" --cluster pair; done
  done
  for np in ${NPS:-$(pows)}; do
    echo "  scale$name ${np}r: $(awk -v c="scale$name" -v n="$np" '$1 == c && $2 == n { printf "%s ", $5 }' "$OUT/runs.tsv")" >&2
  done
  [ "${KEEP:-0}" = 1 ] || rm -f "$p"
done
echo "load_end	$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/node.tsv"
exit "$FAILED"
