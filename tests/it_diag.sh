#!/usr/bin/env bash
# it_diag.sh: `gravrd diag` (docs/companion.md) on the SYNTHETIC Gansu-like fixture
# tests/fixtures/companion/gansu_synthetic.csv: every number equal to R's (cor.test, lm, VIF by auxiliary
# lm, ridge written out from its formula and MASS::lm.ridge; tests/fixtures/companion/make_refs.R) to 1e-8
# relative, raw, min-max (poverty reversed) and z-scored; the same output on 1 and 3 ranks, from the CSV
# and from the panel it imports to; properties that tie the parts together (ridge at k = 0 is OLS, the
# standardized coefficients do not depend on the normalisation, --normalized reads back); the trace
# plot; listwise deletion; on the simulated panel, 1 and 3 ranks; one-line errors for bad input.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
FX="$ROOT/tests/fixtures/companion"
CSV="$FX/gansu_synthetic.csv"
X=agri_income_growth,ec_transaction_index,ec_development_index,gdp_per_capita
GRID=0,0.01,0.05,0.1,0.2,0.5,1
BASE=(diag --y poverty --x "$X" --k 0.05 --k-grid "$GRID" --quiet)

# py: a small Python check on JSON files; prints "ok" or the reason
py() { python3 -c "$1" "${@:2}" 2>&1; }
py_check() { local name=$1 r; shift; r=$(py "$@"); if [ "$r" = ok ]; then ok "$name"; else fail "$name" "$r"; fi; }

# ---- against R (1e-8 relative; tests/fixtures/companion/*.expected)
"$GR" "${BASE[@]}" --csv "$CSV" --json "$TMP/raw.json" --trace "$TMP/trace.svg" >"$TMP/raw.txt" 2>"$TMP/raw.err"
check_expected "diag raw data equals R (cor.test, lm, VIF, ridge formula, lm.ridge)" "$TMP/raw.json" "$FX/diag_raw.expected"
"$GR" "${BASE[@]}" --csv "$CSV" --normalize minmax --reverse poverty --json "$TMP/minmax.json" \
  --normalized "$TMP/norm.csv" >/dev/null 2>&1
check_expected "diag --normalize minmax --reverse poverty equals R" "$TMP/minmax.json" "$FX/diag_minmax.expected"
"$GR" "${BASE[@]}" --csv "$CSV" --normalize zscore --json "$TMP/zscore.json" >/dev/null 2>&1
check_expected "diag --normalize zscore equals R" "$TMP/zscore.json" "$FX/diag_zscore.expected"

# ---- the printed table
if grep -q '^OLS: R2 0.97783' "$TMP/raw.txt" && grep -qE '^ec_development_index +-88.29' "$TMP/raw.txt" &&
   grep -q '^ridge at k = 0.05: R2 0.916341' "$TMP/raw.txt" && grep -q '^ridge trace' "$TMP/raw.txt" &&
   grep -q 'VIF' "$TMP/raw.txt" && ! grep -qi 'nan' "$TMP/raw.txt"; then ok "diag prints the OLS, trace and ridge tables"
else fail "diag table" "$(head -c 300 "$TMP/raw.txt")"; fi
"$GR" "${BASE[@]}" --csv "$CSV" --json - >"$TMP/stdout.json" 2>/dev/null
py_check "diag --json -: only JSON on stdout, the same numbers" '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
print("ok" if a["ols"] == b["ols"] and a["ridge_trace"] == b["ridge_trace"] else "differs")' "$TMP/stdout.json" "$TMP/raw.json"

# ---- properties
py_check "ridge at k = 0 is OLS; the trace at k = 0.05 is the ridge at --k 0.05 (1e-12)" '
import json, sys
d = json.load(open(sys.argv[1]))
t0, t2, o, r = d["ridge_trace"][0], d["ridge_trace"][2], d["ols"], d["ridge"]
def close(a, b): return abs(a - b) <= 1e-12 * max(abs(a), abs(b))
bad = [(c1["term"], k) for A, B in ((t0, o), (t2, r)) for c1, c2 in zip(A["coefficients"], B["coefficients"])
       for k in ("estimate", "std_error", "t_value", "p_value") if not close(c1[k], c2[k])]
