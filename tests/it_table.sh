#!/usr/bin/env bash
# it_table.sh: `gravrd table` (docs/table.md) on real `gravrd grid --out DIR` output for the default
# simulated panel. configs/table2.yaml in md, tex and csv: every number read back equals its record
# (tests/fixtures/grid-results/check_table.py); the tex compiles in a plain article with booktabs when
# pdflatex is installed. tests/fixtures/grid-results/small.yaml, its records edited (edit_records.py): the
# stars at their thresholds, a split specification (two columns), a failed and a missing specification, a
# stale record replaced by the last one, a partial last line; the defaults without a table: section; the
# same table on 3 ranks; --out through a temporary; bad inputs: one line each, exit non-zero.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
FX=tests/fixtures/grid-results
PANEL=$(sim_cached) || { fail "simulated panel"; exit 0; }

# check_out NAME FMT TABLE RECORDS LAYOUT: the table's numbers equal the records'
check_out() {
  if python3 "$FX/check_table.py" "$2" "$3" "$4" "$5" >"$TMP/chk" 2>&1 && grep -q '^checked [1-9]' "$TMP/chk"; then ok "$1 ($(cat "$TMP/chk"))"
  else fail "$1" "$(head -c 400 "$TMP/chk")"; fi
}

# ---- Table 2 of the study from the grid runner's output
"$GR" grid configs/table2.yaml --data "$PANEL" --out "$TMP/g2" >"$TMP/grid.out" 2>&1 || { fail "gravrd grid configs/table2.yaml" "$(tail -n 2 "$TMP/grid.out")"; exit 0; }
cat >"$TMP/lay2.json" <<'J'
{"terms": {"Partner": "partner", "log distance": "log(distance_km)"}, "axes": ["y", "direction"]}
J
for f in md tex csv; do
  "$GR" table "$TMP/g2" --config configs/table2.yaml --format "$f" >"$TMP/t2.$f" 2>"$TMP/t2.err"; rc=$?
  if [ $rc -ne 0 ] || [ -s "$TMP/t2.err" ]; then fail "table2 --format $f" "rc=$rc $(head -c 300 "$TMP/t2.err")"; continue; fi
  check_out "table2 --format $f: coefficients, stars, standard errors, adjusted R2, observations equal the records" \
    "$f" "$TMP/t2.$f" "$TMP/g2/results.jsonl" "$TMP/lay2.json"
done
# the layout of the config: 2 panels of 6 columns, the labels of term-labels and fe-labels
[ "$(grep -c '^| \*\*Panel' "$TMP/t2.md")" = 2 ] && head -n 3 "$TMP/t2.md" | grep -q '^|  | (1) | (2) | (3) | (4) | (5) | (6) |$' &&
  grep -q '^| Exporter x month FE | Yes | Yes | Yes | Yes | Yes | Yes |$' "$TMP/t2.md" &&
  grep -q '^\\multicolumn{3}{c}{log(trade)}\|& \\multicolumn{3}{c}{log(trade)} & \\multicolumn{3}{c}{log(deals)}' "$TMP/t2.tex" &&
  ok "table2: two panels of six columns, axis groups merged in tex, the config's labels" || fail "table2 layout" "$(head -n 8 "$TMP/t2.md")"
# the same cells in md and csv
python3 - "$TMP/t2.md" "$TMP/t2.csv" >"$TMP/cmp" 2>&1 <<'PY' && ok "table2: md and csv hold the same cells" || fail "md vs csv" "$(head -c 300 "$TMP/cmp")"
import csv, re, sys
md = [[c.strip().strip("*") if i == 0 else c.strip() for i, c in enumerate(re.split(r"(?<!\\)\|", l)[1:-1])]
      for l in open(sys.argv[1]) if l.startswith("|") and not l.startswith("|:")]
