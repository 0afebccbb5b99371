#!/usr/bin/env bash
# Fixed-effects OLS against independent references (R lm with FE dummies + sandwich, made by
# tests/fixtures/make_refs.R; fixest's published vignette numbers for the trade data), on 1 and 3
# ranks, and the same results to 1e-10 on 1-4 ranks.
source "$(dirname "$0")/lib.sh"
JCMP="$ROOT/build/tests/jcmp"
[ -x "$JCMP" ] || { fail "comparator $JCMP is built" "run make test"; exit 1; }

# json_close A B TOL: every number outside "timings"/"provenance" agrees to TOL relative
json_close() {
  awk -v tol="$3" '
    FNR == 1 { f++; rest = 0 }
    /"timings"/ { skip = 1 } skip && /}/ { skip = 0; next } skip { next }
    /"provenance"/ { rest = 1 } rest { next }  # the provenance object comes last
    /"provenance"|"read"|"solver"|"peak_rss|"data_bytes|"replicated_table_bytes/ { next }
    { if (match($0, /-?[0-9][0-9.]*([eE][-+]?[0-9]+)?,?$/)) { v = substr($0, RSTART, RLENGTH); sub(/,$/, "", v);
        v += 0  # numbers, not strings, in the comparisons below
        if (f == 1) a[FNR] = v; else { n++; d = v - a[FNR]; if (d < 0) d = -d; s = (a[FNR] < 0 ? -a[FNR] : a[FNR]);
          if (d > tol * (s > 1e-300 ? s : 1)) { bad++; if (bad < 4) print "# differ at line " FNR ": " a[FNR] " vs " v } } } }
    END { exit (bad > 0 || n == 0) }' "$1" "$2"
}

