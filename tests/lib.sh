# tests/lib.sh: helpers for the shell integration tests (sourced). Every check prints one TAP line
# "ok - name" or "not ok - name: why"; tests/run.sh counts them. Each script gets its own $TMP (removed
# at exit); tests/run.sh runs the scripts concurrently, so write only under $TMP (or through sim_cached).
#
#   ok NAME / fail NAME [WHY]        one TAP line
#   check NAME CMD...                ok if CMD exits 0
#   check_fails NAME PATTERN CMD...  ok if CMD exits non-zero within 120 s with PATTERN (ERE) in its output.
#                                    CMD may start with `mpi N` or `mpirun -n N [--oversubscribe]`: on one
#                                    rank the program then runs directly (an MPI singleton, no mpirun); on
#                                    more, through mpi_ranks, and every rank must exit non-zero.
#   mpi N [MPIRUN-OPTIONS] CMD...    CMD on N ranks (timeout $((300 * TS)) s); the exit status is the largest of the
#                                    ranks' statuses. N = 1 without options runs CMD directly. Never pays
#                                    mpirun's 2 s wait after a failed rank.
#   mpi_ranks N [MPIRUN-OPTIONS] CMD...  the launch under mpi and check_fails: every rank writes its exit
#                                    status to $TMP/ranks/rc.<rank> (then exits 0, so mpirun does not wait);
#                                    sets RANK_STATUS ("1 1 1": one per rank, "-" for a rank that left none)
#                                    and returns the largest status (125 if a rank left none, mpirun's own
#                                    status if mpirun failed).
#   need_shared NAME                 0 if ../shared/data exists, else prints a SKIP comment and returns 1
#   json_close A B TOL [JCMP-ARGS]   A.json and B.json agree to TOL relative (build/tests/jcmp --close),
#                                    ignoring timings, provenance and memory figures, plus JCMP-ARGS
#                                    (--ignore KEY, --abs ATOL); the differences go to $TMP/json_close.out
#   check_close NAME A B TOL [JCMP-ARGS]  ok/fail NAME by json_close, the differences as the reason
#   case_add FILE SIZES EXPECT NAME COMMAND ARG...   append a case to FILE for build/tests/test_commands,
#                                    which runs gravrd's subcommands in-process (tests/test_commands.c has
#                                    the format): COMMAND ARG... on the first P ranks for each P of SIZES
#                                    ("1,3"); EXPECT "ok", "fail:ERE" (every rank non-zero, ERE in the
#                                    output), "fail1:ERE" (also exactly one "gravrd: error:" line, matching)
#                                    or "out:FILE" (as ok, rank 0's stdout to FILE); {P} in NAME and the
#                                    arguments stands for P. The fast way to run a matrix of bad inputs
#                                    or a rank sweep: one launch for all of them
#   cases_run FILE N                 run the cases of FILE in one launch of N ranks (N = 1: directly), at
#                                    most 300 s; prints their TAP lines, and a "not ok" if the launch did
#                                    not report every case
#   sim_cached ARGS...               prints the path of a panel `gravrd simulate ARGS` writes, made once
#                                    per binary and ARGS under build/cache/ and shared between scripts and
#                                    runs (made again if its checksum changed); read it, never write it
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GR="$ROOT/bin/gravrd"
# TS: the factor on the tests' time limits, GR_TEST_TIME_SCALE (default 1; `make asan` sets 3: a sanitizer
# build runs 2-3 times slower, and a CI machine may be loaded besides). A limit only stops a hang.
TS=${GR_TEST_TIME_SCALE:-1}
JCMP="$ROOT/build/tests/jcmp"
SHARED="$ROOT/../shared/data"
TMP=$(mktemp -d /tmp/gravrd-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
# Start-up and sharing (tests/run.sh sets the same): ob1 is the PML Open MPI selects here anyway, naming it
# skips loading and probing cm/ucx (0.2 s per process); a singleton (a program run without mpirun) starts
# no orted (0.2 s), and since isolated singletons all take the same job id, each script has its own
# session directory (world-writable: some tests run as nobody); ranks are not bound to cores and yield
# when idle, since the scripts run concurrently on few cores and a rank spinning in a collective, or two
# jobs bound to the same core, would starve a peer.
mkdir -m 1777 "$TMP/ompi"
export OMPI_MCA_pml=ob1 OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_orte_tmpdir_base="$TMP/ompi"
export OMPI_MCA_hwloc_base_binding_policy=none OMPI_MCA_mpi_yield_when_idle=1

ok()   { echo "ok - $1"; }
fail() { echo "not ok - $1${2:+: $2}"; }
# check NAME CMD...: ok if the command exits 0
check() { local name=$1; shift; if "$@" >"$TMP/out" 2>&1; then ok "$name"; else fail "$name" "$(tail -n 3 "$TMP/out" | tr '\n' ' ')"; fi; }

RANK_STATUS=""
mpi_ranks() {
  local n=$1 opts=() d="$TMP/ranks" r s rc=0 mrc; shift
  while [ $# -gt 0 ] && [[ "$1" == -* ]]; do
    case $1 in -x) opts+=("$1" "$2"); shift 2;; --mca) opts+=("$1" "$2" "$3"); shift 3;; *) opts+=("$1"); shift;; esac
  done
  rm -rf "$d"; mkdir -p "$d"
  mpirun -n "$n" --oversubscribe "${opts[@]}" bash -c 'd=$1; shift; "$@"; echo $? >"$d/rc.${OMPI_COMM_WORLD_RANK:-0}"' \
    mpi_ranks "$d" "$@"
  mrc=$?
  RANK_STATUS=""
  for ((r = 0; r < n; r++)); do
    s=$(cat "$d/rc.$r" 2>/dev/null) || s="-"
    RANK_STATUS="$RANK_STATUS${RANK_STATUS:+ }$s"
    if [ "$s" = "-" ]; then rc=125; elif [ "$rc" -ne 125 ] && [ "$s" -gt "$rc" ]; then rc=$s; fi
  done
  [ "$mrc" -ne 0 ] && rc=$mrc
  return "$rc"
}
mpi() {
  local n=$1; shift
  if [ "$n" = 1 ] && [[ "$1" != -* ]]; then timeout $((300 * TS)) "$@"; return; fi
  timeout $((300 * TS)) bash -c "$(declare -f mpi_ranks); TMP=\$1; shift; mpi_ranks \"\$@\"" mpi "$TMP" "$n" "$@"
}