print("ok" if not bad and t0["k"] == 0 and t2["k"] == 0.05 else bad)' "$TMP/raw.json"
py_check "standardized ridge coefficients, R2 and VIFs do not depend on the normalisation (reversed y flips the sign)" '
import json, sys
raw, mm, zs = (json.load(open(f)) for f in sys.argv[1:4])
bad = []
for i in range(7):
    for c0, c1, c2 in zip(*(d["ridge_trace"][i]["coefficients"][1:] for d in (raw, mm, zs))):
        for other, sign in ((c1, -1), (c2, 1)):
            if abs(sign * other["std_estimate"] - c0["std_estimate"]) > 1e-9 * abs(c0["std_estimate"]) or \
               abs(other["vif"] - c0["vif"]) > 1e-9 * c0["vif"]: bad.append((i, c0["term"]))
    if abs(raw["ridge_trace"][i]["r2"] - zs["ridge_trace"][i]["r2"]) > 1e-12: bad.append((i, "r2"))
print("ok" if not bad else bad)' "$TMP/raw.json" "$TMP/minmax.json" "$TMP/zscore.json"
"$GR" diag --csv "$TMP/norm.csv" --y poverty --x "$X" --k 0.05 --quiet --json "$TMP/reread.json" >/dev/null 2>&1
py_check "--normalized writes the analysed rows: in [0, 1], each column spans 0..1, and reads back to the same fit" '
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cols = {k: [float(r[k]) for r in rows] for k in rows[0]}
a, b = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
ok = len(rows) == 8 and all(min(v) == 0 and max(v) == 1 for v in cols.values())
ok = ok and all(abs(x["estimate"] - y["estimate"]) <= 1e-12 * abs(x["estimate"]) + 1e-15
                for x, y in zip(a["ridge"]["coefficients"], b["ridge"]["coefficients"]))
print("ok" if ok else "differs")' "$TMP/norm.csv" "$TMP/minmax.json" "$TMP/reread.json"
py_check "--trace: an SVG with one line per regressor over the 7 k values" '
import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1]); pl = d.getElementsByTagName("polyline")
n = [len(p.getAttribute("points").split()) for p in pl]
print("ok" if len(pl) == 4 and n == [7] * 4 and b"gdp_per_capita" in open(sys.argv[1], "rb").read() else (len(pl), n))' "$TMP/trace.svg"

# ---- listwise deletion: a row with a missing regressor is dropped and counted
{ head -n 4 "$CSV"; sed -n 5p "$CSV" | awk -F, -v OFS=, '{ $4 = "NA"; print }'; tail -n +6 "$CSV"; } >"$TMP/na.csv"
{ head -n 4 "$CSV"; tail -n +6 "$CSV"; } >"$TMP/drop.csv"
"$GR" diag --csv "$TMP/na.csv" --y poverty --x "$X" --quiet --json "$TMP/na.json" >/dev/null 2>&1
"$GR" diag --csv "$TMP/drop.csv" --y poverty --x "$X" --quiet --json "$TMP/drop.json" >/dev/null 2>&1
py_check "a missing value drops its row (n 7, 1 dropped), as if it were absent" '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print("ok" if a["nobs"] == 7 and a["n_dropped_missing"] == 1 and a["ols"] == b["ols"] else (a["nobs"], a["n_dropped_missing"]))' \
  "$TMP/na.json" "$TMP/drop.json"

