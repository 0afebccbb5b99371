#!/usr/bin/env bash
# it_simulate.sh: `gravrd simulate`. Same seed on 1..4 ranks gives identical files (h5diff, and every
# column through `gravrd dump`); the default panel has the study's counts (cities, provinces, pairs,
# rows, program cities, partner pairs, control types), checked independently with h5py; --cities
# selects the study's 87 + 110 real cities; scaled and tiny worlds; bad input fails cleanly.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# files_equal NAME A B [TABLES]: h5diff finds no difference in any dataset or attribute, and
# `gravrd dump` of the tables (default: cities pairs panel) is byte-identical
files_equal() {
  local name=$1 a=$2 b=$3 tables=${4:-cities pairs panel} t why=""
  h5diff "$a" "$b" >"$TMP/h5diff.out" 2>&1 || why="h5diff: $(head -c 200 "$TMP/h5diff.out")"
  for t in $tables; do
    if [ ! -s "$a.$t.csv" ]; then   # dumps of the reference file are kept for the next comparison
      mpi 1 "$GR" dump "$a" --table $t >"$a.$t.csv" 2>&1 || { why="$why dump $t of $a failed"; rm -f "$a.$t.csv"; continue; }
    fi
    mpi 1 "$GR" dump "$b" --table $t >"$TMP/db.csv" 2>&1 || { why="$why dump $t failed: $(head -c 200 "$TMP/db.csv")"; continue; }
    [ "$(wc -l <"$TMP/db.csv")" -gt 1 ] || why="$why dump $t empty"
    cmp -s "$a.$t.csv" "$TMP/db.csv" || why="$why table $t differs"
  done
  if [ -z "$why" ]; then ok "$name"; else fail "$name" "$why"; fi
}

# Independent structural checks of a simulated file. Args: FILE E W M PE PW K [real]
cat >"$TMP/verify.py" <<'EOF'
import sys, math
import h5py, numpy as np
path, E, W, M, PE, PW, K = sys.argv[1], *map(int, sys.argv[2:8])
f = h5py.File(path, 'r')
C = {k: f['cities'][k][:] for k in f['cities']}
P = {k: f['pairs'][k][:] for k in f['pairs']}
bad = []
def need(cond, msg):
    if not cond: bad.append(msg)
N = E + W
need(len(C['city']) == N and (C['city'] == np.arange(N)).all(), 'city ids')
reg = C['region']
need((reg[:E] == 0).all() and (reg[E:] == 1).all(), 'east ids 0..E-1 then west')
need([x.decode() for x in f['labels/cities/region'][:]] == ['east', 'west'], 'region labels')
need(len(f['labels/cities/name'][:]) == N, 'name labels')
nprov = [len(set(C['province'][reg == r])) for r in (0, 1)]
if E == 87 and W == 110: need(nprov == [9, 10], f'provinces {nprov}')
need(len(set(C['province'][:E]) & set(C['province'][E:])) == 0, 'a province in both regions')
for r, lo, hi in ((0, 0, E), (1, E, N)):   # sorted by province, contiguous provinces
    pv = C['province'][lo:hi]
    need((np.diff(pv) >= 0).all(), 'cities not sorted by province')
inp = C['in_program']
need(inp[:E].sum() == PE and inp[E:].sum() == PW, f'program cities {inp[:E].sum()}+{inp[E:].sum()}')
for col in ('gdp', 'gdp_per_capita', 'population', 'minority_share', 'gi_products', 'ecommerce_firms_2018',
            'ecommerce_firms_2021', 'road_density', 'internet_users', 'dialect', 'lat', 'lon'):
    need(col in C and np.isfinite(C[col]).all(), f'city column {col}')
need((C['ecommerce_firms_2021'] >= C['ecommerce_firms_2018']).all(), 'cumulative firms')
need(((C['minority_share'] > 0) & (C['minority_share'] < 1)).all(), 'minority share range')
# dialect districts stay inside a province
for d in set(C['dialect']):
    need(len(set(C['province'][C['dialect'] == d])) == 1, f'dialect {d} crosses provinces')
