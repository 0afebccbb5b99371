#!/usr/bin/env bash
# tests/it_design.sh: the spatial-RD design commands (design, balance, match, rdgrid; docs/design.md):
# equal results on 1 and 3 ranks (1e-10 relative), the design columns and the stacked sample sizes
# against an independent Python count from `gravrd dump`, bad input, and on the default panel
# (seed 2, the seed `make run` uses) the recovery of the planted west-to-east effect 0.10.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
F="$TMP/s.h5"
"$GR" simulate --out "$F" --seed 3 --east 40 --west 50 --months 6 >/dev/null 2>&1 || { fail "simulate small panel"; exit 0; }
check "segments 100, 75, 50" "$GR" segments --data "$F" --bandwidth 100 --bandwidth 75 --bandwidth 50 -q

# JSON equality up to 1e-10 relative (timings and provenance skipped)
cat > "$TMP/jeq.py" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2])); bad = []
def walk(x, y, p):
    if isinstance(x, dict):
        for k in x:
            if k in ("provenance", "timings", "iterations") or k.startswith("t_"): continue
            if not isinstance(y, dict) or k not in y: bad.append(p + "." + k + " missing"); continue
            walk(x[k], y[k], p + "." + k)
    elif isinstance(x, list):
        if not isinstance(y, list) or len(x) != len(y): bad.append(p + " length"); return
        for i, (u, v) in enumerate(zip(x, y)): walk(u, v, "%s[%d]" % (p, i))
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        if not isinstance(y, (int, float)) or (abs(x - y) > 1e-10 * max(abs(x), abs(y)) and abs(x - y) > 1e-14):
            bad.append("%s %r != %r" % (p, x, y))
    elif x != y: bad.append("%s %r != %r" % (p, x, y))
walk(a, b, "")
if bad: print("; ".join(bad[:4])); sys.exit(1)
EOF
same_json() { local name=$1 a=$2 b=$3; if out=$($PY "$TMP/jeq.py" "$a" "$b" 2>&1); then ok "$name"; else fail "$name" "$out"; fi; }

# ---- design: 1 and 3 ranks, against an independent count ----
cp "$F" "$TMP/d1.h5"; cp "$F" "$TMP/d3.h5"
check "design on 1 rank" mpi 1 "$GR" design --data "$TMP/d1.h5" --bandwidth 100 --same dialect
cp "$TMP/out" "$TMP/design.out"
check "design on 3 ranks" mpi 3 "$GR" design --data "$TMP/d3.h5" --bandwidth 100 --same dialect --quiet
"$GR" dump "$TMP/d1.h5" --table pairs --columns exporter,importer,partner,control_type,segpair_100,ntreated_100,same_dialect_100 > "$TMP/p1.csv"
"$GR" dump "$TMP/d3.h5" --table pairs --columns exporter,importer,partner,control_type,segpair_100,ntreated_100,same_dialect_100 > "$TMP/p3.csv"
if cmp -s "$TMP/p1.csv" "$TMP/p3.csv"; then ok "design columns equal on 1 and 3 ranks"; else fail "design columns equal on 1 and 3 ranks"; fi
"$GR" dump "$F" --table cities --columns lat,lon,province,dialect > "$TMP/cities.csv"
cat > "$TMP/indep.py" <<'EOF'
# independent re-implementation from the dumped tables: design columns, matching and RD stacks
import csv, math, sys, collections
mode = sys.argv[1]
P = list(csv.DictReader(open(sys.argv[2]))); C = list(csv.DictReader(open(sys.argv[3])))
if mode == "design":
    bysp = collections.defaultdict(list)
    for k, r in enumerate(P):
        if float(r["partner"]) != 0: bysp[r["segpair_100"]].append(k)
    bad = 0
    for k, r in enumerate(P):
        t = bysp[r["segpair_100"]]
        if float(r["ntreated_100"]) != len(t): bad += 1
        d = lambda c: C[int(c)]["dialect"]
        if float(r["partner"]) != 0: want = 1
        else:
            want = int(any(d(P[q]["exporter"]) == d(r["exporter"]) and
                           (P[q]["importer"] == r["importer"] or d(P[q]["importer"]) == d(r["importer"])) for q in t))
        if float(r["same_dialect_100"]) != want: bad += 1
    sp = collections.Counter(r["segpair_100"] for r in P)
    ntr = collections.Counter(r["segpair_100"] for r in P if float(r["partner"]) != 0)
    by = [sum(1 for s in sp if ntr[s] == 0), sum(1 for s in sp if ntr[s] == 1), sum(1 for s in sp if ntr[s] >= 2)]
    print(bad, "%d %d %d" % tuple(by)); sys.exit(0)
