#!/usr/bin/env bash
# it_grid_run.sh: running a grid (`gravrd grid CONFIG --out DIR`, docs/results.md) on a small simulated
# panel with tests/fixtures/grid/run.yaml (96 specifications: merged outcomes, where clauses with text
# labels, a bandwidth axis, split and fsplit, weights, two-way clusters, vcov hc1 and iid, singleton
# removal, a model without fixed effects, and 10 that fail: a where clause that keeps no row, an outcome
# constant on its sample). Every record equals what `gravrd estimate` gives for the record's settings (1e-10 relative;
# failed ones fail in estimate with the same reason); 1, 2 and 3 ranks, group sizes 1 and 2, and
# --no-merge agree to 1e-10; results.csv holds the records' numbers; the manifest's counts; --only and
# --shard run exactly what they select; bad runner inputs are one line, exit 1 or 2, nothing written.
# tests/fixtures/grid/results.py reads the output directory.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
P=$(sim_cached --east 20 --west 25 --months 24 --seed 7) || { fail "simulate the small panel"; exit 0; }
CFG=tests/fixtures/grid/run.yaml
RES="python3 tests/fixtures/grid/results.py"
NSPEC=96 NFAILED=10
one() { tr '\n' '|' <"$1" | head -c 300; }

# gridrun NAME N [ARGS...]: the grid on N ranks into $TMP/NAME; sets rc; stdout/stderr in $TMP/NAME.{out,err}
gridrun() {
  local name=$1 n=$2; shift 2
  mpi "$n" "$GR" grid "$CFG" --data "$P" --out "$TMP/$name" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; rc=$?
}

# ---- the reference run, 1 rank: exit 4, 30 failed with reasons, the others done ----
gridrun r1 1
summary="grid: $NSPEC specifications selected: $NSPEC done ($NFAILED failed), 0 from an earlier run, 0 not done;"
if [ $rc = 4 ] && grep -qF "$summary" "$TMP/r1.err" && ! [ -s "$TMP/r1.out" ]; then ok "1 rank: exit 4, summary: $NFAILED of $NSPEC failed"
else fail "1 rank: exit 4 and the summary" "rc=$rc $(one "$TMP/r1.err")"; fi
why=$(python3 - "$TMP/r1/results.jsonl" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
bad = [r["label"] for r in recs if (r["status"] == "failed") != (r["axes"]["v"] == "no rows" or
       (r["axes"]["y"] == "log1p(deals > 200)" and r["axes"]["v"] == "singletons"))]
bad += [r["label"] + " (no reason)" for r in recs if r["status"] == "failed" and (not r.get("reason") or r["results"])]
bad += [r["label"] + " (no results)" for r in recs if r["status"] == "ok" and not r["results"]]
nsamp = {"split by dir": 2, "fsplit by dir": 3}
bad += [r["label"] + " (samples)" for r in recs if r["status"] == "ok" and len(r["results"]) != nsamp.get(r["axes"]["v"], 1)]
print("; ".join(bad[:4]) if bad or len(recs) != 96 else "", end="")
EOF
)
[ -z "$why" ] && ok "records: failed exactly where no row is kept or the outcome is constant, with a reason; split/fsplit samples" ||
  fail "records: status, reason, samples" "$why"

# the features reached the model: what each value of v sets shows in its results
why=$(python3 - "$TMP/r1/results.jsonl" <<'EOF2'
import json, sys
want = {  # v -> (settings that must be there, a test on every result m)
    "all": ({"cluster": "pair"}, lambda m: m["vcov"] == "cluster" and m["n_clusters"] == [1000] and len(m["fixef_sizes"]) == 3),
    "east to west": ({"where": 'dir == "East to west"'}, lambda m: m["sample"] == 'where: dir == "East to west"' and m["nobs"] <= 12000),
    "split by dir": ({"split": "dir"}, lambda m: m["sample"] in ("East to west", "West to east")),
    "fsplit by dir": ({"fsplit": "dir"}, lambda m: m["sample"] in ("Full sample", "East to west", "West to east")),
    "weighted": ({"weights": "1 + log1p(deals)"}, lambda m: True),
    "two-way": ({"cluster": "exporter,importer"}, lambda m: m["cluster_vars"] == ["exporter", "importer"] and m["n_clusters"] == [45, 45]),
    "hc1": ({"vcov": "hc1"}, lambda m: m["vcov"] == "hc1" and m["n_clusters"] == []),
    "iid": ({"vcov": "iid"}, lambda m: m["vcov"] == "iid" and m["n_clusters"] == []),
    "singletons": ({"fixef-rm": "singleton"}, lambda m: m["dropped"]["singletons"] > 0),
    "no fe": ({}, lambda m: m["fixef_sizes"] == {} and any(c["term"].startswith("ntreated_") for c in m["coefficients"])),
}
bad = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    sets, test = want.get(r["axes"]["v"], ({}, lambda m: True))
    if any(r["settings"].get(k) != v for k, v in sets.items()) or not all(test(m) for m in r["results"]):
        bad.append(r["label"])
    if r["axes"]["v"] in ("hc1", "iid") and "cluster" in r["settings"]:
        bad.append(r["label"] + " (cluster: ~ not dropped)")
print("; ".join(bad[:4]), end="")
EOF2
)
[ -z "$why" ] && ok "records: each value's settings reached its model (samples, weights, clusters, vcov, singletons, no fe)" ||
  fail "records: settings reached the model" "$why"

