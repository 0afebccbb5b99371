#!/usr/bin/env bash
# bench/ab.sh OLD_BIN NEW_BIN PANEL: the benchmark model (bench/run.sh) with two builds of gravrd,
# interleaved run by run (so load on the machine hits both alike), on 1 and 2 ranks. Prints, per build
# and rank count, medians over REPS runs of the estimation time (everything after reading: prepare +
# index + demean + solve + vcov) and of peak memory growth per rank over the model's data. Not a test.
set -euo pipefail
OLD=$1 NEW=$2 PANEL=$3 REPS=${REPS:-9}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
FORM='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
OUT=$(mktemp -d /tmp/gravrd-ab.XXXXXX)
jnum() { sed -n "s/.*\"$2\":[[:space:]]*\([-0-9][-0-9.eE+]*\).*/\1/p" "$1" | head -1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for np in 1 2; do
  for r in $(seq "$REPS"); do
    for b in old new; do
      bin=$OLD; [ $b = new ] && bin=$NEW
      mpirun -n "$np" "$bin" estimate --quiet --data "$PANEL" --formula "$FORM" --cluster pair --json "$OUT/$b.$np.$r.json"
    done
  done
  for b in old new; do
    est=$(for r in $(seq "$REPS"); do j=$OUT/$b.$np.$r.json
      awk -v p="$(jnum "$j" prepare)" -v a="$(jnum "$j" index)" -v d="$(jnum "$j" demean)" -v s="$(jnum "$j" solve)" \
          -v v="$(jnum "$j" vcov)" 'BEGIN { print p + a + d + s + v }'; done | median)
    mem=$(for r in $(seq "$REPS"); do j=$OUT/$b.$np.$r.json
      awk -v m="$(jnum "$j" peak_rss_above_start_bytes_max_rank)" -v d="$(jnum "$j" data_bytes_max_rank)" 'BEGIN { print m / d }'; done | median)
    printf '%-4s ranks %d  estimation (after reading) median %.4f s  peak memory growth / data per rank %.2fx\n' "$b" "$np" "$est" "$mem"
  done
done
rm -rf "$OUT"