rows = collections.Counter(int(x) for x in open(sys.argv[4]).read().split()[1:])
bw = float(sys.argv[5])
def hav(a, b):
    la1, lo1, la2, lo2 = map(math.radians, (float(C[a]["lat"]), float(C[a]["lon"]), float(C[b]["lat"]), float(C[b]["lon"])))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))
idx = {(int(r["exporter"]), int(r["importer"])): k for k, r in enumerate(P)}
comps = []
for t, r in enumerate(P):
    if float(r["partner"]) == 0 or rows[t] == 0: continue
    i, j = int(r["exporter"]), int(r["importer"])
    for k in range(len(C)):
        if k == i or C[k]["province"] != C[i]["province"]: continue
        c = idx.get((k, j))
        if c is None or float(P[c]["partner"]) != 0 or rows[c] == 0: continue
        d = hav(i, k)
        if 0 < d <= bw: comps.append((t, c))
if mode == "match":
    print(sum(rows[c] for t, c in comps) + sum(rows[t] for t in set(t for t, c in comps)), len(comps))
else:
    print(sum(rows[c] + rows[t] for t, c in comps), len(comps))
EOF
read -r bad by0 by1 by2 < <($PY "$TMP/indep.py" design "$TMP/p1.csv" "$TMP/cities.csv")
if [ "$bad" = 0 ]; then ok "ntreated_100 and same_dialect_100 match an independent count"; else fail "design columns vs independent count" "$bad mismatches"; fi
if grep -q "0: $by0   1: $by1   2+: $by2" "$TMP/design.out"; then ok "design prints segment pairs by partner pairs ($by0/$by1/$by2)";
else fail "design counts" "want 0: $by0 1: $by1 2+: $by2, got $(grep 'segment pairs by' "$TMP/design.out")"; fi
check "estimate with the design restriction ntreated_100 <= 1" "$GR" estimate --data "$TMP/d1.h5" --quiet \
  --formula 'log(trade) ~ partner | exporter^month + importer^month + segpair_100' --where 'ntreated_100 <= 1 && same_dialect_100 == 1'

# ---- balance ----
for n in 1 3; do
  check "balance on $n rank(s)" mpi $n "$GR" balance --data "$F" --bandwidth 50 --bandwidth 75 --bandwidth 100 --json "$TMP/b$n.json"
done
same_json "balance equal on 1 and 3 ranks" "$TMP/b1.json" "$TMP/b3.json"
if $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["rows"]; sys.exit(0 if len(r)==4 and len(r[0]["cells"])==4 and "coef" in r[0]["cells"][3] else 1)' "$TMP/b1.json"; then
  ok "balance: 4 variables x (3 bandwidths + no segments)"; else fail "balance JSON shape"; fi

# ---- match ----
FORM='log(trade) ~ partner | exporter^month + importer^month'
for n in 1 3; do
  check "match on $n rank(s)" mpi $n "$GR" match --data "$F" --bandwidth 100 --formula "$FORM" --json "$TMP/m$n.json"
done
same_json "match equal on 1 and 3 ranks" "$TMP/m1.json" "$TMP/m3.json"
"$GR" dump "$F" --columns pair > "$TMP/rows.txt"
read -r want_rows want_matches < <($PY "$TMP/indep.py" match "$TMP/p1.csv" "$TMP/cities.csv" "$TMP/rows.txt" 100)
got=$($PY -c 'import json,sys; m=json.load(open(sys.argv[1]))["matched_sample"]; print(m["stacked_rows"], m["matches"])' "$TMP/m1.json")
if [ "$got" = "$want_rows $want_matches" ] && [ "${want_matches:-0}" -gt 0 ]; then ok "match: stacked rows and matches equal an independent count ($got)";
else fail "match stacked rows" "got $got, independent $want_rows $want_matches"; fi
check "match with --where dir == 1" mpi 2 "$GR" match --data "$F" --bandwidth 100 --formula "$FORM" --where 'dir == 1' --quiet