# ---- every record equals gravrd estimate with the record's settings (one in-process launch) ----
mkdir -p "$TMP/est"
while IFS=$'\t' read -r -a c; do case_add "$TMP/est.cases" "${c[@]}"; done < <($RES estcases "$TMP/r1/results.jsonl" "$P" "$TMP/est")
cases_run "$TMP/est.cases" 1 >"$TMP/est.tap"
n_not=$(grep -c '^not ok' "$TMP/est.tap"); n_ok=$(grep -c '^ok' "$TMP/est.tap")
[ "$n_not" = 0 ] && [ "$n_ok" = $NSPEC ] && ok "estimate runs as the $NSPEC records say: $((NSPEC - NFAILED)) done, $NFAILED fail with the record's reason" ||
  fail "estimate per record" "$n_ok ok, $n_not not: $(grep -m2 '^not ok' "$TMP/est.tap" | tr '\n' '|')"
if out=$($RES estpair "$TMP/r1/results.jsonl" "$TMP/est" "$TMP/grid.json" "$TMP/estimate.json") &&
   [ "$out" = $((NSPEC - NFAILED)) ]; then
  check_close "every done record's results = gravrd estimate's (1e-10, iterations ignored)" "$TMP/grid.json" "$TMP/estimate.json" 1e-10 --ignore iterations
else fail "grid vs estimate" "$out"; fi

# ---- 2 and 3 ranks, group sizes 1 and 2, --no-merge: the same records ----
$RES norm "$TMP/r1/results.jsonl" "$TMP/r1.json" >/dev/null
for run in "r2 2 --group-size 1" "r2g2 2 --group-size 2" "r3 3" "r3g2 3 --group-size 2" "nomerge 2 --no-merge"; do
  set -- $run; name=$1 n=$2; shift 2
  gridrun "$name" "$n" "$@"
  if [ $rc != 4 ]; then fail "$name ($n ranks $*): exit 4" "rc=$rc $(one "$TMP/$name.err")"; continue; fi
  if ! why=$($RES norm "$TMP/$name/results.jsonl" "$TMP/$name.json"); then fail "$name: results.jsonl" "$why"; continue; fi
  # --abs 1e-14: a p-value of 1e-32 or 1e-68 carries its t statistic's 1e-12 rounding (which the order of the
  # sums across ranks sets) amplified by about t^2, ~1e-10 relative: compared absolutely below 1e-14
  check_close "$n ranks${*:+ $*}: the $NSPEC records = 1 rank's (1e-10)" "$TMP/$name.json" "$TMP/r1.json" 1e-10 --abs 1e-14 --ignore iterations
done
# the groups: 3 ranks with group size 2 are groups of 2 and 1
why=$($RES manifest "$TMP/r3g2/manifest.json" ranks=3 group_size=2 groups=2) && why=$($RES manifest "$TMP/r2/manifest.json" ranks=2 group_size=1 groups=2) &&
  ok "manifest: 3 ranks with --group-size 2 are 2 groups, 2 ranks with 1 are 2" || fail "manifest: ranks and groups" "$why"
# merging: fewer demeaned columns than from scratch; --no-merge demeans as from scratch
python3 - "$TMP/r1/manifest.json" "$TMP/nomerge/manifest.json" >"$TMP/m.out" <<'EOF'
import json, sys
m, nm = (json.load(open(p)) for p in sys.argv[1:3])
ok = (m["demeaned_columns"] < m["demeaned_columns_from_scratch"] and m["models"] < m["specifications"]
      and nm["demeaned_columns"] == nm["demeaned_columns_from_scratch"] == m["demeaned_columns_from_scratch"])
print("" if ok else f"merged {m['demeaned_columns']} / {m['demeaned_columns_from_scratch']} ({m['models']} models), "
      f"--no-merge {nm['demeaned_columns']} / {nm['demeaned_columns_from_scratch']}", end="")
