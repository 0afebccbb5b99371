#!/usr/bin/env bash
# bench/montecarlo.sh [--worlds N] [--draws R] [--ranks P] [--sim 'SIMULATE ARGS'] [--out DIR] [--label TEXT]
#                     [--table3-only] [--with-boot]
#
# Monte Carlo of inference for the west-to-east partner coefficient (docs/design.md, "Monte Carlo") in the
# models of MODELS below: Table 3,
#   log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_100, where dir == 1
# and the gravity model with the simulator's latent_affinity as a control (unbiased, so its coverage is about
# inference alone), over the worlds `gravrd simulate --seed 1..N` (default 40), each with R noise redraws
# (default 5) that hold the world fixed: one `simulate --seed s --noise-draws R --trade-only` writes the
# redraws as the outcomes trade_noise1..R (trade under --noise-seed 1..R), and one `gravrd grid` per world
# fits them all, as one multi-outcome model per model and method (the absorber and the demeaned columns are
# shared; docs/grid.md). For each model and method: coverage of the planted truth (the panel's
# truth_partner_w2e) by the record's 95% interval (conf_low, conf_high: the estimate +- t(df_t) x SE for a
# sandwich; a method that reports another interval, such as a bootstrap's test inversion, is scored by its
# own), the Monte Carlo s.e. of that coverage (clustered by world; binomial when there is one world), mean
# SE, the SD of the estimates within worlds, their ratio, and the mean estimate. --table3-only leaves out the
# gravity model. --with-boot adds the methods of BOOT_METHODS (the wild cluster restricted bootstrap by pair,
# scored by its test-inversion interval, boot_conf_low/boot_conf_high; an unbounded end counts as infinite). --sim adds simulate options to every world (a smaller world, shared shocks). --out DIR keeps
# estimates.csv (world, draw, model, method, estimate, SE, interval, truth) and summary.md. Prints the table
# (markdown) and the wall time. Runs P ranks for simulate and grid (default 2).
#
# The inference methods are the one list METHODS below: items of the grid's `se` axis (a label and the keys
# of a specification: cluster, vcov, ...). A new method is one more line.
set -u
cd "$(dirname "$0")/.." || exit 2
METHODS='
    - {label: "CR1 by pair", cluster: pair}
    - {label: "CR1 by segment pair", cluster: segpair_100}
    - {label: "CR1 by exporter segment", cluster: exp_segment_100}
    - {label: "CR1 two-way, exporter and importer city", cluster: "exporter,importer"}
    - {label: "CR1 by exporter province", cluster: exp_province}'
# the wild cluster restricted bootstrap (docs/bootstrap.md): with --with-boot
BOOT_METHODS='
    - {label: "WCR bootstrap by pair (Webb, 399 draws)", cluster: pair, boot: 399, boot-weights: webb}'
# the models: Table 3, and the gravity model of Table 2 with the latent affinity as a control (the confounder
# the simulator plants: with it the gravity model is unbiased, so its coverage is about inference alone)
MODELS='
    - {label: "Table 3 (segment-pair FE)", value: "partner + log(distance_km) | exporter^month + importer^month + segpair_100"}
    - {label: "gravity + latent_affinity", value: "partner + log(distance_km) + latent_affinity | exporter^month + importer^month"}'
WORLDS=40; DRAWS=5; NP=2; SIM=""; OUT=""; LABEL=""; ONLY=""
die() { echo "montecarlo.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --worlds) WORLDS=${2:-}; shift 2;;
    --draws) DRAWS=${2:-}; shift 2;;
    --ranks) NP=${2:-}; shift 2;;
    --sim) SIM=${2:-}; shift 2;;
    --out) OUT=${2:-}; shift 2;;
    --label) LABEL=${2:-}; shift 2;;
    --table3-only) ONLY=1; shift;;
    --with-boot) METHODS="$METHODS$BOOT_METHODS"; shift;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) die "unknown argument '$1' (--help)";;
  esac
done
for v in WORLDS DRAWS NP; do [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} must be a positive integer, not '${!v}'"; done
[ -z "$ONLY" ] || MODELS=$(printf '%s\n' "$MODELS" | grep -v 'label: "gravity')
[ "$DRAWS" -le 1000 ] || die "--draws must be at most 1000 (simulate --noise-draws)"
[ -x bin/gravrd ] || die "bin/gravrd is not built (make bin/gravrd)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader} OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
GR=$PWD/bin/gravrd; PY=/usr/bin/python3
T=$(mktemp -d /tmp/gravrd-mc.XXXXXX); trap 'rm -rf "$T"' EXIT
run() { if [ "$NP" -eq 1 ]; then "$@"; else mpirun -n "$NP" "$@"; fi; }

# the grid config of one world: the R redraws x the methods
{
  echo "data: $T/world.h5"
  echo "title: Monte Carlo of the west-to-east Table 3 model"
  echo "base:"
  echo '  formula: "{y} ~ {model}"'
  echo "  where: 'dir == 1'"
  echo "axes:"
  echo "  y: [$(seq -f 'log(trade_noise%g)' -s ', ' 1 "$DRAWS")]"
  echo "  model:$MODELS"
  echo "  se:$METHODS"
} >"$T/mc.yaml"