NP = 2 * E * W
ex, im = P['exporter'], P['importer']
need(len(ex) == NP and (P['pair'] == np.arange(NP)).all(), 'pair ids')
need((reg[ex] != reg[im]).all(), 'east-east or west-west pair')
need(((P['dir'] == 0) == (reg[ex] == 0)).all(), 'dir')
order = ex.astype(np.int64) * N + im
need((np.diff(order) > 0).all(), 'pairs not ordered by exporter then importer')
key = np.minimum(ex, im).astype(np.int64) * N + np.maximum(ex, im)
need(len(set(key)) == E * W, 'each undirected pair twice')
R = 6371.0088
la, lo = np.radians(C['lat']), np.radians(C['lon'])
h = np.sin((la[im] - la[ex]) / 2) ** 2 + np.cos(la[ex]) * np.cos(la[im]) * np.sin((lo[im] - lo[ex]) / 2) ** 2
need(np.allclose(P['distance_km'], 2 * R * np.arcsin(np.sqrt(h)), rtol=1e-9, atol=1e-9), 'distance_km not haversine')
part = P['partner']
need(part.sum() == 2 * K, f'partner pairs {part.sum()} directed')
pk = {}
for k in np.where(part == 1)[0]: pk[key[k]] = pk.get(key[k], 0) + 1
need(all(v == 2 for v in pk.values()), 'partner flag not symmetric')
need((inp[ex[part == 1]] == 1).all() and (inp[im[part == 1]] == 1).all(), 'partner outside program')
progs = set(np.where(inp == 1)[0])
need(progs == set(ex[part == 1]), 'a program city without partner')
east = np.where(reg[ex] == 0, ex, im); west = np.where(reg[ex] == 0, im, ex)
ie, iw = inp[east] == 1, inp[west] == 1
expect = np.where(part == 1, 0, np.where(ie & iw, 4, np.where(ie, 2, np.where(iw, 3, 1))))
need((P['control_type'] == expect).all(), 'control_type inconsistent with program status')
cnt = np.bincount(P['control_type'].astype(int), minlength=5).tolist()
want = [2 * K, 2 * (E - PE) * (W - PW), 2 * PE * (W - PW), 2 * (E - PE) * PW, 2 * PE * PW - 2 * K]
need(cnt == want, f'control types {cnt} != {want}')
for col in ('gdp_diff', 'migration', 'migration_post', 'offline_trade_2012', 'offline_trade_2017'):
    need(np.isfinite(P[col]).all(), f'pair column {col}')
off = f['index/exporter_offsets'][:]
nimp = np.where(np.arange(N) < E, W, E)
need(len(off) == N + 1 and (off == np.concatenate([[0], np.cumsum(nimp * M)])).all(), 'exporter offsets')
pn = f['panel']
nrows = NP * M
cols = ['pair', 'month', 'trade', 'deals', 'seller_cr', 'buyer_cr', 'cat_clothing', 'cat_food', 'cat_household',
        'cat_electronics', 'cat_healthcare', 'cat_others', 'search_index']
need(sorted(pn.keys()) == sorted(cols), f'panel columns {sorted(pn.keys())}')
need(pn['pair'].dtype == np.int32 and pn['month'].dtype == np.int32, 'pair/month int32')
pr, mo = pn['pair'][:], pn['month'][:]
need(len(pr) == nrows and (pr == np.repeat(np.arange(NP), M)).all(), 'rows not sorted by pair')
need((mo == np.tile(np.arange(1, M + 1), NP)).all(), 'months not 1..M within pair')
tr = pn['trade'][:]
need((tr >= 0).all() and np.isfinite(tr).all(), 'trade')
zero = tr == 0
for c in ('seller_cr', 'buyer_cr'):
    x = pn[c][:]
    need((np.isnan(x) == zero).all(), f'{c} NaN exactly where trade == 0')
    need(((x[~zero] > 0) & (x[~zero] < 100)).all(), f'{c} range')
