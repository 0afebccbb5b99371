#!/usr/bin/env bash
# tests/run.sh: run every unit test binary build/tests/test_* (cmocka, TAP output) and every integration
# script tests/it_*.sh, up to GR_TEST_JOBS at a time (default: 2 per CPU: the scripts spend much of their
# time waiting for processes to start); count the TAP lines of each; print each one's failures, comments
# and summary in a fixed order (binaries, then scripts, alphabetically); end with "N passed, N failed,
# N skipped". Each script has its own $TMP (tests/lib.sh). The slowest ones of the last run
# (build/tests/durations) start first. GR_TEST_LOGS: a directory to keep each one's whole output in
# (NAME.log). GR_SANITIZER_LOGS (make asan): a directory where every file is a sanitizer report, counted
# as a failure.
cd "$(dirname "$0")/.." || exit 2
export CMOCKA_MESSAGE_OUTPUT=TAP OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
# as in tests/lib.sh: faster start-up, and ranks that share few cores between concurrent scripts
export OMPI_MCA_pml=ob1 OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_hwloc_base_binding_policy=none OMPI_MCA_mpi_yield_when_idle=1
jobs_max=${GR_TEST_JOBS:-$(( 2 * $(nproc 2>/dev/null || echo 1) ))}
logs=$(mktemp -d /tmp/gravrd-run.XXXXXX)
trap 'rm -rf "$logs"' EXIT
durations=build/tests/durations
t_start=$SECONDS

names=() cmds=()
for t in build/tests/test_*; do [ -x "$t" ] && [ -f "$t" ] && names+=("$(basename "$t")") && cmds+=("$t"); done
for t in tests/it_*.sh; do [ -f "$t" ] && names+=("$(basename "$t")") && cmds+=("bash $t"); done

# start order: by the last run's duration, longest first (unknown ones first of all: they may be long)
order=$(for i in "${!names[@]}"; do
          d=$(awk -v n="${names[$i]}" '$1 == n { print $2 }' "$durations" 2>/dev/null); echo "${d:-9999} $i"
        done | sort -k1,1nr -k2,2n | cut -d' ' -f2)

# run_bg I: run entry I in the background; its output in $logs/I.log, exit status and seconds in $logs/I.rc
run_bg() {
  local i=$1
  (
    t0=$(date +%s%N)
    # an isolated singleton's session directory is named by a job id they all share: one per entry
    mkdir -p "$logs/ompi.$i" && export OMPI_MCA_orte_tmpdir_base="$logs/ompi.$i"
    # shellcheck disable=SC2086
    ${cmds[$i]} >"$logs/$i.log" 2>&1; rc=$?
    echo "$rc $(( ($(date +%s%N) - t0) / 1000000 ))" >"$logs/$i.rc.part" && mv "$logs/$i.rc.part" "$logs/$i.rc"
  ) &
}
running=0
for i in $order; do
  while [ "$running" -ge "$jobs_max" ]; do wait -n; running=$((running - 1)); done
  run_bg "$i"; running=$((running + 1))
done
wait

pass=0; failn=0; skipn=0; : >"$logs/durations"
{
for i in "${!names[@]}"; do
  name=${names[$i]} log="$logs/$i.log"
  read -r rc ms <"$logs/$i.rc" 2>/dev/null || { rc=125; ms=0; }
  # cmocka reports a skipped test as "not ok N # SKIP": a skip, not a failure
  p=$(grep -cE '^ok ' "$log"); s=$(grep -cE '^(not )?ok .*# SKIP' "$log")
  f=$(grep -E '^not ok ' "$log" | grep -cv '# SKIP')
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then f=1; echo "not ok - $name produced no test result (rc=$rc)"; fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $name exited $rc"; fi
  [ -n "${GR_TEST_LOGS:-}" ] && mkdir -p "$GR_TEST_LOGS" && cp "$log" "$GR_TEST_LOGS/$name.log"
  grep -E '^(not ok|# )' "$log" | sed "s|^|[$name] |"
  p=$((p - $(grep -cE '^ok .*# SKIP' "$log")))
  echo "$name: $p passed, $f failed, $s skipped ($(awk -v m="$ms" 'BEGIN { printf "%.1f", m / 1000 }') s)"
  echo "$name $((ms / 1000))" >>"$logs/durations"
  pass=$((pass + p)); failn=$((failn + f)); skipn=$((skipn + s))
done
# under `make asan`: every report the sanitizers wrote (log_path, whatever a test did with the output) fails
if [ -n "${GR_SANITIZER_LOGS:-}" ]; then
  for f in "$GR_SANITIZER_LOGS"/*; do
    [ -f "$f" ] || continue
    echo "not ok - sanitizer report $(basename "$f"): $(grep -m1 -E 'ERROR|runtime error' "$f")"
    head -n 25 "$f" | sed 's/^/# /'
    failn=$((failn + 1))
  done
fi
[ -d build/tests ] && cp "$logs/durations" "$durations" 2>/dev/null
echo "# wall $((SECONDS - t_start)) s, up to $jobs_max at a time"
echo "$pass passed, $failn failed, $skipn skipped"
} >"$logs/report"
cat "$logs/report"
# GR_TEST_SUMMARY (.ci/run): a file to write the failures and the count line to, so that the end of a long
# log (make asan rebuilds after the run) can say which ones failed
if [ -n "${GR_TEST_SUMMARY:-}" ]; then
  grep -E '^(\[[^]]*\] not ok|not ok|[0-9]+ passed, )' "$logs/report" | grep -v '# SKIP' | cut -c1-400 >"$GR_TEST_SUMMARY"
  grep -v '# SKIP' "$logs/report" | grep -A3 -E '^\[[^]]*\] not ok' | grep -E '^\[[^]]*\] # ' | head -n 40 |
    cut -c1-400 >>"$GR_TEST_SUMMARY"
fi
[ "$failn" -eq 0 ]
