#!/usr/bin/env bash
# tests/run.sh: run every unit test binary (cmocka, TAP output) and every integration script
# tests/it_*.sh; count TAP lines; end with "N passed, N failed".
cd "$(dirname "$0")/.." || exit 2
export CMOCKA_MESSAGE_OUTPUT=TAP OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
log=$(mktemp); pass=0; failn=0; skipn=0
run_one() {
  local name=$1; shift
  local t0=$SECONDS
  "$@" >"$log" 2>&1; local rc=$?
  # cmocka reports a skipped test as "not ok N # SKIP": a skip, not a failure
  local p f s; p=$(grep -cE '^ok ' "$log"); s=$(grep -cE '^(not )?ok .*# SKIP' "$log")
  f=$(grep -E '^not ok ' "$log" | grep -cv '# SKIP')
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then f=1; echo "not ok - $name produced no test result (rc=$rc)"; fi
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $name exited $rc"; fi
  grep -E '^(not ok|# )' "$log" | sed "s|^|[$name] |"
  p=$((p - $(grep -cE '^ok .*# SKIP' "$log")))
  echo "$name: $p passed, $f failed, $s skipped ($((SECONDS - t0)) s)"
  pass=$((pass + p)); failn=$((failn + f)); skipn=$((skipn + s))
}
for t in build/tests/test_*; do [ -x "$t" ] && run_one "$(basename "$t")" "$t"; done
for t in tests/it_*.sh; do [ -f "$t" ] && run_one "$(basename "$t")" bash "$t"; done
rm -f "$log"
echo "$pass passed, $failn failed, $skipn skipped"
[ "$failn" -eq 0 ]
