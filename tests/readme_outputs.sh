#!/usr/bin/env bash
# tests/readme_outputs.sh --check|--write [README]: regenerate the sample outputs of README.md from the
# program (`make readme-check` compares, `make readme` rewrites; tests/it_readme.sh runs the check).
#
# A regenerated block is a fenced block right after a marker line:
#   <!-- output: CMD -->          the block is CMD's standard output
#   <!-- output: transcript -->   every "$ CMD" line of the block (with its "\" continuation lines) is run
#                                 in order and followed by its standard output
# Commands run with bash in a scratch copy of the checkout's layout: bin/, jobs/, configs/ are links to
# this checkout, ../shared to ../shared, and data/default.h5 (when the README names it) is simulated
# afresh as the Makefile's rule for $(PANEL) makes it (`gravrd simulate --out` with the defaults, so a new
# default seed shows up), by the binary under test: not through make, which would relink bin/gravrd when
# the checkout changed (under `make asan` that swapped the sanitizer build mid-run). Standard
# error is not shown (warnings and progress); a command that fails fails its block. What varies between
# runs is masked: the git hash after the version ("(<git>)"), host=, date=, and times in seconds
# ("<t> s"); trailing blanks are dropped.
# Prints one TAP line per block ("ok - README block at line N: CMD"); --check exits 1 and prints a diff
# ("# " lines) when a block differs; --write replaces the blocks that differ and leaves every other line.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-}
README=${2:-$ROOT/README.md}
case $MODE in --check|--write) ;; *) echo "usage: $0 --check|--write [README]" >&2; exit 2;; esac
[ -f "$README" ] || { echo "$0: $README: no such file" >&2; exit 2; }
[ -x "$ROOT/bin/gravrd" ] || { echo "$0: bin/gravrd is not built (make bin/gravrd)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
unset SLURM_NTASKS SLURM_JOB_ID GRAVRD_DEBUG GRAVRD_NO_AVX2
S=$(mktemp -d /tmp/gravrd-readme.XXXXXX)
trap 'rm -rf "$S"' EXIT
W="$S/repo"
mkdir -p "$W/data"
for d in bin jobs configs tests; do ln -s "$ROOT/$d" "$W/$d"; done
[ -d "$ROOT/../shared/data" ] && ln -s "$(cd "$ROOT/../shared" && pwd)" "$S/shared"

# the default panel, as the Makefile's rule for $(PANEL) makes it, when a block uses it
if grep -q 'data/default\.h5' "$README" && ! "$ROOT/bin/gravrd" simulate --out "$W/data/default.h5" >"$S/panel.log" 2>&1; then
  echo "not ok - README: simulate the default panel: $(tail -n 3 "$S/panel.log" | tr '\n' ' ')"; exit 1
fi

mask() {
  sed -E -e 's/(gravrd [0-9][0-9A-Za-z.+-]*) \([^)]*\)/\1 (<git>)/g' -e 's/host=[^ ]+/host=<host>/g' \
    -e 's/date=[^ ]+/date=<date>/g' -e 's/ slurm_job=[^ ]+//g' \
    -e 's/(^|[ (])[0-9]+(\.[0-9]+)? s([ ),;.]|$)/\1<t> s\3/g' -e 's/[[:space:]]+$//'
}

# run CMD: its masked stdout on stdout; 1 (with its stderr in $S/err) if it fails
run() {
  (cd "$W" && timeout 600 bash -c "$1") >"$S/out" 2>"$S/err"
  local rc=$?
  mask <"$S/out"
  return $rc
}

# needs_shared CMD: 0 if CMD reads ../shared and this checkout has none
needs_shared() { [[ $1 == *../shared/* ]] && [ ! -e "$S/shared" ]; }

# generate KIND LINES...: the new block in NEW[]; 1 if a command failed (message in WHY)
generate() {
  local kind=$1; shift
  NEW=(); WHY=""
  if [ "$kind" != transcript ]; then
    mapfile -t NEW < <(run "$kind"; echo "rc=$?")
    [ "${NEW[-1]}" = rc=0 ] || WHY="'$kind' ${NEW[-1]}: $(tail -n 2 "$S/err" | tr '\n' ' ')"
    unset 'NEW[-1]'
    [ -z "$WHY" ]; return
  fi
  local lines=("$@") k=0 cmd out
  while (( k < ${#lines[@]} )); do
    if [[ ${lines[k]} != '$ '* ]]; then k=$((k + 1)); continue; fi   # old output: regenerated below
    NEW+=("${lines[k]}"); cmd=${lines[k]#\$ }
    while [[ ${lines[k]} == *\\ ]] && (( k + 1 < ${#lines[@]} )); do k=$((k + 1)); NEW+=("${lines[k]}"); cmd+=$'\n'"${lines[k]}"; done
    k=$((k + 1))
    mapfile -t out < <(run "$cmd"; echo "rc=$?")
    if [ "${out[-1]}" != rc=0 ]; then WHY="'${cmd%%$'\n'*}' ${out[-1]}: $(tail -n 2 "$S/err" | tr '\n' ' ')"; return 1; fi
    unset 'out[-1]'
    NEW+=("${out[@]}")
  done
  return 0
}

mapfile -t L <"$README"
RESULT=(); nblocks=0; nbad=0; nchanged=0; i=0
while (( i < ${#L[@]} )); do
  line=${L[i]}; RESULT+=("$line"); i=$((i + 1))
  [[ $line =~ ^\<!--\ output:\ (.+)\ --\>$ ]] || continue
  kind=${BASH_REMATCH[1]}; at=$i; nblocks=$((nblocks + 1)); name="README block at line $at: ${kind:0:70}"
  if [[ ${L[i]:-} != '```'* ]]; then echo "not ok - $name: no fenced block right after the marker"; nbad=$((nbad + 1)); continue; fi
  RESULT+=("${L[i]}"); i=$((i + 1)); OLD=()
  while (( i < ${#L[@]} )) && [[ ${L[i]} != '```' ]]; do OLD+=("${L[i]}"); i=$((i + 1)); done
  if needs_shared "$kind ${OLD[*]}"; then
    echo "ok - $name # SKIP ../shared absent"; RESULT+=("${OLD[@]}"); continue
  fi
  if ! generate "$kind" "${OLD[@]}"; then
    echo "not ok - $name: $WHY"; nbad=$((nbad + 1)); RESULT+=("${OLD[@]}"); continue
  fi
  if [ "$(printf '%s\n' "${OLD[@]}")" = "$(printf '%s\n' "${NEW[@]}")" ]; then
    echo "ok - $name"; RESULT+=("${OLD[@]}"); continue
  fi
  nchanged=$((nchanged + 1))
  if [ "$MODE" = --write ]; then echo "ok - $name (rewritten)"; RESULT+=("${NEW[@]}"); continue; fi
  echo "not ok - $name: the README differs from the program's output (make readme rewrites it)"
  diff <(printf '%s\n' "${OLD[@]}") <(printf '%s\n' "${NEW[@]}") | sed 's/^/# /'
  nbad=$((nbad + 1)); RESULT+=("${OLD[@]}")
done
[ $nblocks -gt 0 ] || { echo "not ok - README: no '<!-- output: ... -->' markers in $README"; exit 1; }
if [ "$MODE" = --write ] && [ $nchanged -gt 0 ]; then
  printf '%s\n' "${RESULT[@]}" >"$README.tmp.$$" && mv "$README.tmp.$$" "$README"
fi
echo "# $nblocks README blocks: $nchanged differed from the program's output, $nbad failed"
[ $nbad -eq 0 ]
