#!/usr/bin/env bash
# bench/cluster_diag.sh [PANEL.h5] [RUNS]: the cost of the clustering diagnostic (docs/vcov.md,
# "Fixed-effect leverage") on the Table 3 model, west to east: --cluster-diag off / auto / on, clustered
# by pair and by segpair_100, one rank, RUNS runs each (default 5). Prints per setting the median wall
# time of the run and the median timings.cluster_diag, with R, its s.e., the probes used and why they
# stopped (docs/vcov.md, "Sequential probes").
# bench/cluster_diag.sh --grid [PANEL.h5] [RUNS] [CONFIG]: the whole `gravrd grid` of CONFIG (default
# configs/grid-150.yaml, its data replaced by PANEL) with its cluster-diag as given (auto) and with
# cluster-diag "off" in base, on 1 and 2 ranks, RUNS runs each (default 3), interleaved (auto, off, auto,
# off, ...) so that a change of the machine's load hits both alike; prints the median wall and user CPU
# seconds, and the probes used over the diagnostics of the last auto run.
# On a shared machine the wall times vary: read the medians, the user CPU seconds and the diagnostic's own
# seconds.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GR=${GRAVRD:-$ROOT/bin/gravrd}  # GRAVRD: another binary (a copy, so that a rebuild does not swap it mid-run)
GRIDMODE=0
[ "${1:-}" = --grid ] && { GRIDMODE=1; shift; }
D=${1:-$ROOT/data/default.h5}
TMP=$(mktemp -d /tmp/gravrd-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_pml=ob1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

if [ $GRIDMODE = 1 ]; then
  RUNS=${2:-3}
  CFG=${3:-$ROOT/configs/grid-150.yaml}
  D=$(realpath "$D")
  sed "s|^data: .*|data: $D|" "$CFG" >"$TMP/auto.yaml"
  awk '{print} /^base:/ {print "  cluster-diag: \"off\""}' "$TMP/auto.yaml" >"$TMP/off.yaml"
  printf '%-6s %-5s %10s %10s %s\n' ranks diag wall_s user_s probes
  for P in 1 2; do
    for ((r = 0; r < RUNS; r++)); do
      for m in auto off; do
        rm -rf "$TMP/out"
        launch=("$GR"); [ "$P" -gt 1 ] && launch=(mpirun -n "$P" --oversubscribe "$GR")
        /usr/bin/time -f '%e %U' -o "$TMP/$P.$m.$r.t" "${launch[@]}" grid "$TMP/$m.yaml" --out "$TMP/out" --quiet \
          >/dev/null 2>"$TMP/err" || { echo "grid failed: $P ranks, $m: $(tail -n 1 "$TMP/err")" >&2; exit 1; }
        [ $m = auto ] && cp "$TMP/out/results.jsonl" "$TMP/$P.auto.jsonl"
      done
    done
    for m in auto off; do
      /usr/bin/python3 - "$TMP" "$P" "$m" "$RUNS" <<'PY'
import collections, json, statistics, sys
tmp, P, m, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t = [open(f'{tmp}/{P}.{m}.{r}.t').read().split()[-2:] for r in range(runs)]
probes = ''
if m == 'auto':
    c = collections.Counter()
    for line in open(f'{tmp}/{P}.auto.jsonl'):
        for x in json.loads(line)['results']:
            for d in x.get('cluster_diagnostic', []):
                c[(d['probes'], d.get('probes_stop'))] += 1
    probes = ', '.join(f'{n} x {p} ({s})' for (p, s), n in sorted(c.items(), key=lambda kv: str(kv[0])))
print('%-6s %-5s %10.2f %10.2f %s' % (P, m, statistics.median(float(a) for a, b in t),
                                      statistics.median(float(b) for a, b in t), probes))
PY
    done
  done
  exit 0
fi

RUNS=${2:-5}
T3='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_100'
printf '%-12s %-5s %10s %14s %8s %8s %-8s %s\n' cluster diag wall_s diag_s R se method probes
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
pr = '%d (%s)' % (x['probes'], x['probes_stop']) if x.get('probes_stop') else '-'
print('%-12s %-5s %10.2f %14.3f %8s %8s %-8s %s' % (cl, m, statistics.median(wall), statistics.median(ds),
      f(x.get('ratio'), 3), f(x.get('ratio_se'), 4), x.get('method', 'none'), pr))
PY
  done
done
