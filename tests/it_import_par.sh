#!/usr/bin/env bash
# it_import_par.sh: the parallel `gravrd import` (every rank parses a byte range; docs/import.md) against
# the serial import it replaced. tests/fixtures/import_par holds CSVs that split badly between ranks
# (quoted fields with line ends, CRLF, a byte-order mark, blank lines, quotes inside unquoted fields) and
# CSVs with one error each placed late in the file, and the outputs of the serial import of commit
# 9b0f747 for each (expect/, made by make_expect.sh). On 1, 2, 3 and 4 ranks every import must dump
# exactly as the serial one did (every panel column, the cities and pairs tables) or fail with exactly its
# one error line; the files must be identical across rank counts (h5diff, the provenance attributes
# aside); the same with exchange rounds of 2 rows (GRAVRD_XCHG_CHUNK, counts above what one MPI call
# takes, simulated); and the chunked exchange's unit test (tests/test_xchg.c) on 2 and 4 ranks.
source "$(dirname "$0")/lib.sh"
export LC_ALL=C
FX="$ROOT/tests/fixtures/import_par"

# ere TEXT: TEXT as a POSIX extended regular expression that matches it literally
ere() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }

C="$TMP/cases"; C2="$TMP/cases_chunk"; oks=()
while IFS=$'\t' read -r -a c; do
  [[ "${c[0]}" == \#* ]] && continue
  name=${c[0]} csv="$FX/${c[1]}" args=("${c[@]:2}")
  if [ -f "$FX/expect/$name.err" ]; then
    msg=$(sed "s|^gravrd: error: \([A-Za-z_]*\.csv\)|gravrd: error: $FX/\1|" "$FX/expect/$name.err")
    case_add "$C" 1,2,3,4 "fail1:^$(ere "$msg")\$" "$name: the serial import's error ({P} ranks)" \
      import "$csv" "$TMP/$name{P}.h5" "${args[@]}"
  else
    oks+=("$name")
    case_add "$C" 1,2,3,4 ok "$name: import ({P} ranks)" import "$csv" "$TMP/$name{P}.h5" "${args[@]}"
    case_add "$C" 1,2,3,4 "out:$TMP/$name{P}.dump" "$name: dump ({P} ranks)" dump "$TMP/$name{P}.h5"
    case_add "$C2" 2,3,4 ok "$name: import in exchange rounds of 2 rows ({P} ranks)" import "$csv" "$TMP/c_$name{P}.h5" "${args[@]}"
    case_add "$C2" 2,3,4 "out:$TMP/c_$name{P}.dump" "$name: dump, rounds of 2 rows ({P} ranks)" dump "$TMP/c_$name{P}.h5"
    if [ -f "$FX/expect/$name.cities" ]; then
      for t in cities pairs; do
        case_add "$C" 1,2,3,4 "out:$TMP/$name{P}.$t" "$name: dump the $t table ({P} ranks)" dump "$TMP/$name{P}.h5" --table $t
      done
    fi
  fi
done <"$FX/cases.tsv"
cases_run "$C" 4
GRAVRD_XCHG_CHUNK=2 cases_run "$C2" 4

# same TEXT-FILE EXPECTED-FILE NAME
same() { if cmp -s "$1" "$2"; then ok "$3"; else fail "$3" "$(diff "$2" "$1" 2>&1 | head -4 | tr '\n' ' ')"; fi; }
# h5same A B NAME: no difference but in the provenance attributes (command_line, created_by)
h5same() {
  h5diff -v "$1" "$2" >"$TMP/h5diff" 2>&1
  local d; d=$(awk '/^attribute: <(command_line|created_by) /{skip=1; next} /^(attribute|dataset|group) *:/{skip=0}
    /differences found/{ if (!skip) s += $1 } /[Nn]ot comparable|are not|only in/ {s += 1000} END {print s + 0}' "$TMP/h5diff")
  if [ "$d" = 0 ] && grep -q 'panel' "$TMP/h5diff"; then ok "$3"; else fail "$3" "$d differences: $(grep -m2 -B3 'differences found' "$TMP/h5diff" | tr '\n' ' ')"; fi
}
for name in "${oks[@]}"; do
  for n in 1 2 3 4; do
    same "$TMP/$name$n.dump" "$FX/expect/$name.dump" "$name: every panel column as the serial import wrote it ($n ranks)"
    if [ -f "$FX/expect/$name.cities" ]; then
      for t in cities pairs; do same "$TMP/$name$n.$t" "$FX/expect/$name.$t" "$name: the $t table as the serial import ($n ranks)"; done
    fi
    [ $n -gt 1 ] && same "$TMP/c_$name$n.dump" "$FX/expect/$name.dump" "$name: the same in exchange rounds of 2 rows ($n ranks)"
  done
  if command -v h5diff >/dev/null; then
    for n in 2 3 4; do h5same "$TMP/${name}1.h5" "$TMP/$name$n.h5" "$name: file on $n ranks = file on 1 rank (h5diff)"; done
  else echo "# SKIP: h5diff absent, not comparing the files of $name byte for byte"; fi
done
# the fixture is what it claims: quoted fields span lines (the city "F<LF>f" on 200 rows), so the ranks'
# byte ranges start inside quoted fields
if [ "$(grep -c '^f"' "$FX/multi.csv")" -eq 200 ]; then ok "multi.csv has 200 quoted line ends"
else fail "multi.csv has 200 quoted line ends" "$(grep -c '^f"' "$FX/multi.csv")"; fi

for P in 2 4; do
  if CMOCKA_MESSAGE_OUTPUT=TAP mpi $P "$ROOT/build/tests/test_xchg" >"$TMP/xc.out" 2>&1 && grep -q '^ok 4 ' "$TMP/xc.out" \
       && ! grep -q '^not ok' "$TMP/xc.out"; then ok "chunked exchange and all-gather on $P ranks (test_xchg)"
  else fail "chunked exchange and all-gather on $P ranks (test_xchg)" "$(grep -m2 'not ok\|rror' "$TMP/xc.out" | tr '\n' ' ')"; fi
done
