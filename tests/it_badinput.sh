#!/usr/bin/env bash
# it_badinput.sh: the bad-input suite (tests/test_badinput.c, in process): once on 1 rank, run directly
# (its 3-rank cases are then skipped), and once under `mpirun -n 3`, where every case runs on a 1-rank
# and a 3-rank sub-communicator. Passes the TAP lines through, tagged with the launch; a launch that
# exits non-zero without a failing TAP line, or hangs, is one more failure.
source "$(dirname "$0")/lib.sh"
BIN="$ROOT/build/tests/test_badinput"
export CMOCKA_MESSAGE_OUTPUT=TAP
if [ ! -x "$BIN" ]; then fail "bad-input suite" "$BIN not built (make build/tests/test_badinput)"; exit 0; fi
cd "$ROOT" || exit 2
# launch TAG CMD...: run the suite, pass its TAP lines through with TAG after the test name
launch() {
  local tag=$1; shift
  timeout $((600 * TS)) "$@" >"$TMP/out" 2>&1; local rc=$?
  grep -E '^(ok|not ok|# )' "$TMP/out" | grep -vE '^(not )?ok - bad input$|^# (not )?ok - bad input$' |
    sed -E "s/^((not )?ok) [0-9]+ /\1 /; s/^((not )?ok .*)$/\1 [$tag]/"
  if [ $rc -ge 124 ]; then fail "bad-input suite [$tag]" "timed out or crashed (rc=$rc): $(tail -n 3 "$TMP/out" | tr '\n' ' ')"
  elif [ $rc -ne 0 ] && ! grep -qE '^not ok [0-9]+ - ' "$TMP/out"; then
    fail "bad-input suite [$tag]" "exited $rc: $(tail -n 3 "$TMP/out" | tr '\n' ' ')"
  fi
}
launch "1 rank, direct" "$BIN"
launch "mpirun -n 3" mpirun -n 3 --oversubscribe "$BIN"
