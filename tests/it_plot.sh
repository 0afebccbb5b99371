#!/usr/bin/env bash
# it_plot.sh: `gravrd plot` (docs/plot.md) on real grid output (configs/grid-150.yaml run on the default
# panel by `gravrd grid --out`) and on made-up records of configs/sweep-large.yaml (2,100 specifications):
# the SVG parses as XML; every mark's numbers are its record's and its position one linear map of them
# (tests/fixtures/plot/check_svg.py); the treated-pair counts equal a count made here from `gravrd dump`;
# the curve has one mark per ok estimate and the main specification where the config or --highlight puts
# it; 1 and 2 ranks write the same file; bad inputs give one error line, a non-zero exit and no file.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
D=$(sim_cached) || { fail "default panel"; exit 0; }
CHECK="python3 tests/fixtures/plot/check_svg.py"
G=$TMP/g150
mpi 2 "$GR" grid configs/grid-150.yaml --data "$D" --out "$G" >"$TMP/grid.out" 2>&1 ||
  { fail "grid-150 on the default panel" "$(tail -n 3 "$TMP/grid.out")"; exit 0; }
R=$G/results.jsonl

# kind bandwidth: log(trade), all controls, one series per direction (the plot: section of grid-150.yaml)
mkdir -p "$TMP/bw"
if "$GR" plot "$G" --config configs/grid-150.yaml --kind bandwidth --out "$TMP/bw/bw.svg" >"$TMP/o" 2>"$TMP/e" &&
   ! [ -s "$TMP/e" ] && [ "$(ls "$TMP/bw")" = bw.svg ]; then ok "bandwidth: written, nothing on stderr, no temporary left"
else fail "bandwidth: written" "$(head -c 300 "$TMP/e") $(ls "$TMP/bw")"; fi
if $CHECK bandwidth "$TMP/bw/bw.svg" "$R" partner 'y=log(trade)' 'controls=all controls' >"$TMP/bw.chk"; then
  ok "bandwidth: well-formed; 15 points = the records' estimates and intervals, on one linear scale"
else fail "bandwidth: marks against the records" "$(tail -n 1 "$TMP/bw.chk")"; fi
grep -q '^points 15$' "$TMP/bw.chk" || fail "bandwidth: 15 points (5 bandwidths x 3 directions)" "$(head -n 1 "$TMP/bw.chk")"
grep -q 'stroke-dasharray="5 4"' "$TMP/bw/bw.svg" && grep -c '<polygon' "$TMP/bw/bw.svg" | grep -qv '^0$' &&
  grep -q '>direction</text>' "$TMP/bw/bw.svg" && grep -q '>coefficient on partner</text>' "$TMP/bw/bw.svg" &&
  ok "bandwidth: zero line, marker shapes, legend title and axis label" || fail "bandwidth: picture elements"

# treated pairs at d: partner pairs whose segment pair also holds a non-partner pair, counted from the panel
for d in 50 75 100 125 150; do
  "$GR" dump "$D" --columns pair,partner,segpair_$d 2>/dev/null |
    awk -F, -v d="$d" 'NR > 1 && !seen[$1]++ { p[$1] = $2; s[$1] = $3; if ($2 == 0 && $3 != "") c[$3] = 1 }
                       END { n = 0; for (q in p) if (p[q] == 1 && s[q] != "" && (s[q] in c)) n++; print "treated " d " " n }'
done >"$TMP/treated.want"
grep '^treated ' "$TMP/bw.chk" >"$TMP/treated.got"
if [ "$(wc -l <"$TMP/treated.want")" -eq 5 ] && cmp -s "$TMP/treated.want" "$TMP/treated.got"; then
  ok "bandwidth: treated pairs per bandwidth = a count from gravrd dump ($(cut -d' ' -f3 "$TMP/treated.want" | tr '\n' ' '))"
