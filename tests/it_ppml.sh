#!/usr/bin/env bash
# Poisson PML (`estimate --family poisson`, src/ppml.c) against independent references (R glm with FE
# dummies + sandwich, fixest's fepois conventions: tests/fixtures/ppml/make_ppml_refs.R), fixest's
# published -1.52787 (0.115678), the separation examples of the ppmlhdfe primer, the same numbers on 1-4
# ranks to 1e-10 on the default panel, and bad inputs (one line each).
source "$(dirname "$0")/lib.sh"
[ -x "$JCMP" ] || { fail "comparator $JCMP is built" "run make test"; exit 1; }
FX="$ROOT/tests/fixtures/ppml"
C="$TMP/cases"
declare -A imported
refcases=()
for exp in "$FX"/*.expected; do
  case=$(basename "$exp" .expected)
  data=$(sed -n 's/^# data: //p' "$exp")
  where=$(sed -n 's/^# where: //p' "$exp")
  line=$(sed -n 's/^# formula: //p' "$exp")
  formula=${line%% | options: *}
  opts=${line#* | options: }
  case "$data" in ../shared/*) need_shared "$case" || continue;; esac
  src="$ROOT/$data"
  h5="$TMP/$(basename "$src" .csv).h5"
  if [ -z "${imported[$h5]:-}" ]; then
    "$GR" import "$src" "$h5" >"$TMP/imp.log" 2>&1 || { fail "import $data" "$(tail -1 "$TMP/imp.log")"; continue; }
    imported[$h5]=1
  fi
  wopt=()
  [ -n "$where" ] && wopt=(--where "$where")
  # shellcheck disable=SC2086
  case_add "$C" 1,3 ok "ppml $case [P={P}] runs" estimate --quiet --data "$h5" --formula "$formula" "${wopt[@]}" $opts \
    --fe-tol 1e-12 --ppml-tol 1e-10 --json "$TMP/$case.{P}.json"
  refcases+=("$case:$exp")
done

# the default panel, zeros kept (the benchmark's model): the same numbers on 1-4 ranks
SIM=$(sim_cached) || fail "the default panel"
M='trade ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
case_add "$C" 1,2,3,4 ok "ppml default panel P={P}" estimate --quiet --data "$SIM" --formula "$M" --cluster pair \
  --family poisson --json "$TMP/sim.{P}.json"

# ---- bad input: one clear line each
T="$TMP/fixest_trade.h5"
S1="$TMP/sep1.h5"
if [ -n "${imported[$T]:-}" ]; then
  case_add "$C" 1,2 "fail1:outcome 'Euros - 3e\+06' has 17185 negative values \(e.g. -[0-9.e+]+\): Poisson PML needs an outcome >= 0" \
    "negative outcome P={P}" estimate --data "$T" --formula 'Euros - 3e6 ~ log(dist_km) | Origin' --family poisson
  case_add "$C" 1,2 "fail1:IRLS did not converge within 2 iterations" "iteration cap P={P}" estimate --data "$T" \
    --formula 'Euros ~ log(dist_km) | Origin + Destination' --family poisson --ppml-maxiter 2
fi
case_add "$C" 1,2 "fail1:outcome '0\*y' is 0 on all 6 rows: Poisson PML has nothing to estimate" "all-zero outcome P={P}" \
  estimate --data "$S1" --formula '0 * y ~ x' --family poisson --vcov iid
case_add "$C" 1 "fail1:every observation is separated" "everything separated" estimate --data "$S1" \
  --formula 'y ~ 1 | id' --where 'y == 0 || y == 3' --drop-singletons --family poisson --vcov iid
case_add "$C" 1 "fail1:--family: expected gaussian or poisson, got 'logit'" "bad --family" estimate --data "$S1" \
  --formula 'y ~ x' --family logit
case_add "$C" 1 "fail1:--ppml-tol: expected a positive number" "bad --ppml-tol" estimate --data "$S1" \
  --formula 'y ~ x' --family poisson --ppml-tol 0

cases_run "$C" 4
for rc in "${refcases[@]}"; do
  case=${rc%%:*} exp=${rc#*:}
  for P in 1 3; do
    [ -f "$TMP/$case.$P.json" ] && "$JCMP" "$TMP/$case.$P.json" "$exp" | sed "s/^\(not \)\{0,1\}ok - /&[P=$P] /"
  done
done
for P in 2 3 4; do
  check_close "ppml default panel: 1 and $P ranks agree to 1e-10" "$TMP/sim.1.json" "$TMP/sim.$P.json" 1e-10 \
    --ignore iterations --ignore inner_iterations  # CG stopping counts may differ by one; the numbers do not
done
# the SSE2 kernels and exp (GRAVRD_NO_AVX2=1) give the AVX2 ones' bits: the same JSON numbers exactly
if GRAVRD_NO_AVX2=1 "$GR" estimate --quiet --data "$SIM" --formula "$M" --cluster pair --family poisson \
     --json "$TMP/sim.sse2.json" >"$TMP/sse2.log" 2>&1; then
  check_close "ppml default panel: SSE2 and AVX2 paths give the same numbers (tolerance 0)" "$TMP/sim.1.json" \
    "$TMP/sim.sse2.json" 0
else fail "ppml default panel with GRAVRD_NO_AVX2=1 runs" "$(tail -1 "$TMP/sse2.log")"; fi
# the fe.h entry points IRLS uses (prepared segments, trusted weights, level sums, out-of-place demeaning) give
# the plain path's bits with the rows spread over 3 ranks (tests/test_ppml_fe.c; tests/run.sh runs it on 1)
if [ -x "$ROOT/build/tests/test_ppml_fe" ]; then
  check "test_ppml_fe on 3 ranks" mpi 3 "$ROOT/build/tests/test_ppml_fe"
else fail "test_ppml_fe on 3 ranks" "build/tests/test_ppml_fe not built (make test builds it)"; fi
# the default panel's JSON says what IRLS did
if [ -f "$TMP/sim.1.json" ] && grep -q '"family":[[:space:]]*"poisson"' "$TMP/sim.1.json" \
   && grep -q '"irls_iterations":[[:space:]]*[1-9]' "$TMP/sim.1.json" && grep -q '"separated_relu"' "$TMP/sim.1.json"; then
  ok "ppml JSON: family, IRLS iterations, separation counts"
else fail "ppml JSON: family, IRLS iterations, separation counts"; fi
# a grid with a family axis: the poisson specification gives fepois's published number, the other OLS's
if [ -n "${imported[$T]:-}" ]; then
  cat >"$TMP/g.yaml" <<EOG
data: $T
base:
  formula: "Euros ~ log(dist_km) | Origin + Destination + Product + Year"
  cluster: Origin
axes:
  fam:
    - {label: ols, formula: "log(Euros) ~ log(dist_km) | Origin + Destination + Product + Year"}
    - {label: ppml, family: poisson}
EOG
  if "$GR" grid "$TMP/g.yaml" --out "$TMP/gout" >"$TMP/g.out" 2>&1 \
     && grep -q '"family":[[:space:]]*"poisson".*"estimate":[[:space:]]*-1.52787' "$TMP/gout/results.jsonl" \
     && grep -q '"estimate":[[:space:]]*-2.16987' "$TMP/gout/results.jsonl"; then
    ok "grid: family: poisson runs PPML (-1.52787), the other specification OLS (-2.16988)"
  else fail "grid: family: poisson" "$(tail -2 "$TMP/g.out" | tr '\n' ' ')"; fi
  # the run's count of demeaned columns (manifest) is the sum of the models' own counts, PPML's IRLS included
  want=$(/usr/bin/python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    for r in json.loads(line).get("results", []): n += r["timings"]["columns_demeaned"]
print(n)' "$TMP/gout/results.jsonl" 2>/dev/null)
  got=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["demeaned_columns"])' "$TMP/gout/manifest.json" 2>/dev/null)
  if [ -n "$want" ] && [ "$want" -gt 10 ] && [ "$got" = "$want" ]; then ok "grid: demeaned columns counted with PPML's ($got)"
  else fail "grid: demeaned columns counted with PPML's" "manifest $got, models $want"; fi
  if printf 'data: %s\nbase:\n  formula: "Euros ~ log(dist_km) | Origin"\n  family: logit\n' "$T" >"$TMP/gb.yaml" \
     && ! "$GR" grid "$TMP/gb.yaml" --out "$TMP/gbo" >"$TMP/gb.out" 2>&1 && grep -q "gb.yaml:4: .*logit" "$TMP/gb.out"; then
    ok "grid: a bad family is one line naming the config line"
  else fail "grid: a bad family" "$(head -2 "$TMP/gb.out" | tr '\n' ' ')"; fi
fi

# an outcome so small that the deviance falls below the criterion's 0.1 and IRLS stops where a relative test would
# go on (trade * 1e-100: partner 6e-31 against 0.159 at the outcome's scale): the warning (fixest's criterion is
# kept); at the outcome's scale, and at 1e-9 where the relative change is below the tolerance too, none
SIMW=$(sim_cached --east 5 --west 6 --months 3 --seed 1)
for sc in 1e-100 1e-9 1; do
  "$GR" estimate --data "$SIMW" --family poisson --formula "trade*$sc ~ partner | exporter^month + importer^month" \
    >/dev/null 2>"$TMP/scale.$sc.err"
done
grep -q "IRLS stopped at a deviance of .*, below the 0.1 in the convergence criterion" "$TMP/scale.1e-100.err" &&
  ! grep -q "IRLS stopped at a deviance" "$TMP/scale.1e-9.err" "$TMP/scale.1.err" &&
  ok "PPML: an early stop below the criterion's 0.1 is warned of (trade * 1e-100), not at 1e-9 or the outcome's scale" ||
  fail "PPML small deviance warning" "$(tail -n 2 "$TMP/scale.1e-100.err" "$TMP/scale.1e-9.err")"
