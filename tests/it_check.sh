#!/usr/bin/env bash
# it_check.sh: bad input is rejected with one clear "gravrd: error:" line, a non-zero exit and no hang, on 1
# and 3 ranks: bad CSVs for `import` (tests/bad/*.csv) and bad panel files for `check` (made from a good
# import of tests/bad/base.csv by tests/bad/mkbad.c, which edits a copy with serial HDF5). The rejections
# run in-process, every case on 1 and then 3 ranks, in one launch of build/tests/test_commands (case_add).
source "$(dirname "$0")/lib.sh"
BAD="$ROOT/tests/bad"
C="$TMP/cases"

check "error records, traces and gr_agree on a sub-communicator (tests/test_errors.c, 3 ranks)" timeout $((120 * TS)) mpirun -n 3 --oversubscribe "$ROOT/build/tests/test_errors"
# the fixture generator
if ! mpicc -O1 -o "$TMP/mkbad" "$BAD/mkbad.c" $(pkg-config --cflags --libs hdf5-openmpi) >"$TMP/cc.log" 2>&1; then
  fail "build tests/bad/mkbad.c" "$(head -c 300 "$TMP/cc.log")"; exit 0
fi
MK="$TMP/mkbad"

# a good panel: 4 cities, 12 directed pairs, 3 years; one missing value and one missing label
good="$TMP/good.h5"
check "import base.csv" mpi 2 "$GR" import "$BAD/base.csv" "$good" \
  --exporter origin --importer dest --time year
case_add "$C" 1,3 ok "check good file ({P} ranks)" check "$good"
if timeout $((60 * TS)) "$GR" check "$good" >"$TMP/sum" 2>&1 &&
   grep -qE '^cities: 4  pairs: 12  rows: 36 ' "$TMP/sum" && grep -qE '^  value +float64 +missing 1$' "$TMP/sum" &&
   grep -qE '^  grp +int32, 2 labels +missing 1$' "$TMP/sum" && grep -q '^row key: pair,year (unique)' "$TMP/sum"; then
  ok "check summary: counts, types, missing values, row key"
else fail "check summary" "$(head -c 400 "$TMP/sum")"; fi