t0=$(date +%s.%N)
echo "world,draw,model,method,estimate,std_error,conf_low,conf_high,truth" >"$T/estimates.csv"
for s in $(seq 1 "$WORLDS"); do
  # shellcheck disable=SC2086  # SIM is a list of options
  run "$GR" simulate --out "$T/world.h5" --seed "$s" --noise-draws "$DRAWS" --trade-only $SIM >"$T/log" 2>&1 ||
    { cat "$T/log" >&2; die "simulate --seed $s failed"; }
  rm -rf "$T/grid"
  run "$GR" grid "$T/mc.yaml" --out "$T/grid" --quiet >"$T/log" 2>&1 || { cat "$T/log" >&2; die "grid on world $s failed"; }
  $PY - "$T/grid/results.jsonl" "$T/world.h5" "$s" >>"$T/estimates.csv" <<'PY' || die "reading the records of world $s failed"
import json, sys, h5py
truth = float(h5py.File(sys.argv[2], 'r').attrs['truth_partner_w2e'])
for line in open(sys.argv[1]):
    rec = json.loads(line)
    if rec.get('status') != 'ok':
        sys.exit('specification %s: status %s' % (rec.get('label'), rec.get('status')))
    r = rec['results'][0]
    c = [x for x in r['coefficients'] if x['term'] == 'partner'][0]
    if 'boot_conf_low' in c:  # a bootstrap method: its test-inversion interval (null: unbounded)
        lo, hi = c['boot_conf_low'], c['boot_conf_high']
        c['conf_low'] = float('-inf') if lo is None else lo
        c['conf_high'] = float('inf') if hi is None else hi
    draw = int(r['dependent'].split('trade_noise')[1].rstrip(')'))
    print('%s,%d,"%s","%s",%.17g,%.17g,%.17g,%.17g,%.17g' % (sys.argv[3], draw, rec['axes']['model'], rec['axes']['se'], c['estimate'],
          c['std_error'], c['conf_low'], c['conf_high'], truth))
PY
  rm -f "$T/world.h5"
done
wall=$(echo "$(date +%s.%N) - $t0" | bc)

$PY - "$T/estimates.csv" "$WORLDS" "$DRAWS" "$wall" "$NP" "$SIM" "$LABEL" "$MODELS" >"$T/summary.md" <<'PY' || die "summary failed"
import csv, math, sys
from collections import defaultdict, OrderedDict
rows = list(csv.DictReader(open(sys.argv[1])))
W, R, wall, NP, sim, label = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
order = [l.split('label: "')[1].split('"')[0] for l in sys.argv[8].splitlines() if 'label: "' in l]
rows.sort(key=lambda r: order.index(r['model']) if r['model'] in order else len(order))
by = OrderedDict()
for r in rows:
    by.setdefault((r['model'], r['method']), defaultdict(list))[r['world']].append(r)
print('%s%d worlds (simulate --seed 1..%d%s) x %d noise redraws (--noise-seed 1..%d) = %d estimates per method; '
      'truth %g; %d ranks, %.0f s wall' % (label + ': ' if label else '', W, W, (' ' + sim) if sim else '', R, R,
      W * R, float(rows[0]['truth']), int(NP), wall))
print()
print('| model | inference for the partner coefficient (west to east) | coverage of 95% intervals | MC s.e. | mean SE | SD within worlds | mean SE / SD | mean estimate |')
print('|---|---|---|---|---|---|---|---|')
for m, worlds in by.items():
    cov, est, se, within, n = [], [], [], 0.0, 0
    wmeans = []
    for w, rs in worlds.items():
        c = [float(r['conf_low']) <= float(r['truth']) <= float(r['conf_high']) for r in rs]
        e = [float(r['estimate']) for r in rs]
        cov += c; est += e; se += [float(r['std_error']) for r in rs]
        wmeans.append(sum(c) / len(c))
        mu = sum(e) / len(e)
        within += sum((x - mu) ** 2 for x in e); n += len(e) - 1
    N = len(cov); p = sum(cov) / N
    if len(wmeans) > 1:   # clustered by world: the worlds are the independent units
        G = len(wmeans); mw = sum(wmeans) / G
        mcse = math.sqrt(sum((x - mw) ** 2 for x in wmeans) / (G - 1) / G)
    else:                 # one world: independent redraws, binomial
        mcse = math.sqrt(p * (1 - p) / N)
    sd = math.sqrt(within / n) if n > 0 else float('nan')
    mse = sum(se) / N
    print('| %s | %s | %.3f | %.3f | %.4f | %.4f | %.2f | %.4f |' % (m[0], m[1], p, mcse, mse, sd, mse / sd, sum(est) / N))
PY
cat "$T/summary.md"
if [ -n "$OUT" ]; then mkdir -p "$OUT" && cp "$T/estimates.csv" "$T/summary.md" "$OUT/" || die "cannot write $OUT"; fi
