#!/usr/bin/env bash
# tests/it_summary.sh: gravrd summary (docs/summary.md). Against R (mean, sd, quantile(type = 7), min, max
# on a column exported with gravrd dump) on the default simulated panel and a small one: rows, --where,
# --by, --level pair, an expression; the same numbers on 1-4 ranks (1e-12); a one-row sample (sd null,
# "-" printed, never NaN); configs/table1-summary.yaml through gravrd grid (1 and 3 ranks, records equal
# to the command run directly) and gravrd table; bad inputs, one error line each.
source "$(dirname "$0")/lib.sh"
D=$(sim_cached) || { fail "simulate the default panel"; exit 0; }
S=$(sim_cached --east 20 --west 25 --months 24 --seed 7) || { fail "simulate the small panel"; exit 0; }

# compare A.json R.txt TOL: every line "sample|variable n mean sd min p25 p50 p75 max" of R.txt equals the
# result of that sample and variable in A.json (n exactly, the rest to TOL relative; NA = null)
compare() {
  python3 - "$@" <<'EOF'
import json, math, sys
doc = json.load(open(sys.argv[1])); tol = float(sys.argv[3]); bad = []; seen = 0
res = {(r["sample"], r["variable"]): r for r in doc["results"]}
for line in open(sys.argv[2]):
    key, *vals = line.rstrip("\n").split("\t")
    sample, var = key.split("|")
    r = res.get((sample, var))
    if r is None: bad.append("no result for %s" % key); continue
    seen += 1
    if int(vals[0]) != r["nobs"]: bad.append("%s: n %s vs %s" % (key, r["nobs"], vals[0]))
    for k, v in zip(["mean", "sd", "min", "p25", "p50", "p75", "max"], vals[1:]):
        g = r[k]
        if v == "NA":
            if g is not None: bad.append("%s %s: %r vs NA" % (key, k, g))
        elif g is None or abs(g - float(v)) > tol * max(1.0, abs(float(v))):
            bad.append("%s %s: %r vs R %s" % (key, k, g, v))
if seen != len(doc["results"]): bad.append("R gave %d of %d results" % (seen, len(doc["results"])))
print("; ".join(bad[:4])); sys.exit(1 if bad else 0)
EOF
}
check_r() {  # NAME A.json R.txt
  if compare "$2" "$3" 1e-12 >"$TMP/cmp.out" 2>&1; then ok "$1"; else fail "$1" "$(head -c 400 "$TMP/cmp.out")"; fi
}

# R's statistics of the rows of a CSV (gravrd dump): per sample (all, and each dir with --where / --by),
# the rows where each variable is finite; pair-level: one row per pair
cat >"$TMP/stats.R" <<'EOF'
a <- commandArgs(TRUE); out <- a[2]
h <- strsplit(readLines(a[1], n = 1), ",")[[1]]  # column classes given: read.csv guessing them takes 4x as long
d <- read.csv(a[1], colClasses = ifelse(h == "dir", "character", "numeric"))
st <- function(key, x) {
  x <- x[is.finite(x)]
  v <- if (length(x)) c(mean(x), sd(x), min(x), quantile(x, c(.25, .5, .75), type = 7), max(x)) else rep(NA, 7)
  cat(key, "\t", length(x), sep = ""); for (z in v) cat("\t", if (is.na(z)) "NA" else sprintf("%.17g", z), sep = ""); cat("\n")
}
to <- function(mode) sink(paste0(out, "_", mode, ".txt"))
if (!is.null(d$distance_km) && is.null(d$control_type)) {  # the default panel
  to("default"); for (v in c("trade", "seller_cr")) st(paste0("Full sample|", v), d[[v]])
  st("Full sample|log(trade)", log(d$trade)); sink()
  e <- d[d$dir == "East to west", ]
  to("where"); for (v in c("trade", "seller_cr")) st(paste0('where: dir == "East to west"|', v), e[[v]])
  st('where: dir == "East to west"|log(trade)', log(e$trade)); sink()
  to("pair"); e <- e[!duplicated(e$pair), ]; st('where: dir == "East to west"|distance_km', e$distance_km); sink()
} else {  # the small panel
  to("by"); for (g in sort(unique(d$dir))) { e <- d[d$dir == g, ]; for (v in c("trade", "seller_cr")) st(paste0(g, "|", v), e[[v]]) }; sink()
  to("bypair"); for (g in sort(unique(d$control_type))) { e <- d[d$control_type == g, ]; e <- e[!duplicated(e$pair), ]
    st(paste0("control_type = ", g, "|distance_km"), e$distance_km); st(paste0("control_type = ", g, "|migration"), e$migration) }; sink()
}
EOF

