#!/usr/bin/env bash
# bench/ppml.sh [PANEL]: Poisson PML speed (issue #14). Not a test: it prints figures.
# Model: trade ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province,
# clustered by pair, zeros kept, on the default panel (1.15M rows; PANEL defaults to data/default.h5, e.g. made
# by `gravrd simulate data/default.h5`). On 1 and 2 ranks, REPS (default 7) rounds each of which runs the PPML
# and then the OLS of the same model on log(trade) (the ratio fixest's anchors use: fepois / feols of the log
# model, ../shared/bench/anchors.md: fepois 1.05 s, about 5x its feols, 1 thread, 6 IRLS iterations), so that
# both see the same load. Reports medians of:
#   est    the estimation time from the JSON timings (prepare + index + demean + solve + vcov: everything after
#          the columns are read; for PPML, index holds every pass of the separation checks and IRLS that is not
#          demeaning), wall clock of rank 0;
#   ratio  the median over the rounds of PPML est / OLS est (the OLS-equivalents);
#   cpu    the whole process's user + system CPU seconds (all ranks; with start-up and reading), which a loaded
#          machine inflates less than wall clock;
#   whole  the whole process's wall clock.
# The machine's load average (uptime) is printed before and after: on a shared machine the wall-clock figures are
# upper bounds.
# GR=PATH runs another gravrd (default ./bin/gravrd). GR_BEFORE=PATH adds a "before" binary, interleaved: each round
# runs before's PPML, then GR's PPML, then GR's OLS, and the table gets a row for each (ratios against GR's OLS).
set -euo pipefail
cd "$(dirname "$0")/.."
PANEL=${1:-data/default.h5}
REPS=${REPS:-7}
[ -r "$PANEL" ] || { echo "bench/ppml.sh: panel '$PANEL' not found: give its path (gravrd simulate makes one)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_pml=ob1
OUT=${OUT:-$(mktemp -d /tmp/gravrd-ppml-bench.XXXXXX)}
mkdir -p "$OUT"
GR=${GR:-./bin/gravrd}
GR_BEFORE=${GR_BEFORE:-}
RHS='partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
jnum() { sed -n "s/.*\"$2\":[[:space:]]*\([-0-9][-0-9.eE+]*\).*/\1/p" "$1" | head -1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
est() { local j=$1 s=0 k; for k in prepare index demean solve vcov; do s=$(echo "$s + $(jnum "$j" $k)" | bc -l); done; echo "$s"; }

once() {  # once BIN NAME P FORMULA [OPTIONS...]: one run; appends est, cpu and whole seconds to $OUT/NAME.{est,cpu,whole}
  local bin=$1 name=$2 P=$3 f=$4; shift 4
  /usr/bin/time -f "%U %S %e" -o "$OUT/$name.time" \
    mpirun -n "$P" "$bin" estimate --quiet --data "$PANEL" --formula "$f" --cluster pair "$@" --json "$OUT/$name.json"
  est "$OUT/$name.json" >>"$OUT/$name.est"
  awk '{ print $1 + $2 }' "$OUT/$name.time" >>"$OUT/$name.cpu"
  awk '{ print $3 }' "$OUT/$name.time" >>"$OUT/$name.whole"
}

echo "panel: $PANEL, $REPS rounds (PPML then OLS) per rank count, medians; seconds; gravrd: $GR${GR_BEFORE:+ (before: $GR_BEFORE)}"
echo "load before: $(uptime)"
printf '%-14s %-10s %-10s %-8s %-6s %-6s %-16s %s\n' ranks "ppml est" "ols est" "ratio" irls inner "cpu ppml / ols" \
  "whole ppml / ols"
row() {  # row LABEL P X: the medians of PPML run X (ppml or before) against the OLS runs on P ranks
  local lab=$1 P=$2 x=$3
  printf '%-14s %-10.3f %-10.3f %-8.2f %-6s %-6s %-16s %s\n' "$lab" "$(median <"$OUT/$x$P.est")" \
    "$(median <"$OUT/ols$P.est")" "$(median <"$OUT/ratio$x$P")" "$(jnum "$OUT/$x$P.json" irls_iterations)" \
    "$(jnum "$OUT/$x$P.json" inner_iterations)" "$(median <"$OUT/$x$P.cpu") / $(median <"$OUT/ols$P.cpu")" \
    "$(median <"$OUT/$x$P.whole") / $(median <"$OUT/ols$P.whole")"
}
for P in 1 2; do
  for x in before ppml ols; do for k in est cpu whole; do : >"$OUT/$x$P.$k"; done; : >"$OUT/ratio$x$P"; done
  for ((i = 0; i < REPS; i++)); do
    [ -n "$GR_BEFORE" ] && once "$GR_BEFORE" before$P "$P" "trade ~ $RHS" --family poisson
    once "$GR" ppml$P "$P" "trade ~ $RHS" --family poisson
    once "$GR" ols$P "$P" "log(trade) ~ $RHS"
    for x in before ppml; do
      [ -s "$OUT/$x$P.est" ] && echo "$(tail -1 "$OUT/$x$P.est") / $(tail -1 "$OUT/ols$P.est")" | bc -l >>"$OUT/ratio$x$P"
    done
  done
  [ -n "$GR_BEFORE" ] && row "$P (before)" "$P" before
  row "$P" "$P" ppml
done
echo "load after: $(uptime)"
echo "fixest fepois, same model, 1 thread (anchors, a quiet machine): 1.05 s; targets: ppml est <= 0.21 s on 1 rank"
echo "(5x faster) and ratio <= 3"
echo "per-run figures and JSON results in $OUT"
