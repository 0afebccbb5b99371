#!/usr/bin/env bash
# bench/ab.sh OLD_BIN NEW_BIN PANEL: the benchmark model (bench/run.sh) with two builds of gravrd,
# interleaved run by run (so load on the machine hits both alike), on 1 and 2 ranks. Prints, per build
# and rank count, medians over REPS runs of the estimation time (everything after reading: prepare +
# index + demean + solve + vcov; summed over the results of a split) and of the whole process (launch to
# exit), and of peak memory growth per rank over the model's data. EXTRA: more estimate arguments (e.g.
# EXTRA="--split dir"). Launch as bench/suite.sh: 1 rank a singleton, 2 through mpirun, pml ob1. Not a test.
set -euo pipefail
OLD=$1 NEW=$2 PANEL=$3 REPS=${REPS:-9}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_pml=ob1 OMPI_MCA_ess_singleton_isolated=1
read -r -a extra <<<"${EXTRA:-}"
launch() { if [ "$1" = 1 ]; then shift; "$@"; else local n=$1; shift; mpirun -n "$n" "$@"; fi; }
now() { date +%s.%N; }
FORM='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
OUT=$(mktemp -d /tmp/gravrd-ab.XXXXXX)
jnum() { sed -n "s/.*\"$2\":[[:space:]]*\([-0-9][-0-9.eE+]*\).*/\1/p" "$1" | head -1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for np in 1 2; do
  for r in $(seq "$REPS"); do
    for b in old new; do
      bin=$OLD; [ $b = new ] && bin=$NEW
      t0=$(now)
      launch "$np" "$bin" estimate --quiet --data "$PANEL" --formula "$FORM" --cluster pair "${extra[@]}" --json "$OUT/$b.$np.$r.json"
      echo "$(now) - $t0" | bc -l >"$OUT/$b.$np.$r.whole"
    done
  done
  for b in old new; do
    est=$(for r in $(seq "$REPS"); do python3 -c "
import json,sys; d=json.load(open(sys.argv[1])); rs=d.get('results',[d])
print(sum(sum(set(r['timings'][k] for r in rs)) for k in ('prepare','index','demean','solve','vcov')))" "$OUT/$b.$np.$r.json"; done | median)
    whole=$(cat "$OUT/$b.$np."*.whole | median)
    mem=$(for r in $(seq "$REPS"); do j=$OUT/$b.$np.$r.json
      awk -v m="$(jnum "$j" peak_rss_above_start_bytes_max_rank)" -v d="$(jnum "$j" data_bytes_max_rank)" 'BEGIN { print m / d }'; done | median)
    printf '%-4s ranks %d  estimation (after reading) median %.4f s  whole process median %.3f s  peak memory growth / data per rank %.2fx\n' "$b" "$np" "$est" "$whole" "$mem"
  done
done
rm -rf "$OUT"
