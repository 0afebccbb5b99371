#!/usr/bin/env bash
# it_import_cols.sh: `gravrd import --cities FILE --city-key COL` (a city table's columns into /cities) and
# `--pair-columns a,b` (CSV columns constant within a pair into /pairs); docs/format.md, "CSV import rules".
# 1. tests/fixtures/import_cols: a 4-city panel and its city table (with a city the panel lacks) import on
#    1 and 3 ranks to the tables written out by hand in expect_*.csv; the bad inputs (a city missing from
#    the table, a duplicate key, an unknown key column, a reserved column name, a pair column that varies
#    within a pair, misused options) fail with exactly one error line, the same on 1 and 3 ranks.
# 2. Round trip: a simulated panel's rows with its pair columns, and its cities table, written by
#    `gravrd dump`, imported back on 1 and 3 ranks; the study's models (Table 3 with segpair_100, Table 5's
#    partner*imp_hi_minority_share_west, Table 6 panel A) give the original file's estimates to 1e-10, on
#    1 and 3 ranks. A city table with one city's minority share changed must change Table 5's estimate
#    (the comparison can fail).
source "$(dirname "$0")/lib.sh"
export LC_ALL=C
FX="$ROOT/tests/fixtures/import_cols"
ere() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }
same() { if cmp -s "$1" "$2"; then ok "$3"; else fail "$3" "$(diff "$2" "$1" 2>&1 | head -4 | tr '\n' ' ')"; fi; }

# ---- 1. the small fixture ----
C="$TMP/cases"
IMP=(--exporter origin --importer destination --time month)
GOOD=("${IMP[@]}" --pair-columns partner,dist,route --cities "$FX/cities.csv" --city-key city_name --city-string adcode)
case_add "$C" 1,3 "out:$TMP/small{P}.out" "fixture: import with --cities and --pair-columns ({P} ranks)" \
  import "$FX/panel.csv" "$TMP/small{P}.h5" "${GOOD[@]}"
for t in panel cities pairs; do
  case_add "$C" 1,3 "out:$TMP/small{P}.$t" "fixture: dump the $t table ({P} ranks)" dump "$TMP/small{P}.h5" --table $t
done
case_add "$C" 1,3 ok "fixture: check ({P} ranks)" check "$TMP/small{P}.h5"
case_add "$C" 1,3 ok "fixture: import with --cities alone ({P} ranks)" import "$FX/panel.csv" "$TMP/conly{P}.h5" "${IMP[@]}" \
  --cities "$FX/cities.csv" --city-key city_name
case_add "$C" 1,3 ok "fixture: check, --cities alone (rows sorted by exporter; {P} ranks)" check "$TMP/conly{P}.h5"
# bad inputs: NAME, the message after "gravrd: error: ", the arguments after the output
bad() { local name=$1 msg=$2; shift 2
  case_add "$C" 1,3 "fail1:^$(ere "gravrd: error: $msg")\$" "$name ({P} ranks)" import "$@"; }
bad "a city of the panel missing from the table" \
  "$FX/cities_missing.csv: city 'Lanzhou' of the panel (columns 'origin'/'destination') is not in the table (key column 'city_name'); 1 of the panel's 4 cities are missing" \
  "$FX/panel.csv" "$TMP/b{P}.h5" "${IMP[@]}" --cities "$FX/cities_missing.csv" --city-key city_name
bad "a duplicate city key" \
  "$FX/cities_dup.csv:7: duplicate city key 'Beijing' in column 'city_name' (first at line 3): one row per city" \
  "$FX/panel.csv" "$TMP/b{P}.h5" "${IMP[@]}" --cities "$FX/cities_dup.csv" --city-key city_name
bad "an unknown key column" "$FX/cities.csv: column 'nosuch' is not in the header" \
  "$FX/panel.csv" "$TMP/b{P}.h5" "${IMP[@]}" --cities "$FX/cities.csv" --city-key nosuch
