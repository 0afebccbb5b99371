#!/usr/bin/env bash
# it_pairshort.sh: the exact pair-level shortcut of `gravrd grid` (src/pairshort.c, docs/grid.md "The pair-level
# shortcut"). On a simulated panel (90 cities, 12 months): tests/fixtures/pairshort/applies.yaml (balanced
# samples, month-level and pair-level fixed effects, pair-level and time-varying regressors) takes the shortcut
# (manifest columns_shortcut), and its records equal the full computation (--no-merge, which never takes it)
# and `gravrd estimate` to 1e-10, on 1-3 ranks and task groups of 2; skips.yaml (log(trade) with zero cells,
# an unbalanced where clause, weights) takes it only for the one balanced unweighted group (search_index
# with the plain sample) and equals the full computation too.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
P=$(sim_cached --east 40 --west 50 --months 12 --seed 3) || { fail "simulate the panel"; exit 0; }
RES="python3 tests/fixtures/grid/results.py"
D=tests/fixtures/pairshort
one() { tr '\n' '|' <"$1" | head -c 300; }
# gridrun CFG NAME N [ARGS...]: the grid on N ranks into $TMP/NAME; sets rc
gridrun() {
  local cfg=$1 name=$2 n=$3; shift 3
  mpi "$n" "$GR" grid "$D/$cfg.yaml" --data "$P" --out "$TMP/$name" --quiet "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; rc=$?
}
shortcut_cols() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['columns_shortcut'])" "$1/manifest.json"; }

for cfg in applies skips; do
  gridrun $cfg $cfg.r1 1
  gridrun $cfg $cfg.full 1 --no-merge
  if [ $rc != 0 ]; then fail "$cfg: --no-merge runs" "rc=$rc $(one "$TMP/$cfg.full.err")"; continue; fi
  $RES norm "$TMP/$cfg.r1/results.jsonl" "$TMP/$cfg.r1.json" >/dev/null && $RES norm "$TMP/$cfg.full/results.jsonl" "$TMP/$cfg.full.json" >/dev/null ||
    { fail "$cfg: records"; continue; }
  check_close "$cfg: every record with the shortcut = the full computation (--no-merge; 1e-10)" "$TMP/$cfg.r1.json" "$TMP/$cfg.full.json" 1e-10 --ignore iterations
  n=$(shortcut_cols "$TMP/$cfg.r1"); nf=$(shortcut_cols "$TMP/$cfg.full")
  # applies: 8 models x 4 columns, 12 of them taken from the pool (an absorber shared by the two regressor
  # sets); skips: only search_index on the plain sample, 2 bandwidths x (2 regressors + 1 outcome)
  want=$([ $cfg = applies ] && echo 20 || echo 6)
  [ "$n" = "$want" ] && [ "$nf" = 0 ] && ok "$cfg: $want columns by the shortcut, none with --no-merge" ||
    fail "$cfg: columns by the shortcut" "$n (want $want), --no-merge $nf"
done

# the shortcut's records = gravrd estimate's, and the same on 2 and 3 ranks, groups of 2
mkdir -p "$TMP/est"
while IFS=$'\t' read -r -a c; do case_add "$TMP/est.cases" "${c[@]}"; done < <($RES estcases "$TMP/applies.r1/results.jsonl" "$P" "$TMP/est")
cases_run "$TMP/est.cases" 1 >"$TMP/est.tap"
out=; if [ "$(grep -c '^not ok' "$TMP/est.tap")" = 0 ] && out=$($RES estpair "$TMP/applies.r1/results.jsonl" "$TMP/est" "$TMP/g.json" "$TMP/e.json") && [ "$out" = 16 ]; then
  check_close "applies: the 16 records = gravrd estimate's (1e-10)" "$TMP/g.json" "$TMP/e.json" 1e-10 --ignore iterations
else fail "applies: estimate per record" "$out $(grep -m2 '^not ok' "$TMP/est.tap" | tr '\n' '|')"; fi
for run in "r2 2" "r3g2 3 --group-size 2" "r2g2 2 --group-size 2"; do
  set -- $run; name=$1 n=$2; shift 2
  gridrun applies "$name" "$n" "$@"
  if [ $rc != 0 ]; then fail "applies on $n ranks $*" "rc=$rc $(one "$TMP/$name.err")"; continue; fi
  $RES norm "$TMP/$name/results.jsonl" "$TMP/$name.json" >/dev/null
  check_close "applies, $n ranks $*: = 1 rank (1e-10), $(shortcut_cols "$TMP/$name") columns by the shortcut" "$TMP/$name.json" "$TMP/applies.r1.json" 1e-10 --ignore iterations
  [ "$(shortcut_cols "$TMP/$name")" -gt 0 ] || fail "applies, $n ranks $*: the shortcut is taken"
done