else fail "bandwidth: treated pairs" "want $(tr '\n' ' ' <"$TMP/treated.want") got $(tr '\n' ' ' <"$TMP/treated.got")"; fi

# the same picture on 2 ranks (the panel opened collectively, drawn on rank 0); and the checker can fail
mpi 2 "$GR" plot "$R" --config configs/grid-150.yaml --kind bandwidth --out "$TMP/bw2.svg" --data "$D" >"$TMP/o" 2>&1 &&
  cmp -s "$TMP/bw/bw.svg" "$TMP/bw2.svg" && ok "bandwidth: the same SVG on 2 ranks, from results.jsonl and --data" ||
  fail "bandwidth on 2 ranks" "$(head -c 300 "$TMP/o")"
sed '0,/<circle cx="\([0-9.]*\)" cy="[0-9.]*"/s//<circle cx="\1" cy="101.00"/' "$TMP/bw/bw.svg" >"$TMP/moved.svg"
! $CHECK bandwidth "$TMP/moved.svg" "$R" partner 'y=log(trade)' 'controls=all controls' >/dev/null &&
  ok "bandwidth: the checker finds a moved mark" || fail "bandwidth: the checker accepts a moved mark"

# kind curve on the 150 real results: 144 estimates (6 have partner dropped as collinear), the main spec
"$GR" plot "$G" --config configs/grid-150.yaml --kind curve --out "$TMP/curve.svg" >"$TMP/o" 2>"$TMP/e"; rc=$?
main_id=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["axes"] == {"bw": "100", "controls": "all controls", "y": "log(trade)", "direction": "both directions"}: print(r["spec_id"])' "$R")
if [ $rc -eq 0 ] && $CHECK curve "$TMP/curve.svg" "$R" partner >"$TMP/curve.chk" && grep -q '^marks 144$' "$TMP/curve.chk" &&
   grep -q "^main $main_id\$" "$TMP/curve.chk" && grep -q 'where partner was dropped as collinear' "$TMP/curve.svg"; then
  ok "curve: 144 marks = the ok estimates, ranked, filled iff p < 0.05; main spec $main_id from plot: main"
else fail "curve on grid-150" "rc=$rc $(tail -n 2 "$TMP/curve.chk" 2>/dev/null) $(head -c 200 "$TMP/e")"; fi
other=$(sed -n 7p "$R" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["spec_id"])')
"$GR" plot "$G" --config configs/grid-150.yaml --kind curve --highlight "$other" --out "$TMP/hl.svg" >/dev/null 2>&1 &&
  $CHECK curve "$TMP/hl.svg" "$R" partner | grep -q "^main $other\$" && ok "curve: --highlight ID marks that spec" ||
  fail "curve: --highlight"
# --term in another spelling than the records': the records' term, named as they name it
"$GR" plot "$G" --config configs/grid-150.yaml --kind curve --term ' log( distance_km ) ' --out "$TMP/ld.svg" >/dev/null 2>&1 &&
  $CHECK curve "$TMP/ld.svg" "$R" 'log(distance_km)' >"$TMP/ld.chk" && grep -q 'coefficient on log(distance_km)' "$TMP/ld.svg" &&
  ! grep -q 'log( distance_km )' "$TMP/ld.svg" && ok "curve: --term ' log( distance_km ) ' plots log(distance_km), so labelled" ||
  fail "curve: --term in another spelling" "$(tail -n 2 "$TMP/ld.chk" 2>/dev/null)"

# kind curve on 2,100 made-up records (a record given twice: the last counts; a partial last line: ignored)
"$GR" grid configs/sweep-large.yaml --data "$D" --dry-run >"$TMP/sweep.lst" 2>&1 &&
  python3 tests/fixtures/plot/fake_results.py "$TMP/sweep.lst" "$TMP/sweep.jsonl" || fail "made-up sweep records"
