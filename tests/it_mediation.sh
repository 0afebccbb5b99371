#!/usr/bin/env bash
# Table 6 (docs/mediation.md): `gravrd mediate` (the footnote-15 test) and the pair-level regression of panel A,
# on a small simulated panel, against R's lm with dummies and sandwich (tests/fixtures/mediation/, made by
# make_mediation_refs.R from a dump of the same panel, whose sha256 each fixture records); the same numbers on
# 1-4 ranks (1e-10); each model equal to `gravrd estimate`; the test's unit checks (test_mediation) on 1-4
# ranks; bad input; configs/table6.yaml run as a grid and rendered by `gravrd table`.
source "$(dirname "$0")/lib.sh"
FX="$ROOT/tests/fixtures/mediation"
P=$(sim_cached --east 20 --west 25 --months 6 --seed 7) || { fail "simulate the small panel"; exit 0; }
COLS=pair,exporter,importer,month,dir,trade,partner,distance_km,migration,search_index,segpair_300

# ---- the panel the references were made from
"$GR" dump "$P" --columns "$COLS" >"$TMP/med.csv" 2>"$TMP/dump.err"
sha=$(sha256sum "$TMP/med.csv" | cut -d' ' -f1)
want=$(sed -n 's/^# data sha256: //p' "$FX/mediate_migration.expected")
if [ "$sha" = "$want" ]; then ok "the small panel is the one the R references were made from"
else fail "the small panel is the one the R references were made from" "sha256 $sha, fixtures $want: the simulator changed; rerun tests/fixtures/mediation/make_mediation_refs.R (its header)"; fi

# ---- the test on 1-4 ranks, and the pair-level regression on 1 and 3, in one launch
F="log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_300"
W='dir == "West to east"'
C="$TMP/cases"
declare -A MED=([migration]="migration" [search]="log(search_index)" [both]="migration + log(search_index)")
for k in migration search both; do
  case_add "$C" 1,2,3,4 ok "mediate $k P={P}" mediate --quiet --data "$P" --formula "$F" --mediator "${MED[$k]}" \
    --cluster pair --where "$W" --fe-tol 1e-12 --json "$TMP/$k.{P}.json"
done
case_add "$C" 1,3 ok "pair-level migration P={P}" estimate --quiet --data "$P" --cluster pair --where 'month == 1' --fe-tol 1e-12 \
  --formula 'migration ~ partner + log(distance_km) | exporter + importer + segpair_300' --json "$TMP/pair.{P}.json"
# each model alone: the main model and the model with both mediators
case_add "$C" 1 ok "estimate without" estimate --quiet --data "$P" --formula "$F" --cluster pair --where "$W" --fe-tol 1e-12 --json "$TMP/e1.json"
case_add "$C" 1 ok "estimate with both" estimate --quiet --data "$P" --cluster pair --where "$W" --fe-tol 1e-12 --json "$TMP/e2.json" \
  --formula "log(trade) ~ partner + log(distance_km) + migration + log(search_index) | exporter^month + importer^month + segpair_300"
# a mediator missing on some rows: both models on the rows where it is finite (search_index > 20)
case_add "$C" 1,2 ok "mediator NaN on some rows P={P}" mediate --quiet --data "$P" --formula "$F" --cluster pair --where "$W" \
  --mediator 'log(search_index - 20)' --fe-tol 1e-12 --json "$TMP/nan.{P}.json"
case_add "$C" 1 ok "estimate on search_index > 20" estimate --quiet --data "$P" --formula "$F" --cluster pair \
  --where "$W && search_index > 20" --fe-tol 1e-12 --json "$TMP/e20.json"
# the grid's mediate runs with the default tolerance: the same command, for the comparison below
case_add "$C" 1 ok "mediate both, default tolerance" mediate --quiet --data "$P" --formula "$F" --cluster pair --where "$W" \
  --mediator "migration + log(search_index)" --json "$TMP/bothd.json"
# --term as the formula labels it, and spelled otherwise (spaces): the same test of the same term
case_add "$C" 1 ok "mediate --term log(distance_km)" mediate --quiet --data "$P" --formula "$F" --cluster pair --where "$W" \
  --mediator migration --term 'log(distance_km)' --json "$TMP/tl.json"
case_add "$C" 1 ok "mediate --term spelled with spaces" mediate --quiet --data "$P" --formula "$F" --cluster pair --where "$W" \
  --mediator migration --term ' log( distance_km ) ' --json "$TMP/ts.json"

