#!/usr/bin/env bash
# bench/run.sh PANEL: the estimator's speed benchmark (make bench). Not a test: it prints figures.
# Model (issue #3): log(trade) ~ partner + log(distance_km) | exporter^month + importer^month +
# exp_province^imp_province, clustered by pair, both directions pooled, on the default panel.
# Reports medians over REPS runs of: estimation time (prepare + index + demean + solve + vcov: everything
# after the columns are read; reading apart) on 1
# and 2 ranks, the same with 20% of rows missing at random, peak memory per rank against the bytes of
# the columns and indices it holds, and the ratio to the memory-bandwidth bound of one pass measured
# in the same run (bench/membw.c): the time to read the model's data once at that bandwidth.
set -euo pipefail
cd "$(dirname "$0")/.."
PANEL=${1:-data/default.h5}
REPS=${REPS:-9}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
OUT=${OUT:-$(mktemp -d /tmp/gravrd-bench.XXXXXX)}
mkdir -p build
cc -O2 -march=x86-64-v2 -o build/membw bench/membw.c
FORM='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'

# 20% of rows missing at random: a copy of the panel without a random fifth of its rows (same cities,
# pairs and layout; bench/drop_rows.py, seed 20)
MISS=${PANEL%.h5}-missing20.h5
[ -f "$MISS" ] || /usr/bin/python3 bench/drop_rows.py "$PANEL" "$MISS" 0.2 20

jnum() { sed -n "s/.*\"$2\":[[:space:]]*\([-0-9][-0-9.eE+]*\).*/\1/p" "$1" | head -1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

bw=$(./build/membw)
copy=$(echo "$bw" | sed -n 's/copy_gbs //p'); triad=$(echo "$bw" | sed -n 's/triad_gbs //p')
rows=$(./bin/gravrd check "$PANEL" | sed -n 's/.*rows: \([0-9]*\).*/\1/p')
# the bandwidth bound of one pass over the model's data: 3 level ids (4 B each) and 3 columns (8 B each)
# per row, read once at the measured triad bandwidth, in seconds
pass_s=$(awk -v n="$rows" -v bw="$triad" 'BEGIN { printf "%.5f", n * (3 * 4 + 3 * 8) / (bw * 1e9) }')

declare -A med
bench_one() {  # name ranks panel
  local name=$1 np=$2 panel=$3 est=() rd=() mem=() dat=() it="" stages=() st tab=0
  for r in $(seq "$REPS"); do
    mpirun -n "$np" --oversubscribe ./bin/gravrd estimate --quiet --data "$panel" --formula "$FORM" --cluster pair \
      --json "$OUT/$name.$r.json"
    local j="$OUT/$name.$r.json"
    est+=("$(awk -v p="$(jnum "$j" prepare)" -v a="$(jnum "$j" index)" -v b="$(jnum "$j" demean)" -v c="$(jnum "$j" solve)" -v d="$(jnum "$j" vcov)" 'BEGIN { print p + a + b + c + d }')")
    rd+=("$(jnum "$j" read)"); mem+=("$(jnum "$j" peak_rss_above_start_bytes_max_rank)"); dat+=("$(jnum "$j" data_bytes_max_rank)")
    tab=$(jnum "$j" table_bytes_max_rank)
    it=$(jnum "$j" iterations)
  done
  for st in prepare index demean solve vcov; do
    stages+=("$st $(for r in $(seq "$REPS"); do jnum "$OUT/$name.$r.json" "$st"; done | median)")
  done
  med[$name]=$(printf '%s\n' "${est[@]}" | median)
  local mr; mr=$(printf '%s\n' "${rd[@]}" | median)
  local mm; mm=$(printf '%s\n' "${mem[@]}" | median)
  local md; md=$(printf '%s\n' "${dat[@]}" | median)
  printf '%-28s ranks %d  estimation %.4f s  read %.4f s  iterations %s  peak memory growth/rank %.0f MB  data/rank %.0f MB (x%.2f)  = %.0f x the one-pass bound\n' \
    "$name" "$np" "${med[$name]}" "$mr" "$it" "$(awk -v m="$mm" 'BEGIN{print m/1e6}')" "$(awk -v m="$md" 'BEGIN{print m/1e6}')" \
    "$(awk -v a="$mm" -v b="$md" 'BEGIN{print a/b}')" "$(awk -v e="${med[$name]}" -v s="$pass_s" 'BEGIN{print e/s}')"
  printf '%-28s   stages (medians, s):' ""; printf ' %s' "${stages[@]}"; echo
  printf '%-28s   with the replicated cities/pairs tables every rank holds (%.1f MB): data/rank %.0f MB (x%.2f)\n' "" \
    "$(awk -v t="$tab" 'BEGIN{print t/1e6}')" "$(awk -v m="$md" -v t="$tab" 'BEGIN{print (m+t)/1e6}')" \
    "$(awk -v a="$mm" -v b="$md" -v t="$tab" 'BEGIN{print a/(b+t)}')"
}
echo "gravrd benchmark: $(./bin/gravrd --version), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), REPS=$REPS (medians)"
echo "memory bandwidth (one thread, median of 9): copy $copy GB/s, triad $triad GB/s; rows $rows; one-pass bound $pass_s s"
bench_one balanced-1rank 1 "$PANEL"
bench_one balanced-2ranks 2 "$PANEL"
bench_one missing20-1rank 1 "$MISS"
awk -v a="${med[balanced-1rank]}" -v b="${med[balanced-2ranks]}" -v c="${med[missing20-1rank]}" \
  'BEGIN { printf "speed-up 2 ranks vs 1: %.2fx (target >= 1.6); 20%% missing vs balanced: %.2fx (target <= 2); 1-rank target <= 0.10 s\n", a / b, c / a }'