"$GR" plot "$TMP/sweep.jsonl" --config configs/sweep-large.yaml --kind curve --out "$TMP/sweep.svg" >"$TMP/o" 2>"$TMP/e"; rc=$?
if [ $rc -eq 0 ] && $CHECK curve "$TMP/sweep.svg" "$TMP/sweep.jsonl" partner >"$TMP/sweep.chk" &&
   grep -q '^marks 2079$' "$TMP/sweep.chk" && [ "$(sed -n 's/^texts //p' "$TMP/sweep.chk")" -lt 100 ] &&
   grep -q "^gravrd: warning: $TMP/sweep.jsonl:2102: the last line is not a whole record" "$TMP/e" && [ "$(wc -l <"$TMP/e")" -eq 1 ]; then
  ok "curve, 2,100 specifications: 2079 marks (21 failed), no per-spec labels ($(sed -n 's/^texts //p' "$TMP/sweep.chk") texts), partial line warned"
else fail "curve on sweep-large" "rc=$rc $(tail -n 1 "$TMP/sweep.chk" 2>/dev/null) $(head -c 300 "$TMP/e")"; fi

# bad inputs: one error line, non-zero exit, no SVG (nor temporary) left in the output directory
bad_config() {  # grid-150.yaml with another plot: section (the ids do not depend on it)
  sed '/^plot:/,$d' configs/grid-150.yaml >"$TMP/$1.yaml"; printf 'plot:\n%s\n' "$2" >>"$TMP/$1.yaml"
}
bad_config series_typo '  series: dirn'
bad_config dup '  filter: {y: log(trade)}'
bad_config value_typo '  filter: {controls: everything}'
bad_config main_ambiguous '  main: {bw: 100, direction: both directions}'
bad_config badkey '  colour: red'
awk 'NR == 3 { print substr($0, 1, 50); next } 1' "$R" >"$TMP/midbroken.jsonl"
"$GR" grid configs/table2.yaml --data "$D" --dry-run >"$TMP/t2.lst" 2>&1 &&
  python3 tests/fixtures/plot/fake_results.py "$TMP/t2.lst" "$TMP/t2.jsonl"
bad() {  # bad NAME STATUS ERE ARGS...: `gravrd plot ARGS --out $TMP/badout/x.svg`
  local name=$1 want=$2 pat=$3 rc; shift 3
  rm -rf "$TMP/badout"; mkdir -p "$TMP/badout"
  "$GR" plot "$@" --out "$TMP/badout/x.svg" >"$TMP/o" 2>"$TMP/e"; rc=$?
  if [ $rc -eq "$want" ] && [ "$(wc -l <"$TMP/e")" -eq 1 ] && grep -qE "^gravrd: error: $pat" "$TMP/e" &&
     ! [ -s "$TMP/o" ] && [ -z "$(ls -A "$TMP/badout")" ]; then ok "bad input: $name"
  else fail "bad input: $name" "rc=$rc (want $want), $(head -c 300 "$TMP/e") $(ls -A "$TMP/badout")"; fi
}
C=configs/grid-150.yaml
bad "unknown kind" 2 "--kind: expected bandwidth or curve, got 'pie'" "$G" --config $C --kind pie
bad "unknown term" 2 "--term: no result in $R has the term 'partnr' \(terms: partner, log\(distance_km\)\)" \
  "$G" --config $C --kind curve --term partnr
bad "results missing" 1 "$TMP/nothere/results.jsonl: cannot open: No such file or directory" \
  "$TMP/nothere/results.jsonl" --config $C --kind curve
bad "plot: series names an unknown axis" 1 "$TMP/series_typo.yaml:[0-9]+: plot: series: no axis 'dirn' under axes: \(axes: bw, controls, y, direction\)" \
  "$G" --config "$TMP/series_typo.yaml" --kind bandwidth
bad "duplicate points" 1 "$TMP/dup.yaml:[0-9]+: plot: two specifications at one point of the plot: .* both have bandwidth 50" \
  "$G" --config "$TMP/dup.yaml" --kind bandwidth