bad "a city column named 'name'" \
  "$FX/cities_reserved.csv: column name 'name' is reserved in /cities (the city id and name); rename the column or make it the --city-key" \
  "$FX/panel.csv" "$TMP/b{P}.h5" "${IMP[@]}" --cities "$FX/cities_reserved.csv" --city-key city_name
bad "a pair column that varies within a pair" \
  "$FX/panel_vary.csv:7: column 'partner' varies within pair Chengdu -> Shanghai (1 here, 0 at line 5): a --pair-columns column must be constant within each pair" \
  "$FX/panel_vary.csv" "$TMP/b{P}.h5" "${IMP[@]}" --pair-columns dist,partner
bad "a pair column not in the CSV" "--pair-columns: column 'nosuch' is not in the header of the CSV" \
  "$FX/panel.csv" "$TMP/b{P}.h5" "${IMP[@]}" --pair-columns nosuch
bad "the time column as a pair column" \
  "--pair-columns: column 'month' cannot be a pair column: it is the exporter, importer, --pair, --time or a --key column, or a name /pairs reserves" \
  "$FX/panel.csv" "$TMP/b{P}.h5" "${IMP[@]}" --pair-columns month
bad "--city-key without --cities" "import: --cities and --city-key go together" \
  "$FX/panel.csv" "$TMP/b{P}.h5" "${IMP[@]}" --city-key city_name
bad "--pair-columns without --exporter" "--pair-columns: needs --exporter and --importer" \
  "$FX/panel.csv" "$TMP/b{P}.h5" --pair-columns partner
bad "--city-string without --cities" "--city-string: needs --cities" \
  "$FX/panel.csv" "$TMP/b{P}.h5" "${IMP[@]}" --city-string adcode
cases_run "$C" 3
for n in 1 3; do
  for t in cities pairs panel; do same "$TMP/small$n.$t" "$FX/expect_$t.csv" "fixture: the $t table as written by hand ($n ranks)"; done
  if grep -q '; 3 pair columns; 6 city columns from .*cities.csv, 1 of its cities not in the panel (ignored)$' "$TMP/small$n.out"
  then ok "fixture: the summary line counts the pair and city columns and the ignored city ($n ranks)"
  else fail "fixture: summary line ($n ranks)" "$(cat "$TMP/small$n.out")"; fi
done

# ---- 2. round trip of a simulated panel ----
S=$(sim_cached --east 40 --west 50 --months 12) || { fail "simulated panel"; exit 0; }
CITYCOLS=name,province,region,lat,lon,minority_share,gdp
PAIRCOLS=dir,partner,distance_km,migration,gdp_diff
"$GR" dump "$S" --table cities --columns "$CITYCOLS" >"$TMP/cities.csv" &&
  "$GR" dump "$S" --columns "exp_name,imp_name,month,trade,deals,search_index,$PAIRCOLS" >"$TMP/rows.csv" ||
  { fail "dump the simulated panel and its cities"; exit 0; }
# one city's minority share changed: Table 5's estimate must move
awk -F, -v OFS=, 'NR == 1 { for (j = 1; j <= NF; j++) if ($j == "minority_share") m = j }
  $1 ~ /^west-/ && !done { $m = $m + 1; done = 1 } { print }' "$TMP/cities.csv" >"$TMP/cities_changed.csv"
RT=(--exporter exp_name --importer imp_name --time month --first-month 2017-01 --pair-columns "$PAIRCOLS"
    --city-key name)