# the same in Python with numpy (np.quantile's default, 'linear', is R's type 7), used when R is not
# installed (make deps does not install it): an independent reference either way
cat >"$TMP/stats.py" <<'EOF'
import csv, math, sys
import numpy as np
src, out = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(src)))
def col(rs, name):
    return np.array([float(r[name]) if r[name] != "" else math.nan for r in rs])
def st(f, key, x):
    x = x[np.isfinite(x)]
    v = [x.mean(), x.std(ddof=1), x.min(), *np.quantile(x, [.25, .5, .75]), x.max()] if len(x) else [None] * 7
    f.write(key + "\t" + str(len(x)) + "".join("\t" + ("NA" if z is None or not math.isfinite(z) else "%.17g" % z) for z in v) + "\n")
def uniq_pairs(rs):
    seen, o = set(), []
    for r in rs:
        if r["pair"] not in seen: seen.add(r["pair"]); o.append(r)
    return o
with np.errstate(divide="ignore", invalid="ignore"):
    if "distance_km" in rows[0] and "control_type" not in rows[0]:
        with open(out + "_default.txt", "w") as f:
            for v in ("trade", "seller_cr"): st(f, "Full sample|" + v, col(rows, v))
            st(f, "Full sample|log(trade)", np.log(col(rows, "trade")))
        e = [r for r in rows if r["dir"] == "East to west"]
        w = 'where: dir == "East to west"|'
        with open(out + "_where.txt", "w") as f:
            for v in ("trade", "seller_cr"): st(f, w + v, col(e, v))
            st(f, w + "log(trade)", np.log(col(e, "trade")))
        with open(out + "_pair.txt", "w") as f:
            st(f, w + "distance_km", col(uniq_pairs(e), "distance_km"))
    else:
        with open(out + "_by.txt", "w") as f:
            for g in sorted(set(r["dir"] for r in rows)):
                e = [r for r in rows if r["dir"] == g]
                for v in ("trade", "seller_cr"): st(f, g + "|" + v, col(e, v))
        with open(out + "_bypair.txt", "w") as f:
            for g in sorted(set(r["control_type"] for r in rows), key=float):
                e = uniq_pairs([r for r in rows if r["control_type"] == g])
                gk = "%g" % float(g)
                st(f, "control_type = " + gk + "|distance_km", col(e, "distance_km"))
                st(f, "control_type = " + gk + "|migration", col(e, "migration"))
EOF
# reference FILE.csv PREFIX: R if installed, else numpy
reference() {
  if [ "${GR_SUMMARY_REF:-}" != numpy ] && command -v Rscript >/dev/null 2>&1; then Rscript "$TMP/stats.R" "$1" "$2"
  else echo "# Rscript not installed: numpy is the reference (np.quantile linear = R type 7)"; /usr/bin/python3 "$TMP/stats.py" "$1" "$2"; fi  # numpy: python3-h5py brings it (make deps)
}

# ---- the default panel against R, and across ranks ----
"$GR" dump "$D" --columns trade,seller_cr,dir,pair,distance_km >"$TMP/d.csv" || fail "dump the default panel"
reference "$TMP/d.csv" "$TMP/r" 2>"$TMP/r.err" || fail "reference on the default panel" "$(head -c 300 "$TMP/r.err")"
for n in 1 3; do
  mpi $n "$GR" summary --data "$D" --vars 'trade, seller_cr, log(trade)' --json "$TMP/def$n.json" --quiet \
    || fail "default panel, $n ranks: gravrd summary exited non-zero"
  check_r "default panel, $n rank(s): rows of trade, seller_cr (missing cells), log(trade) equal R (1e-12)" "$TMP/def$n.json" "$TMP/r_default.txt"
  mpi $n "$GR" summary --data "$D" --vars 'trade,seller_cr,log(trade)' --where 'dir == "East to west"' --json "$TMP/w$n.json" --quiet
  check_r "default panel, $n rank(s): --where dir == \"East to west\" equals R" "$TMP/w$n.json" "$TMP/r_where.txt"
  mpi $n "$GR" summary --data "$D" --vars distance_km --level pair --where 'dir == "East to west"' --json "$TMP/p$n.json" --quiet
  check_r "default panel, $n rank(s): --level pair, distance_km over the 9,570 east-to-west pairs equals R" "$TMP/p$n.json" "$TMP/r_pair.txt"
