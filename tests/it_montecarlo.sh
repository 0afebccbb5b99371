#!/usr/bin/env bash
# it_montecarlo.sh: the Monte Carlo of docs/design.md as a test, on one fixed small world. World: `gravrd
# simulate --seed 1 --east 30 --west 40 --months 12` (seed 1, the simulator's default, not chosen); noise:
# R = 1000 redraws, --noise-seed 1..1000 (taken in order, not chosen), through bench/montecarlo.sh (one
# simulate --noise-draws 1000 --trade-only, one grid). Model: the west-to-east Table 3 model (segment-pair
# fixed effects). Claim: CR1 clustered by segment pair covers the planted 0.10 at close to 95%, CR1 clustered
# by pair does not (the fixed-effect leverage of issue #12).
#
# The band, from the binomial Monte Carlo error: with R independent redraws an interval that covers with
# probability 0.95 has an observed coverage with s.e. s = sqrt(0.95 x 0.05 / R) = 0.0069; the band is
# [0.95 - 5 s, 1] = [0.9155, 1] (916 or more of 1000). Asserted: segment-pair coverage in the band, pair
# coverage below it. Probability of a false failure (exact binomial, scipy.stats.binom): segment pair below
# the band when its true coverage on this world is 0.95: 2e-6; 0.94: 1e-3; 0.937 (its observed value when
# this test was written): 4e-3. Pair inside the band when its true coverage is 0.887 (observed): 2e-3; 0.90: 0.05.
# The seeds are fixed, so the outcome is deterministic; these are the chances that other seeds would fail.
# Also: the estimates do not depend on the number of ranks (1e-10, 40 redraws on 2 ranks against 1 rank),
# every interval is the estimate +- t(df) x SE, and bad arguments of the script fail with one message.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
MC="$ROOT/bench/montecarlo.sh"
WORLD="--east 30 --west 40 --months 12"
R=1000

t0=$(date +%s)
if "$MC" --worlds 1 --draws $R --ranks 1 --table3-only --sim "$WORLD" --out "$TMP/r1" >"$TMP/mc.out" 2>&1; then
  ok "montecarlo.sh: 1 world x $R redraws ($(( $(date +%s) - t0 )) s wall)"
else
  fail "montecarlo.sh: 1 world x $R redraws" "$(tail -n 3 "$TMP/mc.out" | tr '\n' ' ')"; exit 0
fi
sed 's/^/# /' "$TMP/mc.out"

# coverage counted here from the per-draw records (not the script's summary)
out=$($PY - "$TMP/r1/estimates.csv" $R <<'EOF'
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1]))); R = int(sys.argv[2])
lo = 0.95 - 5 * math.sqrt(0.95 * 0.05 / R)
cov = {}
for r in rows:
    cov.setdefault(r['method'], []).append(float(r['conf_low']) <= float(r['truth']) <= float(r['conf_high']))
bad = []
for m, c in cov.items():
    if len(c) != R: bad.append('%s: %d draws, not %d' % (m, len(c), R))
seg, pair = sum(cov["CR1 by segment pair"]) / R, sum(cov["CR1 by pair"]) / R
print('segpair %.3f pair %.3f band [%.4f, 1]' % (seg, pair, lo))
print('OK' if not bad else 'BAD ' + '; '.join(bad))
print('1' if seg >= lo else '0', '1' if pair < lo else '0')
EOF
)
echo "# $(echo "$out" | head -n 1)"
[ "$(echo "$out" | sed -n 2p)" = OK ] && ok "every method has $R estimates" || fail "every method has $R estimates" "$(echo "$out" | sed -n 2p)"
read -r seg_in pair_out < <(echo "$out" | sed -n 3p)
[ "$seg_in" = 1 ] && ok "CR1 by segment pair: coverage in the band ($(echo "$out" | head -n 1))" ||
  fail "CR1 by segment pair: coverage in the band" "$(echo "$out" | head -n 1)"
[ "$pair_out" = 1 ] && ok "CR1 by pair: coverage below the band ($(echo "$out" | head -n 1))" ||
  fail "CR1 by pair: coverage below the band" "$(echo "$out" | head -n 1)"

# the intervals are the estimate +- t(df) x SE: recomputed with scipy for the first 40 draws from the grid's df
# (the record's df_t is not kept in estimates.csv: the SE ratio conf half-width / SE must be one t quantile per method)
out=$($PY - "$TMP/r1/estimates.csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bad = []
q = {}
for r in rows:
    e, s, a, b = (float(r[k]) for k in ('estimate', 'std_error', 'conf_low', 'conf_high'))
    if abs((a + b) / 2 - e) > 1e-12 * max(1, abs(e)): bad.append('interval not centred')
    q.setdefault(r['method'], set()).add(round((b - a) / 2 / s, 9))
for m, v in q.items():
    if len(v) != 1 or not 1.96 < min(v) < 2.6: bad.append('%s: half-width / SE %s' % (m, sorted(v)[:3]))
print('OK' if not bad else 'BAD ' + '; '.join(bad[:3]))
EOF
)
[ "$out" = OK ] && ok "intervals: centred, half-width one t quantile per method" || fail "intervals: centred, one t quantile per method" "$out"

# the same draws on 2 ranks give the same estimates and SEs (1e-10 relative)
if "$MC" --worlds 1 --draws 40 --ranks 2 --table3-only --sim "$WORLD" --out "$TMP/r2" >"$TMP/mc2.out" 2>&1; then
  out=$($PY - "$TMP/r1/estimates.csv" "$TMP/r2/estimates.csv" <<'EOF'
import csv, sys
a = {(r['draw'], r['method']): r for r in csv.DictReader(open(sys.argv[1]))}
n, worst = 0, 0.0
for r in csv.DictReader(open(sys.argv[2])):
    s = a[(r['draw'], r['method'])]; n += 1
    for k in ('estimate', 'std_error', 'conf_low', 'conf_high'):
        worst = max(worst, abs(float(r[k]) - float(s[k])) / max(abs(float(s[k])), 1e-300))
print('OK' if n == 200 and worst < 1e-10 else 'BAD %d rows, worst relative difference %.3g' % (n, worst))
EOF
)
  [ "$out" = OK ] && ok "2 ranks = 1 rank (40 redraws x 5 methods, 1e-10)" || fail "2 ranks = 1 rank" "$out"
else
  fail "montecarlo.sh on 2 ranks" "$(tail -n 3 "$TMP/mc2.out" | tr '\n' ' ')"
fi

# bad arguments: one message, exit 2
for a in "--worlds 0" "--draws x" "--draws 1001" "--ranks -1" "--bogus"; do
  # shellcheck disable=SC2086
  "$MC" $a >"$TMP/bad.out" 2>&1; rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$TMP/bad.out")" -eq 1 ] && grep -q '^montecarlo.sh: ' "$TMP/bad.out"; then ok "montecarlo.sh $a: usage error"
  else fail "montecarlo.sh $a: usage error" "rc $rc: $(head -c 200 "$TMP/bad.out")"; fi
done
