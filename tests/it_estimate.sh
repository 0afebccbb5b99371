#!/usr/bin/env bash
# Fixed-effects OLS against independent references (R lm with FE dummies + sandwich, made by
# tests/fixtures/make_refs.R; fixest's published vignette numbers for the trade data), on 1 and 3
# ranks, and the same results to 1e-10 on 1-4 ranks.
source "$(dirname "$0")/lib.sh"
[ -x "$JCMP" ] || { fail "comparator $JCMP is built" "run make test"; exit 1; }

# The estimates against the references (1 and 3 ranks) and the rank sweeps (1-4 ranks) run in-process in one
# launch of build/tests/test_commands (tests/lib.sh case_add); their JSON results are checked afterwards.
C="$TMP/cases"
declare -A imported
refcases=()
for exp in "$ROOT"/tests/fixtures/ref/*.expected; do
  case=$(basename "$exp" .expected)
  data=$(sed -n 's/^# data: //p' "$exp")
  line=$(sed -n 's/^# formula: //p' "$exp")
  formula=${line%% | options: *}
  opts=${line#* | options: }
  [ "$opts" = "$line" ] && opts=""
  where=()
  grep -q '^# prefilter: exporter != importer' "$exp" && where=(--where "exporter != importer")
  case "$data" in ../shared/*) need_shared "$case" || continue; src="$ROOT/$data";; *) src="$ROOT/$data";; esac
  h5="$TMP/$(basename "$src" .csv).h5"
  if [ -z "${imported[$h5]:-}" ]; then
    "$GR" import "$src" "$h5" >"$TMP/imp.log" 2>&1 || { fail "import $data" "$(tail -1 "$TMP/imp.log")"; continue; }
    imported[$h5]=1
  fi
  # shellcheck disable=SC2086
  case_add "$C" 1,3 ok "$case [P={P}] runs" estimate --quiet --data "$h5" --formula "$formula" "${where[@]}" $opts \
    --fe-tol 1e-12 --json "$TMP/$case.{P}.json"
  refcases+=("$case:$exp")
done

# the same numbers whatever the number of ranks (1e-10), both solvers, on the unbalanced case
h5="$TMP/case1.h5"
for solver in cholesky qr; do
  case_add "$C" 1,2,3,4 ok "rank run $solver P={P}" estimate --quiet --data "$h5" \
    --formula 'c(y, y2) ~ x1 + x2 | exporter^month + importer^month' --cluster exporter,importer --solver $solver \
    --json "$TMP/rank.$solver.{P}.json"
done

# --split with few values (at most 64: one pass over a short sorted list) and with many (210 pairs: every row
# sorted): the same samples either way, in the same order, the same numbers on 1-3 ranks
case_add "$C" 1,2,3 ok "split by pair, 60 values P={P}" estimate --quiet --data "$h5" --formula 'y ~ x1 + x2' \
  --split pair --where 'x4 < 1.3' --json "$TMP/split60.{P}.json"
case_add "$C" 1,2,3 ok "split by pair, 210 values P={P}" estimate --quiet --data "$h5" --formula 'y ~ x1 + x2' \
  --split pair --json "$TMP/split210.{P}.json"

# at the short list's limit: a column of exactly 64 values (the short list) and one of 65 (sorted), met in a
# scrambled order, negative ones among them, every 97th row missing
for K in 64 65; do
  python3 - "$ROOT/tests/fixtures/ref/case1.csv" "$TMP/g$K.csv" "$K" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
K = int(sys.argv[3])
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]) + ["g"])
    w.writeheader()
    for i, r in enumerate(rows):
        r["g"] = "" if i % 97 == 0 else str((i * 7) % K - 3)
        w.writerow(r)
PY
  "$GR" import "$TMP/g$K.csv" "$TMP/g$K.h5" >"$TMP/imp.log" 2>&1 || fail "import g$K.csv" "$(tail -1 "$TMP/imp.log")"
  case_add "$C" 1,2 ok "split by a column of $K values P={P}" estimate --quiet --data "$TMP/g$K.h5" --formula 'y ~ x1 + x2' \
    --split g --json "$TMP/g$K.{P}.json"
done

# ---- bad input: each a clear one-line error or a named warning, never a crash, hang or NaN table ----
C1="$TMP/case1.h5"
E=(estimate --data "$C1")
case_add "$C" 2 "fail:unknown column 'nosuch'" "unknown column" "${E[@]}" --formula 'y ~ x1 + nosuch | exporter'
case_add "$C" 1 "fail:formula: at character [0-9]+" "malformed formula says where" "${E[@]}" --formula 'y ~ x1 + | exporter'
case_add "$C" 1 "fail:formula: at character" "formula without ~" "${E[@]}" --formula 'y x1'
case_add "$C" 2 "fail:no rows satisfy" "all rows filtered out" "${E[@]}" --formula 'y ~ x1 | exporter' --where 'x1 > 1e9'
case_add "$C" 2 "fail:single cluster" "a cluster variable with one cluster" "${E[@]}" --formula 'y ~ x1 | exporter' \
  --where 'pair == 1' --cluster pair
case_add "$C" 1 "fail:every regressor is constant, collinear or absorbed" "every regressor absorbed" "${E[@]}" --formula 'y ~ x4 | pair'
case_add "$C" 2 "fail:no such file" "missing data file" estimate --data "$TMP/none.h5" --formula 'y ~ x1'
case_add "$C" 1 "fail:expected iid, hc1, cluster, cr2 or cr3" "bad --vcov" "${E[@]}" --formula 'y ~ x1' --vcov robust
case_add "$C" 1 "fail:expected a positive number" "bad --fe-tol" "${E[@]}" --formula 'y ~ x1 | exporter' --fe-tol -1

# a structured panel and the features together (text labels in --where, interaction with a city
# column, several outcomes, --fsplit, two-way clustering): the same on 1-4 ranks to 1e-10
SIM="$TMP/sim.h5"
if "$GR" simulate --out "$SIM" --east 12 --west 15 --months 6 --seed 3 >/dev/null 2>&1; then
  case_add "$C" 1,2,3,4 ok "structured panel P={P} runs" estimate --data "$SIM" --quiet --json "$TMP/sim.{P}.json" \
    --formula 'c(log(trade), deals) ~ partner + partner:exp_gdp + log(distance_km) | exporter^month + importer' \
    --where 'dir == "West to east" || control_type in (1, 2)' --fsplit dir --cluster pair,exporter
else
  fail "simulate a small panel"
fi

cases_run "$C" 4
for rc in "${refcases[@]}"; do
  case=${rc%%:*} exp=${rc#*:}
  for P in 1 3; do
    [ -f "$TMP/$case.$P.json" ] && "$JCMP" "$TMP/$case.$P.json" "$exp" | sed "s/^\(not \)\{0,1\}ok - /&[P=$P] /"
  done
done
for solver in cholesky qr; do
  for P in 2 3 4; do
    check_close "$solver: 1 and $P ranks agree to 1e-10" "$TMP/rank.$solver.1.json" "$TMP/rank.$solver.$P.json" 1e-10
  done
done
for P in 2 3; do
  for n in 60 210; do check_close "split by pair, $n values: 1 and $P ranks agree to 1e-10" "$TMP/split$n.1.json" "$TMP/split$n.$P.json" 1e-10; done
done
# the pairs of the CSV (with x4 < 1.3 for the short list) in sorted order, and each of the 60 samples equal to
# the same pair's sample among the 210
if python3 - "$ROOT/tests/fixtures/ref/case1.csv" "$TMP/split60.1.json" "$TMP/split210.1.json" >"$TMP/split.out" 2>&1 <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
few = json.load(open(sys.argv[2]))["results"]
many = json.load(open(sys.argv[3]))["results"]
want_many = sorted({r["pair"] for r in rows})
want_few = sorted({r["pair"] for r in rows if float(r["x4"]) < 1.3})
got_many = [r["sample"] for r in many]
got_few = [r["sample"].split(";")[0] for r in few]
assert got_many == want_many, ("210 samples", got_many[:3], want_many[:3], len(got_many))
assert got_few == want_few, ("60 samples", got_few[:3], want_few[:3], len(got_few))
by = {r["sample"]: r for r in many}
for r in few:
    o = by[r["sample"].split(";")[0]]
    assert r["nobs"] == o["nobs"], (r["sample"], r["nobs"], o["nobs"])
    for a, b in zip(r["coefficients"], o["coefficients"]):
        for k in ("estimate", "std_error"):
            assert abs(a[k] - b[k]) <= 1e-10 * max(1.0, abs(b[k])), (r["sample"], a["term"], k, a[k], b[k])
print(len(few), len(many))
PY
then ok "split: 60 and 210 samples are the CSV's pairs in order, the 60 equal to their runs among the 210 ($(cat "$TMP/split.out"))"
else fail "split: short list and sorted paths give the same samples" "$(tail -n 2 "$TMP/split.out" | tr '\n' ' ')"; fi
for K in 64 65; do
  check_close "split by a column of $K values: 1 and 2 ranks agree to 1e-10" "$TMP/g$K.1.json" "$TMP/g$K.2.json" 1e-10
  if python3 - "$TMP/g$K.csv" "$TMP/g$K.1.json" >"$TMP/gk.out" 2>&1 <<'PY'
import csv, json, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
res = json.load(open(sys.argv[2]))["results"]
def num(v):
    try: return float(v)
    except ValueError: return math.nan
use = [r for r in rows if all(math.isfinite(num(r[c])) for c in ("y", "x1", "x2", "g"))]
want = sorted({int(r["g"]) for r in use})
got = [int(r["sample"].split("= ")[1]) for r in res]
assert got == want, (got[:5], want[:5], len(got), len(want))
for r in res:
    v = int(r["sample"].split("= ")[1])
    assert r["nobs"] == sum(int(u["g"]) == v for u in use), (v, r["nobs"])
print(len(got))
PY
  then ok "split by a column of $K values: $(cat "$TMP/gk.out") samples, each value's rows, in order"
  else fail "split by a column of $K values: samples and their rows" "$(tail -n 2 "$TMP/gk.out" | tr '\n' ' ')"; fi
done
check_close "cholesky and qr solvers agree to 1e-10" "$TMP/rank.cholesky.1.json" "$TMP/rank.qr.1.json" 1e-10 --ignore solver
printf 'results[0].solver scalapack-qr\nresults[1].solver scalapack-qr\n' >"$TMP/qr.expected"
if "$JCMP" "$TMP/rank.qr.2.json" "$TMP/qr.expected" >"$TMP/qr.out" 2>&1; then ok "json reports the qr solver"
else fail "json reports the qr solver" "$(grep -v '^ok' "$TMP/qr.out" | head -n 2 | tr '\n' ' ')"; fi

# level codes and dense ids (tests/test_levels.c) on several ranks: each rank holds a slice of the rows
for P in 2 3 4; do
  if CMOCKA_MESSAGE_OUTPUT=TAP mpi $P "$ROOT/build/tests/test_levels" >"$TMP/lv.out" 2>&1 && grep -q '^ok 5 ' "$TMP/lv.out" \
       && ! grep -q '^not ok' "$TMP/lv.out"; then ok "level codes and dense ids on $P ranks"
  else fail "level codes and dense ids on $P ranks" "$(grep -m2 'not ok\|rror' "$TMP/lv.out" | tr '\n' ' ')"; fi
done
# the demeaning against a dense solve (tests/test_fe.c): one launch runs it on the first 1, 2, 3 and 4 ranks
if CMOCKA_MESSAGE_OUTPUT=TAP mpi 4 "$ROOT/build/tests/test_fe" >"$TMP/fe.out" 2>&1 && grep -q '^ok 6 ' "$TMP/fe.out" \
     && ! grep '^not ok' "$TMP/fe.out" | grep -qv '# SKIP'; then ok "demeaning, weights, coefficients and warm starts on 1-4 ranks"
else fail "demeaning, weights, coefficients and warm starts on 1-4 ranks" "$(grep -m2 'not ok\|rror' "$TMP/fe.out" | tr '\n' ' ')"; fi

# absorber, fit and model (tests/test_model.c) on 1, 2, 3 and 4 ranks in one launch: the test splits the
# world into the first P ranks for P = 1..4 and checks each against a dense weighted least-squares solve;
# rank 0 prints the TAP lines, the exit status is the worst over the ranks (tests/mpi_cmocka.h)
if CMOCKA_MESSAGE_OUTPUT=TAP mpi 4 "$ROOT/build/tests/test_model" >"$TMP/md.out" 2>&1 \
     && [ "$(grep -c '^ok ' "$TMP/md.out")" -eq 10 ] && ! grep -q '^not ok' "$TMP/md.out"; then
  ok "absorber, fit and model against dense least squares on 1-4 ranks (one launch of 4)"
else fail "absorber, fit and model on 1-4 ranks" "$(grep -m2 'not ok\|rror' "$TMP/md.out" | tr '\n' ' ')"; fi

# named warnings, with a finite table
if mpi 2 "$GR" estimate --data "$C1" --formula 'y ~ x1 + x2 + x4 | exporter^month + pair' --cluster pair >"$TMP/w.out" 2>&1 \
   && grep -q "regressor 'x4' removed: constant or absorbed" "$TMP/w.out" && ! grep -v '^gravrd: warning' "$TMP/w.out" | grep -qiw nan; then
  ok "absorbed regressor: named warning, finite table"; else fail "absorbed regressor: named warning, finite table" "$(head -3 "$TMP/w.out")"; fi
if "$GR" estimate --data "$C1" --formula 'log(y) ~ x1 | exporter' >"$TMP/w.out" 2>&1 && grep -q "rows with missing values removed" "$TMP/w.out" \
   && ! grep -v '^gravrd: warning' "$TMP/w.out" | grep -qiw nan; then ok "log of non-positive values: named warning"; else fail "log of non-positive values: named warning" "$(head -3 "$TMP/w.out")"; fi
if "$GR" estimate --data "$C1" --formula 'y ~ x1 | exporter + month' --where 'month == 3' >"$TMP/w.out" 2>&1 \
   && grep -q "fixed effect 'month' has a single level" "$TMP/w.out"; then ok "single-level fixed effect: named warning"
else fail "single-level fixed effect: named warning" "$(head -3 "$TMP/w.out")"; fi
# the iteration cap: loud warning and converged false, on the slowly converging chain
C3="$TMP/case3_chain.h5"
if "$GR" estimate --data "$C3" --formula 'y ~ x1 + x2 | worker + firm' --fe-maxiter 2 --json "$TMP/cap.json" >"$TMP/w.out" 2>&1 \
   && grep -q "did not converge" "$TMP/w.out" && grep -q '"converged":[[:space:]]*false' "$TMP/cap.json"; then
  ok "iteration cap: warning and converged false"; else fail "iteration cap: warning and converged false" "$(head -3 "$TMP/w.out")"; fi
# the chain converges at the default tolerance with both methods, and both give the reference numbers
for m in cg irons-tuck; do
  if "$GR" estimate --data "$C3" --formula 'y ~ x1 + x2 | worker + firm' --fe-method $m --vcov iid --json "$TMP/chain.$m.json" >/dev/null 2>&1 \
     && grep -q '"converged":[[:space:]]*true' "$TMP/chain.$m.json"; then
    ok "chain graph converges with $m (iterations: $(sed -n 's/.*"iterations":[[:space:]]*\([0-9]*\).*/\1/p' "$TMP/chain.$m.json"))"
    grep -v -E 'p_value|f_stat' "$ROOT/tests/fixtures/ref/case3_iid.expected" > "$TMP/case3_loose.expected"
    "$JCMP" "$TMP/chain.$m.json" "$TMP/case3_loose.expected" | sed "s/^\(not \)\{0,1\}ok - /&[$m, default tolerance] /"
  else fail "chain graph converges with $m"; fi