# ---- bad input: one line each, on 1 and 2 ranks
bad() { case_add "$C" 1,2 "fail1:$1" "$2 P={P}" mediate --data "$P" --formula "$F" --where "$W" "${@:3}"; }
bad "--cluster: 'exporter,importer': the test clusters by one variable" "two-way cluster" --mediator migration --cluster exporter,importer
bad "--mediator: 'log\(distance_km\)' is already a regressor" "mediator already in the model" --mediator 'log(distance_km)' --cluster pair
bad "--mediator: 'a:b': each mediator must be a column or an expression" "interaction as mediator" --mediator 'a:b' --cluster pair
bad "--mediator: 'migration \+ \+ x': expected terms joined by '\+'" "empty mediator term" --mediator 'migration + + x' --cluster pair
bad "--term: 'gdp' is no term of the formula" "--term not in the formula" --mediator migration --cluster pair --term gdp
bad "unknown column 'nosuch'" "unknown mediator column" --mediator nosuch --cluster pair
# the offset that stands for the mediators in the model without them is never named to the user
bad "^gravrd: error: --mediator: 'log\(trade - trade\)' is not finite on any of the" "mediator not finite on any row" \
  --mediator 'log(trade - trade)' --cluster pair
bad "--mediator: 'I\(2\*migration\)': each mediator must be a column or an expression such as log\(x\) \(unknown function 'I'" \
  "I() as a mediator" --mediator 'I(2*migration)' --cluster pair
bad "the standard error of the change is 0" "mediator absorbed by the fixed effects" --mediator 'log(exp_gdp)' --cluster pair
bad "--cluster.*required|required.*--cluster" "no --cluster" --mediator migration
case_add "$C" 1 "fail1:--formula: .*one outcome" "two outcomes" mediate --data "$P" --where "$W" --cluster pair --mediator migration \
  --formula "c(log(trade), log(deals)) ~ partner | exporter^month"
cases_run "$C" 4
if [ -s "$TMP/tl.json" ] && json_close "$TMP/tl.json" "$TMP/ts.json" 0 \
   && python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1]))['mediation']['term'] != 'log(distance_km)')" "$TMP/ts.json"
then ok "mediate: --term spelled with spaces names the formula's term (same record, the formula's spelling)"
else fail "mediate: --term spelled with spaces" "$(head -c 300 "$TMP/ts.json" 2>/dev/null)"; fi

for k in migration search both; do
  for n in 1 2 3 4; do [ -f "$TMP/$k.$n.json" ] && "$JCMP" "$TMP/$k.$n.json" "$FX/mediate_$k.expected" | sed "s/^\(not \)\{0,1\}ok - /&[P=$n] /"; done
  for n in 2 3 4; do check_close "mediate $k: $n ranks = 1 rank (1e-10)" "$TMP/$k.1.json" "$TMP/$k.$n.json" 1e-10 --ignore iterations; done
done
for n in 1 3; do [ -f "$TMP/pair.$n.json" ] && "$JCMP" "$TMP/pair.$n.json" "$FX/pairlevel_migration.expected" | sed "s/^\(not \)\{0,1\}ok - /&[P=$n] /"; done
check_close "pair-level: 3 ranks = 1 rank (1e-10)" "$TMP/pair.1.json" "$TMP/pair.3.json" 1e-10
check_close "mediator NaN on some rows: 2 ranks = 1 rank (1e-10)" "$TMP/nan.1.json" "$TMP/nan.2.json" 1e-10 --ignore iterations

# each model of the test is `gravrd estimate` (1e-10): model 1 = the main model, model 2 = with the mediators;
# with a mediator missing on some rows, model 1 = the main model on those rows
/usr/bin/python3 - "$TMP" >"$TMP/py.out" 2>&1 <<'PY'
import json, sys
t = sys.argv[1]
def coefs(r): return {c["term"]: c for c in r["coefficients"]}
def close(a, b, tol=1e-10): return abs(a - b) <= tol * max(abs(a), abs(b))
out = []
def check(name, cond): out.append(("ok - " if cond else "not ok - ") + name)
m = json.load(open(t + "/both.1.json")); e1 = json.load(open(t + "/e1.json")); e2 = json.load(open(t + "/e2.json"))
w, r = m["without"], m["results"][0]
check("model without = estimate: every coefficient and SE", all(close(coefs(w)[k][f], coefs(e1)[k][f])
      for k in coefs(e1) for f in ("estimate", "std_error")) and w["nobs"] == e1["nobs"])