# check_fails NAME PATTERN CMD...: ok if the command exits non-zero, within 120 s, with PATTERN on stderr/stdout
check_fails() {
  local name=$1 pat=$2 n=1 rc; shift 2
  if [ "$1" = mpi ]; then n=$2; shift 2
  elif [ "$1" = mpirun ] && [ "${2:-}" = -n ]; then n=$3; shift 3; [ "${1:-}" = --oversubscribe ] && shift; fi
  RANK_STATUS=""
  if [ "$n" = 1 ]; then timeout $((120 * TS)) "$@" >"$TMP/out" 2>&1; rc=$?
  else
    timeout $((120 * TS)) bash -c "$(declare -f mpi_ranks); TMP=\$1; shift; mpi_ranks \"\$@\"; rc=\$?; echo \"\$RANK_STATUS\" >\"\$TMP/ranks/all\"; exit \$rc" \
      check_fails "$TMP" "$n" "$@" >"$TMP/out" 2>&1; rc=$?
    RANK_STATUS=$(cat "$TMP/ranks/all" 2>/dev/null)
  fi
  if [ $rc -eq 0 ]; then fail "$name" "exited 0"; elif [ $rc -ge 124 ]; then fail "$name" "timed out or crashed (rc=$rc${RANK_STATUS:+, ranks: $RANK_STATUS})";
  elif [[ " $RANK_STATUS " == *" 0 "* ]]; then fail "$name" "a rank exited 0 (ranks: $RANK_STATUS)";
  elif ! grep -qE -- "$pat" "$TMP/out"; then fail "$name" "message lacks /$pat/: $(head -c 300 "$TMP/out")";
  else ok "$name"; fi
}
# check_expected NAME RESULT.json EXPECTED: every value of the expected file (tests/jcmp's format) matches
check_expected() {
  if [ ! -s "$2" ]; then fail "$1" "no result $2"; return; fi
  if "$JCMP" "$2" "$3" >"$TMP/jcmp.out" 2>&1; then ok "$1 ($(grep -c '^ok' "$TMP/jcmp.out") values)"
  else fail "$1" "$(grep -v '^ok' "$TMP/jcmp.out" | head -n 3 | tr '\n' ' ')"; fi
}
# check_one_error NAME PATTERN ARGS...: gravrd ARGS (or mpi N gravrd ARGS) fails (check_fails) with exactly one
# "gravrd: error:" line, matching PATTERN
check_one_error() {
  local name=$1 pat=$2 n; shift 2
  [ "$1" = mpi ] || set -- "$GR" "$@"
  check_fails "$name" "$pat" "$@" >"$TMP/one.tap"
  if grep -q '^not ok' "$TMP/one.tap"; then cat "$TMP/one.tap"; return; fi
  n=$(grep -c '^gravrd: error:' "$TMP/out")
  if [ "$n" -eq 1 ] && grep '^gravrd: error:' "$TMP/out" | grep -qE -- "$pat"; then ok "$name"
  else fail "$name" "$n error lines: $(head -c 300 "$TMP/out")"; fi
}
# nobody_gr: the path of a copy of the gravrd binary that user nobody can run (tests that drop to nobody
# as root). The checkout may sit under a directory nobody cannot traverse (a clone in a 0700 mktemp
# directory), so the copy lives in $TMP, which is made traversable (0711).
nobody_gr() {
  local d="$TMP/nobody-bin"
  if [ ! -x "$d/gravrd" ]; then mkdir -p "$d" && cp "$GR" "$d/gravrd" && chmod 755 "$d" "$d/gravrd" && chmod 711 "$TMP"; fi
  echo "$d/gravrd"
}
need_shared() { if [ ! -d "$SHARED" ]; then echo "# SKIP: ../shared/data absent, skipping $1"; return 1; fi; return 0; }