done

# the structured panel (above): the same on 1-4 ranks to 1e-10
if [ -s "$SIM" ]; then
  for P in 2 3 4; do
    check_close "structured panel, split and two-way: 1 and $P ranks agree to 1e-10" "$TMP/sim.1.json" "$TMP/sim.$P.json" 1e-10
  done
  # pair-level terms and keys are worked out once per pair and spread over the rows: the same model on
  # a copy of the panel where every column is stored per row (dump, then import) gives the same numbers
  M='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
  if "$GR" dump "$SIM" --columns exporter,importer,month,pair,trade,partner,distance_km,exp_province,imp_province \
       | sed '1s/\(^\|,\)pair\(,\|$\)/\1pair_id\2/' >"$TMP/rows.csv" \
     && "$GR" import "$TMP/rows.csv" "$TMP/rows.h5" --exporter exporter --importer importer --time month --pair pair_id >/dev/null 2>&1 \
     && mpi 2 "$GR" estimate --quiet --data "$SIM" --formula "$M" --cluster pair --json "$TMP/pl.json" >/dev/null 2>&1 \
     && mpi 2 "$GR" estimate --quiet --data "$TMP/rows.h5" --formula "$M" --cluster pair --json "$TMP/rl.json" >/dev/null 2>&1; then
    check_close "pair-level terms and keys equal the same columns stored per row (1e-10)" "$TMP/pl.json" "$TMP/rl.json" 1e-10 \
      --ignore data --ignore ratio --ignore ratio_se --ignore ratio_cr1 --ignore leverage_fe --ignore probes --ignore probes_stop \
      --ignore probes_z --ignore probes_z_needed --ignore columns_demeaned  # probe signs, and so the probes used, follow the cluster numbering (pair vs pair_id)
  else
    fail "pair-level against per-row columns runs" "$(tail -1 "$TMP/run.log" 2>/dev/null)"
  fi