dl = pn['deals'][:]
need(((dl == 0) == zero).all() and (dl == np.floor(dl)).all(), 'deals zero iff trade zero, integral')
cs = sum(pn[c][:] for c in cols[6:12])
need(np.allclose(cs, tr, rtol=1e-12, atol=0), 'categories do not add up to trade')
need((pn['search_index'][:] > 0).all(), 'search index positive')
if E == 87 and W == 110 and M == 60:
    zs = zero.mean(); zw = zero[np.repeat(P['dir'], M) == 1].mean()
    need(0.002 < zs < 0.03 and zw > 1.5 * zs, f'zero share {zs:.4f} (w2e {zw:.4f})')
    und = P['dir'] == 0
    d, pa = P['distance_km'][und], part[und] == 1
    need(d[pa].mean() > d[~pa].mean(), 'partners not farther apart')
    need(P['gdp_diff'][und][pa].mean() > P['gdp_diff'][und][~pa].mean(), 'partners without larger GDP gaps')
    need(P['latent_affinity'][pa.nonzero()[0]].mean() > 0.5, 'no selection on the latent affinity')
    for a in ('truth_partner_w2e', 'truth_partner_e2w', 'truth_distance', 'truth_selection_strength'):
        need(a in f.attrs, f'attribute {a}')
    need(abs(f.attrs['truth_partner_w2e'] - 0.10) < 1e-12 and abs(f.attrs['truth_distance'] + 0.33) < 1e-12, 'truth')
    need(f.attrs['generator'].decode().startswith('gravrd simulate'), 'generator attribute')
print('OK' if not bad else 'BAD: ' + '; '.join(bad[:6]))
EOF
verify() { local name=$1; shift; local out; out=$($PY "$TMP/verify.py" "$@" 2>&1 | tail -n 1)
  if [ "$out" = OK ]; then ok "$name"; else fail "$name" "$out"; fi; }

# --- the default panel on 1 and 2 ranks (the only two full-size runs) ---
mkdir -p "$TMP/r1" "$TMP/r2"
t0=$(date +%s%N)
( cd "$TMP/r1" && mpi 1 "$GR" simulate --out panel.h5 --seed 7 ) >"$TMP/out" 2>&1
t1=$(date +%s%N)
( cd "$TMP/r2" && mpi 2 "$GR" simulate --out panel.h5 --seed 7 ) >>"$TMP/out" 2>&1
t2=$(date +%s%N)
echo "# default simulate wall time (incl. mpirun): 1 rank $(( (t1 - t0) / 1000000 )) ms, 2 ranks $(( (t2 - t1) / 1000000 )) ms"
if [ -f "$TMP/r1/panel.h5" ] && [ -f "$TMP/r2/panel.h5" ]; then ok "default panel written on 1 and 2 ranks"
else fail "default panel written on 1 and 2 ranks" "$(tail -n 3 "$TMP/out")"; fi
verify "default panel: study counts (197 cities, 19,140 pairs, 1,148,400 rows, 56+81 program, 128 partners, control types)" \
  "$TMP/r1/panel.h5" 87 110 60 56 81 128