EOF
[ ! -s "$TMP/m.out" ] && ok "merged outcomes demean fewer columns than from scratch; --no-merge demeans as from scratch" ||
  fail "demeaned columns" "$(cat "$TMP/m.out")"

# ---- results.csv and manifest.json ----
why=$($RES csv "$TMP/r1/results.jsonl" "$TMP/r1/results.csv" y bw v) &&
  ok "results.csv: header, one row per spec x sample x term sorted by id ($why rows), the records' numbers exactly" ||
  fail "results.csv" "$why"
why=$($RES csv "$TMP/r3g2/results.jsonl" "$TMP/r3g2/results.csv" y bw v) && ok "results.csv of 3 ranks: the records' numbers" ||
  fail "results.csv, 3 ranks" "$why"
why=$($RES manifest "$TMP/r1/manifest.json" specifications=$NSPEC selected=$NSPEC done=$((NSPEC - NFAILED)) failed=$NFAILED \
      resumed=0 not_done=0 interrupted=false ranks=1 groups=1 "config=\"$CFG\"" "data=\"$P\"") &&
  ok "manifest.json: counts (done, failed, selected), demeaned_columns <= from scratch" || fail "manifest.json" "$why"
ls "$TMP/r1" | grep -q tmp && fail "no temporary files left" "$(ls "$TMP/r1")" || ok "no temporary files left in DIR"
# settings: every record names vcov (docs/results.md: "the resolved setting texts that are set, vcov always")
n_novcov=$(python3 -c 'import json,sys; print(sum("vcov" not in json.loads(l)["settings"] for l in open(sys.argv[1])))' "$TMP/r1/results.jsonl")
[ "$n_novcov" = 0 ] && ok "records: settings always hold vcov" || fail "records: settings always hold vcov" "$n_novcov records without it"

# --resume of the complete run: nothing new, and still exit 4 (docs/results.md: 0 means none failed;
# results.jsonl holds the 10 failed records)
cp -a "$TMP/r1" "$TMP/r1again"
mpi 1 "$GR" grid "$CFG" --data "$P" --out "$TMP/r1again" --resume >"$TMP/again.out" 2>"$TMP/again.err"; rc=$?
cmp -s "$TMP/r1/results.jsonl" "$TMP/r1again/results.jsonl" && ok "--resume of a complete run with failed records: results.jsonl unchanged" ||
  fail "--resume of a complete run: results.jsonl unchanged"
[ $rc = 4 ] && ok "--resume of a complete run with $NFAILED failed records: exit 4" ||
  fail "--resume of a complete run with $NFAILED failed records: exit 4" "rc=$rc: $(one "$TMP/again.err")"

# ---- --only and --shard run exactly what they select ----
"$GR" grid "$CFG" --dry-run --data "$P" | grep -v '^#' | cut -f1 >"$TMP/all.ids"
id1=$(sed -n 5p "$TMP/all.ids"); id2=$(sed -n 12p "$TMP/all.ids")  # fsplit (done), no rows (failed)
gridrun only 2 --only "$id2,$id1"
printf '%s\n' "$id1" "$id2" | sort >"$TMP/want.ids"
why=""; : >"$TMP/got.ids"
if [ $rc = 4 ] && $RES ids "$TMP/only/results.jsonl" >"$TMP/got.ids" 2>&1 && cmp -s "$TMP/got.ids" "$TMP/want.ids" &&
   why=$($RES manifest "$TMP/only/manifest.json" selected=2 done=1 failed=1 specifications=$NSPEC); then
  ok "--only: exactly the two ids asked for (one fails: exit 4)"
else fail "--only" "rc=$rc $(one "$TMP/got.ids") ${why:-}"; fi
gridrun shard 2 --shard 3/7
awk 'NR % 7 == 3' "$TMP/all.ids" | sort >"$TMP/want.ids"
nwant=$(wc -l <"$TMP/want.ids"); why=""; : >"$TMP/got.ids"
# exit 4 when a selected specification fails in the reference run, else 0
want_rc=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(4 if any(r[i.strip()]["status"] == "failed" for i in open(sys.argv[2])) else 0)' "$TMP/r1.json" "$TMP/want.ids")
if [ $rc = "$want_rc" ] && $RES ids "$TMP/shard/results.jsonl" >"$TMP/got.ids" 2>&1 && cmp -s "$TMP/got.ids" "$TMP/want.ids" &&
   why=$($RES manifest "$TMP/shard/manifest.json" selected=$nwant); then
  ok "--shard 3/7: exactly the $nwant specifications at positions 3, 10, 17, ..."
