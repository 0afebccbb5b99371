#!/usr/bin/env bash
# bench/suite.sh PANEL: the benchmark suite of issue #16 (make bench). Not a test: it measures and writes
# bench/results/latest.json and bench/results/latest.md (bench/report.py), with the machine, its load,
# and for every figure the runs, their median, what it measures (`est`: the estimation alone, every stage
# after the columns are read; `whole`: the whole process, launch to exit) and its ratio to a limit measured
# in the same run: for `est` the memory-bandwidth bound of one pass over the model's data (bench/membw.c,
# triad), for `whole` the time to read the panel file's bytes from the page cache (cat, warm).
# Items (issue #16): 1 main model, 1 and 2 ranks; 2 the same with 20% of rows missing, four outcomes and
# --split dir; 3 fixest's "difficult" three-way shape (bench/difficult.py); 4 the grids (bench/grid.sh,
# QUICK=1: its sweep is minutes); 6 strong scaling at 30M rows on 1, 2, 4, 8 ranks (above 2 oversubscribed);
# 5 (BENCH_LARGE=1) 100M rows on 2 ranks. Generated panels are kept in data/bench/ (made once).
# Launch (docs/scale.md "Start-up"): 1 rank runs as an MPI singleton (no mpirun), more through mpirun;
# both with OMPI_MCA_pml=ob1 and OMPI_MCA_ess_singleton_isolated=1, the settings for one node.
# Env: REPS (default 7), REPS_BIG (runs of the 30M/100M/difficult cases, default 3), GRID=0 skips item 4,
# BENCH_LARGE=1 adds item 5, DIFF_N (rows of the difficult panel, default 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
PANEL=${1:-data/default.h5}
REPS=${REPS:-7}
REPS_BIG=${REPS_BIG:-3}
DIFF_N=${DIFF_N:-1000000}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_pml=ob1 OMPI_MCA_ess_singleton_isolated=1
unset OMPI_MCA_rmaps_base_oversubscribe
GR=./bin/gravrd
[ -x "$GR" ] || { echo "bench/suite.sh: build first (make)" >&2; exit 1; }
[ -f "$PANEL" ] || { echo "bench/suite.sh: no panel $PANEL" >&2; exit 1; }
OUT=$(mktemp -d /tmp/gravrd-suite.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
mkdir -p build data/bench bench/results
REC=$OUT/records.tsv; : >"$REC"
now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# ---- limits measured in this run
cc -O2 -march=x86-64-v2 -o build/membw bench/membw.c
mpicc -O2 -o build/mpi_init bench/mpi_init.c
./build/membw >"$OUT/membw"
triad=$(sed -n 's/triad_gbs //p' "$OUT/membw")
fresh=$(sed -n 's/fresh_gbs //p' "$OUT/membw")
# seconds to read a file's bytes from the page cache (warmed first), median of 5
cache_s() { local f=$1; cat "$f" >/dev/null; for i in 1 2 3 4 5; do local t0; t0=$(now); cat "$f" >/dev/null; echo "$(now) - $t0" | bc -l; done | median; }
rows_of() { "$GR" check "$1" | sed -n 's/.*rows: \([0-9]*\).*/\1/p'; }

# launch NP CMD...: 1 rank as a singleton, more through mpirun (oversubscribed, yielding, above the cores)
launch() {
  local np=$1; shift
  if [ "$np" = 1 ]; then "$@"
  elif [ "$np" -le "$(nproc)" ]; then mpirun -n "$np" "$@"
  else mpirun -n "$np" --oversubscribe --mca mpi_yield_when_idle 1 "$@"; fi
}
# est_of JSON: the estimation stages after reading, summed over the results (a split has one per sample);
# outcomes that share a stage (c(y1, y2): one prepare, one absorber) report the same figure in each result,
# counted once (distinct values per stage are summed)
est_of() { /usr/bin/env python3 -c "
import json,sys; d=json.load(open(sys.argv[1])); rs=d.get('results',[d])
ks=sys.argv[2:] or ('prepare','index','demean','solve','vcov')
print(sum(sum(set(r['timings'][k] for r in rs)) for k in ks))" "$@"; }
jget() { /usr/bin/env python3 -c "
import json,sys; d=json.load(open(sys.argv[1])); rs=d.get('results',[d]); r=rs[0]
v={'iterations':r.get('iterations'),'read':r['timings']['read'],'nobs':r.get('nobs'),
   'mem':d.get('memory',{}).get('peak_rss_above_start_bytes_max_rank'),'data':d.get('memory',{}).get('data_bytes_max_rank'),
   'tables':d.get('memory',{}).get('table_bytes_max_rank')}[sys.argv[2]]
print(v)" "$1" "$2"; }

# case NAME ITEM NP PANEL BYTES_PER_ROW NRUNS ANCHOR ESTIMATE-ARGS...: NRUNS runs; records est and whole
case_run() {
  local name=$1 item=$2 np=$3 panel=$4 bpr=$5 nruns=$6 anchor=$7; shift 7
  local est=() whole=() mem=() dem=() r t0 j l0 l1
  l0=$(load1)
  for r in $(seq "$nruns"); do
    j=$OUT/$name.$r.json
    t0=$(now)
    launch "$np" "$GR" estimate --quiet --data "$panel" "$@" --json "$j" >/dev/null
    whole+=("$(echo "$(now) - $t0" | bc -l)")
    est+=("$(est_of "$j")")
    dem+=("$(est_of "$j" demean)")
    mem+=("$(jget "$j" mem)")
  done
  l1=$(load1)
  local rows; rows=$(rows_of "$panel")
  local pass; pass=$(awk -v n="$rows" -v b="$bpr" -v bw="$triad" 'BEGIN { printf "%.6f", n * b / (bw * 1e9) }')
  local cs; cs=${CACHE[$panel]}
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$item" "$np" "$rows" \
    "$(IFS=,; echo "${est[*]}")" "$(IFS=,; echo "${whole[*]}")" "$pass" "$cs" "$(jget "$j" iterations)" \
    "$(printf '%s\n' "${mem[@]}" | median)" "$(jget "$j" data)" "$(jget "$j" tables)" "$anchor" "$l0" "$l1" "$*" \
    "$(printf '%s\n' "${dem[@]}" | median)" >>"$REC"
  echo "  $name: est median $(printf '%s\n' "${est[@]}" | median) s, whole median $(printf '%s\n' "${whole[@]}" | median) s (load $l0 -> $l1)" >&2
}
declare -A CACHE

# ---- panels
MISS=data/bench/$(basename "${PANEL%.h5}")-missing20.h5
[ -f "$MISS" ] || /usr/bin/python3 bench/drop_rows.py "$PANEL" "$MISS" 0.2 20 >/dev/null
DIFF=data/bench/difficult-$DIFF_N.h5
[ -f "$DIFF" ] || /usr/bin/python3 bench/difficult.py "$DIFF" "$DIFF_N" 1 >/dev/null
P30=data/bench/sim-30m.h5   # 2 x 430 x 581 pairs x 60 months = 29,979,600 rows
[ -f "$P30" ] || mpirun -n 2 "$GR" simulate --out "$P30" --east 430 --west 581 >/dev/null
for f in "$PANEL" "$MISS" "$DIFF" "$P30"; do CACHE[$f]=$(cache_s "$f"); done

echo "bench/suite.sh: $($GR --version | head -1), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
{ echo "version	$($GR --version | head -1)"; echo "git	$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "date	$(date -u +%Y-%m-%dT%H:%MZ)"; echo "cpu	$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "cores	$(nproc)"; echo "memory_gib	$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel	$(uname -r)"; echo "mpi	$(mpirun --version 2>&1 | head -1)"; echo "triad_gbs	$triad"; echo "fresh_gbs	$fresh"
  echo "load_start	$(cut -d' ' -f1-3 /proc/loadavg)"; echo "reps	$REPS"; echo "reps_big	$REPS_BIG"; } >"$OUT/machine.tsv"

# ---- start-up (docs/scale.md): MPI_Init as a singleton and under mpirun, with and without ob1
startup() {  # NAME NP ENV...: median MPI_Init seconds and whole-process seconds of bench/mpi_init.c
  local name=$1 np=$2 i t0 w=() s=(); shift 2
  for i in $(seq "$REPS"); do
    t0=$(now)
    if [ "$np" = 0 ]; then s+=("$(env "$@" ./build/mpi_init | sed -n 's/init_s //p')")
    else s+=("$(env "$@" mpirun -n "$np" ./build/mpi_init | sed -n 's/init_s //p')"); fi
    w+=("$(echo "$(now) - $t0" | bc -l)")
  done
  printf 'startup\t%s\t%s\t%s\n' "$name" "$(printf '%s\n' "${s[@]}" | median)" "$(printf '%s\n' "${w[@]}" | median)" >>"$OUT/startup.tsv"
}
: >"$OUT/startup.tsv"
startup "singleton, Open MPI defaults" 0 -u OMPI_MCA_pml -u OMPI_MCA_ess_singleton_isolated
startup "singleton, pml=ob1" 0 -u OMPI_MCA_ess_singleton_isolated OMPI_MCA_pml=ob1
startup "singleton, pml=ob1 + ess_singleton_isolated=1 (local runs)" 0 OMPI_MCA_pml=ob1 OMPI_MCA_ess_singleton_isolated=1
startup "mpirun -n 1, Open MPI defaults" 1 -u OMPI_MCA_pml -u OMPI_MCA_ess_singleton_isolated
startup "mpirun -n 1, pml=ob1" 1 OMPI_MCA_pml=ob1
startup "mpirun -n 2, Open MPI defaults" 2 -u OMPI_MCA_pml -u OMPI_MCA_ess_singleton_isolated
startup "mpirun -n 2, pml=ob1" 2 OMPI_MCA_pml=ob1
startup "mpirun -n 2, pml=ob1 + TCP_NODELAY as gravrd sets it (local runs)" 2 OMPI_MCA_pml=ob1 GR_NODELAY=1

FORM='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
FORM4='c(log(trade), log(deals), search_index, buyer_cr) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
# bytes per row of one pass: 3 level ids (int32) + outcome and 2 regressors (double); 4 outcomes: 6 doubles
echo "items 1-2: the main model and its variants" >&2
for np in 1 2; do
  case_run "main-${np}r" 1 "$np" "$PANEL" 36 "$REPS" "3fe" --formula "$FORM" --cluster pair
  case_run "missing20-${np}r" 2 "$np" "$MISS" 36 "$REPS" "missing20" --formula "$FORM" --cluster pair
  case_run "outcomes4-${np}r" 2 "$np" "$PANEL" 60 "$REPS" "outcomes4" --formula "$FORM4" --cluster pair
  case_run "splitdir-${np}r" 2 "$np" "$PANEL" 36 "$REPS" "splitdir" --formula "$FORM" --cluster pair --split dir
done
echo "item 3: fixest's difficult shape, $DIFF_N rows" >&2
for np in 1 2; do
  case_run "difficult-${np}r" 3 "$np" "$DIFF" 36 "$REPS_BIG" "-" --formula 'y ~ x1 + x2 | id_indiv + id_firm + id_year'
done
echo "item 6: strong scaling at 30M rows" >&2
for np in 1 2 4 8; do
  case_run "scale30m-${np}r" 6 "$np" "$P30" 36 "$REPS_BIG" "-" --formula "$FORM" --cluster pair
done
if [ "${BENCH_LARGE:-0}" = 1 ]; then
  echo "item 5: 100M rows on 2 ranks" >&2
  P100=data/bench/sim-100m.h5  # 2 x 870 x 958 pairs x 60 months = 100,015,200 rows
  if [ ! -f "$P100" ]; then
    t0=$(now); mpirun -n 2 "$GR" simulate --out "$P100" --east 870 --west 958 >/dev/null
    echo "simulate_100m_s	$(echo "$(now) - $t0" | bc -l)" >>"$OUT/machine.tsv"
  fi
  CACHE[$P100]=$(cache_s "$P100")
  case_run "large100m-2r" 5 2 "$P100" 36 "$REPS_BIG" "-" --formula "$FORM" --cluster pair
fi
if [ "${GRID:-1}" = 1 ]; then
  echo "item 4: the grids (bench/grid.sh, QUICK=1)" >&2
  QUICK=1 OMPI_MCA_rmaps_base_oversubscribe=1 ./bench/grid.sh "$PANEL" >"$OUT/grid.md"
  # issue #11 measures the 150-specification grid without the clustering diagnostic (docs/vcov.md) as well
  QUICK=1 DIAG=off SKIPSWEEP=1 SKIPBAL=1 OMPI_MCA_rmaps_base_oversubscribe=1 ./bench/grid.sh "$PANEL" \
    | sed '1,/^## /{/^## /!d}' >>"$OUT/grid.md"
fi
echo "load_end	$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.tsv"
/usr/bin/env python3 bench/report.py "$OUT" bench/results/latest.json bench/results/latest.md
echo "bench/suite.sh: wrote bench/results/latest.json and bench/results/latest.md" >&2
