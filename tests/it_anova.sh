#!/usr/bin/env bash
# it_anova.sh: `gravrd anova` (docs/companion.md) on the SYNTHETIC urban-rural fixture
# tests/fixtures/companion/urban_rural_synthetic.csv: every number equal to R's aov / tapply
# (tests/fixtures/companion/make_refs.R) to 1e-8 relative, for two and three groups and a missing value;
# the same output on 1 and 3 ranks, from the CSV and from the panel it imports to (text groups through
# the panel's labels); numeric groups on the simulated panel; the sums of squares add up; one-line errors
# for bad input.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
FX="$ROOT/tests/fixtures/companion"
CSV="$FX/urban_rural_synthetic.csv"
YS=income,online_spending,ecommerce_hours

py_check() { local name=$1 r; shift; r=$(python3 -c "$@" 2>&1); if [ "$r" = ok ]; then ok "$name"; else fail "$name" "$r"; fi; }

# ---- against R
"$GR" anova --csv "$CSV" --y "$YS" --group area --json "$TMP/area.json" >"$TMP/area.txt" 2>"$TMP/area.err"
check_expected "anova by area (3 outcomes, one NA income) equals R's aov" "$TMP/area.json" "$FX/anova_area.expected"
"$GR" anova --csv "$CSV" --y online_spending --group region --json "$TMP/region.json" >/dev/null 2>&1
check_expected "anova by region (3 groups) equals R's aov" "$TMP/region.json" "$FX/anova_region.expected"
if grep -qE '^between +31723.542 +1 ' "$TMP/area.txt" && grep -qE '^within +10423.376 +157 ' "$TMP/area.txt" &&
   grep -qE '^rural +80 ' "$TMP/area.txt" && grep -q '(1 dropped for missing values)' "$TMP/area.txt" &&
   [ "$(grep -c '^total' "$TMP/area.txt")" -eq 3 ] && ! grep -qi nan "$TMP/area.txt" && [ ! -s "$TMP/area.err" ]
then ok "anova prints a table per outcome"; else fail "anova table" "$(head -c 300 "$TMP/area.txt")"; fi
py_check "anova: between + within = total, group counts add to n, on every table (1e-12)" '
import json, sys
bad = []
for f in sys.argv[1:]:
    for t in json.load(open(f))["tables"]:
        b, w, s = t["between"], t["within"], t["total"]
        if abs(b["ss"] + w["ss"] - s["ss"]) > 1e-12 * s["ss"] or b["df"] + w["df"] != s["df"]: bad.append(t["y"])
        if sum(g["n"] for g in t["groups"]) != t["nobs"] or s["df"] != t["nobs"] - 1: bad.append(t["y"])
print("ok" if not bad else bad)' "$TMP/area.json" "$TMP/region.json"

# ---- ranks and the panel path
"$GR" import "$CSV" "$TMP/ur.h5" >/dev/null 2>&1 || fail "import the urban-rural CSV as a panel"
mpi 3 "$GR" anova --csv "$CSV" --y "$YS" --group area --json "$TMP/area3.json" >/dev/null 2>&1
"$GR" anova --data "$TMP/ur.h5" --y "$YS" --group area --json "$TMP/panel1.json" >/dev/null 2>&1
mpi 3 "$GR" anova --data "$TMP/ur.h5" --y "$YS" --group area --json "$TMP/panel3.json" >/dev/null 2>&1
check_close "anova CSV: 3 ranks identical to 1" "$TMP/area3.json" "$TMP/area.json" 0
check_close "anova panel (text groups from its labels): identical to the CSV" "$TMP/panel1.json" "$TMP/area.json" 0 --ignore source
check_close "anova panel: 3 ranks identical to 1" "$TMP/panel3.json" "$TMP/panel1.json" 0
"$GR" anova --data "$TMP/ur.h5" --y online_spending --group area --where 'region == "west"' --json "$TMP/west.json" >/dev/null 2>&1
awk -F, 'NR == 1 || $3 == "west"' "$CSV" >"$TMP/west.csv"
"$GR" anova --csv "$TMP/west.csv" --y online_spending --group area --json "$TMP/westcsv.json" >/dev/null 2>&1
check_close "anova --where 'region == \"west\"' equals the pre-filtered CSV" "$TMP/west.json" "$TMP/westcsv.json" 0 --ignore source
SIM=$(sim_cached) || { fail "simulated panel"; exit 0; }
"$GR" anova --data "$SIM" --y 'log1p(trade)' --group partner --json "$TMP/sim1.json" >/dev/null 2>&1
mpi 3 "$GR" anova --data "$SIM" --y 'log1p(trade)' --group partner --json "$TMP/sim3.json" >/dev/null 2>&1
check_close "anova on the simulated panel (numeric groups): 3 ranks identical to 1" "$TMP/sim3.json" "$TMP/sim1.json" 0
py_check "anova numeric groups: labelled by their values, every row counted" '
import json, sys
t = json.load(open(sys.argv[1]))["tables"][0]
print("ok" if [g["group"] for g in t["groups"]] == ["0", "1"] and t["nobs"] == 1148400 else [g["group"] for g in t["groups"]])' "$TMP/sim1.json"