done
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; sys.exit(r["nobs"] != 9570 or r["level"] != "pair")' "$TMP/p1.json" \
  && ok "--level pair counts 9,570 pairs, level: pair" || fail "--level pair count" "$(head -c 300 "$TMP/p1.json")"
check_close "default panel: 1 and 3 ranks agree to 1e-12" "$TMP/def1.json" "$TMP/def3.json" 1e-12

# ---- the small panel: --by, --level pair --by, 1-4 ranks ----
"$GR" dump "$S" --columns trade,seller_cr,dir,pair,distance_km,control_type,migration >"$TMP/s.csv" || fail "dump the small panel"
reference "$TMP/s.csv" "$TMP/r" 2>"$TMP/r.err" || fail "reference on the small panel" "$(head -c 300 "$TMP/r.err")"
for n in 1 2 3 4; do
  mpi $n "$GR" summary --data "$S" --vars trade,seller_cr --by dir --json "$TMP/by$n.json" --quiet
  mpi $n "$GR" summary --data "$S" --vars distance_km,migration --by control_type --level pair --json "$TMP/bp$n.json" --quiet
done
for n in 1 3; do
  check_r "small panel, $n rank(s): --by dir equals R per direction" "$TMP/by$n.json" "$TMP/r_by.txt"
  check_r "small panel, $n rank(s): --by control_type --level pair equals R" "$TMP/bp$n.json" "$TMP/r_bypair.txt"
done
for n in 2 3 4; do
  check_close "small panel: --by dir, $n ranks equal 1 rank (1e-12)" "$TMP/by1.json" "$TMP/by$n.json" 1e-12
  check_close "small panel: --level pair --by, $n ranks equal 1 rank (1e-12)" "$TMP/bp1.json" "$TMP/bp$n.json" 1e-12
done

# ---- one row: sd not computable (null, printed "-"), quantiles the value itself; never NaN ----
"$GR" summary --data "$S" --vars trade --where 'pair == 0 && month == 1' --json "$TMP/one.json" >"$TMP/one.txt" 2>&1
python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))["results"][0]
sys.exit(not (r["nobs"] == 1 and r["sd"] is None and r["min"] == r["p25"] == r["p50"] == r["p75"] == r["max"] == r["mean"]))' "$TMP/one.json" \
  && grep -qE '^trade +1 +0 .* - ' "$TMP/one.txt" && ! grep -qiw nan "$TMP/one.txt" "$TMP/one.json" \
  && ok "one row: sd null and printed '-', every quantile the value, no NaN" || fail "one row" "$(cat "$TMP/one.txt" | head -c 400)"
"$GR" summary --data "$S" --vars 'log(trade - trade)' --json - --quiet >"$TMP/inf.json" 2>"$TMP/inf.err"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; sys.exit(not (r["nobs"] == 0 and r["mean"] is None and r["missing"] > 0))' "$TMP/inf.json" \
  && ! grep -qiw nan "$TMP/inf.json" && ok "a variable never finite: n 0, statistics null, its rows counted missing" || fail "never finite" "$(head -c 300 "$TMP/inf.json")"

# ---- bad inputs: one line each, on 1 and 3 ranks ----
one_line() {  # NAME PATTERN CMD...: check_fails, and exactly one "gravrd: error:" line
  local name=$1 pat=$2; shift 2
  local before; before=$(check_fails "$name" "$pat" "$@")
  if [[ "$before" == ok* ]] && [ "$(grep -c 'gravrd: error:' "$TMP/out")" != 1 ]; then fail "$name" "$(grep -c 'gravrd: error:' "$TMP/out") error lines"; else echo "$before"; fi
}
for n in 1 3; do
  one_line "$n rank(s): unknown column in --vars" "unknown column 'traed'|traed" mpi $n "$GR" summary --data "$S" --vars trade,traed
  one_line "$n rank(s): empty sample" "no rows satisfy" mpi $n "$GR" summary --data "$S" --vars trade --where 'month > 1000'
  one_line "$n rank(s): --by a column that is not whole numbers" "--by: column 'distance_km' has the value .*not a whole number" \
    mpi $n "$GR" summary --data "$S" --vars trade --by distance_km
  one_line "$n rank(s): --level pair with a variable that varies within pairs" "--level pair: 'trade' varies within pair" \
    mpi $n "$GR" summary --data "$S" --vars distance_km,trade --level pair
  one_line "$n rank(s): unknown label in --where" "East to wst" mpi $n "$GR" summary --data "$S" --vars trade --where 'dir == "East to wst"'