declare -A imported
for exp in "$ROOT"/tests/fixtures/ref/*.expected; do
  case=$(basename "$exp" .expected)
  data=$(sed -n 's/^# data: //p' "$exp")
  line=$(sed -n 's/^# formula: //p' "$exp")
  formula=${line%% | options: *}
  opts=${line#* | options: }
  [ "$opts" = "$line" ] && opts=""
  where=""
  grep -q '^# prefilter: exporter != importer' "$exp" && where="exporter != importer"
  case "$data" in ../shared/*) need_shared "$case" || continue; src="$ROOT/$data";; *) src="$ROOT/$data";; esac
  h5="$TMP/$(basename "$src" .csv).h5"
  if [ -z "${imported[$h5]:-}" ]; then
    "$GR" import "$src" "$h5" >"$TMP/imp.log" 2>&1 || { fail "import $data" "$(tail -1 "$TMP/imp.log")"; continue; }
    imported[$h5]=1
  fi
  for P in 1 3; do
    # shellcheck disable=SC2086
    if mpi $P "$GR" estimate --quiet --data "$h5" --formula "$formula" ${where:+--where "$where"} $opts \
         --fe-tol 1e-12 --json "$TMP/$case.$P.json" >"$TMP/run.log" 2>&1; then
      "$JCMP" "$TMP/$case.$P.json" "$exp" | sed "s/^\(not \)\{0,1\}ok - /&[P=$P] /"
    else
      fail "$case [P=$P] runs" "$(tail -2 "$TMP/run.log" | tr '\n' ' ')"
    fi
  done
done

# the same numbers whatever the number of ranks (1e-10), both solvers, on the unbalanced case
h5="$TMP/case1.h5"
for solver in cholesky qr; do
  for P in 1 2 3 4; do
    mpi $P "$GR" estimate --quiet --data "$h5" --formula 'c(y, y2) ~ x1 + x2 | exporter^month + importer^month' \
      --cluster exporter,importer --solver $solver --json "$TMP/rank.$solver.$P.json" >"$TMP/run.log" 2>&1 \
      || fail "rank run $solver P=$P" "$(tail -1 "$TMP/run.log")"
  done
  for P in 2 3 4; do
    if json_close "$TMP/rank.$solver.1.json" "$TMP/rank.$solver.$P.json" 1e-10; then ok "$solver: 1 and $P ranks agree to 1e-10"
    else fail "$solver: 1 and $P ranks agree to 1e-10"; fi
  done
done
if json_close "$TMP/rank.cholesky.1.json" "$TMP/rank.qr.1.json" 1e-10; then ok "cholesky and qr solvers agree to 1e-10"
else fail "cholesky and qr solvers agree to 1e-10"; fi
grep -q '"solver":.*"scalapack-qr"' "$TMP/rank.qr.2.json" && ok "json reports the qr solver" || fail "json reports the qr solver"

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
# world into the first P ranks for P = 1..4 and checks each against a dense weighted least-squares solve
if CMOCKA_MESSAGE_OUTPUT=TAP mpi 4 "$ROOT/build/tests/test_model" >"$TMP/md.out" 2>&1 \
     && [ "$(grep -c '^ok ' "$TMP/md.out")" -eq 36 ] && ! grep -q '^not ok' "$TMP/md.out"; then
  ok "absorber, fit and model against dense least squares on 1-4 ranks (one launch of 4)"
else fail "absorber, fit and model on 1-4 ranks" "$(grep -m2 'not ok\|rror' "$TMP/md.out" | tr '\n' ' ')"; fi

# ---- bad input: each a clear one-line error or a named warning, never a crash, hang or NaN table ----
C1="$TMP/case1.h5"
check_fails "unknown column" "unknown column 'nosuch'" mpi 2 "$GR" estimate --data "$C1" --formula 'y ~ x1 + nosuch | exporter'
check_fails "malformed formula says where" "formula: at character [0-9]+" "$GR" estimate --data "$C1" --formula 'y ~ x1 + | exporter'
check_fails "formula without ~" "formula: at character" "$GR" estimate --data "$C1" --formula 'y x1'
check_fails "all rows filtered out" "no rows satisfy" mpi 2 "$GR" estimate --data "$C1" --formula 'y ~ x1 | exporter' --where 'x1 > 1e9'
check_fails "a cluster variable with one cluster" "single cluster" mpi 2 "$GR" estimate --data "$C1" --formula 'y ~ x1 | exporter' --where 'pair == 1' --cluster pair
check_fails "every regressor absorbed" "every regressor is constant, collinear or absorbed" "$GR" estimate --data "$C1" --formula 'y ~ x4 | pair'
check_fails "missing data file" "no such file" mpi 2 "$GR" estimate --data "$TMP/none.h5" --formula 'y ~ x1'
check_fails "bad --vcov" "expected iid, hc1 or cluster" "$GR" estimate --data "$C1" --formula 'y ~ x1' --vcov robust
check_fails "bad --fe-tol" "expected a positive number" "$GR" estimate --data "$C1" --formula 'y ~ x1 | exporter' --fe-tol -1
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

# a structured panel and the features together (text labels in --where, interaction with a city
# column, several outcomes, --fsplit, two-way clustering): the same on 1-4 ranks to 1e-10
SIM="$TMP/sim.h5"
if "$GR" simulate --out "$SIM" --east 12 --west 15 --months 6 --seed 3 >/dev/null 2>&1; then
  for P in 1 2 3 4; do
    mpi $P "$GR" estimate --data "$SIM" --quiet --json "$TMP/sim.$P.json" \
      --formula 'c(log(trade), deals) ~ partner + partner:exp_gdp + log(distance_km) | exporter^month + importer' \
      --where 'dir == "West to east" || control_type in (1, 2)' --fsplit dir --cluster pair,exporter >"$TMP/run.log" 2>&1 \
      || fail "structured panel P=$P runs" "$(tail -1 "$TMP/run.log")"
  done
  for P in 2 3 4; do
    if json_close "$TMP/sim.1.json" "$TMP/sim.$P.json" 1e-10; then ok "structured panel, split and two-way: 1 and $P ranks agree to 1e-10"
    else fail "structured panel, split and two-way: 1 and $P ranks agree to 1e-10"; fi
  done
  # pair-level terms and keys are worked out once per pair and spread over the rows: the same model on
  # a copy of the panel where every column is stored per row (dump, then import) gives the same numbers
  M='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
  if "$GR" dump "$SIM" --columns exporter,importer,month,pair,trade,partner,distance_km,exp_province,imp_province \
       | sed '1s/\(^\|,\)pair\(,\|$\)/\1pair_id\2/' >"$TMP/rows.csv" \
     && "$GR" import "$TMP/rows.csv" "$TMP/rows.h5" --exporter exporter --importer importer --time month --pair pair_id >/dev/null 2>&1 \
     && mpi 2 "$GR" estimate --quiet --data "$SIM" --formula "$M" --cluster pair --json "$TMP/pl.json" >/dev/null 2>&1 \
     && mpi 2 "$GR" estimate --quiet --data "$TMP/rows.h5" --formula "$M" --cluster pair --json "$TMP/rl.json" >/dev/null 2>&1; then
    if json_close "$TMP/pl.json" "$TMP/rl.json" 1e-10; then
      ok "pair-level terms and keys equal the same columns stored per row (1e-10)"
    else fail "pair-level terms and keys equal the same columns stored per row (1e-10)"; fi
  else
    fail "pair-level against per-row columns runs" "$(tail -1 "$TMP/run.log" 2>/dev/null)"
  fi
else
  fail "simulate a small panel"
fi

# the SSE2 demeaning kernels (forced) give what the AVX2 ones give, on the simulated panel with segments
# and on the unbalanced case without
for d in "$SIM:log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province" \
         "$h5:y ~ x1 + x2 | exporter^month + importer^month"; do
  data=${d%%:*} form=${d#*:}
  mpi 2 "$GR" estimate --quiet --data "$data" --formula "$form" --json "$TMP/avx.json" >/dev/null 2>&1
  GRAVRD_NO_AVX2=1 mpi 2 -x GRAVRD_NO_AVX2 "$GR" estimate --quiet --data "$data" --formula "$form" --json "$TMP/sse.json" >/dev/null 2>&1
  if json_close "$TMP/avx.json" "$TMP/sse.json" 1e-12; then ok "SSE2 and AVX2 demeaning agree ($(basename "$data"))"
  else fail "SSE2 and AVX2 demeaning agree ($(basename "$data"))"; fi
done

