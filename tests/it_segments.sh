#!/usr/bin/env bash
# it_segments.sh: `gravrd segments` on simulated panels (synthetic and the study's 197 real cities):
# segment properties checked independently in Python (h5py) on the copy --out writes, JSON and SVG
# outputs, 1 vs 3 ranks, the derived columns (computed on the fly, src/derived.c) equal to the stored
# ones through dump, the panel never written (byte-identical, also read-only), bad input.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# verify FILE.h5 JSON D...: independent checks of segment_<d> / segpair_<d> against the coordinates
cat >"$TMP/verify.py" <<'EOF'
import sys, json, math
import h5py, numpy as np
path, jpath, ds = sys.argv[1], sys.argv[2], sys.argv[3:]
R = 6371.0088
def hav(a, b, c, d):
    p1, p2 = math.radians(a), math.radians(c)
    x = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(d - b) / 2) ** 2
    return 2 * R * math.asin(min(1.0, math.sqrt(x)))
f = h5py.File(path, 'r')
lat, lon = f['cities/lat'][:], f['cities/lon'][:]
prov = f['cities/province'][:]
n = len(lat)
ex, im = f['pairs/exporter'][:], f['pairs/importer'][:]
D = [[hav(lat[i], lon[i], lat[j], lon[j]) for j in range(n)] for i in range(n)]
js = json.load(open(jpath))
bad = []
for k, dname in enumerate(ds):
    d = float(dname)
    seg = f['cities/segment_' + dname][:]
    sp = f['pairs/segpair_' + dname][:]
    jb = js['bandwidths'][k]
    if jb['bandwidth_km'] != d or jb['city_column'] != 'segment_' + dname: bad.append('json bandwidth order')
    nseg = int(seg.max()) + 1
    # ids dense, numbered by each segment's smallest city
    first = [-1] * nseg
    for i in range(n):
        if first[seg[i]] < 0: first[seg[i]] = i
    if sorted(first) != first or min(first) < 0: bad.append(f'd={dname}: ids not in order of smallest city')
    members = [[i for i in range(n) if seg[i] == s] for s in range(nseg)]
    diam = [max([D[i][j] for i in m for j in m] + [0.0]) for m in members]
    for s, m in enumerate(members):
        if diam[s] > d: bad.append(f'd={dname}: segment {s} diameter {diam[s]:.3f} > {d}')
        if len({int(prov[i]) for i in m}) != 1: bad.append(f'd={dname}: segment {s} crosses provinces')
    # complete linkage stopped: no two segments of a province fit together within d
    for s in range(nseg):
        for t in range(s + 1, nseg):
            if prov[members[s][0]] == prov[members[t][0]]:
                if max(D[i][j] for i in members[s] for j in members[t]) <= d:
                    bad.append(f'd={dname}: segments {s},{t} could still merge')
    # segpair: dense ids of (exporter segment, importer segment) in lexicographic order
    combos = sorted({(int(seg[a]), int(seg[b])) for a, b in zip(ex, im)})
    idx = {c: q for q, c in enumerate(combos)}
    want = np.array([idx[(int(seg[a]), int(seg[b]))] for a, b in zip(ex, im)])
    if not np.array_equal(want, sp): bad.append(f'd={dname}: segpair ids differ')
    # JSON agrees with the file and with the recomputed diameters
    if jb['n_segments'] != nseg or jb['n_segment_pairs'] != len(combos): bad.append(f'd={dname}: json counts')
    if abs(jb['max_diameter_km'] - max(diam)) > 1e-9 * max(1.0, max(diam)): bad.append(f'd={dname}: json max diameter')
    sizes = [len(m) for m in members]
    for row in jb['size_distribution']:
        if row['total'] != sizes.count(row['size']): bad.append(f'd={dname}: size {row["size"]} count')
    if sum(r['total'] for r in jb['size_distribution']) != nseg: bad.append(f'd={dname}: size rows')
    for s, js_seg in enumerate(jb['segments']):
        if js_seg['cities'] != members[s]: bad.append(f'd={dname}: json segment {s} members'); break
        if abs(js_seg['diameter_km'] - diam[s]) > 1e-9 * max(1.0, diam[s]): bad.append(f'd={dname}: json diameter'); break
print('\n'.join(bad[:10]) if bad else 'verified')
sys.exit(1 if bad else 0)
EOF

# sameseg A.h5 B.h5 D...: the segment columns of two files are identical
cat >"$TMP/same.py" <<'EOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r')
for d in sys.argv[3:]:
    for g, c in (('cities', 'segment_'), ('pairs', 'segpair_')):
        if not np.array_equal(a[g + '/' + c + d][:], b[g + '/' + c + d][:]): sys.exit(f'{g}/{c}{d} differs')
EOF