# (dumping 1.1 million panel rows as text takes half a minute: h5diff compares the panel here)
files_equal "default panel identical on 1 and 2 ranks" "$TMP/r1/panel.h5" "$TMP/r2/panel.h5" "cities pairs"
ls "$TMP"/r1/*.tmp.* >/dev/null 2>&1 && fail "no temporary file left" || ok "no temporary file left"

# --- a scaled world on 1, 2, 3, 4 ranks ---
for n in 1 2 3 4; do
  mkdir -p "$TMP/s$n"
  ( cd "$TMP/s$n" && mpi $n "$GR" simulate --out panel.h5 --seed 11 --east 30 --west 40 --months 14 ) >"$TMP/out" 2>&1 ||
    fail "scaled world on $n ranks" "$(tail -n 2 "$TMP/out")"
done
# expected scaled counts: round(56*30/87)=19, round(81*40/110)=29, round(128*48/137)=45
verify "scaled world 30x40x14: counts scale proportionally" "$TMP/s1/panel.h5" 30 40 14 19 29 45
for n in 2 3 4; do files_equal "scaled world: 1 rank and $n ranks identical" "$TMP/s1/panel.h5" "$TMP/s$n/panel.h5"; done
mpi 1 "$GR" simulate --out "$TMP/s_other.h5" --seed 12 --east 30 --west 40 --months 14 >/dev/null 2>&1
h5diff -q "$TMP/s1/panel.h5" "$TMP/s_other.h5" /panel/trade >/dev/null 2>&1
[ $? -eq 1 ] && ok "another seed gives other data" || fail "another seed gives other data"

# --- small and tiny worlds on 4 ranks ---
check "--east 10 --west 12 --months 6 on 4 ranks" mpi 4 "$GR" simulate --out "$TMP/small.h5" --east 10 --west 12 --months 6
verify "small world counts (22 cities, 240 pairs, 1,440 rows, 6+9 program, 14 partners)" "$TMP/small.h5" 10 12 6 6 9 14
check "--east 1 --west 1 --months 1 on 3 ranks (a rank without rows)" mpi 3 "$GR" simulate --out "$TMP/tiny.h5" --east 1 --west 1 --months 1
verify "tiny world counts" "$TMP/tiny.h5" 1 1 1 1 1 1

# --- the study's real cities ---
if need_shared "--cities with the real city table"; then
  CSV="$SHARED/china_prefecture_cities_2016.csv"
  check "--cities real table on 2 ranks" mpi 2 "$GR" simulate --out "$TMP/real.h5" --cities "$CSV" --months 2 --seed 3
  verify "real cities: study counts" "$TMP/real.h5" 87 110 2 56 81 128
  out=$($PY - "$TMP/real.h5" "$CSV" <<'EOF'
import sys, csv, h5py, numpy as np
f = h5py.File(sys.argv[1], 'r')
east = ['北京市', '天津市', '辽宁省', '上海市', '江苏省', '浙江省', '福建省', '山东省', '广东省']
west = ['内蒙古自治区', '广西壮族自治区', '重庆市', '四川省', '贵州省', '云南省', '陕西省', '甘肃省', '青海省', '宁夏回族自治区']
rows = [r for r in csv.DictReader(open(sys.argv[2], encoding='utf-8'))]
want = {}
for r in rows:
    if (r['province'] in east and r['name'] != '莱芜市') or r['province'] in west:
        want[r['name']] = (r['province'], float(r['latitude']), float(r['longitude']), r['province'] in west)
names = [x.decode() for x in f['labels/cities/name'][:]]
provl = [x.decode() for x in f['labels/cities/province'][:]]
pv = f['cities/province'][:]; reg = f['cities/region'][:]
lat, lon = f['cities/lat'][:], f['cities/lon'][:]
bad = []
if sorted(names) != sorted(want): bad.append('city set differs from the README selection')
if '莱芜市' in names: bad.append('Laiwu present')
if set(provl[p] for p in pv[reg == 0]) != set(east): bad.append('eastern provinces')
if set(provl[p] for p in pv[reg == 1]) != set(west): bad.append('western provinces')
for i, n in enumerate(names):
    if n not in want: continue
    p, la, lo, w = want[n]
    if provl[pv[i]] != p or lat[i] != la or lon[i] != lo or reg[i] != w: bad.append(f'city {n} wrong'); break
print('OK' if not bad else 'BAD: ' + '; '.join(bad))
EOF
)
  [ "$out" = OK ] && ok "real cities: the 87 + 110 cities and 19 provinces of the README, coordinates as in the table" ||
    fail "real cities: the 87 + 110 cities and 19 provinces of the README" "$out"
  # malformed / incomplete city tables
  head -n 1 "$CSV" | sed 's/latitude/lat_typo/' >"$TMP/nolat.csv"; tail -n +2 "$CSV" >>"$TMP/nolat.csv"
  grep -v '^110000,' "$CSV" >"$TMP/nobeijing.csv"
  grep -v '^130100,' "$CSV" >"$TMP/fine.csv"   # dropping a non-study city changes nothing
  sed 's/^120000,天津市,天津市,120000,municipality,117.200983,/120000,天津市,天津市,120000,municipality,east117,/' "$CSV" >"$TMP/badlon.csv"
  awk -F, 'NR==1 || $3!="广东省" || $2!="广州市"' "$CSV" >"$TMP/nogz.csv"
  printf 'adcode,name,province,longitude,latitude\n110000,北京市,北京市,116.4,39.9,extra\n' >"$TMP/ragged.csv"
  check "--cities: a table without other provinces' cities still works" mpi 1 "$GR" simulate --out "$TMP/fine.h5" --cities "$TMP/fine.csv" --months 1
fi

# --- the noise: --noise-seed, --noise-draws, --trade-only, the shared shocks (docs/simulator.md) ---
# today's panels are unchanged: the datasets of the scaled world above (seed 11) hash as main's binary wrote
# them before the noise options existed (tests/fixtures/simulate/README.md), with --noise-seed absent or = --seed
FX="$ROOT/tests/fixtures/simulate"
want=$(cat "$FX/seed11_30x40x14.sha256")
got=$($PY "$FX/panel_hash.py" "$TMP/s1/panel.h5" 2>&1)
[ "$got" = "$want" ] && ok "no noise option: the datasets are main's (recorded hash)" || fail "no noise option: the datasets are main's (recorded hash)" "$got"
NS="--seed 11 --east 30 --west 40 --months 14"
mpi 1 "$GR" simulate --out "$TMP/n11.h5" $NS --noise-seed 11 >/dev/null 2>&1
got=$($PY "$FX/panel_hash.py" "$TMP/n11.h5" 2>&1)
[ "$got" = "$want" ] && ok "--noise-seed equal to --seed: the datasets are main's" || fail "--noise-seed equal to --seed: the datasets are main's" "$got"
check "--noise-seed 5 with 3 draws" mpi 1 "$GR" simulate --out "$TMP/n5.h5" $NS --noise-seed 5 --noise-draws 3
check "--noise-seed 2" mpi 1 "$GR" simulate --out "$TMP/n2.h5" $NS --noise-seed 2
check "--trade-only --noise-draws 3 on 3 ranks" mpi 3 "$GR" simulate --out "$TMP/to.h5" $NS --noise-draws 3 --trade-only
check "segment-pair shock, monthly, noise seed 5" bash -c "cd '$TMP' && '$GR' simulate --out sm.h5 $NS --noise-seed 5 --shock-segpair 0.2 --shock-monthly"
mkdir -p "$TMP/r4"  # the same output name: command_line records it
check "segment-pair shock, monthly, noise seed 5, on 4 ranks" bash -c "cd '$TMP/r4' && mpirun -n 4 '$GR' simulate --out sm.h5 $NS --noise-seed 5 --shock-segpair 0.2 --shock-monthly"
check "segment-pair shock at 150 km, constant" mpi 1 "$GR" simulate --out "$TMP/sc.h5" $NS --noise-seed 5 --shock-segpair 0.3 --shock-bandwidth 150
check "province-pair shock, constant" mpi 2 "$GR" simulate --out "$TMP/pc.h5" $NS --noise-seed 5 --shock-provpair 0.25
files_equal "shocks: 1 rank and 4 ranks identical" "$TMP/sm.h5" "$TMP/r4/sm.h5" "cities pairs"
out=$($PY - "$TMP/s1/panel.h5" "$TMP/n5.h5" "$TMP/n2.h5" "$TMP/to.h5" "$TMP/sm.h5" "$TMP/sc.h5" "$TMP/pc.h5" <<'EOF'
# independent checks with h5py, numpy and scipy (complete linkage within provinces, haversine): what each
# noise option redraws and what it keeps, and the shocks' grouping and size
import sys, math
import h5py, numpy as np
from scipy.cluster.hierarchy import linkage, fcluster
from scipy.spatial.distance import squareform
base, n5, n2, to, sm, sc, pc = [h5py.File(p, 'r') for p in sys.argv[1:]]
bad = []
def need(c, m):
    if not c: bad.append(m)
def same_tables(a, b):
    return all(np.array_equal(a[g][k][:], b[g][k][:], equal_nan=True) for g in ('cities', 'pairs') for k in a[g])
t0, t5 = base['panel/trade'][:], n5['panel/trade'][:]
need(same_tables(base, n5), '--noise-seed changed the world (cities or pairs)')
need(np.array_equal(t0 == 0, t5 == 0), '--noise-seed moved the zero cells')
need((t0[t0 > 0] != t5[t0 > 0]).all(), '--noise-seed left some trade values')
for c in ('deals', 'seller_cr', 'cat_food', 'search_index'):
    need(not np.array_equal(base['panel/' + c][:], n5['panel/' + c][:], equal_nan=True), 'noise seed kept ' + c)
need(n5.attrs.get('noise_seed') == b'5' and 'noise_seed' not in base.attrs, 'noise_seed attribute')
need(np.array_equal(n5['panel/trade_noise2'][:], n2['panel/trade'][:]), 'trade_noise2 is not the trade of --noise-seed 2')
need(np.array_equal(n5['panel/trade_noise1'][:], to['panel/trade_noise1'][:]), 'draws depend on --noise-seed or --trade-only')
need(sorted(to['panel'].keys()) == ['month', 'pair', 'trade', 'trade_noise1', 'trade_noise2', 'trade_noise3'], '--trade-only columns')
need(np.array_equal(to['panel/trade'][:], t0), '--trade-only changed trade')
# the shocks: log trade less that of the same noise seed without shocks
C = base['cities']; P = base['pairs']
lat, lon, prov = C['lat'][:], C['lon'][:], C['province'][:]
ex, im = P['exporter'][:].astype(int), P['importer'][:].astype(int)
M = 14
def segments(bw):
    seg = np.full(len(lat), -1); nxt = 0
    R = 6371.0088
    for p in np.unique(prov):
        ids = np.where(prov == p)[0]
        if len(ids) == 1: seg[ids] = nxt; nxt += 1; continue
        la, lo = np.radians(lat[ids]), np.radians(lon[ids])
        d = 2 * R * np.arcsin(np.sqrt(np.sin((la[:, None] - la[None]) / 2) ** 2 +
            np.cos(la[:, None]) * np.cos(la[None]) * np.sin((lo[:, None] - lo[None]) / 2) ** 2))
        lab = fcluster(linkage(squareform(d, checks=False), 'complete'), bw, 'distance')
        seg[ids] = lab + nxt; nxt += lab.max() + 1
    return seg
pair = base['panel/pair'][:]; month = base['panel/month'][:]
pos = t5 > 0
def groups(key_of_pair, shock, monthly, sd, name):
    d = np.log(shock[pos]) - np.log(t5[pos])
    g = key_of_pair[pair[pos]] * (M + 1) + (month[pos] if monthly else 0)
    u, inv = np.unique(g, return_inverse=True)
    lo_, hi_ = np.full(len(u), np.inf), np.full(len(u), -np.inf)
    np.minimum.at(lo_, inv, d); np.maximum.at(hi_, inv, d)
    need((hi_ - lo_).max() < 1e-9, f'{name}: the shock is not constant within its groups')
    v = lo_
    # distinct groups, distinct draws: equal only to rounding (~1e-15). Rounding to 9 decimals was a birthday
    # problem (24,678 normal draws of SD 0.2 on a 1e-9 grid collide with probability ~0.5); with a gap of 1e-13
    # a chance collision has probability ~6e-5
    vs = np.sort(v)
    need(len(vs) < 2 or np.diff(vs).min() > 1e-13, f'{name}: two groups share a shock')
    s = v.std(ddof=0); G = len(u)
    need(abs(s - sd) < 4 * sd / math.sqrt(2 * G), f'{name}: SD {s:.4f} of {G} group shocks, not {sd} (4 s.e.)')
    if not monthly:  # constant: the same shock every month
        need(True, '')
s100, s150 = segments(100), segments(150)
n = len(lat)
groups(s100[ex] * n + s100[im], sm['panel/trade'][:], True, 0.2, 'segment pair x month')
groups(s150[ex] * n + s150[im], sc['panel/trade'][:], False, 0.3, 'segment pair at 150 km')
groups(prov[ex].astype(int) * 1000 + prov[im].astype(int), pc['panel/trade'][:], False, 0.25, 'province pair')
need(abs(sm.attrs['sim_shock_segpair_sd'] - 0.2) < 1e-15 and sm.attrs['sim_shock_monthly'] == 1 and
     sm.attrs['sim_shock_segpair_bandwidth_km'] == 100 and sc.attrs['sim_shock_segpair_bandwidth_km'] == 150 and
     pc.attrs['sim_shock_provpair_sd'] == 0.25 and pc.attrs['sim_shock_monthly'] == 0, 'shock attributes')
print('OK' if not bad else 'BAD: ' + '; '.join(bad[:6]))
EOF
)
[ "$(echo "$out" | tail -n 1)" = OK ] && ok "noise: world and zero cells kept, noise redrawn, draws = --noise-seed k, shocks constant within (exporter segment, importer segment[, month]) by scipy's complete linkage and within province pairs, SDs within 4 s.e." ||
  fail "noise options (h5py/scipy checks)" "$(echo "$out" | tail -n 2 | tr '\n' ' ')"

# --- bad input: one-line error, non-zero exit, no output left behind ---
# (one rank runs as an MPI singleton: mpirun takes 2 s to report a failed job)
NP=1
bad_case() {  # NAME PATTERN ARGS... (on $NP ranks)
  local name=$1 pat=$2 launch=(); shift 2
  [ "$NP" -gt 1 ] && launch=(mpirun -n "$NP" --oversubscribe)
  rm -f "$TMP/bad.h5" "$TMP"/bad.h5.tmp.*
  check_fails "$name ($NP ranks)" "$pat" "${launch[@]}" "$GR" simulate --out "$TMP/bad.h5" "$@"
  if [ -e "$TMP/bad.h5" ] || ls "$TMP"/bad.h5.tmp.* >/dev/null 2>&1; then fail "$name: no file left behind"; fi
  local lines; lines=$(grep -c 'gravrd: error' "$TMP/out")
  [ "$lines" -eq 1 ] || fail "$name: exactly one error line" "$lines lines"
}
bad_case "non-numeric seed" "seed.*non-negative integer" --seed abc
bad_case "negative seed" "seed" --seed -4
bad_case "zero eastern cities" "east.*integer from 1" --east 0
bad_case "negative western cities" "west.*integer from 1" --west -3
bad_case "non-numeric months" "months.*integer" --months 6x
NP=2
bad_case "zero months" "months" --months 0
NP=1
bad_case "unknown option" "unknown option" --eats 5
bad_case "stray argument" "unexpected argument" extra
bad_case "missing cities file" "cannot|No such" --cities "$TMP/none.csv"
bad_case "--cities with --east" "do not combine" --cities "$TMP/none.csv" --east 5
bad_case "negative shock SD" "shock-segpair" --shock-segpair -0.1
bad_case "non-numeric shock SD" "shock-provpair" --shock-provpair nan
bad_case "--shock-monthly without a shock" "shock-monthly needs" --shock-monthly
bad_case "--shock-bandwidth without --shock-segpair" "shock-bandwidth needs" --shock-bandwidth 50 --shock-provpair 0.1
bad_case "zero shock bandwidth" "shock-bandwidth" --shock-segpair 0.1 --shock-bandwidth 0
bad_case "too many noise draws" "noise-draws" --noise-draws 1001
bad_case "negative noise seed" "noise-seed" --noise-seed -1
check_fails "missing --out" "--out" "$GR" simulate --seed 1
check_fails "unwritable output directory" "cannot create" mpirun -n 2 --oversubscribe "$GR" simulate --out "$TMP/no/such/dir/x.h5" --east 2 --west 2 --months 1
if [ -d "$SHARED" ]; then
  bad_case "cities table without a latitude column" "latitude" --cities "$TMP/nolat.csv"
  NP=2
  bad_case "cities table missing Beijing" "province 北京市" --cities "$TMP/nobeijing.csv"
  bad_case "cities table missing Guangzhou (86 eastern)" "86 eastern and 110 western.*expected 87 and 110" --cities "$TMP/nogz.csv"
  NP=1
  bad_case "cities table with a non-numeric longitude" "csv:[0-9]+.*longitude" --cities "$TMP/badlon.csv"
  bad_case "ragged cities table" "ragged.csv" --cities "$TMP/ragged.csv"
fi
check "--help exits 0" mpi 1 "$GR" simulate --help
