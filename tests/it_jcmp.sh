#!/usr/bin/env bash
# tests/it_jcmp.sh: self-test of the JSON comparator build/tests/jcmp (tests/jcmp.c): the expected-file mode,
# a lint of every expected file in tests/fixtures/ref (each must parse: against an empty result every check
# fails with "not found", exit 1, never exit 2 for a malformed line), and the --close mode the scripts
# compare results with (tests/lib.sh json_close): differences just above the tolerance found, just below
# accepted, structure, types, --ignore and --abs.
source "$(dirname "$0")/lib.sh"
J="$ROOT/build/tests/jcmp"; S="$ROOT/tests/fixtures/ref/selftest"
if [ ! -x "$J" ]; then fail "jcmp built" "missing $J (make build/tests/jcmp)"; exit 0; fi
check "jcmp passes a matching result" "$J" "$S/result.json" "$S/good.expected"
"$J" "$S/result.json" "$S/bad.expected" >"$TMP/bad" 2>&1; rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c '^not ok' "$TMP/bad")" -eq 5 ] && [ "$(grep -c '^ok' "$TMP/bad")" -eq 1 ]; then
  ok "jcmp fails exactly the 5 wrong checks (tolerance, exact int, string, missing term, index range)"
else fail "jcmp fails exactly the 5 wrong checks" "rc=$rc $(tr '\n' ' ' <"$TMP/bad" | head -c 300)"; fi
"$J" "$TMP/none.json" "$S/good.expected" >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then ok "jcmp exits 2 on a missing result file"; else fail "jcmp exits 2 on a missing result file" "rc=$rc"; fi
echo '{"nobs": 1,' >"$TMP/broken.json"
"$J" "$TMP/broken.json" "$S/good.expected" >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then ok "jcmp exits 2 on malformed JSON"; else fail "jcmp exits 2 on malformed JSON" "rc=$rc"; fi
printf 'nobs 1 0 rel\n' >"$TMP/mal.expected"
"$J" "$S/result.json" "$TMP/mal.expected" >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then ok "jcmp exits 2 on a malformed expected line"; else fail "jcmp exits 2 on a malformed expected line" "rc=$rc"; fi
echo '{}' >"$TMP/empty.json"
for e in "$ROOT"/tests/fixtures/ref/*.expected; do
  "$J" "$TMP/empty.json" "$e" >"$TMP/lint" 2>&1; rc=$?
  n=$(grep -c '^not ok' "$TMP/lint"); m=$(grep -vc '^#' "$e")
  if [ $rc -eq 1 ] && [ "$n" -eq "$m" ] && grep -q '^# formula: .* | options: ' "$e" && grep -q '^# data: ' "$e"; then ok "expected file well-formed: $(basename "$e")"
  else fail "expected file well-formed: $(basename "$e")" "rc=$rc, $n of $m checks parsed"; fi
done

# ---- jcmp --close A B ----
# close NAME WANT-RC [JCMP-ARGS...] A-TEXT B-TEXT: jcmp --close on two documents, exit status WANT-RC
close() {
  local name=$1 want=$2 n=$(($# - 2)); shift 2
  local args=("${@:1:n-2}") a=${*: -2:1} b=${*: -1}
  printf '%s\n' "$a" >"$TMP/a.json"; printf '%s\n' "$b" >"$TMP/b.json"
  "$J" --close "${args[@]}" "$TMP/a.json" "$TMP/b.json" >"$TMP/close.out" 2>&1; local rc=$?
  if [ $rc -eq "$want" ]; then ok "jcmp --close: $name"; else fail "jcmp --close: $name" "rc=$rc, want $want: $(head -c 200 "$TMP/close.out")"; fi
}
close "equal documents agree at tolerance 0" 0 0 '{"a": [1, 2.5, {"b": "x", "c": true, "d": null}]}' '{"a": [1, 2.5, {"b": "x", "c": true, "d": null}]}'
close "relative difference 1.1e-10 found at tolerance 1e-10" 1 1e-10 '{"x": 1}' '{"x": 1.00000000011}'
close "relative difference 0.9e-10 accepted at tolerance 1e-10" 0 1e-10 '{"x": 1}' '{"x": 1.00000000009}'
close "just above, on a large negative number" 1 1e-10 '{"x": -123456.789}' '{"x": -123456.78901358}'
close "just below, on a large negative number" 0 1e-10 '{"x": -123456.789}' '{"x": -123456.78901234}'
close "just above, deep in arrays of objects" 1 1e-12 '{"r": [{"c": [0.5, 3e-5]}]}' '{"r": [{"c": [0.5, 3.0000000000033e-5]}]}'
close "one ulp apart differ at tolerance 0" 1 0 '{"x": 1}' '{"x": 1.0000000000000002}'
close "0 against 1e-15 differs relatively" 1 1e-10 '{"x": 0}' '{"x": 1e-15}'
close "0 against 1e-15 agrees with --abs 1e-14" 0 1e-10 --abs 1e-14 '{"x": 0}' '{"x": 1e-15}'
close "0 against 2e-14 differs with --abs 1e-14" 1 1e-10 --abs 1e-14 '{"x": 0}' '{"x": 2e-14}'
close "a member only in the first file" 1 1e-10 '{"x": 1, "y": 2}' '{"x": 1}'
close "a member only in the second file" 1 1e-10 '{"x": 1}' '{"x": 1, "y": 2}'
close "arrays of different lengths" 1 1e-10 '{"x": [1, 2]}' '{"x": [1, 2, 3]}'
close "a number against a string" 1 1e-10 '{"x": 1}' '{"x": "1"}'
close "different strings" 1 1e-10 '{"s": "cholesky"}' '{"s": "qr"}'
close "different booleans" 1 1e-10 '{"converged": true}' '{"converged": false}'
close "null against 0" 1 1e-10 '{"x": null}' '{"x": 0}'
close "--ignore skips a member at any depth" 0 1e-10 --ignore timings --ignore solver \
  '{"results": [{"b": 1, "solver": "a", "timings": {"t": 1}}]}' '{"results": [{"b": 1, "solver": "b", "timings": {"t": 9}}]}'
close "--ignore leaves the other members compared" 1 1e-10 --ignore timings --ignore solver \
  '{"results": [{"b": 1, "solver": "a", "timings": {"t": 1}}]}' '{"results": [{"b": 1, "solver": "b", "timings": {"t": 9}, "x": 0}]}'
close "--ignore KEY* skips members by prefix" 0 1e-10 --ignore 't_*' '{"t_read": 1, "t": 2}' '{"t_read": 5, "t": 2}'
close "--ignore KEY* leaves other names" 1 1e-10 --ignore 't_*' '{"t_read": 1, "t": 2}' '{"t_read": 5, "t": 3}'
close "a difference is named by its path" 1 1e-10 '{"results": [{"c": [{"e": 1}]}, {"c": [{"e": 1}, {"e": 2}]}]}' \
  '{"results": [{"c": [{"e": 1}]}, {"c": [{"e": 1}, {"e": 2.5}]}]}'
grep -q '^results\[1\].c\[1\].e: 2 vs 2.5 ' "$TMP/close.out" && ok "jcmp --close: the path printed is results[1].c[1].e" \
  || fail "jcmp --close: the path printed is results[1].c[1].e" "$(cat "$TMP/close.out")"
close "malformed JSON exits 2" 2 1e-10 '{"x": 1,' '{"x": 1}'
close "a negative tolerance exits 2" 2 -1 '{"x": 1}' '{"x": 1}'
close "an unknown option exits 2" 2 1e-10 --frob x '{"x": 1}' '{"x": 1}'
"$J" --close 1e-10 "$TMP/a.json" "$TMP/none.json" >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then ok "jcmp --close: a missing file exits 2"; else fail "jcmp --close: a missing file exits 2" "rc=$rc"; fi
# tests/lib.sh json_close: timings, provenance and memory figures are ignored, the rest compared
printf '{"r": [{"e": 1, "timings": {"read": 1}}], "memory": {"peak": 1}, "provenance": {"date": "a"}}\n' >"$TMP/a.json"
printf '{"r": [{"e": 1, "timings": {"read": 2}}], "memory": {"peak": 2}, "provenance": {"date": "b"}}\n' >"$TMP/b.json"
check "json_close ignores timings, memory and provenance" json_close "$TMP/a.json" "$TMP/b.json" 1e-10
sed 's/"e": 1/"e": 1.1/' "$TMP/b.json" >"$TMP/c.json"
if json_close "$TMP/a.json" "$TMP/c.json" 1e-10; then fail "json_close finds a difference elsewhere"; else ok "json_close finds a difference elsewhere"; fi
