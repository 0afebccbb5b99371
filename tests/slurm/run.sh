#!/usr/bin/env bash
# tests/slurm/run.sh (`make test-slurm`): the batch scripts in jobs/ on a real single-node Slurm cluster
# (tests/slurm/cluster.sh starts one, or reuses daemons that answer, and stops only what it started).
# Every job is submitted from a scratch directory (not the repository) and waited for by polling
# `scontrol show job` (sbatch --wait polls far more slowly). TAP lines as tests/lib.sh; ends with
# "N passed, N failed, N skipped" and exits non-zero on a failure.
#   grid job = direct run; array (3 shards) + merge (--dependency=afterok) = the single run; estimate job
#   = direct estimate; main job = jobs/main.sh run directly; scancel, then the job again (--resume) = one
#   uninterrupted run; bad inputs FAILED with their one line; a short time limit: stopped in order, no
#   temporary file left; more ranks than the allocation: FAILED; the scaling job (jobs/scaling.sbatch) on a tiny
#   panel: 1 and 2 ranks through srun, equal coefficients, its report; one whose panel cannot be made: FAILED.
# Panels: tests/lib.sh's sim_cached (--months 6: 114,840 rows; the default panel for the time-limit job).
. "$(dirname "$0")/../lib.sh"
T0=$(date +%s.%N)
CLUSTER=$ROOT/tests/slurm/cluster.sh
SUBMITTED=$TMP/submitted   # every job id this test submitted: cancelled at exit if still there
STARTED=""                 # "started" when this test started the daemons: it stops them at the end
stop_cluster() { [ "$STARTED" = started ] && "$CLUSTER" stop; STARTED=""; }
trap '[ -s "$SUBMITTED" ] && scancel $(cat "$SUBMITTED") 2>/dev/null; stop_cluster; rm -rf "$TMP"' EXIT

if ! read -r SLURM_CONF STARTED < <("$CLUSTER" start 2>"$TMP/cluster.err") || [ -z "$SLURM_CONF" ]; then
  fail "start a single-node Slurm cluster" "$(cat "$TMP/cluster.err")"
  echo "0 passed, 1 failed, 0 skipped"; exit 1
fi
export SLURM_CONF
ok "Slurm cluster up, $STARTED ($(sinfo -h -o '%N %c CPUs %T' | head -n 1); config $SLURM_CONF; $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s)"