cs = list(csv.reader(open(sys.argv[2])))
sys.exit(0 if md == cs else 1)
PY
# LaTeX: compiles in a plain article with booktabs
if command -v pdflatex >/dev/null 2>&1; then
  mkdir -p "$TMP/tex" && cp "$TMP/t2.tex" "$TMP/tex/t.tex"
  printf '\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n\\input{t}\n\\end{document}\n' >"$TMP/tex/doc.tex"
  (cd "$TMP/tex" && timeout 120 pdflatex -interaction=nonstopmode -halt-on-error doc.tex >log.txt 2>&1) && [ -s "$TMP/tex/doc.pdf" ] &&
    ok "table2 --format tex compiles (pdflatex, article + booktabs)" || fail "pdflatex" "$(grep -m 3 -A 2 '^!' "$TMP/tex/log.txt" | tr '\n' ' ')"
else
  echo "# SKIP: pdflatex not installed, the .tex is not compiled (apt-get install texlive-latex-base texlive-latex-recommended)"
fi

# ---- the small grid: stars at the thresholds, a split, a failed and a missing specification
"$GR" grid "$FX/small.yaml" --data "$PANEL" --out "$TMP/gs" >"$TMP/grid.out" 2>&1 || { fail "gravrd grid small.yaml" "$(tail -n 2 "$TMP/grid.out")"; exit 0; }
python3 "$FX/edit_records.py" "$TMP/gs/results.jsonl" "$TMP/s.jsonl" || { fail "edit_records.py"; exit 0; }
cat >"$TMP/lays.json" <<'J'
{"terms": {"partner": "partner", "log(distance_km)": "log(distance_km)"}, "axes": ["sample"], "panel_axis": "y"}
J
for f in md tex csv; do
  "$GR" table "$TMP/s.jsonl" --config "$FX/small.yaml" --format "$f" >"$TMP/s.$f" 2>"$TMP/s.err"; rc=$?
  if [ $rc -ne 0 ]; then fail "small --format $f" "rc=$rc $(head -c 300 "$TMP/s.err")"; continue; fi
  check_out "small --format $f: the numbers equal the last record of each specification" "$f" "$TMP/s.$f" "$TMP/s.jsonl" "$TMP/lays.json"
done
grep -q '^gravrd: warning: .*s.jsonl:7: the last line is not a whole record' "$TMP/s.err" && [ "$(wc -l <"$TMP/s.err")" = 1 ] &&
  ok "a partial last line: ignored with one warning" || fail "partial last line" "$(cat "$TMP/s.err")"
# stars: p 0.0099 ***, 0.01 **, 0.0499 **, 0.05 *, 0.0999 *, 0.1 none (edit_records.py); the stale 99 is gone
row() { awk -v p="$1" -v t="$2" '/^\| \*\*Panel/ { in_p = index($0, p) > 0 } in_p && index($0, "| " t " |") == 1 { print; exit }' "$TMP/s.md"; }
stars() { row "$1" "$2" | awk -F' \\| ' -v c="$3" '{ s = $(c + 2); sub(/^[-0-9.]*/, "", s); sub(/ \|$/, "", s); print s "." }'; }
got="$(stars 'Panel A' partner 0)$(stars 'Panel A' 'log(distance_km)' 0)$(stars 'Panel A' partner 3)$(stars 'Panel A' 'log(distance_km)' 3)$(stars 'Panel B' partner 0)$(stars 'Panel B' 'log(distance_km)' 0)"
[ "$got" = "***.**.**.*.*.." ] && ok "stars: p<0.01 ***, p<0.05 **, p<0.1 *, at and just below each threshold" || fail "stars" "got '$got'"
! grep -q '99\.000' "$TMP/s.md" && ok "a specification recorded twice: the last record counts" || fail "last record per spec_id" "the stale 99.000 is shown"
# the split specification: two columns with a Sample row; a null standard error is "(-)" with a note, never NaN
grep -q '^|  | all | by direction | by direction | west to east |$' "$TMP/s.md" && grep -q '^| Sample |  | East to west | West to east |  |$' "$TMP/s.md" &&
  grep -q '| (-) |' "$TMP/s.md" && grep -q '^-: not computable' "$TMP/s.md" && ! grep -qi 'nan\|inf' "$TMP/s.md" &&
  ok "split: one column per sample; null shown as -, with a note; no NaN" || fail "split / null" "$(sed -n 5,9p "$TMP/s.md")"