# numeric-looking group codes in a CSV are labels as written, ordered byte by byte
printf 'g,y\n10,1\n2,2\n10,3\n2,5\n1,4\n1,6\n' >"$TMP/codes.csv"
"$GR" anova --csv "$TMP/codes.csv" --y y --group g --json "$TMP/codes.json" >/dev/null 2>&1
py_check "anova: CSV group codes are labels (\"1\", \"10\", \"2\"), with their counts and means" '
import json, sys
t = json.load(open(sys.argv[1]))["tables"][0]
got = [(g["group"], g["n"], g["mean"]) for g in t["groups"]]
print("ok" if got == [("1", 2, 5.0), ("10", 2, 2.0), ("2", 2, 3.5)] else got)' "$TMP/codes.json"
printf 'g,y\na,1\na,2\nb,3\nb,5\nc,4\n' >"$TMP/single.csv"
"$GR" anova --csv "$TMP/single.csv" --y y --group g >/dev/null 2>"$TMP/single.err"
grep -q "warning: y: group 'c' of g has one row" "$TMP/single.err" && ok "anova warns about a group of one row" ||
  fail "anova warns about a group of one row" "$(head -c 200 "$TMP/single.err")"

# ---- bad input
awk -F, 'NR == 1 || $2 == "urban"' "$CSV" >"$TMP/urban.csv"
printf 'g,y\na,1\nb,2\nc,3\n' >"$TMP/nodf.csv"
printf 'g,y\na,1\na,1\nb,2\nb,2\n' >"$TMP/novar.csv"
{ echo g,y; for i in $(seq 1 1001); do echo "$i,$i"; echo "$i,$((i + 1))"; done; } >"$TMP/many.csv"
A=(anova --csv "$CSV" --y income --group area)
check_one_error "anova: a single group" "--group: only one group \('urban'\) among the 79 rows with a value of 'income'" \
  anova --csv "$TMP/urban.csv" --y income --group area
check_one_error "anova: unknown --y column" "--y: unknown column 'wage' in .*urban_rural_synthetic.csv" anova --csv "$CSV" --y wage --group area
check_one_error "anova: unknown --group column" "--group: unknown column 'province' in" anova --csv "$CSV" --y income --group province
check_one_error "anova: a text outcome" "--y: column 'region' of .* is not numeric" anova --csv "$CSV" --y region --group area
check_one_error "anova: no residual degree of freedom" "y: 3 rows in 3 groups leave no residual degree of freedom" \
  anova --csv "$TMP/nodf.csv" --y y --group g
check_one_error "anova: no variation within groups" "y: no variation within the groups of 'g'" anova --csv "$TMP/novar.csv" --y y --group g
check_one_error "anova: too many groups" "--group: 'g' has 1001 distinct values; at most 1000 groups" anova --csv "$TMP/many.csv" --y y --group g
check_one_error "anova: --y is --group" "--y: 'area' is also --group" anova --csv "$CSV" --y area --group area
check_one_error "anova: --where on a CSV" "--where: needs --data" "${A[@]}" --where 'income > 1'
check_one_error "anova: --csv and --data" "give exactly one of --csv" "${A[@]}" --data "$TMP/ur.h5"
check_one_error "anova: --group missing" "--group COL is required" anova --csv "$CSV" --y income
check_one_error "anova: a missing file" "nosuch.csv: cannot open for reading" anova --csv "$TMP/nosuch.csv" --y y --group g
check_one_error "anova: --json over the input is refused" "output would overwrite the input file" "${A[@]}" --json "$CSV"
check_one_error "anova: a single group (3 ranks, panel)" "only one group \('west'\)" \
  mpi 3 "$GR" anova --data "$TMP/ur.h5" --y income --group region --where 'region == "west"'
check_one_error "anova: unknown panel column (3 ranks)" "--y: unknown column 'wage'" mpi 3 "$GR" anova --data "$TMP/ur.h5" --y wage --group area
# values too large to square: said so (once: "no variation within the groups ... (sum of squares inf)")
/usr/bin/python3 -c "
print('y,g')
for i in range(12): print('%r,%d' % ((i % 5 + 1) * 1e300 + i * 1e299, i % 3))" >"$TMP/huge.csv"
check_one_error "anova: values too large to square" "y: its sums of squares are not finite \(values too large for double precision\)" \
  anova --csv "$TMP/huge.csv" --y y --group g