# singles FILE.h5 D...: Beijing, Shanghai, Tianjin, Chongqing are one-city segments
cat >"$TMP/singles.py" <<'EOF'
import sys, h5py
f = h5py.File(sys.argv[1], 'r')
names = [x.decode().rstrip('\0') for x in f['labels/cities/name'][:]]
code = f['cities/name'][:]
city = [names[c] for c in code]
if len(city) != 197: sys.exit(f'{len(city)} cities, expected 197')
for d in sys.argv[2:]:
    seg = list(f['cities/segment_' + d][:])
    for m in ('北京市', '上海市', '天津市', '重庆市'):
        if m not in city: sys.exit(f'{m} missing')
        s = seg[city.index(m)]
        if seg.count(s) != 1: sys.exit(f'd={d}: {m} shares segment {s} with {seg.count(s) - 1} cities')
EOF

# svgok FILE.svg NCITIES: well-formed XML with one marker per city and the partner lines
cat >"$TMP/svgok.py" <<'EOF'
import sys, xml.etree.ElementTree as ET
t = ET.parse(sys.argv[1]); ns = '{http://www.w3.org/2000/svg}'
r = t.getroot()
markers = [e for e in r.iter() if e.tag in (ns + 'circle', ns + 'rect') and e.get('stroke') == '#222']
n = int(sys.argv[2])
if len(markers) != n + 2: sys.exit(f'{len(markers)} city markers, expected {n} + 2 in the legend')
if not any(e.tag == ns + 'text' and 'segments at d =' in (e.text or '') for e in r.iter()): sys.exit('no title')
EOF

md5() { md5sum "$1" | cut -d' ' -f1; }

if ! "$GR" simulate --help >/dev/null 2>&1; then
  fail "simulate available" "bin/gravrd simulate is not built; cannot make a panel"
  exit 0
fi

# ---- synthetic panel ----
S="$TMP/syn.h5"
check "simulate small panel" "$GR" simulate --out "$S" --east 10 --west 12 --months 3 --seed 3
cp "$S" "$TMP/syn_orig.h5"
sum_syn=$(md5 "$S")
check "segments synthetic (1 rank)" mpi 1 "$GR" segments --data "$S" --bandwidth 100 --bandwidth 62.5 \
  --bandwidth 250 --json "$TMP/syn.json" --svg "$TMP/syn.svg" --out "$TMP/syn_seg.h5"
check "synthetic segments verified independently (--out copy)" $PY "$TMP/verify.py" "$TMP/syn_seg.h5" "$TMP/syn.json" 100 62.5 250
check "synthetic SVG well-formed, one marker per city" $PY "$TMP/svgok.py" "$TMP/syn.svg" 22
check "segments synthetic (3 ranks)" mpi 3 "$GR" segments --data "$S" -b 100 -b 62.5 -b 250 \
  --json "$TMP/syn3.json" --out "$TMP/syn3_seg.h5"
check "1 and 3 ranks write identical columns" $PY "$TMP/same.py" "$TMP/syn_seg.h5" "$TMP/syn3_seg.h5" 100 62.5 250
check_close "1 and 3 ranks write identical JSON (but provenance, path)" "$TMP/syn.json" "$TMP/syn3.json" 0 --ignore data
mpi 1 "$GR" segments --data "$S" -b 100 >"$TMP/table.txt" 2>&1
if grep -qE '^size +east +west +total' "$TMP/table.txt" && grep -qE '^segments ' "$TMP/table.txt" \
   && grep -qE '^max diameter \(km\)' "$TMP/table.txt"; then ok "size table printed"
else fail "size table printed" "$(head -c 300 "$TMP/table.txt")"; fi
check "--out from a copy that stores the columns replaces them" mpi 2 "$GR" segments \
  --data "$TMP/syn_seg.h5" -b 100 --json "$TMP/syn100.json" --out "$TMP/syn_seg2.h5"
check "replaced columns verified" $PY "$TMP/verify.py" "$TMP/syn_seg2.h5" "$TMP/syn100.json" 100
[ "$(md5 "$S")" = "$sum_syn" ] && ok "segments never writes the panel (byte-identical after 3 runs)" \
  || fail "segments never writes the panel (byte-identical after 3 runs)"

# the derived columns (not stored in $S) resolve, through dump, to the stored ones of the --out copy
cols=pair,exporter,importer,exp_segment_100,imp_segment_100,segpair_100,exp_segment_62.5,segpair_62.5,segpair_250
if "$GR" dump "$S" --columns "$cols" >"$TMP/derived.csv" 2>"$TMP/dump.err" \
   && "$GR" dump "$TMP/syn_seg.h5" --columns "$cols" >"$TMP/stored.csv" 2>>"$TMP/dump.err"; then
  if cmp -s "$TMP/derived.csv" "$TMP/stored.csv"; then ok "derived segment_<d>, segpair_<d> equal the stored ones (dump, every row)"
  else fail "derived segment_<d>, segpair_<d> equal the stored ones (dump, every row)" "$(diff "$TMP/derived.csv" "$TMP/stored.csv" | head -3)"; fi