# ---- ranks and the panel path: identical output (exactly, but for provenance and the source's name)
"$GR" import "$CSV" "$TMP/gansu.h5" >/dev/null 2>&1 || fail "import the Gansu CSV as a panel"
mpi 3 "$GR" "${BASE[@]}" --csv "$CSV" --json "$TMP/csv3.json" >/dev/null 2>&1
mpi 3 "$GR" "${BASE[@]}" --data "$TMP/gansu.h5" --json "$TMP/panel3.json" >/dev/null 2>&1
"$GR" "${BASE[@]}" --data "$TMP/gansu.h5" --json "$TMP/panel1.json" >/dev/null 2>&1
check_close "diag CSV: 3 ranks identical to 1 rank" "$TMP/csv3.json" "$TMP/raw.json" 0
check_close "diag panel: 1 rank identical to the CSV" "$TMP/panel1.json" "$TMP/raw.json" 0 --ignore source
check_close "diag panel: 3 ranks (8 rows spread over them) identical to 1 rank" "$TMP/panel3.json" "$TMP/panel1.json" 0
SIM=$(sim_cached) || { fail "simulated panel"; exit 0; }
SX=("log(distance_km)",partner,exp_gdp_per_capita,imp_gdp_per_capita)
"$GR" diag --data "$SIM" --y 'log(trade)' --x "${SX[0]}" --k 0.1 --where 'month <= 24' --quiet --json "$TMP/sim1.json" >/dev/null 2>&1
mpi 3 "$GR" diag --data "$SIM" --y 'log(trade)' --x "${SX[0]}" --k 0.1 --where 'month <= 24' --quiet --json "$TMP/sim3.json" >/dev/null 2>&1
check_close "diag on the simulated panel (expressions, --where): 3 ranks identical to 1" "$TMP/sim3.json" "$TMP/sim1.json" 0
py_check "diag on the simulated panel: log(0) trade dropped as missing, some rows kept" '
import json, sys
d = json.load(open(sys.argv[1]))
print("ok" if d["nobs"] > 1000 and d["n_dropped_missing"] >= 0 and d["source"].endswith("where month <= 24") else d["source"])' "$TMP/sim1.json"

# ---- bad input: non-zero, one error line naming the problem
printf 'y,a,b,c\n1,2,3,5\n2,1,4,5\n4,3,1,4\n5,5,2,7\n7,4,6,10\n' >"$TMP/collin.csv"   # c = a + b
printf 'y,a,b\n1,2,3\n2,2,4\n4,2,1\n5,2,2\n' >"$TMP/const.csv"
printf 'y,a,b\n1,2,3\n2,1,4\n4,3,1\n' >"$TMP/few.csv"
printf 'y,a,b\n3,1,1\n5,2,1\n6,2,2\n9,4,1\n10,4,2\n' >"$TMP/perfect.csv"  # y = 1 + 2a + b exactly
printf 'y,a,b\n1,urban,3\n2,rural,4\n4,urban,1\n5,rural,2\n' >"$TMP/text.csv"
D=(diag --csv "$CSV" --y poverty --x "$X")
check_one_error "diag: unknown --y column" "--y: unknown column 'nosuch' in .*gansu_synthetic.csv" diag --csv "$CSV" --y nosuch --x "$X"
check_one_error "diag: unknown --x column" "--x: unknown column 'gdp' in" diag --csv "$CSV" --y poverty --x gdp
check_one_error "diag: a text column as a regressor" "--x: column 'a' of .* is not numeric \(line 2: 'urban'\)" diag --csv "$TMP/text.csv" --y y --x a,b
check_one_error "diag: too few rows" "too few rows: 3 complete rows for 2 regressor\(s\)" diag --csv "$TMP/few.csv" --y y --x a,b
check_one_error "diag: a constant column" "^gravrd: error: a: constant over the 4 rows" diag --csv "$TMP/const.csv" --y y --x a,b
check_one_error "diag: a constant column with --normalize minmax" "a: constant over the 4 rows \(2\): cannot normalise" \
  diag --csv "$TMP/const.csv" --y y --x a,b --normalize minmax
