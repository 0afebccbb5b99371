#!/usr/bin/env bash
# it_import.sh: `gravrd import` + `dump` round trips. A small hand-made CSV (quoting, missing values, string
# columns) must dump to a hand-written expected text on 1 and 3 ranks. Each public CSV in ../shared/data is
# imported on 1-4 ranks; `check` must pass; the dump of the CSV's columns must equal the CSV value for value
# (both sides normalised by tests/bad/csvnorm.c, which parses numbers with strtod and prints %.17g; sorted for
# the structured imports, in CSV order otherwise); dumps must be identical across rank counts; rows must be
# sorted by exporter; cities and pairs must be the distinct values and combinations of the CSV.
source "$(dirname "$0")/lib.sh"
export LC_ALL=C

if ! cc -O2 -o "$TMP/csvnorm" "$ROOT/tests/bad/csvnorm.c" -lm >"$TMP/cc.log" 2>&1; then
  fail "build tests/bad/csvnorm.c" "$(head -c 300 "$TMP/cc.log")"; exit 0
fi
NORM="$TMP/csvnorm"

# ---- a small structured CSV with quoting, missing values and string columns ----
cat >"$TMP/small.csv" <<'CSV'
exp,imp,yr,"val x",kind
B,A,2001,1.5,"x,y"
A,B,2000,NA,plain
A,B,1999,2,"q""uote"
B,A,2000,,plain
C,A,2000,3e-1,
CSV
cat >"$TMP/small.expect" <<'TXT'
pair,exp,imp,yr,val x,kind,exp_name,imp_name
0,A,B,1999,2,"q""uote",A,B
0,A,B,2000,,plain,A,B
1,B,A,2000,,plain,B,A
1,B,A,2001,1.5,"x,y",B,A
2,C,A,2000,0.29999999999999999,,C,A
TXT
printf 'city,name\n0,A\n1,B\n2,C\n' >"$TMP/cities.expect"
printf 'pair,exporter,importer\n0,0,1\n1,1,0\n2,2,0\n' >"$TMP/pairs.expect"
# the imports and dumps on several ranks run in-process, in one launch of build/tests/test_commands per
# part (tests/lib.sh case_add); a dump goes straight to its file ("out:"), not through mpirun
C="$TMP/cases_small"
case_add "$C" 1,3 ok "import small CSV ({P} ranks)" import "$TMP/small.csv" "$TMP/small{P}.h5" --exporter exp --importer imp --time yr
case_add "$C" 1,3 "out:$TMP/small{P}.out" "small CSV dump ({P} ranks)" dump "$TMP/small{P}.h5" \
  --columns "pair,exp,imp,yr,val x,kind,exp_name,imp_name"
for t in cities pairs; do
  case_add "$C" 1,3 "out:$TMP/$t{P}.out" "small CSV dump of the $t table ({P} ranks)" dump "$TMP/small{P}.h5" --table $t
done
case_add "$C" 1,3 "out:$TMP/lim{P}.out" "small CSV dump --limit 2 ({P} ranks)" dump "$TMP/small{P}.h5" --limit 2 --columns yr
# unstructured: CSV order kept; semicolon delimiter; --string keeps leading zeros
printf 'id;v\n007;1\n010;NaN\n002;-2.5\n' >"$TMP/semi.csv"
case_add "$C" 2 ok "import --delimiter ';' --string id" import "$TMP/semi.csv" "$TMP/semi.h5" --delimiter ';' --string id
case_add "$C" 2 "out:$TMP/semi.out" "dump the unstructured import (2 ranks)" dump "$TMP/semi.h5"
case_add "$C" 2 "fail:gravrd: error: .*small1.h5: unknown column 'nope'" "dump rejects an unknown column" \
  dump "$TMP/small1.h5" --columns pair,nope