T3="log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_100"
T5="log(trade) ~ partner*imp_hi_minority_share_west + log(distance_km) | exporter^month + importer^month + segpair_100"
T6a="migration ~ partner + log(distance_km) | exporter + importer + segpair_100"
T6b="log(search_index) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_100"
# MODEL NAME FORMULA [OPTIONS]: one estimate per data file and rank count, JSON to $TMP/<file>.<name>{P}.json
models() { local f=$1 sizes=$2
  case_add "$R" "$sizes" ok "$f: Table 3, segpair_100 ({P} ranks)" estimate --data "$TMP/$f{P}.h5" --formula "$T3" \
    --cluster pair --json "$TMP/$f.t3.{P}.json" --quiet
  case_add "$R" "$sizes" ok "$f: Table 5, partner*imp_hi_minority_share_west ({P} ranks)" estimate --data "$TMP/$f{P}.h5" \
    --formula "$T5" --where 'dir == "East to west"' --cluster pair --json "$TMP/$f.t5.{P}.json" --quiet
  case_add "$R" "$sizes" ok "$f: Table 6 A, migration at month 1 ({P} ranks)" estimate --data "$TMP/$f{P}.h5" --formula "$T6a" \
    --where "month == 1" --cluster pair --json "$TMP/$f.t6a.{P}.json" --quiet
  case_add "$R" "$sizes" ok "$f: Table 6 A, log(search index) ({P} ranks)" estimate --data "$TMP/$f{P}.h5" --formula "$T6b" \
    --cluster pair --json "$TMP/$f.t6b.{P}.json" --quiet
}
R="$TMP/import_cases"
case_add "$R" 1,3 ok "round trip: import the dumped rows and cities ({P} ranks)" \
  import "$TMP/rows.csv" "$TMP/imp{P}.h5" "${RT[@]}" --cities "$TMP/cities.csv" --quiet
case_add "$R" 1 ok "round trip: import with one minority share changed" \
  import "$TMP/rows.csv" "$TMP/chg{P}.h5" "${RT[@]}" --cities "$TMP/cities_changed.csv" --quiet
case_add "$R" 1,3 ok "round trip: check the imported file ({P} ranks)" check "$TMP/imp{P}.h5"
cases_run "$R" 3
cp "$S" "$TMP/orig1.h5" # the cases name files by rank count; the original is only read
R="$TMP/est_cases"
models orig 1
models imp 1,3
models chg 1
cases_run "$R" 3

# the tables came back: every city and pair column, through the panel rows, in the original's row order
ROWCOLS="exp_name,imp_name,month,exp_province,imp_province,exp_region,imp_lat,exp_lon,exp_minority_share"
ROWCOLS="$ROWCOLS,imp_minority_share,exp_gdp,$PAIRCOLS"
"$GR" dump "$S" --columns "$ROWCOLS" | sort >"$TMP/orig.cols"
for n in 1 3; do
  "$GR" dump "$TMP/imp$n.h5" --columns "$ROWCOLS" | sort >"$TMP/imp$n.cols"
  same "$TMP/imp$n.cols" "$TMP/orig.cols" "round trip: city and pair columns of every row as in the original (import on $n ranks)"
done
for m in t3 t5 t6a t6b; do
  [ -s "$TMP/orig.$m.1.json" ] || { fail "round trip $m: the original's estimate"; continue; }
  grep -q '"estimate"' "$TMP/orig.$m.1.json" || fail "round trip $m: the original's JSON has no estimate"
  for n in 1 3; do
    check_close "round trip $m: imported and estimated on $n ranks = original on 1 rank, 1e-10" "$TMP/orig.$m.1.json" "$TMP/imp.$m.$n.json" 1e-10 \
      --ignore data --ignore cluster_diagnostic
  done
done
# the models are the ones asked for: the interaction is estimated, segpair_100 is absorbed
tr -d ' \t\n' <"$TMP/imp.t5.3.json" | grep -q '"term":"partner:imp_hi_minority_share_west","estimate":-\{0,1\}[0-9]' &&
  grep -q '"segpair_100"' "$TMP/imp.t3.3.json" && ok "round trip: Table 5's interaction estimated, segpair_100 absorbed" ||
  fail "round trip: Table 5's interaction estimated, segpair_100 absorbed" "$(head -c 300 "$TMP/imp.t5.3.json")"
# the probes of the cluster diagnostic (cluster_diagnostic) are drawn by hash over rows, which the import
# orders by city name: an estimate of a ratio, not a result; ignored above.
if json_close "$TMP/orig.t5.1.json" "$TMP/chg.t5.1.json" 1e-10 --ignore data --ignore cluster_diagnostic; then
  fail "round trip: a changed minority share changes Table 5's estimate" "the estimates agree"
else ok "round trip: a changed minority share changes Table 5's estimate (the comparison can fail)"; fi
