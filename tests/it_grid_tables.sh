#!/usr/bin/env bash
# it_grid_tables.sh: the study's configs that have a second route in gravrd agree with it. Table A.6 as a grid
# (configs/a06-balance.yaml: one row per pair through `where: month == 1`, exporter + importer [+ segpair_d]
# fixed effects, singletons removed, HC1) equals `gravrd balance` for every variable and bandwidth (coefficient,
# standard error, p-value to 1e-10 relative; pairs used exactly), on 1 and 2 ranks; and every configs/*.yaml
# with a table: section runs through `gravrd grid` and renders with `gravrd table` on the default panel.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
D=$(sim_cached) || { fail "simulate the default panel"; exit 0; }

for np in 1 2; do
  out="$TMP/a06_$np"
  mpi "$np" "$GR" grid configs/a06-balance.yaml --data "$D" --out "$out" --quiet >"$TMP/g.out" 2>&1 ||
    { fail "a06-balance.yaml on $np rank(s)" "$(tail -n 2 "$TMP/g.out")"; continue; }
  mpi "$np" "$GR" balance --data "$D" --bandwidth 50 --bandwidth 75 --bandwidth 100 --bandwidth 125 --bandwidth 150 \
    --json "$TMP/bal_$np.json" --quiet >"$TMP/b.out" 2>&1 || { fail "balance on $np rank(s)" "$(tail -n 2 "$TMP/b.out")"; continue; }
  python3 - "$out/results.jsonl" "$TMP/bal_$np.json" >"$TMP/cmp" 2>&1 <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
bal = json.load(open(sys.argv[2]))
grid = {}
for r in recs:
    assert r["status"] == "ok", r
    fe = r["axes"]["fe"]
    bw = None if fe == "no segments" else float(fe.split()[2])
    res = r["results"][0]
    c = [c for c in res["coefficients"] if c["term"] == "partner"][0]
    grid[(r["axes"]["x"], bw)] = (c["estimate"], c["std_error"], c["p_value"], res["nobs"])
n = 0
def close(a, b): return abs(a - b) <= 1e-10 * max(abs(a), abs(b), 1e-300)
for row in bal["rows"]:
    for cell in row["cells"]:
        g = grid[(row["variable"], cell["bandwidth_km"] and float(cell["bandwidth_km"]))]
        want = (cell["coef"], cell["se"], cell["p"], cell["nobs"])
        if not (all(close(a, b) for a, b in zip(g[:3], want[:3])) and g[3] == want[3]):
            print("differ:", row["variable"], cell["bandwidth_km"], g, want); sys.exit(1)
        n += 1
if n != len(grid) or n != 24: print("cells", n, "grid", len(grid)); sys.exit(1)
print(n)
PY
  if [ $? -eq 0 ]; then ok "A.6 as a grid equals gravrd balance on $np rank(s): $(cat "$TMP/cmp") cells (coef, SE, p to 1e-10; pairs used exactly)"
  else fail "A.6 as a grid equals gravrd balance on $np rank(s)" "$(tail -n 3 "$TMP/cmp" | tr '\n' ' ')"; fi
done

# every config with a table: section: grid, then table (md), on 2 ranks; no failed specification
for cfg in configs/*.yaml; do
  grep -q '^table:' "$cfg" || continue
  name=$(basename "$cfg" .yaml)
  if mpi 2 "$GR" grid "$cfg" --data "$D" --out "$TMP/t_$name" --quiet >"$TMP/t.out" 2>&1 &&
     "$GR" table "$TMP/t_$name" --config "$cfg" >"$TMP/t_$name.md" 2>"$TMP/t.err" && [ -s "$TMP/t_$name.md" ] &&
     ! grep -qi 'failed\|nan' "$TMP/t_$name.md"; then ok "$cfg: gravrd grid then gravrd table"
  else fail "$cfg: gravrd grid then gravrd table" "$(tail -n 2 "$TMP/t.out" "$TMP/t.err" | tr '\n' ' ')"; fi
done
