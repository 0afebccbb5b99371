#!/usr/bin/env bash
# bench/calibration.sh [SEEDS...]: what the estimators find on simulated worlds (docs/simulator.md,
# "calibration"). Not a test: it prints figures. For each seed (default 1-6 and 21-28), `gravrd simulate
# --trade-only` writes a world, and `gravrd estimate --split dir` fits gravity (Table 2's model) and the
# segment design at 100 km (Table 3's), clustered by segment pair at 100 km (the inference docs/design.md
# validates); the partner coefficient and its SE per direction, then the mean and range over seeds beside the
# planted truth (west to east 0.10, the mean over the partner pairs of the heterogeneous effect; east to west 0).
set -euo pipefail
cd "$(dirname "$0")/.."
GR=${GR:-./bin/gravrd}
[ -x "$GR" ] || { echo "bench/calibration.sh: build first (make)" >&2; exit 1; }
SEEDS=${*:-"1 2 3 4 5 6 21 22 23 24 25 26 27 28"}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 OMPI_MCA_ess_singleton_isolated=1
export OPENBLAS_NUM_THREADS=1
OUT=$(mktemp -d /tmp/gravrd-calib.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
FE='exporter^month + importer^month'
echo "# bench/calibration.sh ($($GR --version | head -1), $(date -u +%Y-%m-%dT%H:%MZ)); partner coefficient (SE), clustered by segpair_100"
printf '%-5s %-22s %-22s %-22s %-22s\n' seed "gravity e2w" "gravity w2e" "segment e2w" "segment w2e"
for s in $SEEDS; do
  "$GR" simulate --out "$OUT/w.h5" --seed "$s" --trade-only >/dev/null
  for d in gravity segment; do
    f="log(trade) ~ partner + log(distance_km) | $FE"
    [ $d = segment ] && f="$f + segpair_100"
    "$GR" estimate --quiet --data "$OUT/w.h5" --formula "$f" --split dir --cluster segpair_100 \
      --json "$OUT/$d.json" 2>/dev/null
  done
  /usr/bin/python3 - "$s" "$OUT" <<'PY' | tee -a "$OUT/rows"
import json, sys
s, out = sys.argv[1], sys.argv[2]
cells = []
for d in ("gravity", "segment"):
    res = json.load(open(f"{out}/{d}.json"))
    res = res["results"] if "results" in res else [res]
    for r in sorted(res, key=lambda r: r["sample"]):  # "East to west", "West to east"
        c = next(c for c in r["coefficients"] if c["term"] == "partner")
        cells.append((c["estimate"], c["std_error"]))
print(s, *[f"{b:.4f} {se:.4f}" for b, se in cells])
PY
done
/usr/bin/python3 - "$OUT/rows" <<'PY'
import sys
rows = [list(map(float, l.split()[1:])) for l in open(sys.argv[1])]
names = ["gravity e2w", "gravity w2e", "segment e2w", "segment w2e"]
truth = [0, 0.10, 0, 0.10]
print(f"# {len(rows)} seeds: mean [min, max] of the estimate, mean SE; truth (w2e: truth_partner_w2e, the mean effect over the partner pairs)")
for k, n in enumerate(names):
    b = [r[2 * k] for r in rows]; se = [r[2 * k + 1] for r in rows]
    print(f"{n:<12} {sum(b)/len(b):.4f} [{min(b):.4f}, {max(b):.4f}]  SE {sum(se)/len(se):.4f}  truth {truth[k]}")
PY