else
  fail "dump derived and stored segment columns" "$(head -c 200 "$TMP/dump.err")"
fi
[ "$(md5 "$S")" = "$sum_syn" ] && ok "dump of derived columns leaves the panel byte-identical" \
  || fail "dump of derived columns leaves the panel byte-identical"
# exp_/imp_ resolution of the city column, against the --out copy read with h5py
if $PY - "$TMP/syn_seg.h5" "$TMP/derived.csv" <<'EOF'
import sys, csv, h5py
f = h5py.File(sys.argv[1], 'r'); seg = f['cities/segment_100'][:]
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) > 0
for r in rows:
    assert int(float(r['exp_segment_100'])) == seg[int(float(r['exporter']))]
    assert int(float(r['imp_segment_100'])) == seg[int(float(r['importer']))]
EOF
then ok "dump resolves derived exp_segment_100 / imp_segment_100"; else fail "dump resolves derived exp_segment_100 / imp_segment_100"; fi
for c in segpair_1e2 segpair_abc segpair_0 exp_segment_100.0; do
  check_fails "derived column with a bad bandwidth: '$c'" "^gravrd: error: $c: unknown column" "$GR" dump "$S" --columns "$c" --limit 1
done

# a read-only panel in a read-only directory (as an unprivileged user when run as root, so that a
# write attempt would really fail)
RO="$TMP/ro" RW="$TMP/rw"
mkdir -p "$RO" "$RW"; cp "$S" "$RO/p.h5"; chmod 444 "$RO/p.h5"; chmod 555 "$RO"; chmod 777 "$RW"; chmod 711 "$TMP"
AS=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then AS=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$RW"); fi
who=""; [ ${#AS[@]} -gt 0 ] && who=", as nobody"
GRN="$GR"; [ ${#AS[@]} -gt 0 ] && GRN=$(nobody_gr)
check "segments on a read-only panel (--out, --svg elsewhere)$who" "${AS[@]}" mpirun -n 2 --oversubscribe "$GRN" segments \
  --data "$RO/p.h5" -b 100 --out "$RW/p_seg.h5" --svg "$RW/map.svg"
check "estimate with derived columns on a read-only panel$who" "${AS[@]}" mpirun -n 2 --oversubscribe "$GRN" estimate \
  --data "$RO/p.h5" --quiet --formula 'log(trade) ~ log(distance_km) | exp_segment_250 + imp_segment_250 + month' --cluster segpair_250
[ "$(md5 "$RO/p.h5")" = "$sum_syn" ] && [ "$(stat -c %a "$RO/p.h5")" = 444 ] && ok "read-only panel byte-identical" \
  || fail "read-only panel byte-identical"
chmod 755 "$RO"; chmod 700 "$TMP"

# ---- the refusals and the bad input run in-process, in one launch of 3 ranks of build/tests/test_commands
# (tests/lib.sh case_add); the files they must leave alone are checked afterwards ----
C="$TMP/cases"
# --out must not be the panel: same path, another spelling of it, a symbolic or a hard link
ln -s "$S" "$TMP/syn_link.h5"; ln "$S" "$TMP/syn_hard.h5"
for o in "$S" "$TMP/./syn.h5" "$TMP/syn_link.h5" "$TMP/syn_hard.h5"; do
  case_add "$C" 2 "fail:must not be the input" "--out ${o#$TMP/} (the input) refused" segments --data "$S" -b 100 --out "$o"
done
case_add "$C" 2 "fail:nonexistent-dir" "--out into a missing directory" segments --data "$S" -b 100 \
  --out "$TMP/nonexistent-dir/x.h5" --json "$TMP/nojson.json"
# bad input: clean failure, file unchanged; bad data in copies of the panel: a NaN latitude, a latitude
# out of range, no province column
cp "$TMP/syn_orig.h5" "$TMP/bad.h5"
sum0=$(md5 "$TMP/bad.h5")
cp "$TMP/bad.h5" "$TMP/bad_nan.h5"; cp "$TMP/bad.h5" "$TMP/bad_lat.h5"; cp "$TMP/bad.h5" "$TMP/bad_noprov.h5"
$PY - "$TMP" <<'EOF'
import sys, h5py, numpy as np
d = sys.argv[1]
f = h5py.File(d + '/bad_nan.h5', 'a'); lat = f['cities/lat'][:]; lat[3] = np.nan; f['cities/lat'][...] = lat; f.close()
f = h5py.File(d + '/bad_lat.h5', 'a'); f['cities/lat'][3] = 95.0; f.close()
f = h5py.File(d + '/bad_noprov.h5', 'a'); f['cities/lat'][3] = 30.0; del f['cities/province']; f.close()
EOF
sum1=$(md5 "$TMP/bad_lat.h5")
B=(segments --data "$TMP/bad.h5")
for b in 0 -5 abc nan inf 1e999 100.00000001; do
  case_add "$C" 2 "fail:bandwidth" "bandwidth '$b' rejected" "${B[@]}" --bandwidth "$b"
done
case_add "$C" 2 "fail:given twice" "duplicate bandwidth rejected" "${B[@]}" -b 50 -b 50
case_add "$C" 2 "fail:bandwidth" "missing --bandwidth" "${B[@]}"
case_add "$C" 2 "fail:data" "missing --data" segments -b 100
case_add "$C" 2 "fail:unknown option" "unknown option" "${B[@]}" -b 100 --frobnicate
case_add "$C" 2 "fail:no such file" "missing file" segments --data "$TMP/nope.h5" -b 100
case_add "$C" 2 "fail:nonexistent-dir" "unwritable SVG path" "${B[@]}" -b 100 --svg "$TMP/nonexistent-dir/map.svg"
case_add "$C" 2 "fail:nonexistent-dir" "unwritable JSON path" "${B[@]}" -b 100 --json "$TMP/nonexistent-dir/s.json"
case_add "$C" 3 "fail:cities/lat row 3" "NaN latitude names the row" segments --data "$TMP/bad_nan.h5" -b 100
case_add "$C" 3 "fail:derived column 'segpair_100': /cities/lat row 3" "estimate: a derived column that cannot be computed names it" \
  estimate --data "$TMP/bad_nan.h5" --formula 'log(trade) ~ partner | segpair_100'
case_add "$C" 2 "fail:derived column 'exp_segment_50': /cities/lat row 3" \
  "estimate: a derived city column that cannot be computed names it" estimate --data "$TMP/bad_nan.h5" --formula 'log(trade) ~ partner' \
  --where 'exp_segment_50 >= 0'
case_add "$C" 2 "fail:cities/lat row 3" "latitude out of range names the row" segments --data "$TMP/bad_lat.h5" -b 100
case_add "$C" 2 "fail:province" "missing province column" segments --data "$TMP/bad_noprov.h5" -b 100
cases_run "$C" 3
rm -f "$TMP/syn_link.h5" "$TMP/syn_hard.h5"
[ ! -e "$TMP/nojson.json" ] && ok "failed --out leaves no JSON" || fail "failed --out leaves no JSON"
[ "$(md5 "$S")" = "$sum_syn" ] && ok "panel byte-identical after refused --out" || fail "panel byte-identical after refused --out"
[ "$(md5 "$TMP/bad.h5")" = "$sum0" ] && ok "file unchanged after rejected runs" || fail "file unchanged after rejected runs"
ls "$TMP" | grep -q '\.tmp\.' && fail "no temporary files left" "$(ls "$TMP" | grep '\.tmp\.')" || ok "no temporary files left"
[ "$(md5 "$TMP/bad_lat.h5")" = "$sum1" ] && ok "file unchanged after bad data" || fail "file unchanged after bad data"

# ---- the study's 197 real cities ----
if need_shared "real-city segments"; then
  if [ ! -f "$SHARED/china_prefecture_cities_2016.csv" ]; then
    echo "# SKIP: china_prefecture_cities_2016.csv absent"
  else
    C="$TMP/real.h5"
    check "simulate on the 197 real cities" "$GR" simulate --out "$C" --cities "$SHARED/china_prefecture_cities_2016.csv" \
      --months 3 --seed 1
    check "segments real cities 50..150 km (1 rank)" mpi 1 "$GR" segments --data "$C" -b 50 -b 75 -b 100 -b 125 -b 150 \
      --json "$TMP/real.json" --svg "$TMP/real.svg" --out "$TMP/real_seg.h5"
    check "real-city segments verified independently" $PY "$TMP/verify.py" "$TMP/real_seg.h5" "$TMP/real.json" 50 75 100 125 150
    check "municipalities are one-city segments" $PY "$TMP/singles.py" "$TMP/real_seg.h5" 50 75 100 125 150
    check "real-city SVG well-formed" $PY "$TMP/svgok.py" "$TMP/real.svg" 197
    check "segments real cities (3 ranks)" mpi 3 "$GR" segments --data "$C" -b 50 -b 75 -b 100 -b 125 -b 150 \
      --out "$TMP/real3_seg.h5"
    check "real cities: 1 and 3 ranks identical" $PY "$TMP/same.py" "$TMP/real_seg.h5" "$TMP/real3_seg.h5" 50 75 100 125 150
  fi
fi
