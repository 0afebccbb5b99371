#!/usr/bin/env bash
# it_leverage.sh: the clustering diagnostic after clustered fits (docs/vcov.md, "Fixed-effect leverage"):
# the Rademacher-probe estimate of R = E[CR]/Var against the exact value (unit vectors) on a small panel,
# within 4 Monte Carlo standard errors, the same on 1 and 3 ranks (1e-10); the sequential probes (batches
# of 4 until |R - threshold| >= t_{P-1,0.999} s.e., at most 16): an early stop on a clear case, all 16 on
# a borderline one (the threshold set to the 16-probe estimate by the test switch), the same numbers and
# decisions on 1-4 ranks, the t quantiles against R's qt (tests/fixtures/leverage/); the probes' loose
# demeaning tolerance against 1e-10 on the same probes (R within 1/100 of its s.e.); on the default panel's
# Table 3 model, pair clustering warned (one stderr line, JSON "warning": true, 4 probes) and segment-pair
# clustering not; --cluster-diag auto|on|off and the grid key cluster-diag (ids unchanged by auto); no
# diagnostic for unclustered fits; a malformed test switch fails. The exact value itself is checked against
# R in tests/it_cr2.sh.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
PY=/usr/bin/python3
H5="$TMP/case1.h5"
"$GR" import tests/fixtures/ref/case1.csv "$H5" >/dev/null 2>&1 || { fail "import case1.csv"; exit 0; }
F2='y ~ x1 + x2 | exporter^month + importer^month'
diag() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); r=d['results'][0] if 'results' in d else d
x=r['cluster_diagnostic'][0]; print(eval(sys.argv[2]))" "$@"; }

GRAVRD_LEVERAGE=exact "$GR" estimate --data "$H5" --formula "$F2" --cluster pair --quiet --json "$TMP/exact.json" >/dev/null 2>&1 || fail "exact run"
for P in 1 3; do
  GRAVRD_LEVERAGE=probes:400,all mpi "$P" "$GR" estimate --data "$H5" --formula "$F2" --cluster pair --quiet \
    --json "$TMP/probe$P.json" >/dev/null 2>"$TMP/err" || fail "probes on $P ranks" "$(tail -n 1 "$TMP/err")"
