#!/usr/bin/env bash
# it_leverage.sh: the clustering diagnostic after clustered fits (docs/vcov.md, "Fixed-effect leverage"):
# the Rademacher-probe estimate of R = E[CR]/Var against the exact value (unit vectors) on a small panel,
# within 4 Monte Carlo standard errors, the same on 1 and 3 ranks (1e-10); on the default panel's Table 3
# model, pair clustering warned (one stderr line, JSON "warning": true) and segment-pair clustering not;
# no diagnostic for unclustered fits. The exact value itself is checked against R in tests/it_cr2.sh.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
PY=/usr/bin/python3
H5="$TMP/case1.h5"
"$GR" import tests/fixtures/ref/case1.csv "$H5" >/dev/null 2>&1 || { fail "import case1.csv"; exit 0; }
F2='y ~ x1 + x2 | exporter^month + importer^month'
diag() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); r=d['results'][0] if 'results' in d else d
x=r['cluster_diagnostic'][0]; print(eval(sys.argv[2]))" "$@"; }

"$GR" estimate --data "$H5" --formula "$F2" --cluster pair --quiet --json "$TMP/exact.json" >/dev/null 2>&1 || fail "exact run"
for P in 1 3; do
  GRAVRD_LEVERAGE=probes:400 mpi "$P" "$GR" estimate --data "$H5" --formula "$F2" --cluster pair --quiet \
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

# the default panel's Table 3 model, west to east (configs/table3.yaml)
SIM=$(sim_cached)
T3='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_100'
for cl in pair segpair_100; do
  mpi 2 "$GR" estimate --data "$SIM" --formula "$T3" --where 'dir == "West to east"' --cluster "$cl" \
    --json "$TMP/t3_$cl.json" >/dev/null 2>"$TMP/t3_$cl.err" || fail "table 3, $cl" "$(tail -n 1 "$TMP/t3_$cl.err")"
done
n=$(grep -c "clustered by 'pair', the fixed-effect leverage makes the cluster-robust variance of 'partner' expected to be 0\.[0-9][0-9] .*below 0\.85.*'segpair_100' (2\.[0-9] clusters per level).*--cluster segpair_<d>.*docs/vcov.md" "$TMP/t3_pair.err")
r=$(diag "$TMP/t3_pair.json" "'ok' if x['warning'] and x['method'] == 'probes' and x['ratio'] < 0.85 and x['ratio_se'] < 0.02 and [f['nested'] for f in x['fixed_effects']] == [False, False, False] else x")
[ "$n" = 1 ] && [ "$r" = ok ] && ok "table 3 by pair: one warning line, ratio $(diag "$TMP/t3_pair.json" "'%.3f (s.e. %.3f)' % (x['ratio'], x['ratio_se'])") below 0.85" ||
  fail "table 3 by pair" "warning lines $n; $r"
r=$(diag "$TMP/t3_segpair_100.json" "'ok' if not x['warning'] and x['ratio'] > 0.85 and x['fixed_effects'][2]['nested'] else x")
! grep -q "fixed-effect leverage" "$TMP/t3_segpair_100.err" && [ "$r" = ok ] &&
  ok "table 3 by segpair_100: no warning, ratio $(diag "$TMP/t3_segpair_100.json" "'%.3f' % x['ratio']"), segpair_100 nested" ||
  fail "table 3 by segpair_100" "$r"