else fail "--shard 3/7" "rc=$rc (want $want_rc) got $(wc -l <"$TMP/got.ids") ids, want $nwant ${why:-}"; fi
# the selected ones have the reference's numbers
python3 - "$TMP/r1.json" "$TMP/shard/results.jsonl" "$TMP/shard.ref.json" <<'EOF'
import json, sys
ref = json.load(open(sys.argv[1]))
ids = [json.loads(l)["spec_id"] for l in open(sys.argv[2])]
json.dump({i: ref[i] for i in ids}, open(sys.argv[3], "w"))
EOF
$RES norm "$TMP/shard/results.jsonl" "$TMP/shard.json" >/dev/null
check_close "--shard 3/7: the reference's records (1e-10)" "$TMP/shard.json" "$TMP/shard.ref.json" 1e-10 --ignore iterations

# ---- a one-spec smoke run: exit 0 ----
gridrun smoke 1 --only "$(sed -n 1p "$TMP/all.ids")"
[ $rc = 0 ] && [ "$(wc -l <"$TMP/smoke/results.jsonl")" = 1 ] && [ -s "$TMP/smoke/results.csv" ] && [ -s "$TMP/smoke/manifest.json" ] &&
  ok "one specification: exit 0, one record, results.csv, manifest.json" || fail "one-spec run" "rc=$rc $(one "$TMP/smoke.err")"

# ---- bad runner inputs: one line on stderr, exit 1 or 2, nothing written in DIR ----
# bad NAME WANT_RC PATTERN DIR_TO_CHECK CMD...: DIR_TO_CHECK's listing (with sizes) is the same after
bad() {
  local name=$1 want=$2 pat=$3 dir=$4 before after; shift 4
  before=$(ls -lR "$dir" 2>&1; md5sum "$dir"/* 2>/dev/null)
  "$@" >"$TMP/b.out" 2>"$TMP/b.err"; local r=$?
  after=$(ls -lR "$dir" 2>&1; md5sum "$dir"/* 2>/dev/null)
  local n; n=$(wc -l <"$TMP/b.err")
  if [ $r = "$want" ] && [ "$n" = 1 ] && grep -qE "^gravrd: error: .*$pat" "$TMP/b.err" && ! [ -s "$TMP/b.out" ] && [ "$before" = "$after" ]; then
    ok "bad input: $name: one line, exit $want, nothing written"
  else fail "bad input: $name" "rc=$r (want $want), $n lines: $(one "$TMP/b.err") $([ "$before" = "$after" ] || echo "DIR changed")"; fi
}
B="$TMP/bad"; mkdir -p "$B"
echo x >"$B/file"
bad "--out is a file" 2 "not a directory" "$B" "$GR" grid "$CFG" --data "$P" --out "$B/file"
bad "--group-size abc" 2 "group-size" "$B" "$GR" grid "$CFG" --data "$P" --out "$B/gabc" --group-size abc
bad "--group-size 0" 2 "group-size" "$B" "$GR" grid "$CFG" --data "$P" --out "$B/g0" --group-size 0
bad "--shard 0/3" 2 "shard" "$B" "$GR" grid "$CFG" --data "$P" --out "$B/sh" --shard 0/3
bad "--only with an unknown id" 2 "only" "$B" "$GR" grid "$CFG" --data "$P" --out "$B/on" --only 0123456789abcdef
bad "--progress -1" 2 "progress" "$B" "$GR" grid "$CFG" --data "$P" --out "$B/pr" --progress -1
sed 's/^title:/group-size: two\ntitle:/' "$CFG" >"$TMP/gs.yaml"
bad "group-size: two in the config" 1 "gs.yaml:[0-9]+: .*group-size" "$B" "$GR" grid "$TMP/gs.yaml" --data "$P" --out "$B/gs"
bad "a panel that does not exist" 1 "nothing\.h5" "$B" "$GR" grid "$CFG" --data "$B/nothing.h5" --out "$B/np"
mkdir -p "$B/rd/results.jsonl"
bad "--resume with results.jsonl a directory" 1 "results\.jsonl" "$B/rd" "$GR" grid "$CFG" --data "$P" --out "$B/rd" --resume
# --out in a directory nobody may not write: run as nobody (on copies of the config and the panel)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  NB="$TMP/nb"; mkdir -p "$NB/ro" && cp "$CFG" "$P" "$NB/" && chmod 755 "$NB" "$NB/ro" && chmod 644 "$NB"/*.* && chmod 711 "$TMP" "$B"
  bad "--out under a directory without write permission (as nobody)" 1 "ro/out.*Permission denied" "$NB" \
    setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$NB" "$(nobody_gr)" grid "$NB/run.yaml" --data "$NB/$(basename "$P")" --out "$NB/ro/out"
else echo "# SKIP: not root or no setpriv: the permission case is skipped"; fi