done
one_line "--by an expression, not a column" "--by: expected a column name, got 'log\(dir\)'" "$GR" summary --data "$S" --vars trade --by 'log(dir)'
one_line "--by an unknown column" "dirr" "$GR" summary --data "$S" --vars trade --by dirr
one_line "--vars with an empty item" "--vars: expected a comma-separated list of expressions, got 'trade,,deals'" "$GR" summary --data "$S" --vars trade,,deals
one_line "--vars that does not parse" "--vars: at character" "$GR" summary --data "$S" --vars 'log(trade'
one_line "--vars missing" "--vars EXPR,... is required" "$GR" summary --data "$S"
one_line "--level unknown" "--level: expected rows or pair, got 'city'" "$GR" summary --data "$S" --vars trade --level city
one_line "missing panel" "no such file" "$GR" summary --data "$TMP/none.h5" --vars trade
check_fails "--json into a missing directory: error, exit non-zero" "nodir" "$GR" summary --data "$S" --vars trade --json "$TMP/nodir/x.json" --quiet

# ---- Table 1: the grid config, 1 and 3 ranks, gravrd table ----
"$GR" grid configs/table1-summary.yaml --data "$D" --dry-run >"$TMP/dry.out" 2>&1 && [ "$(tail -n 1 "$TMP/dry.out")" = "# 7 specifications" ] \
  && ok "configs/table1-summary.yaml: --dry-run, 7 specifications" || fail "table1 dry-run" "$(tail -n 2 "$TMP/dry.out")"
for n in 1 3; do
  mpi $n "$GR" grid configs/table1-summary.yaml --data "$D" --out "$TMP/t1g$n" --quiet >"$TMP/g$n.out" 2>&1 \
    && ok "table1 grid on $n rank(s)" || fail "table1 grid on $n rank(s)" "$(tail -n 2 "$TMP/g$n.out")"
  "$GR" table "$TMP/t1g$n" --config configs/table1-summary.yaml >"$TMP/t1_$n.md" 2>"$TMP/t1_$n.err" || fail "table on $n rank(s)' results" "$(cat "$TMP/t1_$n.err")"
done
cmp -s "$TMP/t1_1.md" "$TMP/t1_3.md" && ok "Table 1 from 1- and 3-rank grids is the same" || fail "Table 1 1 vs 3 ranks" "$(diff "$TMP/t1_1.md" "$TMP/t1_3.md" | head -5)"
grep -qF '| **Panel A: City partnerships** |' "$TMP/t1_1.md" && grep -qE '^\| Partnership pair \| 19,140 \| ' "$TMP/t1_1.md" \
  && grep -qE '^\| Distance \(km\) \| 9,570 \| ' "$TMP/t1_1.md" && grep -qE '^\| Trade amount \| 574,200 \| ' "$TMP/t1_1.md" \
  && grep -qF '| Variable | Observations | Mean | SD | Min | P25 | P50 | P75 | Max |' "$TMP/t1_1.md" && [ "$(grep -c '^| \*\*Panel' "$TMP/t1_1.md")" = 7 ] \
  && ok "Table 1: statistics as columns, 7 panels, 19,140 directed pairs, 9,570 city pairs, 574,200 rows a direction" \
  || fail "Table 1 layout" "$(head -c 600 "$TMP/t1_1.md")"