# failed: "failed" and the reason in a note; missing: an empty column and a note
grep -q '^| partner | 0.122\* | failed |  |  |$' "$TMP/s.md" &&
  grep -q '^Column (2) of Panel B: log(deals): failed: formula: something went wrong here (specification [0-9a-f]\{16\}, y=log(deals), sample=by direction)\.$' "$TMP/s.md" &&
  grep -q '^Column (3) of Panel B: log(deals): not in the results yet (specification [0-9a-f]\{16\}, y=log(deals), sample=west to east)\.$' "$TMP/s.md" &&
  grep -q '^Observations,"1,141,767",,,$' "$TMP/s.csv" &&
  ok "failed specification: 'failed' and its reason; missing one: an empty column and a note" || fail "failed / missing" "$(tail -n 12 "$TMP/s.md")"
# tex escaping: the title's & % _ | print as text
grep -q '^\\caption{Small fixture: stars \\& 100\\% of the\\_cases \\textbar{} edges}$' "$TMP/s.tex" &&
  ok "tex: special characters escaped" || fail "tex escaping" "$(grep caption "$TMP/s.tex")"
if command -v pdflatex >/dev/null 2>&1; then
  cp "$TMP/s.tex" "$TMP/tex/t.tex" && (cd "$TMP/tex" && rm -f doc.pdf && timeout 120 pdflatex -interaction=nonstopmode -halt-on-error doc.tex >log.txt 2>&1) &&
    [ -s "$TMP/tex/doc.pdf" ] && ok "small --format tex compiles" || fail "pdflatex small" "$(grep -m 3 -A 2 '^!' "$TMP/tex/log.txt" | tr '\n' ' ')"
fi

# ---- defaults without table:, the directory as RESULTS, 3 ranks, --out
sed '/^table:/,$d' "$FX/small.yaml" >"$TMP/notable.yaml"
"$GR" table "$TMP/gs" --config "$TMP/notable.yaml" >"$TMP/d.md" 2>"$TMP/d.err" &&
  [ "$(grep -c '^| \*\*Panel' "$TMP/d.md")" = 2 ] && grep -q '^| \*\*Panel A: log(trade)\*\* |' "$TMP/d.md" &&
  grep -q '^|  | all | by direction | by direction | west to east |$' "$TMP/d.md" &&
  ok "no table: section: the last axis makes the columns, the others the panels" || fail "defaults" "$(head -c 400 "$TMP/d.md") $(cat "$TMP/d.err")"
mpi 3 "$GR" table "$TMP/s.jsonl" --config "$FX/small.yaml" >"$TMP/s3.md" 2>/dev/null && cmp -s "$TMP/s3.md" "$TMP/s.md" &&
  ok "3 ranks: the same table" || fail "3 ranks" "$(diff "$TMP/s3.md" "$TMP/s.md" | head -n 5)"
"$GR" table "$TMP/s.jsonl" --config "$FX/small.yaml" --out "$TMP/out.md" >"$TMP/o" 2>/dev/null && cmp -s "$TMP/out.md" "$TMP/s.md" && ! [ -s "$TMP/o" ] &&
  [ -z "$(ls "$TMP" | grep 'out.md.tmp')" ] && ok "--out FILE: the table, nothing on stdout, no temporary left" || fail "--out"
cp "$TMP/s.jsonl" "$TMP/keep.jsonl"
check_fails "--out the results file itself: refused" "output would overwrite the input file" "$GR" table "$TMP/s.jsonl" --config "$FX/small.yaml" --out "$TMP/s.jsonl"
cmp -s "$TMP/s.jsonl" "$TMP/keep.jsonl" && ok "the results file is unchanged" || fail "results file changed"

# select:, terms:, digits:, stats: n_clusters; a Standard errors row when the specifications differ
cat >"$TMP/sel.yaml" <<'Y'
data: data/default.h5
base:
  formula: "{y} ~ partner + log(distance_km) | exporter^month + importer^month"
  cluster: pair
axes:
  y: [log(trade), log(deals)]
  se:
    - {label: pair}
    - {label: robust, vcov: hc1, cluster: ~}
    - {label: exporter, cluster: exporter}
table:
  columns: [se]
  select: {y: log(deals), se: [pair, robust]}
  terms: [log(distance_km)]
  stats: [n_clusters, nobs]
  digits: 4
