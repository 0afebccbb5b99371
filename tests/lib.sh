# tests/lib.sh: helpers for the shell integration tests (sourced). Every check prints one TAP line
# "ok - name" or "not ok - name: why"; tests/run.sh counts them.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GR="$ROOT/bin/gravrd"
SHARED="$ROOT/../shared/data"
TMP=$(mktemp -d /tmp/gravrd-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi() { local n=$1; shift; timeout 300 mpirun -n "$n" --oversubscribe "$@"; }
ok()   { echo "ok - $1"; }
fail() { echo "not ok - $1${2:+: $2}"; }
# check NAME CMD...: ok if the command exits 0
check() { local name=$1; shift; if "$@" >"$TMP/out" 2>&1; then ok "$name"; else fail "$name" "$(tail -n 3 "$TMP/out" | tr '\n' ' ')"; fi; }
# check_fails NAME PATTERN CMD...: ok if the command exits non-zero, within 60 s, with PATTERN on stderr/stdout
check_fails() {
  local name=$1 pat=$2; shift 2
  if [ "$1" = mpi ]; then local np=$2; shift 2; set -- mpirun -n "$np" --oversubscribe "$@"; fi
  timeout 120 "$@" >"$TMP/out" 2>&1; local rc=$?
  if [ $rc -eq 0 ]; then fail "$name" "exited 0"; elif [ $rc -ge 124 ]; then fail "$name" "timed out or crashed (rc=$rc)";
  elif ! grep -qE -- "$pat" "$TMP/out"; then fail "$name" "message lacks /$pat/: $(head -c 300 "$TMP/out")";
  else ok "$name"; fi
}
need_shared() { if [ ! -d "$SHARED" ]; then echo "# SKIP: ../shared/data absent, skipping $1"; return 1; fi; return 0; }