cases_run "$C" 3
for n in 1 3; do
  if cmp -s "$TMP/small$n.out" "$TMP/small.expect"; then ok "small CSV dumps as expected ($n ranks)"
  else fail "small CSV dumps as expected ($n ranks)" "$(diff "$TMP/small.expect" "$TMP/small$n.out" 2>&1 | head -5 | tr '\n' ' ')"; fi
  for t in cities pairs; do
    if cmp -s "$TMP/$t$n.out" "$TMP/$t.expect"; then ok "small CSV $t table ($n ranks)"; else fail "small CSV $t table ($n ranks)" "$(head -c 200 "$TMP/$t$n.out")"; fi
  done
  if [ "$(tr '\n' ' ' <"$TMP/lim$n.out")" = "yr 1999 2000 " ]; then ok "dump --limit ($n ranks)"; else fail "dump --limit ($n ranks)" "$(head -c 200 "$TMP/lim$n.out")"; fi
done
if [ "$(tr '\n' ' ' <"$TMP/semi.out")" = "id,v 007,1 010, 002,-2.5 " ]; then ok "unstructured import keeps CSV order and strings"
else fail "unstructured import keeps CSV order and strings" "$(head -c 200 "$TMP/semi.out")"; fi
check "import --help exits 0" "$GR" import --help

# ---- the public data sets ----
need_shared "public CSV round trips" || exit 0
C="$TMP/cases_public"
# roundtrip_add NAME CSV IMPORT-ARGS...: import, check and dump on 1-4 ranks (run by the launch below)
roundtrip_add() {
  local name=$1 csv="$SHARED/$2"; shift 2
  local cols; cols=$(head -n 1 "$csv" | tr -d '"\r')
  case_add "$C" 1,2,3,4 ok "$name: import ({P} ranks)" import "$csv" "$TMP/$name{P}.h5" "$@"
  case_add "$C" 1,2,3,4 ok "$name: check passes ({P} ranks)" check "$TMP/$name{P}.h5"
  case_add "$C" 1,2,3,4 "out:$TMP/$name.dump{P}" "$name: dump ({P} ranks)" dump "$TMP/$name{P}.h5" --columns "$cols"
}
# structure_add NAME ECOL ICOL: the dumps structure (below) reads, from the 3-rank import
structure_add() {
  local name=$1 f="$TMP/${1}3.h5"
  case_add "$C" 3 "out:$TMP/$name.cities" "$name: dump the cities table (3 ranks)" dump "$f" --table cities --columns name
  case_add "$C" 2 "out:$TMP/$name.pairs" "$name: dump the pairs table (2 ranks)" dump "$f" --table pairs --columns pair
  case_add "$C" 3 "out:$TMP/$name.rows" "$name: dump names, exporter and pair of every row (3 ranks)" dump "$f" \
    --columns exp_name,"$2",imp_name,"$3",exporter,pair
}
roundtrip_add agtpa agtpa_applications.csv --exporter exporter --importer importer --time year --pair pair_id
roundtrip_add fixest fixest_trade.csv --exporter Origin --importer Destination --time Year --key Product
roundtrip_add senate rdrobust_senate.csv
structure_add agtpa exporter importer
structure_add fixest Origin Destination
case_add "$C" 2 "out:$TMP/senate.sum" "senate: check on 2 ranks" check "$TMP/senate2.h5"
# fixest rows are unique by (pair, Year, Product): --key records it and check enforces it
case_add "$C" 2 ok "fixest: import --key Product" import "$SHARED/fixest_trade.csv" "$TMP/fk.h5" --exporter Origin \
  --importer Destination --time Year --key Product
case_add "$C" 3 "out:$TMP/fk.sum" "fixest: check the --key import (3 ranks)" check "$TMP/fk.h5"
cases_run "$C" 4