bad "plot: filter names an unknown value" 1 "$TMP/value_typo.yaml:[0-9]+: plot: filter: axis 'controls' has no value 'everything'" \
  "$G" --config "$TMP/value_typo.yaml" --kind bandwidth
bad "plot: main matches several specs" 1 "$TMP/main_ambiguous.yaml:[0-9]+: plot: main: 10 specifications take these values; name a value of axis 'controls' too" \
  "$G" --config "$TMP/main_ambiguous.yaml" --kind curve
bad "plot: unknown key" 1 "$TMP/badkey.yaml:[0-9]+: plot: unknown key 'colour'" "$G" --config "$TMP/badkey.yaml" --kind curve
bad "results of another config (none of its specifications)" 1 "$R:[0-9]+: spec_id [0-9a-f]{16} is no specification of configs/table2.yaml" \
  "$G" --config configs/table2.yaml --kind curve
# results holding some of a config's specifications (configs/table3.yaml shares 6 with grid-150): the others are
# ignored with one warning, as gravrd table does (a directory resumed with another config, docs/grid.md)
"$GR" plot "$G" --config configs/table3.yaml --kind curve --out "$TMP/t3.svg" >/dev/null 2>"$TMP/t3.err"; rc=$?
[ $rc = 0 ] && [ -s "$TMP/t3.svg" ] && [ "$(grep -c 'warning: .*144 records of specifications that configs/table3.yaml does not have' "$TMP/t3.err")" = 1 ] &&
  ok "plot: records of another config among the results are ignored with one warning" || fail "plot: mixed records" "rc=$rc $(head -c 300 "$TMP/t3.err")"
bad "a broken line before the last" 1 "$TMP/midbroken.jsonl:3: not a JSON record" \
  "$TMP/midbroken.jsonl" --config $C --kind curve
bad "kind bandwidth without segment pairs" 1 "configs/table2.yaml:[0-9]+: specification 1 \(.*\) names no segpair_<d> column" \
  "$TMP/t2.jsonl" --config configs/table2.yaml --kind bandwidth
bad "--highlight: unknown id" 2 "--highlight: no specification of $C has the id '0123456789abcdef'" \
  "$G" --config $C --kind curve --highlight 0123456789abcdef
bad "--highlight with kind bandwidth" 2 "--highlight: only with --kind curve" "$G" --config $C --kind bandwidth --highlight "$other"
bad "--data: not a panel" 1 "$TMP/nothere.h5: " "$G" --config $C --kind bandwidth --data "$TMP/nothere.h5"
bad "--data with kind curve (the curve reads no panel)" 2 "--data: only with --kind bandwidth" \
  "$G" --config $C --kind curve --data "$TMP/nothere.h5"

# the output may not be an input; 2 ranks: still one line
cp "$R" "$TMP/keep.jsonl"
"$GR" plot "$TMP/keep.jsonl" --config $C --kind curve --out "$TMP/keep.jsonl" >"$TMP/o" 2>"$TMP/e"; rc=$?
[ $rc -ne 0 ] && grep -q "output would overwrite the input file" "$TMP/e" && cmp -s "$R" "$TMP/keep.jsonl" &&
  ok "--out the results file: refused, the file unchanged" || fail "--out the results file" "rc=$rc $(cat "$TMP/e")"
check_fails "bad input on 2 ranks: one line" "plot: series: no axis 'dirn'" mpi 2 "$GR" plot "$G" --config "$TMP/series_typo.yaml" \
  --kind bandwidth --out "$TMP/x2.svg"
[ "$(grep -c '^gravrd: error:' "$TMP/out")" -eq 1 ] && ! [ -e "$TMP/x2.svg" ] && ok "2 ranks: exactly one error line, no file" ||
  fail "2 ranks: one error line" "$(cat "$TMP/out")"
