#!/usr/bin/env bash
# Offsets (`estimate --offset EXPR`, `offset:` in a grid): least squares against R's lm(..., offset = o) with
# fixest's feols conventions (tests/fixtures/offset/make_offset_refs.R; the Poisson references are in
# tests/fixtures/ppml/ and run by it_ppml.sh); an offset equals the same model on y - offset; 1 and 3 ranks
# agree to 1e-10 on the default panel (OLS with two outcomes, PPML); the grid key (same numbers as estimate,
# ids unchanged without it); bad inputs, one line each.
source "$(dirname "$0")/lib.sh"
[ -x "$JCMP" ] || { fail "comparator $JCMP is built" "run make test"; exit 1; }
FX="$ROOT/tests/fixtures/offset"
C="$TMP/cases"
declare -A imported
refcases=()
for exp in "$FX"/*.expected; do
  case=$(basename "$exp" .expected)
  data=$(sed -n 's/^# data: //p' "$exp")
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
  # shellcheck disable=SC2086
  case_add "$C" 1,3 ok "offset $case [P={P}] runs" estimate --quiet --data "$h5" --formula "$formula" $opts \
    --fe-tol 1e-12 --json "$TMP/$case.{P}.json"
  refcases+=("$case:$exp")
done

# the default panel: OLS with two outcomes and PPML, each with an offset, on 1 and 3 ranks; the offset equals the
# outcome minus it (OLS), on 1 rank
SIM=$(sim_cached) || fail "the default panel"
RHS='partner | exporter^month + importer^month + exp_province^imp_province'
case_add "$C" 1,3 ok "OLS, two outcomes, offset, default panel P={P}" estimate --quiet --data "$SIM" \
  --formula "c(log(trade), log(deals)) ~ $RHS" --offset 'log(distance_km)' --cluster pair --json "$TMP/ols.{P}.json"
case_add "$C" 1 ok "OLS of log(trade) - log(distance_km), default panel" estimate --quiet --data "$SIM" \
  --formula "log(trade) - log(distance_km) ~ $RHS" --cluster pair --json "$TMP/olsdiff.json"
case_add "$C" 1 ok "OLS of log(trade) with the offset, default panel" estimate --quiet --data "$SIM" \
  --formula "log(trade) ~ $RHS" --offset 'log(distance_km)' --cluster pair --json "$TMP/olsoff.json"
case_add "$C" 1,3 ok "PPML with an offset, default panel P={P}" estimate --quiet --data "$SIM" --family poisson \
  --formula "trade ~ $RHS" --offset 'log(distance_km) / 2' --cluster pair --json "$TMP/ppml.{P}.json"

# ---- bad input: one clear line each (sep1.csv: y 0 0 0 1 2 3, x 1 1 0 0 0 0, id 1 1 2 2 3 3)
S1="$TMP/sep1.h5"
"$GR" import "$ROOT/tests/fixtures/ppml/sep1.csv" "$S1" >"$TMP/imp.log" 2>&1 || fail "import sep1.csv" "$(tail -1 "$TMP/imp.log")"
case_add "$C" 1,2 "fail1:--offset: unknown column 'nosuch'" "unknown column in --offset P={P}" estimate --data "$S1" \
  --formula 'y ~ x' --offset 'log(nosuch)'
case_add "$C" 1,2 "fail1:--offset: 'log\(0 \* x\)' is not finite on any of the 6 rows of Full sample" \
  "--offset not finite anywhere P={P}" estimate --data "$S1" --formula 'y ~ x' --offset 'log(0 * x)'
case_add "$C" 1,2 "fail1:--offset: 'x / 0' is not finite on any of the 6 rows" "--offset not finite anywhere, poisson P={P}" \
  estimate --data "$S1" --formula 'y ~ x' --offset 'x / 0' --family poisson --vcov iid
case_add "$C" 1 "fail1:--offset: .*at character" "malformed --offset" estimate --data "$S1" --formula 'y ~ x' --offset 'log(x'
case_add "$C" 1 "fail1:--offset: 'log\(x\)' is not finite on any of the 2 rows of where: id == 2" \
  "--offset not finite anywhere in a --where sample" estimate --data "$S1" --formula 'y ~ 1' --offset 'log(x)' --where 'id == 2'

cases_run "$C" 3
for rc in "${refcases[@]}"; do
  case=${rc%%:*} exp=${rc#*:}
  for P in 1 3; do
    [ -f "$TMP/$case.$P.json" ] && "$JCMP" "$TMP/$case.$P.json" "$exp" | sed "s/^\(not \)\{0,1\}ok - /&[P=$P] /"
  done
done
check_close "OLS with an offset, two outcomes: 1 and 3 ranks agree to 1e-10" "$TMP/ols.1.json" "$TMP/ols.3.json" 1e-10
check_close "PPML with an offset: 1 and 3 ranks agree to 1e-10" "$TMP/ppml.1.json" "$TMP/ppml.3.json" 1e-10 \
  --ignore iterations --ignore inner_iterations  # CG stopping counts may differ by one; the numbers do not
check_close "OLS: --offset o equals the outcome y - o (1e-10)" "$TMP/olsoff.json" "$TMP/olsdiff.json" 1e-10 \
  --ignore dependent --ignore offset --ignore formula --ignore columns_demeaned
if [ -f "$TMP/ols.1.json" ] && grep -q '"offset":[[:space:]]*"log(distance_km)"' "$TMP/ols.1.json" \
   && [ "$(grep -c '"non_finite":[[:space:]]*[1-9]' "$TMP/ols.1.json")" = 2 ]; then
  ok "JSON: the offset expression; log(0) trade/deals rows counted as non-finite"
else fail "JSON: the offset expression and non-finite counts" "$(grep -E '"offset"|non_finite' "$TMP/ols.1.json" 2>/dev/null | tr '\n' ' ')"; fi
# the offset moves the PPML estimate: without it the coefficient differs
if "$GR" estimate --quiet --data "$SIM" --family poisson --formula "trade ~ $RHS" --cluster pair --json "$TMP/ppml0.json" \
     >"$TMP/p0.out" 2>&1 && ! json_close "$TMP/ppml.1.json" "$TMP/ppml0.json" 1e-6 --ignore offset; then
  ok "PPML: the offset changes the estimates"
else fail "PPML: the offset changes the estimates" "$(tail -2 "$TMP/p0.out" | tr '\n' ' ')"; fi

# ---- grid: offset: as a setting (same numbers as estimate --offset). Ids: a specification without an offset keeps
# the id it had before the key existed (69a5d7e473ac8603 for this formula, from gravrd at 5c11d33); `offset: ~`
# is no offset (the two specifications collide); an offset changes the id
printf 'data: %s\nbase:\n  formula: "log(trade) ~ partner"\naxes:\n  off:\n    - {label: none}\n    - {label: ld, offset: log(distance_km)}\n' \
  "$SIM" >"$TMP/gi.yaml"
if "$GR" grid "$TMP/gi.yaml" --dry-run >"$TMP/gi.out" 2>&1 && grep -q '^69a5d7e473ac8603[[:space:]]off=none' "$TMP/gi.out" \
   && grep -qE '^[0-9a-f]{16}[[:space:]]off=ld.*offset=log\(distance_km\)' "$TMP/gi.out" \
   && ! grep -q '^69a5d7e473ac8603[[:space:]]off=ld' "$TMP/gi.out"; then
  ok "grid ids: unchanged without an offset, changed by one (dry-run lists offset=)"
else fail "grid ids with offset:" "$(head -4 "$TMP/gi.out" | tr '\n' ' ')"; fi
printf '    - {label: unset, offset: ~}\n' >>"$TMP/gi.yaml"
if ! "$GR" grid "$TMP/gi.yaml" --dry-run >"$TMP/gi.out" 2>&1 && grep -q "duplicate id 69a5d7e473ac8603: specifications 1 (off=none) and 3 (off=unset)" "$TMP/gi.out"; then
  ok "grid: offset: ~ is no offset (same id as none)"
else fail "grid: offset: ~" "$(head -2 "$TMP/gi.out" | tr '\n' ' ')"; fi
cat >"$TMP/g.yaml" <<EOG
data: $SIM
base:
  formula: "log(trade) ~ $RHS"
  cluster: pair
axes:
  off:
    - {label: none}
    - {label: log distance, offset: log(distance_km)}
EOG
if "$GR" grid "$TMP/g.yaml" --out "$TMP/gout" >"$TMP/g.out" 2>&1 \
   && grep '"off":"log distance"' "$TMP/gout/results.jsonl" | grep -q '"offset":"log(distance_km)"'; then
  grep '"off":"log distance"' "$TMP/gout/results.jsonl" \
    | sed 's/.*"results":\[\(.*\)\]}$/\1/' >"$TMP/grid_off.json"
  check_close "grid offset: equals estimate --offset (1e-10)" "$TMP/grid_off.json" "$TMP/olsoff.json" 1e-10 \
    --ignore formula --ignore offset --ignore columns_demeaned --ignore absorber_setups --ignore data
else fail "grid with an offset axis runs and records settings.offset" "$(tail -2 "$TMP/g.out" | tr '\n' ' ')"; fi
printf 'data: %s\nbase:\n  formula: "y ~ x"\naxes:\n  o:\n    - {label: a, offset: "log(nosuch)"}\n' "$S1" >"$TMP/gb.yaml"
if ! "$GR" grid "$TMP/gb.yaml" --dry-run >"$TMP/gb.out" 2>&1 && [ "$(grep -c 'error' "$TMP/gb.out")" = 1 ] \
   && grep -q "gb.yaml:6: .*nosuch" "$TMP/gb.out"; then ok "grid: an unknown column in offset: is one line naming the config line"
else fail "grid: unknown column in offset:" "$(head -2 "$TMP/gb.out" | tr '\n' ' ')"; fi
printf 'data: %s\nbase:\n  command: summary\n  options: {vars: y}\n  offset: x\n' "$S1" >"$TMP/gc.yaml"
if ! "$GR" grid "$TMP/gc.yaml" --dry-run >"$TMP/gc.out" 2>&1 && grep -q "gc.yaml:5: offset: " "$TMP/gc.out"; then
  ok "grid: offset: with command: summary is refused naming its line"
else fail "grid: offset: with command: summary" "$(head -2 "$TMP/gc.out" | tr '\n' ' ')"; fi