Y
"$GR" grid "$TMP/sel.yaml" --data "$PANEL" --out "$TMP/gsel" >"$TMP/grid.out" 2>&1 || fail "gravrd grid sel.yaml" "$(tail -n 2 "$TMP/grid.out")"
"$GR" table "$TMP/gsel" --config "$TMP/sel.yaml" >"$TMP/sel.md" 2>"$TMP/sel.err"
read -r d1 d2 <<<"$(python3 -c '
import json, sys
r = {x["axes"]["se"]: x for x in map(json.loads, open(sys.argv[1])) if x["axes"]["y"] == "log(deals)"}
print(*["%.4f" % next(c["estimate"] for c in r[k]["results"][0]["coefficients"] if c["term"] == "log(distance_km)") for k in ("pair", "robust")])
' "$TMP/gsel/results.jsonl")"
grep -q '^|  | pair | robust |$' "$TMP/sel.md" && grep -q "^| log(distance_km) | $d1\*\{0,3\} | $d2\*\{0,3\} |\$" "$TMP/sel.md" &&
  [ "$(grep -c '^| ' "$TMP/sel.md")" = 9 ] && grep -q '^| Clusters | [0-9,]* |  |$' "$TMP/sel.md" &&
  grep -q '^| Standard errors | clustered by pair | heteroskedasticity-robust (HC1) |$' "$TMP/sel.md" &&
  grep -q '^Standard errors in parentheses\.' "$TMP/sel.md" &&
  ok "select:, terms:, digits: 4, stats: [n_clusters, nobs]; a Standard errors row when they differ" ||
  fail "select / terms / digits / stats" "$(cat "$TMP/sel.md" "$TMP/sel.err" | head -c 900)"

# ---- bad inputs: one line "gravrd: error: ...", exit non-zero, nothing on stdout
# bad NAME EXPECTED-LINE(ERE) ARG...: also exactly one line on stderr
bad() {
  local name=$1 pat=$2 rc; shift 2
  "$GR" table "$@" >"$TMP/bo" 2>"$TMP/be"; rc=$?
  if [ $rc -eq 0 ]; then fail "$name" "exited 0"
  elif [ "$(wc -l <"$TMP/be")" != 1 ] || ! grep -qE "^gravrd: error: $pat\$" "$TMP/be"; then fail "$name" "rc=$rc: $(head -c 300 "$TMP/be")"
  elif [ -s "$TMP/bo" ]; then fail "$name" "printed on stdout"
  else ok "$name"; fi
}
# cfg LINES...: the small config with its table: section replaced by LINES (the section starts at line 15)
cfg() { { sed '/^table:/,$d' "$FX/small.yaml"; printf '%s\n' "$@"; } >"$TMP/c.yaml"; }
C="$TMP/c.yaml"
head -n -1 "$TMP/s.jsonl" >"$TMP/clean.jsonl"
cfg 'table:' '  columns: [sample]' '  colums: [y]'
bad "unknown key in table:" "$C:17: table: unknown key 'colums' \(expected title, columns, .*\)" "$TMP/clean.jsonl" --config "$C"
cfg 'table:' '  columns: [sample, dir]'
bad "unknown axis in columns" "$C:16: table: columns: no axis 'dir' in the config \(axes: y, sample\)" "$TMP/clean.jsonl" --config "$C"
cfg 'table:' '  columns: [sample]' '  panels: [y]' '  terms: [partner, distance]'
bad "unknown term" "$C:18: table: terms: 'distance' is no term of the specifications shown \(terms: partner, log\(distance_km\)\)" "$TMP/clean.jsonl" --config "$C"
# a term spelled otherwise than the formula labels it; panels of an axis lettered among those select: keeps
cfg 'table:' '  columns: [sample]' '  panels: [y]' '  select: {y: [log(deals)]}' '  terms: [" log( distance_km ) "]' \
  '  term-labels: {"log(distance_km )": "Distance (log)"}'