# ---- rdgrid ----
for n in 1 3; do
  check "rdgrid on $n rank(s)" mpi $n "$GR" rdgrid --data "$F" --y 'log(trade)' --bandwidth 150 --bandwidth 100 --bandwidth 200 \
    --json "$TMP/r$n.json" --svg "$TMP/c$n.svg" --binned-svg "$TMP/rd$n.svg" --quiet
done
same_json "rdgrid equal on 1 and 3 ranks" "$TMP/r1.json" "$TMP/r3.json"
read -r want_rows want_matches < <($PY "$TMP/indep.py" rd "$TMP/p1.csv" "$TMP/cities.csv" "$TMP/rows.txt" 200)
got=$($PY -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["stacked_rows"], m["comparisons"])' "$TMP/r1.json")
if [ "$got" = "$want_rows $want_matches" ]; then ok "rdgrid: stacked rows equal an independent count ($got)";
else fail "rdgrid stacked rows" "got $got, independent $want_rows $want_matches"; fi
if $PY -c 'import sys, xml.dom.minidom as m; [m.parse(f) for f in sys.argv[1:]]' "$TMP/c1.svg" "$TMP/rd1.svg"; then ok "rdgrid SVGs are well-formed XML";
else fail "rdgrid SVGs"; fi
check "rdgrid --residualize none --kernel uniform" "$GR" rdgrid --data "$F" --y 'log(trade)' --bandwidth 150 --residualize none --kernel uniform --quiet

# ---- bad input ----
check_fails "design: bandwidth 0" "bandwidth.*positive" mpi 2 "$GR" design --data "$TMP/d1.h5" --bandwidth 0
check_fails "design: missing segpair column" "segpair_70.*gravrd segments" mpi 2 "$GR" design --data "$TMP/d1.h5" --bandwidth 70
check_fails "design: unknown attribute" "unknown attribute 'nosuch'" mpi 2 "$GR" design --data "$TMP/d1.h5" --bandwidth 100 --same nosuch
check_fails "balance: missing segpair column" "segpair_70.*gravrd segments" mpi 2 "$GR" balance --data "$F" --bandwidth 70
check_fails "balance: unknown variable" "unknown column 'nosuch'" mpi 2 "$GR" balance --data "$F" --bandwidth 100 --vars 'log(nosuch)'
check_fails "match: bandwidth -5" "bandwidth.*positive" mpi 2 "$GR" match --data "$F" --bandwidth -5 --formula "$FORM"
check_fails "match: no treated pair after --where" "no treated pair" mpi 3 "$GR" match --data "$F" --bandwidth 100 --formula "$FORM" --where 'partner == 0'
check_fails "match: no comparison within 1 km" "no treated pair has a control pair within 1 km" mpi 2 "$GR" match --data "$F" --bandwidth 1 --formula "$FORM"
check_fails "rdgrid: no treated pair after --where" "no treated pair" mpi 3 "$GR" rdgrid --data "$F" --y 'log(trade)' --bandwidth 100 --where 'partner == 0'
check_fails "rdgrid: bandwidth 0" "bandwidth.*positive" mpi 2 "$GR" rdgrid --data "$F" --y 'log(trade)' --bandwidth 0
check_fails "rdgrid: bad --residualize" "residualize.*character" mpi 2 "$GR" rdgrid --data "$F" --y 'log(trade)' --bandwidth 100 --residualize 'exporter^^month'
check_fails "rdgrid: unknown outcome column" "unknown column 'nosuch'" mpi 2 "$GR" rdgrid --data "$F" --y 'log(nosuch)' --bandwidth 100
check_fails "rdgrid: too few rows at a tiny bandwidth" "bandwidth 5" mpi 2 "$GR" rdgrid --data "$F" --y 'log(trade)' --bandwidth 5 --bandwidth 100
check_fails "match: missing data file" "no such file" mpi 2 "$GR" match --data "$TMP/nonexistent.h5" --bandwidth 100 --formula "$FORM"