# the record of Panel E equals gravrd summary run directly
"$GR" summary --data "$D" --vars 'distance_km, gdp_diff' --level pair --where 'dir == "East to west"' --json "$TMP/e.json" --quiet
python3 - "$TMP/t1g3/results.jsonl" "$TMP/e.json" >"$TMP/rec.out" 2>&1 <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
rec = [r for r in recs if r["axes"]["section"] == "City pair characteristics"][0]
direct = json.load(open(sys.argv[2]))["results"]
sys.exit(0 if rec["status"] == "ok" and rec["results"] == direct else 1)
EOF
[ $? = 0 ] && ok "the grid's Panel E record (3 ranks) equals gravrd summary run directly" || fail "Panel E record" "$(cat "$TMP/rec.out")"
# the numbers in the table are the records' (Panel B, trade: 2 decimals, thousands separated)
python3 - "$TMP/t1g1/results.jsonl" "$TMP/t1_1.md" >"$TMP/num.out" 2>&1 <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in recs if x["axes"]["section"] == "E-commerce trade flows (full sample)"][0]["results"][0]
want = "| Trade amount | {:,} | {} |".format(r["nobs"], " | ".join("{:,.2f}".format(r[k]) for k in ["mean", "sd", "min", "p25", "p50", "p75", "max"]))
sys.exit(0 if want in open(sys.argv[2]).read() else print(want) or 1)
EOF
[ $? = 0 ] && ok "Table 1's Trade amount row prints the record's numbers" || fail "Trade amount row" "$(cat "$TMP/num.out")"
"$GR" table "$TMP/t1g1" --config configs/table1-summary.yaml --format tex >"$TMP/t1.tex" 2>&1 && grep -qF 'Variable & Observations & Mean' "$TMP/t1.tex" \
  && ok "Table 1 as LaTeX" || fail "Table 1 tex" "$(head -c 300 "$TMP/t1.tex")"

# ---- bad configs ----
printf 'data: x.h5\nbase:\n  command: summary\n  formula: "y ~ x"\n  options: {vars: trade}\n' >"$TMP/b1.yaml"
one_line "config: summary with a formula" "b1.yaml:4: formula: not a setting of command summary" "$GR" grid "$TMP/b1.yaml" --data "$S" --dry-run
printf 'data: x.h5\nbase:\n  command: summary\n  options: {level: pair}\n' >"$TMP/b2.yaml"
one_line "config: summary without vars" "b2.yaml:3: command summary needs options: vars:" "$GR" grid "$TMP/b2.yaml" --data "$S" --dry-run
printf 'data: x.h5\naxes:\n  k:\n    - {label: s, command: summary, options: {vars: trade}}\n    - {label: e, formula: "log(trade) ~ partner"}\n' >"$TMP/b3.yaml"
"$GR" grid "$TMP/b3.yaml" --data "$S" --out "$TMP/b3" --quiet >/dev/null 2>&1
one_line "table: summary and regressions in one table" "run command: summary and 1 do not" "$GR" table "$TMP/b3" --config "$TMP/b3.yaml"
printf 'data: x.h5\nbase: {command: summary, options: {vars: "trade, deals"}}\ntable: {columns: [], term-labels: {trad: T}}\n' >"$TMP/b4.yaml"
"$GR" grid "$TMP/b4.yaml" --data "$S" --out "$TMP/b4" --quiet >/dev/null 2>&1
one_line "table: a label for no variable shown" "b4.yaml:3: table: term-labels: 'trad' is no variable" "$GR" table "$TMP/b4" --config "$TMP/b4.yaml"

# values whose squares leave double's range (1e300, 1e-300): the SD is scaled, not inf or 0 (once: null, and 0)
PX=$(sim_cached --east 5 --west 6 --months 3 --seed 1)
for n in 1 2; do
  mpi "$n" "$GR" summary --data "$PX" --vars 'log(distance_km),log(distance_km)*1e300,log(distance_km)*1e-300' \
    --json "$TMP/sdscale.$n.json" >/dev/null 2>"$TMP/sdscale.err"
  if /usr/bin/python3 -c "import json,sys
r=json.load(open(sys.argv[1]))['results']; sd=[x['sd'] for x in r]
sys.exit(not (abs(sd[1] / 1e300 / sd[0] - 1) < 1e-12 and abs(sd[2] / 1e-300 / sd[0] - 1) < 1e-12))" "$TMP/sdscale.$n.json" 2>/dev/null
  then ok "summary: SD of values near 1e300 and 1e-300 = the SD of the values times the scale (1e-12, $n rank(s))"
  else fail "summary: SD of huge and tiny values ($n rank(s))" "$(head -c 400 "$TMP/sdscale.$n.json" 2>/dev/null) $(tail -n 1 "$TMP/sdscale.err")"; fi
done

# a text column's codes are not summarised (once: the mean of the codes, silently); a comparison of it is
check_one_error "summary: a text column is refused" "--vars: 'dir' is a text column \(2 labels, stored as their codes\)" \
  summary --data "$S" --vars 'trade,dir'
"$GR" summary --data "$S" --vars 'dir == "East to west"' >"$TMP/dirshare.out" 2>&1 &&
  ok "summary: an expression of a text column (dir == \"East to west\") is summarised" || fail "summary of dir == label" "$(tail -n 1 "$TMP/dirshare.out")"
