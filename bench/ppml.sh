#!/usr/bin/env bash
# bench/ppml.sh [PANEL]: Poisson PML speed (issue #14). Not a test: it prints figures.
# Model: trade ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province,
# clustered by pair, zeros kept, on the default panel (1.15M rows). Reports medians over REPS runs on 1 and
# 2 ranks of: the estimation time (prepare + index + demean + solve + vcov from the JSON timings: everything
# after the columns are read) and the whole process; IRLS and inner (demeaning) iterations; the ratio to
# one OLS estimation of the same model on log(trade) (the ratio fixest's anchors use: fepois / feols of
# the log model, ../shared/bench/anchors.md: 1.05 s, about 5x its feols, 1 thread, 6 IRLS iterations).
set -euo pipefail
cd "$(dirname "$0")/.."
PANEL=${1:-data/default.h5}
REPS=${REPS:-5}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_pml=ob1
OUT=${OUT:-$(mktemp -d /tmp/gravrd-ppml-bench.XXXXXX)}
RHS='partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
jnum() { sed -n "s/.*\"$2\":[[:space:]]*\([-0-9][-0-9.eE+]*\).*/\1/p" "$1" | head -1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
est() { local j=$1 s=0 k; for k in prepare index demean solve vcov; do s=$(echo "$s + $(jnum "$j" $k)" | bc -l); done; echo "$s"; }

run() {  # run NAME P FORMULA [OPTIONS...]: median est and whole seconds over REPS runs
  local name=$1 P=$2 f=$3; shift 3
  local i t0 t1
  : >"$OUT/$name.est"; : >"$OUT/$name.whole"
  for ((i = 0; i < REPS; i++)); do
    t0=$(date +%s.%N)
    mpirun -n "$P" ./bin/gravrd estimate --quiet --data "$PANEL" --formula "$f" --cluster pair "$@" --json "$OUT/$name.json"
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l >>"$OUT/$name.whole"
    est "$OUT/$name.json" >>"$OUT/$name.est"
  done
  echo "$(median <"$OUT/$name.est") $(median <"$OUT/$name.whole")"
}

echo "panel: $PANEL, $REPS runs each, medians; seconds"
printf '%-6s %-14s %-14s %-10s %-8s %-8s %s\n' ranks "ppml est" "ols est" "ratio" "irls" "inner" "ppml whole / ols whole"
for P in 1 2; do
  read -r pe pw <<<"$(run ppml$P "$P" "trade ~ $RHS" --family poisson)"
  read -r oe ow <<<"$(run ols$P "$P" "log(trade) ~ $RHS")"
  printf '%-6s %-14.3f %-14.3f %-10.2f %-8s %-8s %.2f / %.2f\n' "$P" "$pe" "$oe" "$(echo "$pe / $oe" | bc -l)" \
    "$(jnum "$OUT/ppml$P.json" irls_iterations)" "$(jnum "$OUT/ppml$P.json" inner_iterations)" "$pw" "$ow"
done
echo "fixest fepois, same model, 1 thread (anchors): 1.05 s; target: ppml est <= 0.21 s (5x faster) and <= 3 OLS"
echo "JSON results in $OUT"
