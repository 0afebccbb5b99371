#!/usr/bin/env bash
# Fixed-effects OLS against independent references (R lm with FE dummies + sandwich, made by
# tests/fixtures/make_refs.R; fixest's published vignette numbers for the trade data), on 1 and 3
# ranks, and the same results to 1e-10 on 1-4 ranks.
source "$(dirname "$0")/lib.sh"
JCMP="$ROOT/build/tests/jcmp"

# json_close A B TOL: every number outside "timings"/"provenance" agrees to TOL relative
json_close() {
  awk -v tol="$3" '
    FNR == 1 { f++ }
    /"timings"/ { skip = 1 } skip && /}/ { skip = 0; next } skip { next }
    /"provenance"|"read"|"solver"|"peak_rss|"data_bytes/ { next }
    { if (match($0, /-?[0-9][0-9.]*([eE][-+]?[0-9]+)?,?$/)) { v = substr($0, RSTART, RLENGTH); sub(/,$/, "", v);
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