# ---- the default panel: recovery of the planted west-to-east effect 0.10 ----
if [ "${GR_QUICK:-0}" = 1 ]; then echo "# SKIP: GR_QUICK=1, default-panel recovery skipped"; exit 0; fi
D="$TMP/default.h5"
"$GR" simulate --out "$D" --seed 2 >/dev/null 2>&1 && "$GR" segments --data "$D" --bandwidth 100 -q >/dev/null 2>&1 \
  || { fail "default panel + segments"; exit 0; }
mpi 2 "$GR" estimate --data "$D" --formula 'log(trade) ~ partner + log(distance_km) | exporter^month + importer^month' \
  --where 'dir == 1' --cluster pair --quiet --json "$TMP/g.json" >/dev/null 2>&1
mpi 2 "$GR" estimate --data "$D" --formula 'log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_100' \
  --where 'dir == 1' --cluster pair --quiet --json "$TMP/s.json" >/dev/null 2>&1
mpi 2 "$GR" estimate --data "$D" --formula 'log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_100' \
  --where 'dir == 0' --cluster pair --quiet --json "$TMP/s0.json" >/dev/null 2>&1
mpi 2 "$GR" match --data "$D" --bandwidth 100 --formula "$FORM" --where 'dir == 1' --quiet --json "$TMP/dm.json" >/dev/null 2>&1
mpi 2 "$GR" rdgrid --data "$D" --y 'log(trade)' --bandwidth 100 --where 'dir == 1' --quiet --json "$TMP/dr.json" >/dev/null 2>&1
cat > "$TMP/recover.py" <<'EOF'
import json, sys
def co(f):
    d = json.load(open(f)); r = d["results"][0] if "results" in d else d
    c = [x for x in r["coefficients"] if x["term"] == "partner"][0]; return c["estimate"], c["std_error"]
g, s, m = co(sys.argv[1]), co(sys.argv[2]), co(sys.argv[3])
r = json.load(open(sys.argv[4]))["results"][0]; rd = (r["estimate"], r["std_error"])
for n, (b, e) in (("gravity", g), ("segment pair", s), ("matching", m), ("regular RD", rd)):
    print("# default panel seed 2, west to east: %-12s %.4f (SE %.4f), 95%% interval [%.4f, %.4f]" % (n, b, e, b - 1.96 * e, b + 1.96 * e))
t = 0.10
def res(name, cond): print(("ok - " if cond else "not ok - ") + name)
res("gravity is biased upward (0.10 below its 95% interval)", g[0] - 1.96 * g[1] > t)
res("segment-pair estimate below the gravity estimate", s[0] < g[0])
for n, (b, e) in (("segment pair", s), ("matching", m), ("regular RD", rd)):
    res("%s within 3 SE of 0.10 (%.4f, SE %.4f)" % (n, b, e), abs(b - t) <= 3 * e)
for n, (b, e) in (("segment pair", s), ("matching", m), ("regular RD", rd)):
    res("%s 95%% interval covers 0.10" % n, abs(b - t) <= 1.96 * e)
s0 = co(sys.argv[5])
print("# default panel seed 2, east to west: segment pair %.4f (SE %.4f)" % s0)
res("segment pair finds no east-to-west effect (95% interval covers 0)", abs(s0[0]) <= 1.96 * s0[1])
EOF
if [ -s "$TMP/g.json" ] && [ -s "$TMP/s.json" ] && [ -s "$TMP/s0.json" ] && [ -s "$TMP/dm.json" ] && [ -s "$TMP/dr.json" ]; then
  $PY "$TMP/recover.py" "$TMP/g.json" "$TMP/s.json" "$TMP/dm.json" "$TMP/dr.json" "$TMP/s0.json"
else fail "default-panel estimates ran"; fi