fi

# the SSE2 demeaning kernels (forced) give what the AVX2 ones give, on the simulated panel with segments
# and on the unbalanced case without
for d in "$SIM:log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province" \
         "$h5:y ~ x1 + x2 | exporter^month + importer^month"; do
  data=${d%%:*} form=${d#*:}
  mpi 2 "$GR" estimate --quiet --data "$data" --formula "$form" --json "$TMP/avx.json" >/dev/null 2>&1
  GRAVRD_NO_AVX2=1 mpi 2 -x GRAVRD_NO_AVX2 "$GR" estimate --quiet --data "$data" --formula "$form" --json "$TMP/sse.json" >/dev/null 2>&1
  check_close "SSE2 and AVX2 demeaning agree ($(basename "$data"))" "$TMP/avx.json" "$TMP/sse.json" 1e-12
done


# ---- two-way clustering with a negative diagonal: fixest's eigenvalue fix (docs/vcov.md), against R
# (tests/fixtures/twoway/make_negdiag.R: lm with dummies, the documented formula, eigen()), on 1 and 2 ranks
FXT="$ROOT/tests/fixtures/twoway"
if "$GR" import "$FXT/negdiag.csv" "$TMP/negdiag.h5" --exporter exp --importer imp --time month >/dev/null 2>&1; then
  for n in 1 2; do
    mpi "$n" "$GR" estimate --data "$TMP/negdiag.h5" --formula 'y ~ x1 + x2 | exp' --cluster pair,month \
      --json "$TMP/negdiag.$n.json" >/dev/null 2>"$TMP/negdiag.$n.err"
    if /usr/bin/python3 - "$TMP/negdiag.$n.json" "$FXT/negdiag.ref" <<'PY' && grep -q "the two-way clustered variance had a negative diagonal entry" "$TMP/negdiag.$n.err"
import json, sys
ref = dict(l.split() for l in open(sys.argv[2]) if not l.startswith("#"))
c = {x["term"]: x for x in json.load(open(sys.argv[1]))["coefficients"]}
bad = [k for k in ("x1", "x2") for f, key in (("estimate", "coef."), ("std_error", "se."))
       if abs(c[k][f] - float(ref[key + k])) > 1e-8 * abs(float(ref[key + k]))]
sys.exit(1 if bad else 0)
PY
    then ok "two-way variance with a negative diagonal, fixed as fixest does: estimates and SEs = R (1e-8), the warning ($n rank(s))"
    else fail "two-way negative diagonal ($n rank(s))" "$(head -c 300 "$TMP/negdiag.$n.json" 2>/dev/null) $(tail -n 2 "$TMP/negdiag.$n.err")"; fi
  done
else fail "import tests/fixtures/twoway/negdiag.csv"; fi
