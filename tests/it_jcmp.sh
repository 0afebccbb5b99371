#!/usr/bin/env bash
# tests/it_jcmp.sh: self-test of the reference comparator build/tests/jcmp (tests/jcmp.c), and a lint of
# every expected file in tests/fixtures/ref (each must parse: against an empty result every check fails
# with "not found", exit 1, never exit 2 for a malformed line).
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
