#!/usr/bin/env bash
# tests/it_honest.sh: honest numbers and output. Degenerate estimations are refused with one line (never
# NaN, infinities, a negative F or stars on a zero; docs/estimator.md and docs/rd.md, "Degenerate ...");
# the table says which F with its df, names the --where sample, never cuts a label; rdgrid marks
# bandwidths with no rows near the cutoff and draws no line across the gap; --json - prints only JSON;
# design says directed and undirected; one default seed; error messages blame the right thing.
# GR_UNDER_TEST=path/to/gravrd runs the same checks against another build (e.g. an older one).
source "$(dirname "$0")/lib.sh"
GR=${GR_UNDER_TEST:-$GR}
PY=${PY:-python3}

# run NAME CMD...: run a command (1 rank: a singleton, no mpirun wait), output in $TMP/NAME.out / .err, rc in $TMP/NAME.rc
run() { local name=$1; shift; "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; echo $? >"$TMP/$name.rc"; }
# refused NAME PATTERN: the run NAME exited non-zero with one error line matching PATTERN and no NaN / inf anywhere
refused() {
  local name=$1 pat=$2 rc; rc=$(cat "$TMP/$name.rc")
  local nerr; nerr=$(grep -c '^gravrd: error:' "$TMP/$name.err")
  if [ "$rc" = 0 ]; then fail "$name: refused" "exited 0: $(head -c 300 "$TMP/$name.out" | tr '\n' ' ')"
  elif [ "$nerr" != 1 ]; then fail "$name: refused" "$nerr error lines: $(head -c 300 "$TMP/$name.err")"
  elif ! grep -qE -- "$pat" "$TMP/$name.err"; then fail "$name: refused" "message lacks /$pat/: $(head -c 300 "$TMP/$name.err")"
  elif grep -qiE '(^|[^a-z])-?(nan|inf)([^a-z]|$)' "$TMP/$name.out"; then fail "$name: refused" "NaN/inf printed"
  else ok "$name: refused with one line"; fi
}
# no_garbage NAME: output of run NAME holds no NaN, inf, negative F or digit string longer than 20 characters
no_garbage() {
  local name=$1
  if grep -qiE '(^|[^a-z])-?(nan|inf)([^a-z]|$)' "$TMP/$name.out"; then fail "$name: no NaN/inf" "$(grep -iE 'nan|inf' "$TMP/$name.out" | head -2)"
  elif grep -qE '[0-9]{21}' "$TMP/$name.out"; then fail "$name: no NaN/inf" "a number with more than 20 digits"
  elif grep -E '^F-statistic' "$TMP/$name.out" | grep -qE ' -[0-9]'; then fail "$name: no NaN/inf" "negative F"
  else ok "$name: no NaN, inf, negative F or runaway digits"; fi
}

# ---- data: a small panel with degenerate columns (8 cities, 56 pairs, 6 months) ----
$PY - "$TMP/deg.csv" <<'EOF' || { fail "make test data"; exit 0; }
import random, sys
random.seed(3)
fe = [random.gauss(0, 1) for _ in range(8)]
with open(sys.argv[1], 'w') as f:
    f.write('exporter,importer,month,x,y,c,exact,fexact,feonly,big,big150,one\n')
    for e in range(8):
        for i in range(8):
            if e == i: continue
            for m in range(6):
                x = random.gauss(0, 1); y = 0.5 * x + random.gauss(0, 1)
                f.write(f'{e},{i},{m},{x},{y},3.0,{2*x+1},{2*x+fe[e]},{fe[e]},{1e300*(1+random.random())},{1e150*y},1\n')
EOF
H="$TMP/deg.h5"
"$GR" import "$TMP/deg.csv" "$H" --exporter exporter --importer importer --time month >/dev/null 2>&1 || { fail "import test data"; exit 0; }

# ---- degenerate estimates are refused ----
run est_const "$GR" estimate --data "$H" --formula 'c ~ x'
refused est_const "outcome 'c' is constant"
run est_const_fe "$GR" estimate --data "$H" --formula 'c ~ x | exporter'
refused est_const_fe "outcome 'c' is constant"
run est_big "$GR" estimate --data "$H" --formula 'big ~ x'
refused est_big "outcome 'big'.*not finite"
run est_exact "$GR" estimate --data "$H" --formula 'exact ~ x'
refused est_exact "outcome 'exact' is fitted exactly"
run est_fexact "$GR" estimate --data "$H" --formula 'fexact ~ x | exporter'
refused est_fexact "outcome 'fexact' is fitted exactly by the regressors and fixed effects"
run est_feonly "$GR" estimate --data "$H" --formula 'feonly ~ x | exporter'
refused est_feonly "outcome 'feonly' is fully explained by the fixed effects"
# the same refusal on 2 ranks: one line, from one rank
mpi 2 "$GR" estimate --data "$H" --formula 'c ~ x | exporter' >"$TMP/est_const2.out" 2>"$TMP/est_const2.err"; echo $? >"$TMP/est_const2.rc"
refused est_const2 "outcome 'c' is constant"

# ---- what is estimated prints no garbage ----
run est_big150 "$GR" estimate --data "$H" --formula 'big150 ~ x'
no_garbage est_big150
grep -qE '^x +[0-9.]+e\+149\*\*\*' "$TMP/est_big150.out" && ok "a coefficient near 1e149 prints in scientific notation" \
  || fail "a coefficient near 1e149 prints in scientific notation" "$(grep '^x ' "$TMP/est_big150.out")"
run est_noint "$GR" estimate --data "$H" --formula 'y ~ 0 + x' --json "$TMP/noint.json"
no_garbage est_noint
if $PY - "$TMP/noint.json" 2>"$TMP/py.err" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["r2"] is None and r["adj_r2"] is None and r["f_stat"] is None, (r["r2"], r["adj_r2"], r["f_stat"])
assert r["coefficients"][0]["std_error"] > 0
EOF
then ok "no constant, no fixed effects: R2, adjusted R2 and F are null in the JSON"; else fail "no-intercept statistics are null" "$(tail -1 "$TMP/py.err")"; fi
grep -qE '^F-statistic +-$' "$TMP/est_noint.out" && grep -q '^-: not computable' "$TMP/est_noint.out" \
  && ok "no-intercept table: F shown as '-' with a footnote" || fail "no-intercept table: F shown as '-' with a footnote" "$(grep -E '^F|^-' "$TMP/est_noint.out")"
run est_only1 "$GR" estimate --data "$H" --formula 'y ~ 1'
no_garbage est_only1

# ---- the F says which it is, with its df ----
run est_f "$GR" estimate --data "$H" --formula 'y ~ x | exporter' --cluster exporter --json "$TMP/f.json"
if grep -qE '^F \(df1, df2\) +\([0-9]+, 7\)$' "$TMP/est_f.out" && grep -q "^F-statistic: fixest's F" "$TMP/est_f.out"; then
  ok "table: F row with (df1, df2), df2 = clusters - 1, and a footnote naming fixest's F"
else fail "table: F row with (df1, df2)" "$(grep -E '^F' "$TMP/est_f.out" | tr '\n' '|')"; fi
if $PY - "$TMP/f.json" 2>"$TMP/py.err" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["f_df2"] == 7 and r["f_df1"] >= 1 and r["f_type"] == "fixest_f" and r["f_stat"] > 0, r
EOF
then ok "JSON: f_stat, f_df1, f_df2 = 7, f_type fixest_f"; else fail "JSON F fields" "$(tail -1 "$TMP/py.err")"; fi
if need_shared "fixest trade F"; then
  "$GR" import "$SHARED/fixest_trade.csv" "$TMP/trade.h5" --exporter Origin --importer Destination --time Year --key Product >/dev/null 2>&1
  run trade "$GR" estimate --data "$TMP/trade.h5" --cluster Destination,Origin \
    --formula 'log(Euros) ~ log(dist_km) | Destination + Origin + Product + Year'
  if grep -qE '^F-statistic +1\.16$' "$TMP/trade.out" && grep -qE '^F \(df1, df2\) +\(29, 14\)$' "$TMP/trade.out" \
     && grep -qE '^Standard errors +Destination&Origin$' "$TMP/trade.out"; then
    ok "fixest trade example: F 1.16 with (29, 14); 'Destination&Origin' not cut"
  else fail "fixest trade example: F and cluster label" "$(grep -E '^F|^Standard' "$TMP/trade.out" | tr '\n' '|')"; fi
fi

# ---- a simulated panel for the sample, label and design checks ----
S="$TMP/sim.h5"
"$GR" simulate --out "$S" --east 40 --west 50 --months 6 --seed 3 >/dev/null 2>&1 || { fail "simulate small panel"; exit 0; }
run where "$GR" estimate --data "$S" --formula 'log(trade) ~ partner | exporter^month + importer^month' --where 'dir == 1'
grep -qE '^Sample +where: dir == 1$' "$TMP/where.out" && ok "Sample row names the --where filter" \
  || fail "Sample row names the --where filter" "$(grep '^Sample' "$TMP/where.out")"
run wsplit "$GR" estimate --data "$S" --formula 'log(trade) ~ partner | exporter^month + importer^month' \
  --where 'control_type != 2' --fsplit dir
grep -qE '^Sample +where: control_type != 2 +[A-Za-z =0-9]+; where: control_type != 2 ' "$TMP/wsplit.out" \
  && ok "Sample row names the split value and the --where filter" || fail "Sample row with --fsplit and --where" "$(grep '^Sample' "$TMP/wsplit.out")"
run labels "$GR" estimate --data "$S" --cluster exporter,importer \
  --formula 'c(log1p(trade*distance_km*1.5), log1p(deals*distance_km*1.5)) ~ partner + I(distance_km*exp_gdp_per_capita) | exporter^month'
if grep -qE '^Dependent variable +log1p\(trade\*distance_km\*1\.5\) +log1p\(deals\*distance_km\*1\.5\)$' "$TMP/labels.out" \
   && grep -qE '^I\(distance_km\*exp_gdp_per_capita\) ' "$TMP/labels.out" && grep -qE 'exporter&importer +exporter&importer$' "$TMP/labels.out"; then
  ok "labels are never cut and long outcome names stay apart"
else fail "labels never cut" "$(grep -E '^Dependent|^I\(|^Standard' "$TMP/labels.out" | tr '\n' '|')"; fi

# ---- one-level fixed effect as the default cluster: blamed on the fixed effect, not --cluster ----
run onefe "$GR" estimate --data "$H" --formula 'y ~ x | one'
refused onefe "fixed effect 'one' has a single level.*default variance"
grep -q 'error: --cluster' "$TMP/onefe.err" && fail "one-level FE error does not name --cluster" || ok "one-level FE error does not name --cluster"

# ---- rd: exact lines refused, huge bandwidth named ----
if need_shared "rd degenerate cases"; then
  "$GR" import "$SHARED/rdrobust_senate.csv" "$TMP/senate.h5" >/dev/null 2>&1
  run rd_same "$GR" rd --data "$TMP/senate.h5" --y margin --running margin --bandwidth 20
  refused rd_same "exact linear function of the running variable"
  run rd_const "$GR" rd --data "$TMP/senate.h5" --y '0 * vote + 3' --running margin --bandwidth 20
  refused rd_const "exact linear function"
  run rd_hugeh "$GR" rd --data "$TMP/senate.h5" --y vote --running margin --bandwidth 1e308
  refused rd_hugeh "bandwidth 1e\+308: too large"
  grep -q "single value" "$TMP/rd_hugeh.err" && fail "huge bandwidth not blamed on the running variable" \
    || ok "huge bandwidth not blamed on the running variable"
  run rd_json "$GR" rd --data "$TMP/senate.h5" --y vote --running margin --bandwidth 17.754 --json -
  $PY -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/rd_json.out" 2>/dev/null && ok "rd --json -: stdout is JSON alone" \
    || fail "rd --json -: stdout is JSON alone" "$(head -c 200 "$TMP/rd_json.out")"
fi

# ---- rdgrid: no rows near the cutoff at 80 km on this panel (nearest comparison 65 km) ----
mpi 2 "$GR" rdgrid --data "$S" --y 'log(trade)' --bandwidth 80 --bandwidth 150 --json "$TMP/rdg.json" \
  --binned-svg "$TMP/rdg.svg" >"$TMP/rdg.out" 2>"$TMP/rdg.err"
if $PY - "$TMP/rdg.json" 2>"$TMP/py.err" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert r[0]["extrapolated"] is True and r[0]["nearest_left_km"] > 40 and r[0]["nearest_right_km"] > 40, r[0]
assert r[1]["extrapolated"] is False, r[1]
EOF
then ok "rdgrid JSON: 80 km marked extrapolated (nearest rows > 40 km), 150 km not"; else fail "rdgrid JSON marks extrapolated" "$(tail -1 "$TMP/py.err")"; fi
[ "$(grep -c 'warning: --bandwidth 80: no stacked row within 40 km' "$TMP/rdg.err")" = 1 ] \
  && ok "rdgrid warns once (rank 0) about 80 km" || fail "rdgrid warns once about 80 km" "$(head -c 300 "$TMP/rdg.err")"
grep -qE '^ +80 .* extrapolated$' "$TMP/rdg.out" && ! grep -E '^ +80 ' "$TMP/rdg.out" | grep -q '\*' \
  && ok "rdgrid table: 80 km marked, no stars" || fail "rdgrid table: 80 km marked, no stars" "$(grep -E '^ +80 ' "$TMP/rdg.out")"
# the fitted lines (blue left, red right, solid or dashed) never reach the cutoff's x when extrapolated
if $PY - "$TMP/rdg.svg" 2>"$TMP/py.err" <<'EOF'
import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
lines = d.getElementsByTagName('line')
cut = [l for l in lines if l.getAttribute('stroke') == '#888888'][0]   # the dashed cutoff line
xc = float(cut.getAttribute('x1'))
fits = [l for l in lines if l.getAttribute('stroke') in ('#1f77b4', '#d62728')]
assert fits, 'no fitted line'
for l in fits:
    for a in ('x1', 'x2'):
        assert abs(float(l.getAttribute(a)) - xc) > 20, 'a fitted line reaches the cutoff'
EOF
then ok "rdgrid binned SVG: no line drawn across the empty region"; else fail "rdgrid binned SVG: no line across the gap" "$(tail -1 "$TMP/py.err")"; fi

# ---- --json -: stdout carries the JSON alone ----
json_only() {
  local name=$1; shift
  "$@" >"$TMP/$name.json.out" 2>/dev/null
  if $PY -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/$name.json.out" 2>/dev/null; then ok "$name --json -: stdout is JSON alone"
  else fail "$name --json -: stdout is JSON alone" "$(head -c 120 "$TMP/$name.json.out" | tr '\n' ' ')"; fi
}
json_only estimate "$GR" estimate --data "$S" --formula 'log(trade) ~ partner | exporter^month + importer^month' --json -
json_only match "$GR" match --data "$S" --bandwidth 150 --formula 'log(trade) ~ partner | exporter^month + importer^month' --json -
json_only rdgrid "$GR" rdgrid --data "$S" --y 'log(trade)' --bandwidth 150 --json -
json_only balance "$GR" balance --data "$S" --bandwidth 150 --json -
json_only segments "$GR" segments --data "$S" --bandwidth 100 --json -

# ---- design: directed and undirected counts ----
run design "$GR" design --data "$S" --bandwidth 100
read -r dirp undp < <(sed -n 's/.* \([0-9]*\) directed partner pairs (\([0-9]*\) undirected).*/\1 \2/p' "$TMP/design.out")
if [ -n "${dirp:-}" ] && [ "$dirp" = $((2 * undp)) ]; then ok "design: $dirp directed partner pairs ($undp undirected)"
else fail "design says directed and undirected" "$(head -1 "$TMP/design.out")"; fi
run match_count "$GR" match --data "$S" --bandwidth 150 --formula 'log(trade) ~ partner | exporter^month + importer^month'
grep -qE "of $dirp directed partner pairs with >= 1 match" "$TMP/match_count.out" && ok "match counts the same directed partner pairs" \
  || fail "match counts the same directed partner pairs" "$(grep 'Matched sample' "$TMP/match_count.out")"

# ---- one default seed: the simulator's, wherever the default panel is made ----
def=$("$GR" simulate --help | sed -n 's/.*--seed N.*default: \([0-9]*\)\].*/\1/p' | head -1)
bad=""
for f in "$ROOT/Makefile" "$ROOT"/jobs/* "$ROOT"/bench/*.sh; do
  while read -r s; do [ "$s" != "$def" ] && bad="$bad $(basename "$f"):--seed $s"; done \
    < <(grep -E 'simulate .*default\.h5|simulate --out "?\$\(?PANEL' "$f" | grep -oE -- '--seed [0-9]+' | awk '{print $2}')
done
if [ -n "$def" ] && [ -z "$bad" ]; then ok "the default panel is made with the simulator's default seed ($def) everywhere"
else fail "one default seed" "default '${def}'; other seeds:$bad"; fi
grep -rlE 'Seed 2 is used because|Why seed 2|seed 1 looked' "$ROOT/docs" "$ROOT/Makefile" "$ROOT/jobs" "$ROOT/bench" >/dev/null 2>&1 \
  && fail "no seed chosen for how the result looks (docs, Makefile, jobs, bench)" || ok "no seed chosen for how the result looks (docs, Makefile, jobs, bench)"