body() {
SMALL=$(sim_cached --months 6) || { fail "simulate the small panel"; return 1; }
BIG=$(sim_cached) || { fail "simulate the default panel"; return 1; }
SUB=$TMP/submit            # every job is submitted from here, not from the repository
mkdir -p "$SUB" "$TMP/direct"
J=$ROOT/jobs C=$ROOT/configs

# submit NAME SBATCH-ARGS...: submit from $SUB; the job id in ID_<NAME> (empty on failure)
submit() {
  local name=$1 id; shift
  # the job gets the submitting shell's environment (sbatch --export=ALL), less tests/lib.sh's settings
  # for concurrent test scripts (isolated singletons sharing one session directory)
  id=$(cd "$SUB" && env -u OMPI_MCA_orte_tmpdir_base -u OMPI_MCA_ess_singleton_isolated sbatch --parsable "$@" 2>"$TMP/sbatch.err") || { fail "sbatch $name" "$(cat "$TMP/sbatch.err")"; id=""; }
  printf -v "ID_$name" '%s' "${id%%;*}"
  [ -n "$id" ] && echo "${id%%;*}" >>"$SUBMITTED"
}
# wait_job ID [SECONDS]: poll until the job has ended (and finished completing); JSTATE, JEXIT
wait_job() {
  local id=$1 limit=${2:-120} t line
  JSTATE="" JEXIT=""
  [ -n "$id" ] || return 1
  for ((t = 0; t < limit * 5; t++)); do
    line=$(scontrol show job -o "$id" 2>/dev/null | head -n 1)
    JSTATE=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' <<<"$line")
    JEXIT=$(sed -n 's/.* ExitCode=\([0-9:]*\).*/\1/p' <<<"$line")
    case $JSTATE in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)
        [[ "$line" == *COMPLETING* ]] || return 0;;
    esac
    sleep 0.2
  done
  JSTATE="still $JSTATE after $limit s"; return 1
}
# expect_job NAME ID STATE EXIT: ok if the job ended in STATE with ExitCode EXIT
expect_job() {
  local name=$1 id=$2 state=$3 code=$4 log
  wait_job "$id"
  log=$(ls "$SUB"/*-"$id".out "$SUB"/*-"${id}"_*.out 2>/dev/null | head -n 1)
  if [ "$JSTATE" = "$state" ] && [ "$JEXIT" = "$code" ]; then ok "$name: $state $code"
  else fail "$name: $state $code" "job ${id:-none} ended $JSTATE $JEXIT: $(grep -v '^#' "${log:-/dev/null}" 2>/dev/null | tail -n 3 | tr '\n' ' ')"; fi
}
logof() { ls "$SUB"/*-"$1".out "$SUB"/*-"$1"_*.out 2>/dev/null | head -n 1; }
# same NAME A B: ok if files A and B are byte-identical
same() { if cmp -s "$2" "$3"; then ok "$1"; else fail "$1" "$(cmp "$2" "$3" 2>&1 | head -n 1)"; fi; }
# no_temporaries NAME DIR...: ok if no *.tmp* file is left under DIR
no_temporaries() {
  local name=$1 left; shift
  left=$(find "$@" -name '*.tmp*' 2>/dev/null | head -n 3)
  if [ -z "$left" ]; then ok "$name"; else fail "$name" "left: $left"; fi
}
# header_has NAME LOG ERE...: ok if the log's header (its leading # lines) matches every ERE
header_has() {
  local name=$1 log=$2 e miss=""; shift 2
  for e in "$@"; do grep -qE -- "$e" <(sed -n '/^#/p' "$log" 2>/dev/null) || miss="$miss /$e/"; done
  if [ -z "$miss" ]; then ok "$name"; else fail "$name" "header lacks$miss: $(head -n 12 "$log" 2>/dev/null | tr '\n' '|')"; fi
}
# table_of DIR CONFIG: the markdown table of a results directory
table_of() { "$GR" table "$1" --config "$2" 2>&1; }

# ---- the time-limit job first: it takes one CPU for up to half a minute while the rest run ----
# --time=1 and grid.sbatch's --signal=TERM@60: Slurm signals the ranks at its first time-limit check
# (at most 30 s in); the grid stops in order before the limit. The full sweep would take minutes.
submit timelimit --ntasks=1 --time=1 --job-name=gr-timelimit "$J/grid.sbatch" "$C/sweep-large.yaml" "$BIG" out/timelimit

# ---- the grid job = a direct run ----
submit grid --ntasks=2 --overcommit "$J/grid.sbatch" "$C/table3.yaml" "$SMALL" out/grid
# ---- array (3 shards) + merge = the single run ----
submit array --array=0-2 --ntasks=1 --overcommit "$J/grid-array.sbatch" "$C/grid-150.yaml" "$SMALL" out/arr
submit merge --dependency=afterok:"$ID_array" --overcommit "$J/grid-merge.sbatch" "$C/grid-150.yaml" "$SMALL" out/arr
# ---- the estimate job = a direct estimate ----
submit estimate --ntasks=2 --overcommit "$J/estimate.sbatch" "$SMALL" "$C/table2.args"
# ---- the scaling job: bench/scaling.sh through the allocation's launcher, a tiny panel, 1 and 2 ranks ----
submit scaling --ntasks=2 --overcommit --export=ALL,REPS=1,DEFAULT=0 "$J/scaling.sbatch" "20:24:tiny"
submit scalingbad --ntasks=1 --overcommit --export=ALL,REPS=1,DEFAULT=0 "$J/scaling.sbatch" "0:0:bad"
# ---- bad inputs: FAILED, one line, nothing simulated ----
submit badpanel --ntasks=1 --overcommit "$J/grid.sbatch" "$C/table2.yaml" data/defualt.h5
submit badconfig --ntasks=1 --overcommit "$J/grid.sbatch" configs/tabel2.yaml "$SMALL"
printf 'data: x.h5\nbase:\n  formula: "log(trade) ~ partner +"\n' >"$SUB/broken.yaml"
submit brokenconfig --ntasks=2 --overcommit "$J/grid.sbatch" broken.yaml "$SMALL" out/broken
echo "not an HDF5 file" >"$SUB/notpanel.h5"
submit notpanel --ntasks=2 --overcommit "$J/estimate.sbatch" notpanel.h5 --formula 'log(trade) ~ partner'
mkdir -p "$SUB/adir.h5"
submit dirpanel --ntasks=1 --overcommit "$J/estimate.sbatch" adir.h5 --formula 'log(trade) ~ partner'
submit toomany --ntasks=2 --overcommit --export=ALL,GRAVRD_RANKS=3 "$J/estimate.sbatch" "$SMALL" "$C/table2.args"
submit notarray --ntasks=1 --overcommit "$J/grid-array.sbatch" "$C/grid-150.yaml" "$SMALL" out/na
# a copy of a script outside the repository finds it through GRAVRD_HOME
mkdir -p "$TMP/elsewhere"; cp "$J/estimate.sbatch" "$TMP/elsewhere/my-estimate.sbatch"
submit elsewhere --ntasks=1 --overcommit --export=ALL,GRAVRD_HOME="$ROOT" "$TMP/elsewhere/my-estimate.sbatch" "$SMALL" \
  --formula 'log(trade) ~ partner + log(distance_km) | exporter^month + importer^month' --cluster pair --json est-elsewhere.json
# ---- the grid to cancel ----
submit cancel --ntasks=2 --overcommit "$J/grid.sbatch" "$C/sweep-large.yaml" "$SMALL" out/cancel

# the direct runs, meanwhile (same absolute panel path: the same spec hashes)
mpi 2 "$GR" grid "$C/table3.yaml" --data "$SMALL" --out "$TMP/direct/grid" >"$TMP/direct/grid.log" 2>&1 \
  || fail "direct grid run" "$(tail -n 2 "$TMP/direct/grid.log")"
mpi 2 "$GR" grid "$C/grid-150.yaml" --data "$SMALL" --out "$TMP/direct/g150" >"$TMP/direct/g150.log" 2>&1 \
  || fail "direct grid-150 run" "$(tail -n 2 "$TMP/direct/g150.log")"
mapfile -t T2 < <(grep -v -E '^[[:space:]]*(#|$)' "$C/table2.args")
mpi 2 "$GR" estimate --data "$SMALL" "${T2[@]}" --json "$TMP/direct/est.json" >"$TMP/direct/est.out" 2>"$TMP/direct/est.err" \
  || fail "direct estimate" "$(tail -n 2 "$TMP/direct/est.err")"

# ---- scancel once the grid has written some records, then the same job again ----
n=0
for ((t = 0; t < 600; t++)); do
  n=$({ wc -l <"$SUB/out/cancel/results.jsonl"; } 2>/dev/null || echo 0)
  [ "$n" -ge 100 ] && break; sleep 0.1
done
scancel "$ID_cancel"
expect_job "scancel: the grid job stops in order" "$ID_cancel" CANCELLED 143:0
L=$(logof "$ID_cancel")
grep -qE '^gravrd: error: interrupted by SIGTERM: [0-9]+ of 2100 specifications done; --resume finishes' "$L" \
  && ok "scancel: the log says what is done ($(grep -oE '[0-9]+ of 2100' "$L"))" || fail "scancel: the log says what is done" "$(tail -n 3 "$L" | tr '\n' ' ')"
python3 - "$SUB/out/cancel/manifest.json" <<'PY' && ok "scancel: manifest interrupted, some done, rest not done" || fail "scancel: manifest"
import json, sys
m = json.load(open(sys.argv[1]))
sys.exit(0 if m["interrupted"] and 0 < m["done"] < 2100 and m["done"] + m["not_done"] == 2100 else 1)
PY
no_temporaries "scancel: no temporary file left" "$SUB"
cancelled=$(wc -l <"$SUB/out/cancel/results.jsonl")
submit resume --ntasks=2 --overcommit "$J/grid.sbatch" "$C/sweep-large.yaml" "$SMALL" out/cancel
mpi 2 "$GR" grid "$C/sweep-large.yaml" --data "$SMALL" --out "$TMP/direct/sweep" >"$TMP/direct/sweep.log" 2>&1
[ $? -eq 4 ] || fail "direct sweep-large run (exit 4: 60 specifications fail on this panel)" "$(tail -n 2 "$TMP/direct/sweep.log")"

# ---- the grid job ----
expect_job "grid job" "$ID_grid" COMPLETED 0:0
L=$(logof "$ID_grid")
header_has "grid job: provenance header" "$L" '^# version: gravrd [0-9]' '^# git: ([0-9a-f]{40}|unknown)' \
  "^# command line: $J/grid.sbatch $C/table3.yaml $SMALL out/grid\$" "^# slurm: job $ID_grid, array job none task none .*nodes localhost, tasks 2" \
  '^# ranks: 2, launcher: srun --mpi=pmix' "^# panel: $SMALL \\([0-9]+ bytes, modified [0-9T:Z-]+\\)" \
  '^# task groups: 2 of 1 rank' "^# output: $SUB/out/grid\$"
same "grid job: results.csv = the direct run's" "$SUB/out/grid/results.csv" "$TMP/direct/grid/results.csv"
table_of "$TMP/direct/grid" "$C/table3.yaml" >"$TMP/direct/grid.md"
grep -qF -f <(grep '^| Partner' "$TMP/direct/grid.md") "$L" && [ -s "$TMP/direct/grid.md" ] \
  && ok "grid job: the log has the table" || fail "grid job: the log has the table"

# ---- array + merge ----
expect_job "merge job (after the array)" "$ID_merge" COMPLETED 0:0
for k in 0 1 2; do
  wait_job "${ID_array}_$k"
  [ "$JSTATE $JEXIT" = "COMPLETED 0:0" ] && ok "array task $k: COMPLETED 0:0" || fail "array task $k" "$JSTATE $JEXIT"
done
L1=$(ls "$SUB"/*-"${ID_array}"_1.out 2>/dev/null | head -n 1)
header_has "array task 1: header names the shard" "${L1:-/dev/null}" "array job $ID_array task 1 \\(of 3\\)" '^# shard: 2 of 3$' \
  "^# output: $SUB/out/arr/shards/2-of-3\$"
grep -qE "^grid: 50 specifications selected: 50 done" "${L1:-/dev/null}" && ok "array task 1: 50 of 150 specifications" \
  || fail "array task 1: 50 of 150 specifications" "$(grep '^grid:' "${L1:-/dev/null}")"
same "array + merge: results.csv = the single run's" "$SUB/out/arr/results.csv" "$TMP/direct/g150/results.csv"
table_of "$SUB/out/arr" "$C/grid-150.yaml" >"$TMP/arr.md"; table_of "$TMP/direct/g150" "$C/grid-150.yaml" >"$TMP/g150.md"
same "array + merge: the table = the single run's" "$TMP/arr.md" "$TMP/g150.md"
python3 - "$SUB/out/arr/results.jsonl" "$TMP/direct/g150/results.jsonl" <<'PY' && ok "array + merge: results.jsonl = the single run's (by id, timings aside)" || fail "array + merge: results.jsonl"
import json, sys
def load(p):
    out = {}
    for line in open(p):
        r = json.loads(line)
        for res in r["results"]:
            res.pop("timings", None)
        out[r["spec_id"]] = r
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
bad = [k for k in b if a.get(k) != b[k]]
if bad or len(a) != len(b):
    print(f"# {len(bad)} differ, {len(a)} vs {len(b)} records; first {bad[:1]}")
    sys.exit(1)
PY
grep -qE '^merge: 3 shards, 150 specifications \(0 failed\)' "$(logof "$ID_merge")" && ok "merge job: says what it merged" \
  || fail "merge job: says what it merged" "$(grep -v '^#' "$(logof "$ID_merge")" | head -n 3 | tr '\n' ' ')"
# a merge with a shard missing, or unfinished, fails naming it
cp -r "$SUB/out/arr" "$SUB/out/arr-missing"; rm -rf "$SUB/out/arr-missing/shards/2-of-3"
cp -r "$SUB/out/arr" "$SUB/out/arr-cut"; rm -f "$SUB/out/arr-cut/shards/3-of-3/manifest.json"
submit mergemissing --ntasks=1 --overcommit "$J/grid-merge.sbatch" "$C/grid-150.yaml" "$SMALL" out/arr-missing
submit mergecut --ntasks=1 --overcommit "$J/grid-merge.sbatch" "$C/grid-150.yaml" "$SMALL" out/arr-cut

# ---- the estimate job ----
expect_job "estimate job" "$ID_estimate" COMPLETED 0:0
check_close "estimate job: JSON = the direct estimate's (1e-12)" "$SUB/gravrd-estimate-$ID_estimate.json" "$TMP/direct/est.json" 1e-12
L=$(logof "$ID_estimate")
header_has "estimate job: header" "$L" "^# arguments: $C/table2.args\$" "^# results: $SUB/gravrd-estimate-$ID_estimate.json\$" \
  '^# ranks: 2, launcher: srun --mpi=pmix'
grep -qF -f <(grep '^partner ' "$TMP/direct/est.out") "$L" && grep -q '^partner ' "$TMP/direct/est.out" \
  && ok "estimate job: the log has the table" || fail "estimate job: the log has the table"
expect_job "estimate job from a copy outside the repository (GRAVRD_HOME)" "$ID_elsewhere" COMPLETED 0:0
[ -s "$SUB/est-elsewhere.json" ] && ok "GRAVRD_HOME job: --json honoured" || fail "GRAVRD_HOME job: --json honoured"

# ---- the scaling job ----
expect_job "scaling job" "$ID_scaling" COMPLETED 0:0
L=$(logof "$ID_scaling")
header_has "scaling job: header" "$L" '^# ranks: 2, launcher: srun --mpi=pmix' \
  '^# launcher: srun --mpi=pmix --ntasks=\{n\} --kill-on-bad-exit=0 \(\{n\}: 1, 2, 4, \.\.\. 2\)$' \
  "^# results: $SUB/gravrd-scaling-$ID_scaling\$" '^# sizes: 20:24:tiny$'
python3 - "$SUB/gravrd-scaling-$ID_scaling" <<'PY' && ok "scaling job: 1 and 2 ranks ran, coefficients equal to 1e-10, report.md" \
  || fail "scaling job: runs, coefficients, report" "$(grep -v '^#' "${L:-/dev/null}" | tail -n 3 | tr '\n' ' ')"
import json, os, sys
d = sys.argv[1]
rows = [l.split('\t') for l in open(os.path.join(d, 'runs.tsv')).read().split('\n')[1:] if l]
got = sorted((r[0], r[1], r[3], r[5], r[6]) for r in rows)
want = [('scaletiny', n, '57600', '0', f'srun --mpi=pmix --ntasks={n} --kill-on-bad-exit=0') for n in ('1', '2')]
if got != want:
    sys.exit(f'# runs.tsv: {got}')
co = {}
for n in ('1', '2'):
    j = json.load(open(os.path.join(d, 'json', f'scaletiny-{n}r-1.json')))
    co[n] = [(c['term'], c['estimate'], c['std_error']) for c in j.get('results', [j])[0]['coefficients']]
if not co['1'] or [x[0] for x in co['1']] != [x[0] for x in co['2']]:
    sys.exit(f'# terms: {co}')
for a, b in zip(co['1'], co['2']):
    for p, q in zip(a[1:], b[1:]):
        if abs(p - q) > 1e-10 * abs(q):
            sys.exit(f'# 1 vs 2 ranks: {a} {b}')
if '| scaletiny | 57,600 | 2 | 1 (0) |' not in open(os.path.join(d, 'report.md')).read():
    sys.exit('# report.md lacks the 2-rank row')
PY
panels=$(sed -n 's/^# panels: //p' "${L:-/dev/null}")
[ -n "$panels" ] && [ ! -e "$panels" ] && ok "scaling job: its panels removed" || fail "scaling job: its panels removed" "'$panels'"
expect_job "scaling job, a panel that cannot be simulated" "$ID_scalingbad" FAILED 1:0
grep -qE '^gravrd: error: bench/scaling.sh exited 1: a simulation or a run failed' "$(logof "$ID_scalingbad")" \
  && ok "scaling job: the failure's one line" || fail "scaling job: the failure's one line" "$(tail -n 3 "$(logof "$ID_scalingbad")" | tr '\n' ' ')"

# ---- bad inputs ----
# bad NAME ID ERE: FAILED 1:0, and the log's non-header lines: the one error line (matching), plus at most
# srun's own "srun: error: ... Exited with exit code 1"; no Open MPI banner
bad() {
  local name=$1 id=$2 ere=$3 L body
  expect_job "$name: FAILED" "$id" FAILED 1:0
  L=$(logof "$id"); body=$(grep -v '^#' "${L:-/dev/null}" | grep -v '^srun: error: .*Exited with exit code 1$')
  if [ "$(grep -c . <<<"$body")" = 1 ] && grep -qE -- "$ere" <<<"$body"; then ok "$name: one line: $body"
  else fail "$name: one line /$ere/" "$(tr '\n' '|' <<<"$body" | head -c 400)"; fi
}
bad "missing panel (a typo)" "$ID_badpanel" "^gravrd: error: panel data/defualt\\.h5: no such file \\(relative paths are taken from the job's directory, $SUB\\)\$"
[ ! -e "$SUB/data" ] && ok "missing panel: nothing simulated" || fail "missing panel: nothing simulated" "$(ls "$SUB/data")"
bad "missing config" "$ID_badconfig" '^gravrd: error: config configs/tabel2\.yaml: no such file'
bad "broken config" "$ID_brokenconfig" "^gravrd: error: .*broken\\.yaml:3: formula: at character 23: expected a term after '\\+'"
bad "not a panel" "$ID_notpanel" '^gravrd: error: .*notpanel\.h5'
bad "a directory as panel" "$ID_dirpanel" '^gravrd: error: panel adir\.h5: not a regular file$'
bad "more ranks than the allocation" "$ID_toomany" '^gravrd: error: 3 ranks asked for, but the allocation has 2 task\(s\): submit with --ntasks=3'
bad "array script outside an array" "$ID_notarray" '^gravrd: error: not an array task: submit with sbatch --array=0-N'
bad "merge with a shard missing" "$ID_mergemissing" '^gravrd: error: merge .*: shard\(s\) 2 of 3 missing'
bad "merge with a shard unfinished" "$ID_mergecut" '^gravrd: error: merge .*: shard 3 of 3: .*no manifest \(the shard did not finish'
if grep -l -E 'Primary job|mpirun detected|-{20,}' "$SUB"/*.out >/dev/null 2>&1; then fail "no Open MPI banner in any log" "$(grep -l -E 'Primary job|mpirun detected' "$SUB"/*.out)"
else ok "no Open MPI banner in any log"; fi

# ---- scancel + --resume = one uninterrupted run ----
expect_job "resumed grid job (60 specifications fail on this panel: exit 4)" "$ID_resume" FAILED 4:0
L=$(logof "$ID_resume")
grep -qE "^grid: 2100 specifications selected: $((2100 - cancelled)) done \\(60 failed\\), $cancelled from an earlier run, 0 not done" "$L" \
  && ok "resume: $cancelled records kept, the rest run" || fail "resume: $cancelled kept, the rest run" "$(grep '^grid:' "$L")"
same "scancel + resume: results.csv = one uninterrupted run's" "$SUB/out/cancel/results.csv" "$TMP/direct/sweep/results.csv"
no_temporaries "resume: no temporary file left" "$SUB"

# ---- the time limit ----
expect_job "time limit: the grid stops in order before it (SIGTERM from --signal=TERM@60)" "$ID_timelimit" FAILED 143:0
L=$(logof "$ID_timelimit")
grep -qE '^gravrd: error: interrupted by SIGTERM: [0-9]+ of 2100 specifications done; --resume finishes' "$L" \
  && ok "time limit: the log says what is done ($(grep -oE '[0-9]+ of 2100' "$L"))" || fail "time limit: the log says" "$(tail -n 3 "$L" | tr '\n' ' ')"
python3 - "$SUB/out/timelimit" <<'PY' && ok "time limit: every record whole, manifest interrupted" || fail "time limit: records and manifest"
import json, os, sys
d = sys.argv[1]
recs = [json.loads(l) for l in open(os.path.join(d, "results.jsonl"))]
m = json.load(open(os.path.join(d, "manifest.json")))
sys.exit(0 if recs and m["interrupted"] and m["done"] == len(recs) else 1)
PY
no_temporaries "time limit: no temporary file left" "$SUB"

# ---- BLAS threads from --cpus-per-task (the CPUs are free again) ----
submit cpus --ntasks=1 --cpus-per-task=2 "$J/estimate.sbatch" "$SMALL" --formula 'log(trade) ~ partner | exporter^month' --quiet
expect_job "estimate job with --cpus-per-task=2" "$ID_cpus" COMPLETED 0:0
header_has "--cpus-per-task=2: BLAS threads 2, passed to srun" "$(logof "$ID_cpus")" 'cpus per task 2$' 'BLAS threads: 2$' \
  '^# run: srun --mpi=pmix --ntasks=1 --kill-on-bad-exit=0 --cpus-per-task=2 '

# ---- the main job (jobs/main.sh) = jobs/main.sh run directly ----
if "$GR" grid --help 2>&1 | grep -q -- '--quiet' && "$GR" plot --help >/dev/null 2>&1; then
  submit main --ntasks=2 "$J/gravrd.sbatch" "$SMALL" out/main
  "$J/main.sh" "$SMALL" 2 "$TMP/direct/main" >"$TMP/direct/main.out" 2>"$TMP/direct/main.err" || fail "jobs/main.sh directly" "$(tail -n 2 "$TMP/direct/main.err")"
  expect_job "main job" "$ID_main" COMPLETED 0:0
  for g in table2 table3 grid-150; do
    same "main job: $g results.csv = the direct run's" "$SUB/out/main/$g/results.csv" "$TMP/direct/main/$g/results.csv"
  done
  diff <(grep -v '^#' "$(logof "$ID_main")" | grep -vE '^grid:|spec-curve|results.csv') <(grep -vE 'spec-curve|results.csv' "$TMP/direct/main.out") >"$TMP/main.diff" \
    && ok "main job: the log's tables = the direct run's" || fail "main job: the log's tables" "$(head -n 4 "$TMP/main.diff" | tr '\n' ' ')"
else
  echo "# SKIP: main job (jobs/gravrd.sbatch): this build lacks what jobs/main.sh runs (gravrd grid --quiet, gravrd plot)"
  echo "ok - main job # SKIP jobs/main.sh needs gravrd grid --quiet and gravrd plot"
fi

}

body 2>&1 | tee "$TMP/tap"
stop_cluster
secs=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
skipped=$(grep -cE '^ok .*# SKIP' "$TMP/tap"); failed=$(grep -c '^not ok' "$TMP/tap")
passed=$(( $(grep -c '^ok ' "$TMP/tap") - skipped ))
echo "# test-slurm: $secs s in all (cluster started or reused, jobs, cluster stopped)"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