"$GR" table "$TMP/clean.jsonl" --config "$C" >"$TMP/sel.md" 2>"$TMP/sel.err" && grep -q '^| \*\*Panel A: log(deals)\*\* |' "$TMP/sel.md" &&
  ! grep -q 'Panel B' "$TMP/sel.md" && grep -q '^| Distance (log) | -\?[0-9]' "$TMP/sel.md" && ! grep -q '^| partner' "$TMP/sel.md" &&
  ok "terms and term-labels: ' log( distance_km ) ' is the formula's log(distance_km); the one panel select: keeps is Panel A" ||
  fail "term spelling, panel letters" "$(head -c 400 "$TMP/sel.md") $(cat "$TMP/sel.err")"
cfg 'table:' '  columns: [sample]' '  panels: [y]' '  terms:' '    - log(distance_km)' '    - " log( distance_km ) "'
bad "a term given twice in two spellings" "$C:20: table: terms: 'log\(distance_km\)' given twice \(also at line 19\)" "$TMP/clean.jsonl" --config "$C"
cfg 'table:' '  columns: [sample]'
bad "an axis in neither columns nor panels" "$C:15: table: specifications 1 \(y=log\(trade\), sample=all\) and 4 \(y=log\(deals\), sample=all\) fall in one column: axis y varies but is in neither columns nor panels .*" "$TMP/clean.jsonl" --config "$C"
cfg 'table:' '  columns: [sample]' '  panels: [sample]'
bad "an axis in both columns and panels" "$C:17: table: axis 'sample' is in both columns and panels" "$TMP/clean.jsonl" --config "$C"
cfg 'table:' '  columns: [sample]' '  panels:' '    - {label: Trade, y: log(trad)}'
bad "an unknown value in a panel" "$C:18: table: panels: axis 'y' has no value 'log\(trad\)' \(values: log\(trade\), log\(deals\)\)" "$TMP/clean.jsonl" --config "$C"
cfg 'table:' '  panels: [y]' '  fe-labels: {exporter: "Exporter FE"}'
bad "fe-labels: an unknown fixed effect" "$C:17: table: fe-labels: 'exporter' is no fixed effect of the specifications shown" "$TMP/clean.jsonl" --config "$C"
cfg 'table:' '  panels: [y]' '  stats: [adj_r2, aic]'
bad "stats: an unknown statistic" "$C:17: table: stats: expected one of adj_r2, r2, within_r2, nobs, n_clusters, got 'aic'" "$TMP/clean.jsonl" --config "$C"
cfg 'table:' '  digits: 12'
bad "digits out of range" "$C:16: table: digits: expected a whole number from 0 to 8, got '12'" "$TMP/clean.jsonl" --config "$C"
cfg 'table: [sample]'
bad "table: not a mapping" "$C:15: table: expected a mapping, got a list" "$TMP/clean.jsonl" --config "$C"
bad "results file missing" "$TMP/none.jsonl: cannot open: No such file or directory" "$TMP/none.jsonl" --config "$FX/small.yaml"
mkdir -p "$TMP/empty-dir"
bad "results directory without results.jsonl" "$TMP/empty-dir/results.jsonl: cannot open: No such file or directory" "$TMP/empty-dir" --config "$FX/small.yaml"
printf 'spec_id,estimate\nabc,1\n' >"$TMP/r.csv"
bad "results not JSON" "$TMP/r.csv:1: not a JSON record \(expected one JSON object per line, docs/results.md\)" "$TMP/r.csv" --config "$FX/small.yaml"
{ head -n 2 "$TMP/s.jsonl"; echo '{"spec_id": "e80e8e285b48141f", "status": "ok"}'; } >"$TMP/r.jsonl"
bad "a record without results" "$TMP/r.jsonl:3: a record with status ok needs a non-empty results list" "$TMP/r.jsonl" --config "$FX/small.yaml"
bad "unknown --format" "--format: expected md, tex or csv, got 'html'" "$TMP/s.jsonl" --config "$FX/small.yaml" --format html
bad "config missing" ".*nope.yaml.*" "$TMP/s.jsonl" --config "$TMP/nope.yaml"
bad "no --config" "table: --config CONFIG.yaml is required \(see 'gravrd table --help'\)" "$TMP/s.jsonl"
cfg 'table:' '  columns: [sample]' '  colums: [y]'
check_fails "bad table: on 3 ranks: exit non-zero on every rank" "table: unknown key 'colums'" mpi 3 "$GR" table "$TMP/clean.jsonl" --config "$C"
