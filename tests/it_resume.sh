#!/usr/bin/env bash
# it_resume.sh: a grid sweep killed at random moments and resumed (docs/results.md). The reference is an
# uninterrupted run of tests/fixtures/grid/resume.yaml (120 specifications) on 2 ranks. Then runs are
# stopped after a random number of records plus a random delay (bash RANDOM seeded from SEED below, so a
# failure can be replayed: the draws are printed): SIGTERM or SIGINT to the ranks (exit 143 / 130, one
# line, whole lines, no temporaries, manifest interrupted), two SIGTERMs (the second exits at once), SIGTERM to mpirun (Open MPI forwards it after 1 s: whatever
# finished is whole), SIGKILL of the ranks (whole lines, or one partial last line). Each is finished with
# --resume and its sorted records, "timings" removed, are byte-identical to the reference's. Also: a
# second run without --resume into a non-empty DIR is refused (one line, exit 2, nothing changed);
# --resume on a complete DIR does nothing new; a record with a wrong spec_hash is estimated again; a
# partial last line is cut.
source "$(dirname "$0")/lib.sh"
# children PID: the pids whose parent is PID (from /proc: pgrep is in procps, which a bare Debian lacks)
children() {
  local p st
  for p in /proc/[0-9]*; do
    { read -r st <"$p/stat"; } 2>/dev/null || continue
    st=${st##*) }  # after "pid (comm) ": "state ppid ..."
    st=${st#* }
    [ "${st%% *}" = "$1" ] && echo "${p#/proc/}"
  done | tr '\n' ' '
}
cd "$ROOT" || exit 1
SEED=${GR_RESUME_SEED:-20261130}
RANDOM=$SEED
echo "# seed $SEED (GR_RESUME_SEED=$SEED replays the draws below)"
P=$(sim_cached --east 40 --west 50 --months 48 --seed 3) || { fail "simulate the panel"; exit 0; }
CFG=tests/fixtures/grid/resume.yaml
RES="python3 tests/fixtures/grid/results.py"
N=120
one() { tr '\n' '|' <"$1" | head -c 300; }
tmpfiles() { find "$1" -name '*.tmp.*' | tr '\n' ' '; }
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# the reference
mpi 2 "$GR" grid "$CFG" --data "$P" --out "$TMP/ref" >"$TMP/ref.out" 2>"$TMP/ref.err"; rc=$?
if [ $rc = 0 ] && $RES norm "$TMP/ref/results.jsonl" "$TMP/ref.json" --drop timings >/dev/null && [ "$(lines "$TMP/ref/results.jsonl")" = $N ]; then
  ok "reference: $N specifications on 2 ranks, exit 0"
else fail "reference run" "rc=$rc $(one "$TMP/ref.err")"; exit 0; fi

# resume_check NAME DIR BEFORE: --resume DIR to completion (2 ranks); exit 0, the manifest's counts, no
# temporaries, each id once, and the sorted records without timings byte-identical to the reference's
resume_check() {
  local name=$1 dir=$2 before=$3 why=""
  mpi 2 "$GR" grid "$CFG" --data "$P" --out "$dir" --resume >"$TMP/res.out" 2>"$TMP/res.err"; local r=$?
  [ $r = 0 ] || why="exit $r: $(one "$TMP/res.err");"
  [ -z "$(tmpfiles "$dir")" ] || why="$why temporaries left: $(tmpfiles "$dir");"
  local m; m=$($RES manifest "$dir/manifest.json" selected=$N resumed="$before" done=$((N - before)) not_done=0 interrupted=false) || why="$why $m;"
  local ids; ids=$($RES ids "$dir/results.jsonl" | wc -l) || why="$why an id twice;"
  [ "$ids" = $N ] || why="$why $ids ids;"
  $RES norm "$dir/results.jsonl" "$TMP/$name.json" --drop timings >/dev/null && cmp -s "$TMP/$name.json" "$TMP/ref.json" ||
    why="$why records differ from the reference: $(diff "$TMP/$name.json" "$TMP/ref.json" | head -c 300 | tr '\n' '|')"
  if [ -z "$why" ]; then ok "$name: --resume finishes ($before kept, $((N - before)) run): byte-identical to the reference"
  else fail "$name: --resume" "$why"; fi
}

# interrupt NAME SIG TARGET: a run into $TMP/NAME on 2 ranks, stopped with SIG sent to TARGET (ranks or
# mpirun) once results.jsonl holds a random number of lines, after a random further delay
interrupt() {
  local name=$1 sig=$2 target=$3 dir="$TMP/$1" k d pid ranks why="" i
  if [ "$target" = mpirun ]; then k=$((1 + RANDOM % 5)); else k=$((1 + RANDOM % 80)); fi
  d=$((RANDOM % 100))
  echo "# $name: SIG$sig to $target after $k records + ${d} ms"
  mpirun -n 2 --oversubscribe "$GR" grid "$CFG" --data "$P" --out "$dir" >"$TMP/$name.out" 2>&1 &
  pid=$!
  for ((i = 0; i < 3000; i++)); do [ "$(lines "$dir/results.jsonl")" -ge $k ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.01; done
  sleep "$(printf '0.%03d' $d)"
  ranks=$(children $pid)
  if ! kill -0 $pid 2>/dev/null || [ -z "$ranks" ]; then
    wait $pid; fail "$name: the run ended before the signal" "rc=$? after $(lines "$dir/results.jsonl") lines"; return
  fi
  if [ "$target" = mpirun ]; then kill -"$sig" $pid
  elif [ "$target" = ranks-twice ]; then kill -"$sig" $ranks; kill -INT $ranks  # another signal ends it at once
  elif [ "$target" = ranks-double ]; then kill -"$sig" $ranks; kill -"$sig" $ranks  # the same again: one request
  else kill -"$sig" $ranks; fi
  wait $pid; local r=$?
  local nl; nl=$(lines "$dir/results.jsonl")
  echo "# $name: exit $r, $nl whole lines"
  case $sig in
    TERM|INT)
      local w want=143; [ "$sig" = INT ] && want=130
      w=$($RES lines "$dir/results.jsonl") || why="$w;"
      [ -z "$(tmpfiles "$dir")" ] || why="$why temporaries left: $(tmpfiles "$dir");"
      if [ "$target" = ranks-twice ]; then
        # two different signals: the second to arrive ends the process at once (Linux delivers pending standard
        # signals lowest number first, so either may come first): 130 or 143, and no orderly-stop line
        { [ $r = 130 ] || [ $r = 143 ]; } || why="$why exit $r, expected 130 or 143;"
        [ "$(grep -c '^gravrd: error:' "$TMP/$name.out")" -le 2 ] && grep -q "^gravrd: error: interrupted by SIG" "$TMP/$name.out" &&
          ! grep -q "specifications done" "$TMP/$name.out" ||
          why="$why message (expected an immediate stop): $(grep '^gravrd' "$TMP/$name.out" | head -c 200);"
      elif [ "$target" = ranks ] || [ "$target" = ranks-double ]; then
        [ $r = $want ] || why="$why exit $r, expected $want;"
        [ "$(grep -c '^gravrd: error:' "$TMP/$name.out")" = 1 ] &&
          grep -q "^gravrd: error: interrupted by SIG$sig: $nl of $N specifications done; --resume finishes$" "$TMP/$name.out" ||
          why="$why message: $(grep '^gravrd' "$TMP/$name.out" | head -c 200);"
        local m; m=$($RES manifest "$dir/manifest.json" interrupted=true done="$nl" not_done=$((N - nl)) selected=$N) || why="$why $m;"
        m=$($RES csv "$dir/results.jsonl" "$dir/results.csv" y bw excluded direction) || why="$why results.csv: $m;"
      else
        [ $r != 0 ] || why="$why exit 0 after SIGTERM to mpirun;"
      fi
      [ -z "$why" ] && ok "$name: SIG$sig to $target: $([ "$target" = mpirun ] || echo "exit $want, ")$([ "$target" = ranks ] && echo "one line, manifest interrupted, results.csv, ")whole lines, no temporaries" ||
        fail "$name: SIG$sig to $target" "$why" ;;
    KILL)
      local w; w=$($RES lines "$dir/results.jsonl" --partial-ok) && [ $r != 0 ] && ok "$name: SIGKILL of the ranks: exit $r, $w" ||
        fail "$name: SIGKILL of the ranks" "exit $r; $w" ;;
  esac
  resume_check "$name" "$dir" "$nl"
}
interrupt term1 TERM ranks
interrupt term2 TERM ranks
interrupt term3 TERM ranks
interrupt term4 TERM mpirun
interrupt int1 INT ranks
interrupt twice1 TERM ranks-twice
interrupt double1 TERM ranks-double
interrupt kill1 KILL ranks
interrupt kill2 KILL ranks
interrupt kill3 KILL ranks

# a second run without --resume into a non-empty DIR is refused: one line, exit 2, nothing changed
snap() { (cd "$1" && ls -l --time-style=+%s.%N && md5sum ./*); }
before=$(snap "$TMP/ref")
"$GR" grid "$CFG" --data "$P" --out "$TMP/ref" >"$TMP/o" 2>"$TMP/e"; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$TMP/e")" = 1 ] && grep -q "^gravrd: error: .*results.jsonl: results of an earlier run are here: use --resume" "$TMP/e" &&
  ! [ -s "$TMP/o" ] && [ "$(snap "$TMP/ref")" = "$before" ] && ok "without --resume into a non-empty DIR: one line, exit 2, DIR untouched" ||
  fail "without --resume into a non-empty DIR" "rc=$rc $(one "$TMP/e")"

# --resume on a complete DIR: nothing new
cp -a "$TMP/ref" "$TMP/done"
sum=$(md5sum <"$TMP/done/results.jsonl")
mpi 2 "$GR" grid "$CFG" --data "$P" --out "$TMP/done" --resume >"$TMP/o" 2>"$TMP/e"; rc=$?
m=$($RES manifest "$TMP/done/manifest.json" resumed=$N done=0 not_done=0 selected=$N)
[ $rc = 0 ] && [ "$(md5sum <"$TMP/done/results.jsonl")" = "$sum" ] && [ -n "$m" ] && [ "$m" = ok ] &&
  grep -q "grid: $N specifications selected: 0 done (0 failed), $N from an earlier run, 0 not done" "$TMP/e" &&
  ok "--resume on a complete DIR: exit 0, results.jsonl unchanged, manifest resumed $N" || fail "--resume on a complete DIR" "rc=$rc $m $(one "$TMP/e")"

# a record with a wrong spec_hash is estimated again (and its new record is the one that counts)
cp -a "$TMP/ref" "$TMP/hash" && rm "$TMP/hash/results.csv" "$TMP/hash/manifest.json"
sed -i '7s/"spec_hash":"[0-9a-f]*"/"spec_hash":"0123456789abcdef"/' "$TMP/hash/results.jsonl"
id7=$(sed -n 7p "$TMP/hash/results.jsonl" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["spec_id"], r["spec_hash"])')
mpi 2 "$GR" grid "$CFG" --data "$P" --out "$TMP/hash" --resume >"$TMP/o" 2>"$TMP/e"; rc=$?
m=$($RES manifest "$TMP/hash/manifest.json" resumed=$((N - 1)) done=1 not_done=0)
last=$(tail -n 1 "$TMP/hash/results.jsonl" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["spec_id"], r["spec_hash"])')
$RES norm "$TMP/hash/results.jsonl" "$TMP/hash.json" --drop timings >/dev/null
[ $rc = 0 ] && [ "$m" = ok ] && [ "${id7% *} " = "${last%% *} " ] && [ "${last#* }" != 0123456789abcdef ] && [ "$(lines "$TMP/hash/results.jsonl")" = $((N + 1)) ] &&
  cmp -s "$TMP/hash.json" "$TMP/ref.json" && ok "a record with a wrong spec_hash is estimated again on --resume (appended; equal to the reference)" ||
  fail "wrong spec_hash" "rc=$rc $m; edited '$id7', last '$last', $(lines "$TMP/hash/results.jsonl") lines"
# results.csv takes the last record of the id: one row set per id
why=$($RES csv "$TMP/hash/results.jsonl" "$TMP/hash/results.csv" y bw excluded direction) && ok "results.csv after a re-estimated record: the last record per id" ||
  fail "results.csv after a re-estimated record" "$why"

# a partial last line is cut by --resume
cp -a "$TMP/ref" "$TMP/part" && rm "$TMP/part/results.csv" "$TMP/part/manifest.json"
head -n $((N - 3)) "$TMP/ref/results.jsonl" >"$TMP/part/results.jsonl"
sed -n "$((N - 2))p" "$TMP/ref/results.jsonl" | head -c 150 >>"$TMP/part/results.jsonl"
w=$($RES lines "$TMP/part/results.jsonl" --partial-ok)
[ "$w" = "whole $((N - 3)) partial 1" ] || fail "partial last line: set-up" "$w"
resume_check partial "$TMP/part" $((N - 3))
w=$($RES lines "$TMP/part/results.jsonl") && [ "$w" = "whole $N partial 0" ] && ok "partial last line: cut, $N whole lines after --resume" ||
  fail "partial last line cut" "$w"

# a damaged line in the middle: --resume refuses, naming the line, and changes nothing
cp -a "$TMP/ref" "$TMP/dmg"
sed -i '4s/.*/{"spec_id": broken/' "$TMP/dmg/results.jsonl"
cp "$TMP/dmg/results.jsonl" "$TMP/dmg.before"
mpi 2 "$GR" grid "$CFG" --data "$P" --out "$TMP/dmg" --resume >"$TMP/o" 2>"$TMP/e"; rc=$?
[ $rc != 0 ] && [ "$(grep -c '^gravrd: error:' "$TMP/e")" = 1 ] && grep -q "results.jsonl: line 4 is not a record of gravrd grid" "$TMP/e" &&
  cmp -s "$TMP/dmg/results.jsonl" "$TMP/dmg.before" && ok "a damaged middle line: --resume refuses (line 4 named), the file unchanged" ||
  fail "damaged middle line" "rc=$rc $(one "$TMP/e")"

# --resume with another config into the same directory: the other config's records stay in results.jsonl but
# not in results.csv (one warning); the new config's specifications are all run
cp -a "$TMP/ref" "$TMP/other"
sed 's/bw: \[150, 200, 250, 300, 400\]/bw: [150, 200]/; s/^  y: \[log(trade), log(deals)\]/  y: [log(trade)]/; s/partner + log(distance_km)/partner/' \
  "$CFG" >"$TMP/other.yaml"
mpi 1 "$GR" grid "$TMP/other.yaml" --data "$P" --out "$TMP/other" --resume >"$TMP/o" 2>"$TMP/e"; rc=$?
rows=$(python3 -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(len({x['spec_id'] for x in r}))" "$TMP/other/results.csv" 2>/dev/null)
[ $rc = 0 ] && [ "$rows" = 24 ] && [ "$(lines "$TMP/other/results.jsonl")" = $((N + 24)) ] &&
  grep -q "results.jsonl: 120 record(s) of specifications that are not in $TMP/other.yaml" "$TMP/e" &&
  ok "--resume with another config: its 24 specifications in results.csv, the 120 earlier records left out (warned)" ||
  fail "--resume with another config" "rc=$rc rows=$rows $(lines "$TMP/other/results.jsonl") lines; $(one "$TMP/e")"
# the damaged line emptied by hand (as the error invites): --resume runs the missing specification
sed -i '4s/.*//' "$TMP/dmg/results.jsonl"
mpi 2 "$GR" grid "$CFG" --data "$P" --out "$TMP/dmg" --resume >"$TMP/o" 2>"$TMP/e"; rc=$?
m=$($RES manifest "$TMP/dmg/manifest.json" resumed=$((N - 1)) done=1 not_done=0)
[ $rc = 0 ] && [ "$m" = ok ] && ok "the damaged line emptied: --resume skips the blank line and runs that specification again" ||
  fail "blank line on --resume" "rc=$rc $m $(one "$TMP/e")"
