#!/usr/bin/env bash
# bench/montecarlo.sh [NSEEDS] [MONTHS] [RANKS]: Monte Carlo of the west-to-east partnership effect (planted
# 0.10) over seeds 1..NSEEDS: simulate (default geography, MONTHS months), segments at 100 km, then
#   gravity:      log(trade) ~ partner + log(distance_km) | exporter^month + importer^month
#   segment pair: the same + segpair_100 fixed effects (the study's model (2))
#   matching:     gravrd match at 100 km (exporter^month + importer^month)
# all on dir == 1, clustered by pair. Prints one line per seed and, per design, mean estimate, bias, SD
# of the estimates, mean SE and the coverage of the 95% interval (estimate +- t * SE from the JSON).
set -u
cd "$(dirname "$0")/.." || exit 2
NS=${1:-20}; MONTHS=${2:-60}; NP=${3:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
GR=./bin/gravrd; T=$(mktemp -d /tmp/gravrd-mc.XXXXXX); trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3
coef() { $PY -c 'import json,sys
from statistics import NormalDist
d=json.load(open(sys.argv[1])); r=d["results"][0] if "results" in d else d
c=[x for x in r["coefficients"] if x["term"]=="partner"][0]
print("%.6f %.6f" % (c["estimate"], c["std_error"]))' "$1"; }
echo "seed gravity se segpair se match se" > "$T/all"
for s in $(seq 1 "$NS"); do
  F="$T/p.h5"
  $GR simulate --out "$F" --seed "$s" --months "$MONTHS" >/dev/null || exit 1
  $GR segments --data "$F" --bandwidth 100 -q >/dev/null || exit 1
  mpirun -n "$NP" $GR estimate --data "$F" --formula 'log(trade) ~ partner + log(distance_km) | exporter^month + importer^month' \
    --where 'dir == 1' --cluster pair --quiet --json "$T/g.json" || exit 1
  mpirun -n "$NP" $GR estimate --data "$F" --formula 'log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_100' \
    --where 'dir == 1' --cluster pair --quiet --json "$T/s.json" || exit 1
  mpirun -n "$NP" $GR match --data "$F" --bandwidth 100 --formula 'log(trade) ~ partner | exporter^month + importer^month' \
    --where 'dir == 1' --quiet --json "$T/m.json" || exit 1
  line="$s $(coef "$T/g.json") $(coef "$T/s.json") $(coef "$T/m.json")"
  echo "$line"; echo "$line" >> "$T/all"
done
$PY - "$T/all" <<'PY'
import sys, statistics as st
rows=[l.split() for l in open(sys.argv[1]).read().splitlines()[1:]]
truth=0.10
print("design        mean     bias      SD  mean SE  coverage95  (n=%d seeds, truth %.2f)" % (len(rows), truth))
for name,k in (("gravity",1),("segment pair",3),("matching",5)):
    b=[float(r[k]) for r in rows]; s=[float(r[k+1]) for r in rows]
    cov=sum(abs(x-truth)<=1.96*e for x,e in zip(b,s))/len(b)
    print("%-12s %7.4f %8.4f %7.4f %8.4f %10.2f" % (name, st.mean(b), st.mean(b)-truth, st.stdev(b) if len(b)>1 else 0, st.mean(s), cov))
PY