# bad(NAME, PATTERN, MKBAD ARGS...): copy the good file, damage it, expect check to fail on 1 and 3 ranks
bad() {
  local name=$1 pat=$2; shift 2
  local f="$TMP/$name.h5"
  cp "$good" "$f"
  if [ $# -gt 0 ] && ! "$MK" "$1" "$f" "${@:2}" >"$TMP/mk.log" 2>&1; then fail "make $name" "$(cat "$TMP/mk.log")"; return; fi
  case_add "$C" 1,3 "fail:gravrd: error: .*$pat" "check rejects $name ({P} ranks)" check "$f"
}
case_add "$C" 1,3 "fail:gravrd: error: $TMP/nope.h5: no such file" "check rejects a missing file ({P} ranks)" check "$TMP/nope.h5"
case_add "$C" 1,3 "fail:gravrd: error: .*not_hdf5.txt: not an HDF5 file" "check rejects a text file ({P} ranks)" check "$BAD/not_hdf5.txt"
case_add "$C" 1,3 "fail:gravrd: error: .*empty.csv: empty file" "check rejects a zero-byte file ({P} ranks)" check "$BAD/empty.csv"
"$MK" empty "$TMP/empty_hdf5.h5"
case_add "$C" 1,3 "fail:gravrd: error: .*empty_hdf5.h5: not a gravrd panel" "check rejects an empty HDF5 file ({P} ranks)" \
  check "$TMP/empty_hdf5.h5"
bad wrong_version "format_version '2' not supported" version 2
bad no_panel_group "missing group /panel" delete /panel
bad no_panel_pair "no /panel/pair" delete /panel/pair
bad no_pairs_importer "missing dataset /pairs/importer" delete /pairs/importer
bad no_index "missing dataset /index/exporter_offsets" delete /index/exporter_offsets
bad pair_float "/panel/pair: wrong type float64" retype /panel/pair
bad exporter_float "/pairs/exporter: wrong type float64" retype /pairs/exporter
bad short_column "/panel/value has 35 rows, expected 36|/panel/[a-z]+ has 36 rows, expected 35" shorten /panel/value
bad short_pairs "/pairs/importer has 11 rows, expected 12" shorten /pairs/importer
bad short_index "exporter_offsets" shorten /index/exporter_offsets
bad unsorted_exporters "not sorted by exporter" swap /panel/pair 0 35
bad offsets_off_by_one "not sorted by exporter|offsets inconsistent" set /index/exporter_offsets 1 8
bad duplicate_rows "/panel rows 0 and 1 are duplicates \(pair 0, year 2001\)" copy /panel/year 0 1
bad pair_out_of_range "/panel/pair row 5: id 12 out of range \[0, 12\)" set /panel/pair 5 12
bad negative_pair "/panel/pair row 0: id -1 out of range" set /panel/pair 0 -1
bad city_out_of_range "/pairs/importer row 3: city id 4 out of range \[0, 4\)" set /pairs/importer 3 4
bad label_out_of_range "/panel/grp row 7: label code 2 out of range \[0, 2\)" set /panel/grp 7 2

# bad CSVs: import fails with file:line: column, and leaves no output behind (checked after the launch)
csvnames=()
badcsv() {
  local name=$1 file=$2 pat=$3; shift 3
  case_add "$C" 1,3 "fail:gravrd: error: $pat" "import rejects $name ({P} ranks)" import "$BAD/$file" "$TMP/csv_$name{P}.h5" "$@"
  csvnames+=("$name")
}
S=(--exporter origin --importer dest --time year)
badcsv nonnumeric nonnumeric.csv ".*nonnumeric.csv:3: column 'value': expected a number .*found 'n/a'" "${S[@]}"
badcsv ragged ragged.csv ".*ragged.csv:3: expected 5 fields as in the header, found 4" "${S[@]}"
badcsv empty_csv empty.csv ".*empty.csv: empty file" "${S[@]}"
badcsv header_only header_only.csv ".*header_only.csv: no data rows"
badcsv unclosed_quote unclosed_quote.csv ".*unclosed_quote.csv:2: field 5: quoted field is not closed"
badcsv missing_exporter missing_exporter.csv ".*missing_exporter.csv:3: column 'origin': missing exporter" "${S[@]}"
badcsv duplicate_key duplicate_key.csv ".*duplicate_key.csv:4: duplicate row: same pair and key columns as line 2" "${S[@]}" --key grp,year
badcsv duplicate_time duplicate_key.csv ".*duplicate_key.csv:4: duplicate row: same pair and key columns as line 2 \(pair AA -> BB, year 2001\)" "${S[@]}"
badcsv unknown_column base.csv ".*base.csv: column 'nope' is not in the header" --exporter nope --importer dest
badcsv missing_input nope.csv ".*nope.csv: cannot open for reading"
badcsv bad_option base.csv "import: unknown option '--bogus' \(see 'gravrd import --help'\)" --bogus
badcsv lone_exporter base.csv "import: --exporter and --importer go together" --exporter origin
# an output directory that does not exist
case_add "$C" 2 "fail:gravrd: error: $TMP/nodir/x.h5: cannot create" "import into a missing directory" import "$BAD/base.csv" "$TMP/nodir/x.h5"

cases_run "$C" 3
for name in "${csvnames[@]}"; do
  for n in 1 3; do
    out="$TMP/csv_$name$n.h5"
    if [ -e "$out" ] || ls "$out".tmp.* >/dev/null 2>&1; then fail "import $name leaves no file ($n ranks)"; else ok "import $name leaves no file ($n ranks)"; fi
  done
done

# an unstructured import with its own 'pair' column (numeric or text) passes check: without /pairs it is an
# ordinary column (docs/format.md); once, check refused every such file ("/panel/pair but no /pairs table")
printf 'pair,b\n1,2\n3,4\n' >"$TMP/ownpair.csv"
printf 'pair,b\nA-B,2\nC-D,4\n' >"$TMP/ownpair_text.csv"
for f in ownpair ownpair_text; do
  if "$GR" import "$TMP/$f.csv" "$TMP/$f.h5" >/dev/null 2>&1 && "$GR" check "$TMP/$f.h5" >"$TMP/$f.out" 2>&1 &&
     grep -q "^$TMP/$f.h5: ok" "$TMP/$f.out"
  then ok "check: an unstructured panel with its own pair column ($f) is valid"
  else fail "check: own pair column ($f)" "$(head -n 2 "$TMP/$f.out" 2>/dev/null)"; fi
done
