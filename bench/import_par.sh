#!/usr/bin/env bash
# bench/import_par.sh: `gravrd import` of a CSV on 1 and 2 ranks: wall time, CPU time (user + system) of
# the busiest rank and of all ranks, and peak resident memory of the largest rank (GNU time), medians of
# RUNS runs (default 3). On a loaded machine the wall time is mostly waiting for a core: read the CPU time. Compares one or more binaries (e.g. the one
# before the parallel import and the current one).
# Usage: bench/import_par.sh CSV "IMPORT-ARGS" BINARY... (RUNS=5 RANKS="1 2" to change)
# Example: bench/import_par.sh default.csv "--exporter exp_name --importer imp_name --time month" old/gravrd bin/gravrd
# The CSV of the issue: gravrd dump default.h5 --columns exp_name,imp_name,month,trade,deals,seller_cr,buyer_cr,cat_food,search_index
set -u
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1 OMPI_MCA_pml=ob1
csv=$1 args=$2; shift 2
runs=${RUNS:-3} W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "# $(date -u +%FT%TZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(wc -c <"$csv") bytes, $(($(wc -l <"$csv") - 1)) rows"
for bin in "$@"; do
  for n in ${RANKS:-1 2}; do
    : >"$W/wall"; : >"$W/user"; : >"$W/rss"; : >"$W/cpu"; : >"$W/lo"
    for r in $(seq "$runs"); do
      rm -f "$W/o.h5"
      # shellcheck disable=SC2086
      mpirun -n "$n" bash -c '/usr/bin/time -f "T %e %U %M %S" -o "$0/t.$OMPI_COMM_WORLD_RANK" "$@"' "$W" \
        "$bin" import "$csv" "$W/o.h5" $args --quiet \
        >/dev/null 2>"$W/err" || { echo "# $bin failed: $(tail -n 2 "$W/err")"; continue 2; }
      cat "$W"/t.* | awk '{ if ($2 > w) w = $2; u += $3 + $5; if ($3 + $5 > c) c = $3 + $5; if ($4 > m) m = $4; if (lo == "" || $4 < lo) lo = $4 }
        END { print w > "'"$W/w1"'"; print u > "'"$W/u1"'"; print m / 1024 > "'"$W/m1"'"; print c > "'"$W/c1"'"; print lo / 1024 > "'"$W/l1"'" }'
      cat "$W/w1" >>"$W/wall"; cat "$W/u1" >>"$W/user"; cat "$W/m1" >>"$W/rss"; cat "$W/c1" >>"$W/cpu"; cat "$W/l1" >>"$W/lo"
      rm -f "$W"/t.*
    done
    printf '%s ranks=%d: wall %.2f s, CPU of the busiest rank %.2f s, CPU of all ranks %.2f s, peak RSS of the largest rank %.0f MiB, of the smallest %.0f MiB (medians of %d)\n' \
      "$bin" "$n" "$(median <"$W/wall")" "$(median <"$W/cpu")" "$(median <"$W/user")" "$(median <"$W/rss")" "$(median <"$W/lo")" "$runs"
  done
done