done
ex=$(diag "$TMP/exact.json" "'%s %r' % (x['method'], x['ratio'])")
pr=$(diag "$TMP/probe1.json" "'%s %d %r %r' % (x['method'], x['probes'], x['ratio'], x['ratio_se'])")
r=$($PY -c "
ex, pr = '''$ex'''.split(), '''$pr'''.split()
e, p, s = float(ex[1]), float(pr[2]), float(pr[3])
ok = ex[0] == 'exact' and pr[0] == 'probes' and pr[1] == '400' and 0 < s < 0.02 and abs(p - e) <= 4 * s
print('ok' if ok else 'exact %s, probes %s' % (ex, pr))")
[ "$r" = ok ] && ok "400 cluster-constant probes: estimate within 4 s.e. of the exact ratio ($ex / $pr)" || fail "probes vs exact" "$r"
check_close "probes: the same estimate on 1 and 3 ranks (1e-10)" "$TMP/probe1.json" "$TMP/probe3.json" 1e-10 --ignore columns_demeaned
r=$(diag "$TMP/exact.json" "'ok' if x['ratio_se'] == 0 and x['columns_demeaned'] > 1900 and not x['fixed_effects'][0]['nested'] else x")
[ "$r" = ok ] && ok "exact: one demeaned column per row, s.e. 0, exporter^month not nested in pair" || fail "exact fields" "$r"
"$GR" estimate --data "$H5" --formula "$F2" --vcov iid --quiet --json "$TMP/iid.json" >/dev/null 2>&1
r=$($PY -c "import json; d=json.load(open('$TMP/iid.json')); print('ok' if 'cluster_diagnostic' not in d else 'present')")
[ "$r" = ok ] && ok "no diagnostic without clustering" || fail "iid diagnostic" "$r"

# --cluster-diag: auto skips the ratio when every fixed effect not nested in the cluster has >= 10 clusters
# per level (month: 166 pairs per month), but reports the cheap part; on computes it; off reports nothing
FM='y ~ x1 + x2 | month'
for m in auto on off; do
  GRAVRD_LEVERAGE=exact "$GR" estimate --data "$H5" --formula "$FM" --cluster pair --cluster-diag $m --json "$TMP/m_$m.json" >/dev/null 2>"$TMP/m_$m.err" ||
    fail "--cluster-diag $m" "$(tail -n 1 "$TMP/m_$m.err")"
done
r=$(diag "$TMP/m_auto.json" "'ok' if x['method'] == 'skipped' and not x['ratio_computed'] and x['ratio'] is None and not x['warning'] and 'at least 10 clusters per level' in x['ratio_not_computed'] and x['columns_demeaned'] == 0 and x['fixed_effects'][0]['clusters_per_level'] > 10 and not x['fixed_effects'][0]['nested'] else x")
[ "$r" = ok ] && ok "auto, month not nested in pair but 166 pairs per month: ratio not computed (and why), nesting and clusters per level reported" || fail "auto skip" "$r"
r=$(diag "$TMP/m_on.json" "'ok' if x['method'] == 'exact' and x['ratio_computed'] and 0.95 < x['ratio'] < 1 and x['columns_demeaned'] > 1900 else x")
[ "$r" = ok ] && ok "on: the same model's ratio computed ($(diag "$TMP/m_on.json" "'%.4f' % x['ratio']"))" || fail "on" "$r"
r=$($PY -c "import json; d=json.load(open('$TMP/m_off.json')); print('ok' if 'cluster_diagnostic' not in d and 'cluster_diag' not in d['timings'] else 'present')")
[ "$r" = ok ] && ok "off: no diagnostic" || fail "off" "$r"
"$GR" estimate --data "$H5" --formula "$F2" --cluster pair --quiet --json "$TMP/auto.json" >/dev/null 2>&1 || fail "auto run"
r=$(diag "$TMP/auto.json" "'ok' if x['method'] == 'probes' and x['probes_max'] == 16 and x['probes_stop'] == 'clear' and x['probes'] in (4, 8, 12, 16) and x['probes_z'] >= x['probes_z_needed'] and x['ratio_computed'] and x['fixed_effects'][0]['clusters_per_level'] < 10 else x")
[ "$r" = ok ] && ok "auto, exporter^month with 4.2 pairs per level: ratio computed by probes (1,996 rows is above the exact limit of 64), stopped when clear ($(diag "$TMP/auto.json" "'%d probes, z %.1f >= %.2f' % (x['probes'], x['probes_z'], x['probes_z_needed'])"))" || fail "auto computes" "$r"

# the sequential rule. Borderline: the threshold (test switch warn:X) set 0.1 s.e. above the 16-probe estimate, so
# the decision never becomes clear and every probe is used; clear: the default threshold 0.85 (R is 0.56 here).
# The same probes and decisions on 1-4 ranks (the signs depend on (cluster, probe) only; rank 0 decides).
GRAVRD_LEVERAGE=probes:16,all "$GR" estimate --data "$H5" --formula "$F2" --cluster pair --quiet --json "$TMP/p16.json" >/dev/null 2>&1 || fail "16 fixed probes"
R16=$(diag "$TMP/p16.json" "repr(x['ratio'])")
W16=$(diag "$TMP/p16.json" "repr(x['ratio'] + x['ratio_se'] / 10)")  # 0.1 s.e. above: the warning does not hang on rounding
for P in 1 2 3 4; do
  GRAVRD_LEVERAGE=warn:$W16 mpi "$P" "$GR" estimate --data "$H5" --formula "$F2" --cluster pair --quiet \
    --json "$TMP/border$P.json" >/dev/null 2>"$TMP/err" || fail "borderline on $P ranks" "$(tail -n 1 "$TMP/err")"
  mpi "$P" "$GR" estimate --data "$H5" --formula "$F2" --cluster pair --quiet \
    --json "$TMP/clear$P.json" >/dev/null 2>"$TMP/err" || fail "clear on $P ranks" "$(tail -n 1 "$TMP/err")"
done
r=$(diag "$TMP/border1.json" "'ok' if x['probes'] == 16 and x['probes_stop'] == 'max' and x['threshold'] == $W16 and abs(x['ratio'] - $R16) < 1e-12 and x['warning'] and x['probes_z'] < x['probes_z_needed'] and x['columns_demeaned'] == 16 else x")
[ "$r" = ok ] && ok "borderline (threshold $W16, 0.1 s.e. above the 16-probe estimate): all 16 probes used, stop 'max', the same R as 16 fixed probes" || fail "borderline" "$r"
r=$(diag "$TMP/clear1.json" "'ok' if x['probes'] == 4 and x['probes_stop'] == 'clear' and x['columns_demeaned'] == 4 and x['ratio'] < 0.85 and x['warning'] else x")
[ "$r" = ok ] && ok "clear (R $(diag "$TMP/clear1.json" "'%.3f, s.e. %.4f, z %.1f >= %.2f' % (x['ratio'], x['ratio_se'], x['probes_z'], x['probes_z_needed'])")): stops after the first 4 probes" || fail "clear" "$r"
for P in 2 3 4; do
  check_close "sequential probes, borderline: 1 and $P ranks agree (1e-10, probes used included)" "$TMP/border1.json" "$TMP/border$P.json" 1e-10
  check_close "sequential probes, clear: 1 and $P ranks agree (1e-10, probes used included)" "$TMP/clear1.json" "$TMP/clear$P.json" 1e-10
done
# the stopping distances are Student t quantiles: against R's qt(0.999, df) (tests/fixtures/leverage/make_qt.R)
for np in 2 3 4 5 6 16; do
  GRAVRD_LEVERAGE=probes:$np,all "$GR" estimate --data "$H5" --formula "$F2" --cluster pair --quiet --json "$TMP/q$np.json" >/dev/null 2>&1 || fail "probes:$np,all"
done
r=$($PY -c "
import json
ref = dict(l.split() for l in open('tests/fixtures/leverage/qt.txt'))
bad = []
for np, f in [(2, 'q2'), (3, 'q3'), (4, 'q4'), (5, 'q5'), (6, 'q6'), (16, 'q16'), (400, 'probe1')]:
    x = json.load(open('$TMP/%s.json' % f))['cluster_diagnostic'][0]
    want = float(ref[str(np - 1)])
    if x['probes'] != np or x['probes_stop'] != 'fixed' or abs(x['probes_z_needed'] - want) > 1e-8 * want: bad.append((np, x['probes'], x['probes_z_needed'], want))
print('ok' if not bad else bad)")
[ "$r" = ok ] && ok "t_{P-1, 0.999} for 2, 3, 4, 5, 6, 16, 400 probes (df 1-5, 15, 399): R's qt within 1e-8" || fail "t quantiles" "$r"
# the probes' tolerance (docs/vcov.md, "Probe tolerance"): the same 16 probes demeaned at 1e-10 give R within
# 1/100 of the Monte Carlo s.e. (here and on Table 3 below)
GRAVRD_LEVERAGE=probes:16,all,tol:1e-10 "$GR" estimate --data "$H5" --formula "$F2" --cluster pair --quiet --json "$TMP/p16t.json" >/dev/null 2>&1 || fail "16 probes at 1e-10"
r=$(diag "$TMP/p16t.json" "'ok' if abs(x['ratio'] - $R16) < x['ratio_se'] / 100 else (x['ratio'], $R16, x['ratio_se'])")
[ "$r" = ok ] && ok "probe tolerance: R at the probes' tolerance and at 1e-10 differ by $(diag "$TMP/p16t.json" "'%.1e' % abs(x['ratio'] - $R16)") (< s.e./100 = $(diag "$TMP/p16t.json" "'%.1e' % (x['ratio_se'] / 100)"))" || fail "probe tolerance" "$r"
# the sweeps (--fe-method irons-tuck) stop on coefficient changes, a first-order criterion: they get tol^2 (1e-6);
# against 1e-10 (tol:1e-5) on the same probes
for t in "" ",tol:1e-5"; do
  GRAVRD_LEVERAGE="probes:16,all$t" "$GR" estimate --data "$H5" --formula "$F2" --cluster pair --fe-method irons-tuck --quiet \
    --json "$TMP/it16$t.json" >/dev/null 2>&1 || fail "irons-tuck, 16 probes$t"
done
r=$($PY -c "
import json
a, b = [json.load(open(f))['cluster_diagnostic'][0] for f in ('$TMP/it16.json', '$TMP/it16,tol:1e-5.json')]
d = abs(a['ratio'] - b['ratio'])
print('ok %.1e' % d if a['converged'] and b['converged'] and d < a['ratio_se'] / 100 and abs(b['ratio'] - $R16) < 1e-8 else (a['ratio'], b['ratio'], a['ratio_se']))")
[ "${r%% *}" = ok ] && ok "probe tolerance, irons-tuck: R within ${r#ok } of the same probes at 1e-10 (< s.e./100), which give CG's R (1e-8)" || fail "irons-tuck probe tolerance" "$r"
for bad in probes:1 probes:2.5 warn:1.5 tol:0 sometimes; do
  GRAVRD_LEVERAGE=$bad check_fails "GRAVRD_LEVERAGE=$bad: one line" "error: GRAVRD_LEVERAGE: .*'$bad'" \
    "$GR" estimate --data "$H5" --formula "$F2" --cluster pair --quiet
done
# clusters with rows on several ranks (importer: the panel is partitioned by exporter) take the other path
# of the clusters-per-level count (combined codes): the same diagnostic on 1 and 3 ranks
for P in 1 3; do
  mpi $P "$GR" estimate --data "$H5" --formula "$F2" --cluster importer --cluster-diag on --quiet \
    --json "$TMP/imp$P.json" >/dev/null 2>"$TMP/err" || fail "cluster importer on $P ranks" "$(tail -n 1 "$TMP/err")"
done
check_close "clusters spanning ranks (importer): the same diagnostic on 1 and 3 ranks (1e-10)" "$TMP/imp1.json" "$TMP/imp3.json" 1e-10 --ignore columns_demeaned
r=$(diag "$TMP/imp1.json" "'ok' if [f['nested'] for f in x['fixed_effects']] == [False, True] and x['fixed_effects'][0]['clusters_per_level'] > 1 else x")
[ "$r" = ok ] && ok "cluster importer: importer^month nested, exporter^month not" || fail "importer nesting" "$r"

# outcomes sharing rows and regressors: one diagnostic (w does not depend on the outcome), copied into each
"$GR" estimate --data "$H5" --formula "c(y, exp(y)) ~ x1 + x2 | exporter^month + importer^month" --cluster pair --quiet \
  --json "$TMP/multi.json" >/dev/null 2>&1 || fail "c(y, exp(y))"
r=$($PY -c "
import json; d=json.load(open('$TMP/multi.json')); rs=d['results']
a, b = [r['cluster_diagnostic'][0] for r in rs]; ta, tb = [r['timings']['cluster_diag'] for r in rs]
print('ok' if len(rs) == 2 and a == b and a['method'] == 'probes' and ta == tb > 0 else (a, b, ta, tb))" 2>&1)
[ "$r" = ok ] && ok "c(y, exp(y)): one diagnostic computed once (the same object and the same seconds in both results)" || fail "multi-outcome diagnostic" "$r"
check_fails "--cluster-diag maybe: one line" "error: --cluster-diag: expected auto, on or off, got 'maybe'" \
  "$GR" estimate --data "$H5" --formula "$FM" --cluster pair --cluster-diag maybe

# the grid key: auto leaves the spec id as it was without the key; off changes it and drops the diagnostic
for v in none auto off; do
  { printf 'data: %s\nbase:\n  formula: "{y} ~ x1 + x2 | exporter^month + importer^month"\n  cluster: pair\n' "$H5"
    [ $v != none ] && printf '  cluster-diag: %s\n' $v; printf 'axes:\n  y: [y]\n'; } >"$TMP/g_$v.yaml"
  "$GR" grid "$TMP/g_$v.yaml" --out "$TMP/g_$v" --quiet >/dev/null 2>"$TMP/g.err" || fail "grid cluster-diag $v" "$(tail -n 1 "$TMP/g.err")"
done
r=$($PY -c "
import json
rec={v: json.loads(open('$TMP/g_%s/results.jsonl' % v).readline()) for v in ('none', 'auto', 'off')}
ids=[rec[v]['spec_id'] for v in ('none', 'auto', 'off')]
ok = ids[0] == ids[1] != ids[2] and 'cluster_diagnostic' in rec['auto']['results'][0] and 'cluster_diagnostic' not in rec['off']['results'][0]
print('ok' if ok else (ids, [list(rec[v]['results'][0].keys()) for v in rec]))" 2>&1)
[ "$r" = ok ] && ok "grid cluster-diag: auto keeps the spec id, off changes it and drops the diagnostic" || fail "grid cluster-diag" "$r"
sed 's/cluster-diag: off/cluster-diag: sometimes/' "$TMP/g_off.yaml" >"$TMP/g_bad.yaml"
check_fails "grid cluster-diag: sometimes: one line naming the key" "cluster-diag: expected one of auto, on, off, got 'sometimes'" \
  "$GR" grid "$TMP/g_bad.yaml" --out "$TMP/g_bad"

# the default panel's Table 3 model, west to east (configs/table3.yaml), one rank each (rank independence
# is checked above): pair with auto (segpair_100: 2.7 pairs per level, so computed, by 16 probes),
# segpair_100 with auto (skipped: the non-nested exporter- and importer-month effects have ~50-70
# segment pairs per level) and on
SIM=$(sim_cached)
T3='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_100'
for run in pair:auto segpair_100:auto segpair_100:on; do
  cl=${run%%:*} m=${run##*:}
  "$GR" estimate --data "$SIM" --formula "$T3" --where 'dir == "West to east"' --cluster "$cl" --cluster-diag $m \
    --json "$TMP/t3_$cl.$m.json" >/dev/null 2>"$TMP/t3_$cl.$m.err" || fail "table 3, $cl $m" "$(tail -n 1 "$TMP/t3_$cl.$m.err")"
done
cp "$TMP/t3_pair.auto.json" "$TMP/t3_pair.json"; cp "$TMP/t3_pair.auto.err" "$TMP/t3_pair.err"
cp "$TMP/t3_segpair_100.on.json" "$TMP/t3_segpair_100.json"; cp "$TMP/t3_segpair_100.on.err" "$TMP/t3_segpair_100.err"
r=$(diag "$TMP/t3_segpair_100.auto.json" "'ok' if x['method'] == 'skipped' and [f['nested'] for f in x['fixed_effects']] == [False, False, True] and min(f['clusters_per_level'] for f in x['fixed_effects'][:2]) >= 10 else x")
! grep -q "fixed-effect leverage" "$TMP/t3_segpair_100.auto.err" && [ "$r" = ok ] &&
  ok "table 3 by segpair_100, auto: ratio not computed (every non-nested effect has >= 10 clusters per level)" || fail "table 3 segpair auto" "$r"
n=$(grep -c "clustered by 'pair', the fixed-effect leverage makes the cluster-robust variance of 'partner' expected to be 0\.[0-9][0-9] .*below 0\.85.*'segpair_100' (2\.[0-9] clusters per level).*--cluster segpair_<d>.*docs/vcov.md" "$TMP/t3_pair.err")
r=$(diag "$TMP/t3_pair.json" "'ok' if x['warning'] and x['method'] == 'probes' and x['probes'] == 4 and x['probes_stop'] == 'clear' and x['ratio'] < 0.85 and x['ratio_se'] < 0.01 and [f['nested'] for f in x['fixed_effects']] == [False, False, False] else x")
[ "$n" = 1 ] && [ "$r" = ok ] && ok "table 3 by pair: one warning line, ratio $(diag "$TMP/t3_pair.json" "'%.3f (s.e. %.3f, %d probes: clear)' % (x['ratio'], x['ratio_se'], x['probes'])") below 0.85" ||
  fail "table 3 by pair" "warning lines $n; $r"
# the probes' tolerance on Table 3: the same 16 probes at the probes' tolerance and at 1e-10
for t in "" ",tol:1e-10"; do
  GRAVRD_LEVERAGE="probes:16,all$t" "$GR" estimate --data "$SIM" --formula "$T3" --where 'dir == "West to east"' --cluster pair \
    --quiet --json "$TMP/t3tol$t.json" >/dev/null 2>&1 || fail "table 3, 16 probes$t"
done
r=$($PY -c "
import json
a, b = [json.load(open(f))['cluster_diagnostic'][0] for f in ('$TMP/t3tol.json', '$TMP/t3tol,tol:1e-10.json')]
d = abs(a['ratio'] - b['ratio'])
print('ok %.1e %.1e' % (d, a['ratio_se']) if a['probes'] == b['probes'] == 16 and d < a['ratio_se'] / 100 else (a['ratio'], b['ratio'], a['ratio_se']))")
[ "${r%% *}" = ok ] && ok "table 3 by pair, probe tolerance: R differs from 1e-10's by ${r#ok } (s.e.) on the same 16 probes" || fail "table 3 probe tolerance" "$r"
r=$(diag "$TMP/t3_segpair_100.json" "'ok' if not x['warning'] and x['ratio'] > 0.85 and x['fixed_effects'][2]['nested'] else x")
! grep -q "fixed-effect leverage" "$TMP/t3_segpair_100.err" && [ "$r" = ok ] &&
  ok "table 3 by segpair_100: no warning, ratio $(diag "$TMP/t3_segpair_100.json" "'%.3f' % x['ratio']"), segpair_100 nested" ||
  fail "table 3 by segpair_100" "$r"