# roundtrip NAME CSV STRUCTURED: every value of the dumps equals the CSV's (sorted when STRUCTURED), and the
# dumps are identical on every rank count
roundtrip() {
  local name=$1 csv="$SHARED/$2" structured=$3 n
  if [ "$structured" = 1 ]; then "$NORM" -H <"$csv" | sort >"$TMP/$name.expect"; else "$NORM" -H <"$csv" >"$TMP/$name.expect"; fi
  for n in 1 2 3 4; do
    [ -s "$TMP/$name.dump$n" ] || continue  # the failed import, check or dump is reported above
    if [ "$structured" = 1 ]; then "$NORM" -H <"$TMP/$name.dump$n" | sort >"$TMP/got"; else "$NORM" -H <"$TMP/$name.dump$n" >"$TMP/got"; fi
    if cmp -s "$TMP/got" "$TMP/$name.expect"; then ok "$name: every value round-trips ($n ranks, $(wc -l <"$TMP/got") rows)"
    else fail "$name: every value round-trips ($n ranks)" "$(diff "$TMP/$name.expect" "$TMP/got" | head -4 | tr '\n' ' ')"; fi
    if [ $n -gt 1 ]; then
      if cmp -s "$TMP/$name.dump1" "$TMP/$name.dump$n"; then ok "$name: dump identical on 1 and $n ranks"; else fail "$name: dump identical on 1 and $n ranks"; fi
    fi
  done
}
roundtrip agtpa agtpa_applications.csv 1
roundtrip fixest fixest_trade.csv 1
roundtrip senate rdrobust_senate.csv 0

# structure of the structured imports: cities = distinct union, pairs = distinct (exporter, importer),
# rows in exporter order, and the exporter city of every row is the CSV's exporter
structure() {
  local name=$1 csv="$SHARED/$2" ecol=$3 icol=$4 f="$TMP/${1}3.h5"
  [ -f "$f" ] || { fail "$name: structure (no file)"; return; }
  local ei ii; ei=$(head -n 1 "$csv" | tr -d '"\r' | tr ',' '\n' | grep -nx "$ecol" | cut -d: -f1)
  ii=$(head -n 1 "$csv" | tr -d '"\r' | tr ',' '\n' | grep -nx "$icol" | cut -d: -f1)
  "$NORM" -H <"$csv" | cut -d, -f"$ei","$ii" >"$TMP/ei"
  tr ',' '\n' <"$TMP/ei" | sort -u >"$TMP/cities.want"
  tail -n +2 "$TMP/$name.cities" >"$TMP/cities.got"
  if cmp -s "$TMP/cities.want" "$TMP/cities.got"; then ok "$name: cities are the sorted distinct exporters and importers ($(wc -l <"$TMP/cities.got"))"
  else fail "$name: cities" "$(diff "$TMP/cities.want" "$TMP/cities.got" | head -3 | tr '\n' ' ')"; fi
  local want got; want=$(sort -u "$TMP/ei" | wc -l); got=$(tail -n +2 "$TMP/$name.pairs" | wc -l)
  if [ "$want" = "$got" ]; then ok "$name: pairs are the $want distinct (exporter, importer)"; else fail "$name: pairs" "want $want got $got"; fi
  if awk -F, 'NR > 1 { if ($1 != $2 || $3 != $4) bad = "names " NR; if (NR > 2 && ($5 < pe || $6 < pp)) bad = "order " NR; pe = $5; pp = $6 }
              END { if (bad != "" || NR < 2) { print bad; exit 1 } }' "$TMP/$name.rows"; then
    ok "$name: rows sorted by exporter and pair; exp_/imp_ names match the CSV columns"
  else fail "$name: rows sorted by exporter" "$(awk -F, 'NR>1 && ($1 != $2 || $3 != $4)' "$TMP/$name.rows" | head -2)"; fi
}
structure agtpa agtpa_applications.csv exporter importer
structure fixest fixest_trade.csv Origin Destination
# check reports missing values exactly: count empty or NA fields in rdrobust's vote column independently
want=$(awk -F, 'NR > 1 && ($3 == "" || $3 == "NA")' "$SHARED/rdrobust_senate.csv" | wc -l)
if grep -qE "^  vote +float64 +missing $want\$" "$TMP/senate.sum" && [ "$want" -gt 0 ]; then ok "check counts $want missing vote values"
else fail "check counts missing values" "want $want: $(grep vote "$TMP/senate.sum")"; fi
if grep -q '^row key: pair,Year,Product (unique)' "$TMP/fk.sum"; then ok "fixest: row key pair,Year,Product checked"; else fail "fixest: row key" "$(head -c 300 "$TMP/fk.sum")"; fi