json_close() {
  local a=$1 b=$2 tol=$3; shift 3
  "$JCMP" --close "$tol" --ignore timings --ignore provenance --ignore memory "$@" "$a" "$b" >"$TMP/json_close.out" 2>&1
}
check_close() {
  local name=$1; shift
  if json_close "$@"; then ok "$name"; else fail "$name" "$(head -n 3 "$TMP/json_close.out" | tr '\n' ' ')"; fi
}

sim_cached() {
  local dir="$ROOT/build/cache" key f
  key=$( { md5sum <"$GR"; printf '%s\n' "$@"; } | md5sum | cut -c1-16)
  f="$dir/sim-$key.h5"
  mkdir -p "$dir"
  (
    flock 9
    # made again if absent or changed since it was made (a test that wrote it by mistake must not
    # leave the next run a different panel)
    if [ ! -s "$f" ] || [ "$(md5sum <"$f")" != "$(cat "$f.md5" 2>/dev/null)" ]; then
      rm -f "$f" "$f.md5"
      "$GR" simulate --out "$f.part.$$.h5" "$@" >"$TMP/sim_cached.log" 2>&1 && mv "$f.part.$$.h5" "$f" \
        && md5sum <"$f" >"$f.md5" || { rm -f "$f.part.$$.h5"; cat "$TMP/sim_cached.log" >&2; exit 1; }
    fi
  ) 9>"$f.lock" || return 1
  echo "$f"
}

case_add() {
  local f=$1 a n; shift
  for a in "$@"; do
    if [[ "$a" == *$'\t'* || "$a" == *$'\n'* ]]; then fail "case_add: '$3' has a tab or newline in an argument"; return 1; fi
  done
  (IFS=$'\t'; echo "$*") >>"$f"
  n=$(echo "$1" | tr ',' '\n' | grep -c .)
  echo $(( $(cat "$f.n" 2>/dev/null || echo 0) + n )) >"$f.n"
}
cases_run() {
  local f=$1 n=$2 rc want got
  if [ "$n" = 1 ]; then timeout $((300 * TS)) "$ROOT/build/tests/test_commands" "$f" >"$TMP/cases.out" 2>&1; rc=$?
  else timeout $((300 * TS)) mpirun -n "$n" --oversubscribe "$ROOT/build/tests/test_commands" "$f" >"$TMP/cases.out" 2>&1; rc=$?; fi
  grep -E '^(not )?ok |^# ' "$TMP/cases.out"
  want=$(cat "$f.n" 2>/dev/null || echo 0); got=$(grep -cE '^(not )?ok ' "$TMP/cases.out")
  if [ "$rc" -ne 0 ] || [ "$got" -ne "$want" ]; then
    fail "$(basename "$f"): every case run in one launch of $n ranks" \
      "rc=$rc, $got of $want reported: $(grep -vE '^(not )?ok |^# ' "$TMP/cases.out" | tail -n 3 | tr '\n' ' ')"
  fi
}