check_one_error "diag: collinear regressors" "c: a linear combination of the regressors before it" diag --csv "$TMP/collin.csv" --y y --x a,b,c
check_one_error "diag: a perfect fit has no standard errors" "a perfect fit at k = 0" diag --csv "$TMP/perfect.csv" --y y --x a,b
check_one_error "diag: k < 0" "--k: expected a number >= 0, got '-0.1'" "${D[@]}" --k -0.1
check_one_error "diag: --k-grid with a negative k" "--k-grid: expected k >= 0, got '-1'" "${D[@]}" --k-grid 0,-1
check_one_error "diag: --k-grid not increasing" "--k-grid: values must increase" "${D[@]}" --k-grid 0.5,0.1
check_one_error "diag: --k-grid FROM:TO:STEP with step 0" "--k-grid: expected FROM:TO:STEP" "${D[@]}" --k-grid 0:1:0
check_one_error "diag: --k-grid too long" "--k-grid: '0:1:0.0001' gives 10001 values; at most 1001" "${D[@]}" --k-grid 0:1:0.0001
check_one_error "diag: --trace without --k-grid" "--trace: needs --k-grid" "${D[@]}" --trace "$TMP/t.svg"
check_one_error "diag: --csv and --data" "give exactly one of --csv" "${D[@]}" --data "$TMP/gansu.h5"
check_one_error "diag: neither --csv nor --data" "give exactly one of --csv" diag --y poverty --x "$X"
check_one_error "diag: --where on a CSV" "--where: needs --data" "${D[@]}" --where 'year > 2012'
check_one_error "diag: --y among --x" "--x: 'poverty' is also --y" diag --csv "$CSV" --y poverty --x poverty,gdp_per_capita
check_one_error "diag: --reverse without --normalize" "--reverse: needs --normalize" "${D[@]}" --reverse poverty
check_one_error "diag: --reverse of a column not analysed" "--reverse: 'year' is neither" "${D[@]}" --normalize minmax --reverse year
check_one_error "diag: unknown --normalize" "--normalize: expected none, minmax or zscore" "${D[@]}" --normalize rank
check_one_error "diag: a missing file" "nosuch.csv: cannot open for reading" diag --csv "$TMP/nosuch.csv" --y y --x a
check_one_error "diag: --json into a missing directory" "cannot create|No such file" "${D[@]}" --json "$TMP/no/dir/d.json"
check_one_error "diag: --json over the input CSV is refused" "output would overwrite the input file" "${D[@]}" --json "$CSV"
check_one_error "diag: --trace over the input panel is refused" "output would overwrite the input file" \
  diag --data "$TMP/gansu.h5" --y poverty --x "$X" --k-grid 0,1 --trace "$TMP/gansu.h5"
check_one_error "diag: unknown panel column (3 ranks)" "--x: unknown column 'nosuch'" mpi 3 "$GR" diag --data "$TMP/gansu.h5" --y poverty --x nosuch
check_one_error "diag: collinear regressors (3 ranks)" "c: a linear combination" mpi 3 "$GR" diag --csv "$TMP/collin.csv" --y y --x a,b,c
check_one_error "diag: k < 0 (3 ranks)" "--k: expected a number >= 0" mpi 3 "$GR" "${D[@]}" --k -1
if [ "$(md5sum <"$CSV")" = "$(git -C "$ROOT" show HEAD:tests/fixtures/companion/gansu_synthetic.csv 2>/dev/null | md5sum)" ] ||
   ! git -C "$ROOT" cat-file -e HEAD:tests/fixtures/companion/gansu_synthetic.csv 2>/dev/null; then ok "the input CSV is unchanged"
else fail "the input CSV is unchanged" "differs from the committed fixture"; fi
ls "$FX" "$TMP" | grep -q '\.tmp\.' && fail "no temporary files left" "$(ls "$FX" "$TMP" | grep '\.tmp\.')" || ok "no temporary files left"

# values whose squares leave double's range: one error line (once: inf and -nan printed, exit 0), or fine
# once normalised
/usr/bin/python3 -c "
import random
random.seed(3)
print('y,big,tiny,x2')
for i in range(48):
    y, x2, u = random.gauss(0, 1), random.gauss(0, 1), random.gauss(0, 1)
    print('%r,%r,%r,%r' % (y, (0.5 * y + u) * 1e300, (0.5 * y - u) * 1e-300, x2))" >"$TMP/huge.csv"
check_one_error "diag: values near 1e300 without normalisation" "big: values of size .*e\+300: their products and squares leave double's range" \
  diag --csv "$TMP/huge.csv" --y y --x big,x2
check_one_error "diag: values near 1e-300 without normalisation" "tiny: values of size .*e-30[01]: their products and squares leave double's range" \
  diag --csv "$TMP/huge.csv" --y y --x tiny,x2
if "$GR" diag --csv "$TMP/huge.csv" --y y --x big,x2 --normalize zscore --json "$TMP/huge.json" >"$TMP/huge.out" 2>&1 &&
   ! grep -qiE 'nan|inf' "$TMP/huge.out"; then ok "diag: the same columns with --normalize zscore: finite numbers"
else fail "diag: huge values normalised" "$(tail -n 3 "$TMP/huge.out")"; fi
