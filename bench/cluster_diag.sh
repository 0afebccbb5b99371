#!/usr/bin/env bash
# bench/cluster_diag.sh [PANEL.h5] [RUNS]: the cost of the clustering diagnostic (docs/vcov.md,
# "Fixed-effect leverage") on the Table 3 model, west to east: --cluster-diag off / auto / on, clustered
# by pair and by segpair_100, one rank, RUNS runs each (default 5). Prints per setting the median wall
# time of the run and the median timings.cluster_diag, with R and its s.e. On a shared machine the wall
# times vary: read the medians, and the diagnostic's own seconds.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GR=${GRAVRD:-$ROOT/bin/gravrd}  # GRAVRD: another binary (a copy, so that a rebuild does not swap it mid-run)
D=${1:-$ROOT/data/default.h5}
RUNS=${2:-5}
TMP=$(mktemp -d /tmp/gravrd-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_pml=ob1
T3='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_100'
printf '%-12s %-5s %10s %14s %8s %8s %s\n' cluster diag wall_s diag_s R se method
for cl in pair segpair_100; do
  for m in off auto on; do
    for ((r = 0; r < RUNS; r++)); do
      s=$(date +%s.%N)
      "$GR" estimate --data "$D" --formula "$T3" --where 'dir == "West to east"' --cluster "$cl" --cluster-diag "$m" \
        --quiet --json "$TMP/$r.json" >/dev/null 2>&1 || { echo "run failed: $cl $m" >&2; exit 1; }
      echo "$(date +%s.%N) - $s" | bc >"$TMP/$r.wall"
    done
    /usr/bin/python3 - "$TMP" "$RUNS" "$cl" "$m" <<'PY'
import json, statistics, sys
tmp, runs, cl, m = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
wall = [float(open(f'{tmp}/{r}.wall').read()) for r in range(runs)]
recs = [json.load(open(f'{tmp}/{r}.json')) for r in range(runs)]
ds = [d['timings'].get('cluster_diag', 0.0) for d in recs]
x = (recs[0].get('cluster_diagnostic') or [{}])[0]
f = lambda v, p: ('%.*f' % (p, v)) if isinstance(v, (int, float)) else '-'
print('%-12s %-5s %10.2f %14.3f %8s %8s %s' % (cl, m, statistics.median(wall), statistics.median(ds),
      f(x.get('ratio'), 3), f(x.get('ratio_se'), 4), x.get('method', 'none')))
PY
  done
done