check("model with = estimate with the mediators: every coefficient and SE", all(close(coefs(r)[k][f], coefs(e2)[k][f])
      for k in coefs(e2) for f in ("estimate", "std_error")) and r["nobs"] == e2["nobs"])
md = m["mediation"]
check("std_error_with = the model's clustered SE; delta = b_without - b_with",
      close(md["std_error_with"], coefs(e2)["partner"]["std_error"]) and
      close(md["delta"], coefs(e1)["partner"]["estimate"] - coefs(e2)["partner"]["estimate"], 1e-12))
check("delta(partner) row = the mediation object", close(coefs(r)["delta(partner)"]["estimate"], md["delta"], 0) and
      close(coefs(r)["delta(partner)"]["std_error"], md["std_error"], 0) and r["mediation"] == md)
check("the stacked SE is below the two models' SEs combined without their covariance",
      md["std_error"] < (md["std_error_without"] ** 2 + md["std_error_with"] ** 2) ** 0.5 / 5)
n = json.load(open(t + "/nan.1.json")); e20 = json.load(open(t + "/e20.json"))
check("mediator NaN on some rows: model without = estimate on those rows",
      n["without"]["nobs"] == e20["nobs"] == n["results"][0]["nobs"] < e1["nobs"] and
      all(close(coefs(n["without"])[k]["estimate"], coefs(e20)[k]["estimate"]) for k in coefs(e20)))
print("\n".join(out))
PY
cat "$TMP/py.out"

# ---- unit checks on 1-4 ranks
for n in 1 2 3 4; do
  if CMOCKA_MESSAGE_OUTPUT=TAP mpi $n "$ROOT/build/tests/test_mediation" >"$TMP/u.out" 2>&1 && grep -q '^ok 4 ' "$TMP/u.out"; then
    ok "test_mediation on $n ranks"
  else fail "test_mediation on $n ranks" "$(grep -m2 'not ok' "$TMP/u.out" | tr '\n' ' ')"; fi
done

# ---- configs/table6.yaml: checks on the small panel (the segment pairs at 300 km: its cities are sparse), runs on
# 2 ranks, records equal the commands run directly, and the table has the delta row
sed 's/segpair_100/segpair_300/g' "$ROOT/configs/table6.yaml" >"$TMP/t6.yaml"
n=$("$GR" grid "$TMP/t6.yaml" --data "$P" --dry-run 2>&1 | grep -c -v '^#')
[ "$n" = 6 ] && ok "table6.yaml: 6 specifications" || fail "table6.yaml: 6 specifications" "got $n"
mpi 2 "$GR" grid "$TMP/t6.yaml" --data "$P" --out "$TMP/g" --quiet >"$TMP/g.out" 2>&1 && ok "table6.yaml runs (2 ranks)" \
  || fail "table6.yaml runs (2 ranks)" "$(tail -2 "$TMP/g.out" | tr '\n' ' ')"
/usr/bin/python3 - "$TMP" >"$TMP/py2.out" 2>&1 <<'PY'
import json, sys
t = sys.argv[1]
recs = [json.loads(l) for l in open(t + "/g/results.jsonl")]
med = [r for r in recs if r.get("settings", {}).get("command") == "mediate" or "mediation" in json.dumps(r.get("results", []))]
both = [r for r in med if r["results"][0]["mediation"]["mediator"] == "migration + log(search_index)"]
d = json.load(open(t + "/bothd.json"))["mediation"]
ok = len(med) == 3 and len(both) == 1 and all(r["status"] == "ok" for r in recs) and \
     all(abs(both[0]["results"][0]["mediation"][k] - d[k]) <= 1e-10 * abs(d[k]) for k in ("delta", "std_error", "estimate_with"))
print(("ok - " if ok else "not ok - ") + "table6 grid: 3 mediate records, + both equals gravrd mediate (1e-10)")
PY
cat "$TMP/py2.out"
if "$GR" table "$TMP/g" --config "$TMP/t6.yaml" >"$TMP/t6.md" 2>"$TMP/t6.err" \
   && grep -Eq '^\| Change in Partnership pair \(without - with\) \|  \| [0-9.-]+\**[^|]* \| [0-9.-]+\**[^|]* \| [0-9.-]+' "$TMP/t6.md" \
   && grep -q '^| Observations | 1,000 | 6,000 |' "$TMP/t6.md"; then ok "gravrd table: panels A and B, the delta row"
else fail "gravrd table: panels A and B, the delta row" "$(head -c 300 "$TMP/t6.err"; grep -E 'Change|Observations' "$TMP/t6.md" | tr '\n' ' ')"; fi
