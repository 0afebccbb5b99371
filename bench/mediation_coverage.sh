#!/usr/bin/env bash
# bench/mediation_coverage.sh: coverage of the mediation test's 95% interval (docs/mediation.md, "Simulation
# check") over simulated panels with seeds 1..N (not chosen). For each seed: simulate (the default cities,
# --months M), then on west-to-east rows with positive trade and the study's design (exporter x month,
# importer x month, segment pair at 100 km, log distance; clustered by pair):
#   * gravrd mediate, outcome log(trade), mediator migration: delta-hat, its SE and 95% interval;
#   * the true delta given the design. log trade is exactly FE + b log d + 0.08 partner + theta migration +
#     lambda affinity + noise (docs/simulator.md), and delta = b_without - b_with is linear in the outcome and
#     0 for every regressor of both models, so E[delta-hat | design] = theta pi-hat + lambda delta_a, with
#     theta = truth_migration_trade_w2e, lambda = truth_affinity_trade (the file's attributes), pi-hat = the
#     partner coefficient of migration on the main model's regressors and fixed effects (same rows), and
#     delta_a = the delta of the same test with the stored latent_affinity as the outcome. Only the noise
#     0.28 u_ij + 0.30 e_ijm (mean zero, independent across pairs) is left: what the interval must cover.
#   * the population value theta x truth_partner_migration (0.04 x 0.5 = 0.02). The stacked-score variance
#     counts the draw-to-draw variation of pi-hat as sampling noise (model 1's residuals hold theta times the
#     unexplained migration), so 0.02 is the value its interval is for; given the design it is conservative.
#     Both coverages are printed (docs/mediation.md).
# Usage: [FIRST=K] bench/mediation_coverage.sh N [MONTHS] [OUT.tsv]   (bin/gravrd built; /usr/bin/python3 with
# numpy and h5py). FIRST=K resumes at seed K, appending to OUT.tsv (a run that was cut short).
# Not a timed test; writes only under a temporary directory and OUT.tsv. The binary is copied first, so a
# rebuild during the run (make relinks bin/gravrd when the checkout changes) does not break it.
set -eu
N=${1:-100}; M=${2:-12}; OUT=${3:-bench/mediation_coverage.tsv}
FIRST=${FIRST:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMPI_MCA_pml=ob1
T=$(mktemp -d /tmp/medcov.XXXXXX); trap 'rm -rf "$T"' EXIT
cp "$ROOT/bin/gravrd" "$T/gravrd"; GR="$T/gravrd"
FE="exporter^month + importer^month + segpair_100"
W='dir == "West to east" && trade > 0'
[ "$FIRST" = 1 ] && echo -e "seed\tdelta\tse\tconf_low\tconf_high\tdelta_true\tdelta_pop\tpi_hat\tdelta_a\tnobs\tclusters" >"$OUT"
for s in $(seq "$FIRST" "$N"); do
  "$GR" simulate --out "$T/p.h5" --seed "$s" --months "$M" >/dev/null
  "$GR" mediate --quiet --data "$T/p.h5" --formula "log(trade) ~ partner + log(distance_km) | $FE" \
    --mediator migration --cluster pair --where "$W" --json "$T/y.json"
  "$GR" mediate --quiet --data "$T/p.h5" --formula "latent_affinity ~ partner + log(distance_km) | $FE" \
    --mediator migration --cluster pair --where "$W" --json "$T/a.json"
  "$GR" estimate --quiet --data "$T/p.h5" --formula "migration ~ partner + log(distance_km) | $FE" \
    --cluster pair --where "$W" --json "$T/m.json"
  /usr/bin/python3 - "$T" "$s" >>"$OUT" <<'PY'
import json, sys, h5py
t, s = sys.argv[1], sys.argv[2]
y = json.load(open(t + "/y.json"))["mediation"]; a = json.load(open(t + "/a.json"))["mediation"]
m = json.load(open(t + "/m.json"))
pi = [c["estimate"] for c in m["coefficients"] if c["term"] == "partner"][0]
with h5py.File(t + "/p.h5", "r") as f:
    th = float(f.attrs["truth_migration_trade_w2e"]); lam = float(f.attrs["truth_affinity_trade"])
    pm = float(f.attrs["truth_partner_migration"])
true = th * pi + lam * a["delta"]
print("\t".join(str(v) for v in [s, y["delta"], y["std_error"], y["conf_low"], y["conf_high"], true, th * pm, pi,
                                 a["delta"], y["nobs"], y["n_clusters"]]))
PY
done
/usr/bin/python3 - "$OUT" <<'PY'
import sys, numpy as np
d = np.genfromtxt(sys.argv[1], names=True, delimiter="\t")
n = len(d)
for name, tv in (("delta_true (given the design)", d["delta_true"]), ("population 0.02", d["delta_pop"])):
    cov = np.mean((d["conf_low"] <= tv) & (tv <= d["conf_high"]))
    print(f"coverage of {name}: {cov:.3f} (MC s.e. {np.sqrt(cov * (1 - cov) / n):.3f}), N = {n}")
e = d["delta"] - d["delta_true"]
print(f"mean delta-hat {d['delta'].mean():.5f}, mean delta_true {d['delta_true'].mean():.5f}, mean(delta-hat - true) "
      f"{e.mean():.5f} (s.e. {e.std(ddof=1) / np.sqrt(n):.5f})")
print(f"SD(delta-hat - true) {e.std(ddof=1):.5f}, mean SE {d['se'].mean():.5f}, RMS SE {np.sqrt((d['se']**2).mean()):.5f}")
print(f"SD(delta-hat) over the seeds {d['delta'].std(ddof=1):.5f} (unconditional), SD(theta pi-hat) {(0.04 * d['pi_hat']).std(ddof=1):.5f}")
print(f"mean pi-hat {d['pi_hat'].mean():.4f} (s.e. {d['pi_hat'].std(ddof=1) / np.sqrt(n):.4f}; truth 0.5), mean lambda-part {(d['delta_true'] - 0.04 * d['pi_hat']).mean():.6f}")
PY
