# jobs/lib.sh: what the scripts in jobs/ share (sourced, never run). A script first finds the repository
# (GRAVRD_HOME: see the preamble every script in jobs/ carries and docs/slurm.md), then sources this file.
#
#   gr_die MSG...          one line "gravrd: error: MSG" on stderr, exit 1 (under Slurm: the job FAILED)
#   gr_script NAME ARGS... the script and its command line (for the header)
#   gr_setup               Open MPI as root, BLAS threads from SLURM_CPUS_PER_TASK (1 when unset), the
#                          binary ($GR). The job's directory (the submit directory, or sbatch --chdir)
#                          is where relative paths resolve
#   gr_abspath PATH        PATH made absolute against the current (the job's) directory, printed
#   gr_repopath PATH       PATH relative to GRAVRD_HOME when inside it, else absolute
#   gr_input FILE WHAT     exit 1 with one line unless FILE is a readable regular file (no simulation)
#   gr_ranks [N]           the ranks and the launcher: GR_NP, GR_LAUNCH (array), GR_LAUNCHER (words), GR_HOW
#                          (srun or mpirun); gr_launch_for M: GR_LAUNCH for M ranks instead
#                          N (else GRAVRD_RANKS, else the allocation's tasks, else 1) more than the
#                          allocation's tasks is an error, never oversubscription
#   gr_header CMD...       the provenance header (version, git, command line, ranks, groups, panel, job)
#   gr_run CMD...          CMD on GR_NP ranks through GR_LAUNCH, through gr_wait; returns its status
#   gr_wait CMD...         CMD (not launched on ranks: a script that launches its own) waited for through
#                          SIGTERM/SIGINT (the ranks get the signal from Slurm and stop in order)
#   gr_panel_line FILE     "FILE (N bytes, modified DATE)" for the header

gr_die() { echo "gravrd: error: $*" >&2; exit 1; }

# gr_script NAME ARGS...: the script's name and its command line, for the header
gr_script() {
  GR_SCRIPT=$GRAVRD_HOME/jobs/$1; shift
  GR_COMMAND_LINE="$GR_SCRIPT$(printf ' %q' "$@")"
}

gr_setup() {
  GR=$GRAVRD_HOME/bin/gravrd
  [ -x "$GR" ] || gr_die "$GR: no such program (build it: make -C $GRAVRD_HOME; or set GRAVRD_HOME)"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  local t=${SLURM_CPUS_PER_TASK:-1}
  export OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t
  # mpirun, sent SIGTERM, kills its ranks after odls_base_sigkill_timeout seconds (default 1): give the
  # grid time to stop in order (docs/grid.md "Signals")
  export OMPI_MCA_odls_base_sigkill_timeout=${OMPI_MCA_odls_base_sigkill_timeout:-30}
  # inside an allocation the ranks are the allocation's: never oversubscribe (an environment exported
  # by sbatch from the submitting shell may carry it)
  [ -n "${SLURM_JOB_ID:-}" ] && unset OMPI_MCA_rmaps_base_oversubscribe
  # Open MPI's transport defaults are kept on purpose (UCX on a cluster's interconnect): OMPI_MCA_pml=ob1,
  # which saves ~0.2 s per process, is for runs on one node (Makefile, tests, bench; docs/scale.md "Start-up")
  return 0
}

# (lexically: "a/../b" -> "b", links kept; the grid's spec hashes carry the panel path as given to it)
gr_abspath() { realpath -s -m -- "$1"; }
# gr_repopath PATH: PATH relative to GRAVRD_HOME when it lies inside (as jobs/main.sh prints its paths,
# run from the repository root), else absolute
gr_repopath() {
  local p; p=$(gr_abspath "$1")
  case $p in "$GRAVRD_HOME"/*) printf '%s\n' "${p#"$GRAVRD_HOME"/}";; *) printf '%s\n' "$p";; esac
}

gr_input() {
  local f=$1 what=$2
  [ -e "$f" ] || gr_die "$what $f: no such file (relative paths are taken from the job's directory, $PWD)"
  [ -f "$f" ] || gr_die "$what $f: not a regular file"
  [ -r "$f" ] || gr_die "$what $f: not readable"
  return 0
}

gr_ranks() {
  local n=${1:-${GRAVRD_RANKS:-}} have=${SLURM_NTASKS:-} how=${GRAVRD_LAUNCHER:-}
  [ -n "$n" ] || n=${have:-1}
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || gr_die "ranks '$n': expected a positive whole number (GRAVRD_RANKS)"
  if [ -n "${SLURM_JOB_ID:-}" ] && [ -n "$have" ] && [ "$n" -gt "$have" ]; then
    gr_die "$n ranks asked for, but the allocation has $have task(s): submit with --ntasks=$n (or ask for fewer)"
  fi
  GR_NP=$n
  if [ -z "$how" ]; then
    how=mpirun
    if [ -n "${SLURM_JOB_ID:-}" ] && command -v srun >/dev/null && srun --mpi=list 2>&1 | grep -qw pmix; then how=srun; fi
  fi
  case $how in
    srun)
      [ -n "${SLURM_JOB_ID:-}" ] || gr_die "GRAVRD_LAUNCHER=srun outside a Slurm allocation"
      GR_LAUNCHER="srun --mpi=pmix (PMIx)";;
    mpirun)
      if [ -n "${SLURM_JOB_ID:-}" ]; then GR_LAUNCHER="mpirun (fallback: srun has no pmix plugin here, or GRAVRD_LAUNCHER=mpirun)"
      else GR_LAUNCHER="mpirun (not inside a Slurm allocation)"; fi;;
    *) gr_die "GRAVRD_LAUNCHER '$how': expected srun or mpirun";;
  esac
  GR_HOW=$how
  gr_launch_for "$n"
  return 0
}

# gr_launch_for N: GR_LAUNCH := the launcher gr_ranks chose (GR_HOW), for N ranks (N may be a placeholder
# word, as jobs/scaling.sbatch's {n})
gr_launch_for() {
  case $GR_HOW in
    # Slurm 22.05's srun no longer reads SLURM_CPUS_PER_TASK: pass it on
    srun) GR_LAUNCH=(srun --mpi=pmix --ntasks="$1" --kill-on-bad-exit=0 ${SLURM_CPUS_PER_TASK:+--cpus-per-task=$SLURM_CPUS_PER_TASK});;
    # --quiet: no Open MPI banner after an ordinary error (the program's one line says it all)
    mpirun) GR_LAUNCH=(mpirun --quiet -n "$1");;
  esac
}

gr_panel_line() {
  local f=$1
  printf '%s (%s bytes, modified %s)\n' "$f" "$(stat -L -c %s "$f" 2>/dev/null || echo "?")" \
    "$(date -u -d "@$(stat -L -c %Y "$f" 2>/dev/null || echo 0)" '+%Y-%m-%dT%H:%M:%SZ')"
}

# gr_header KEY=VALUE...: the provenance header, one "# key: value" line each, the script's own lines
# (panel, config, groups...) after the common ones
gr_header() {
  local git kv
  git=$(git -C "$GRAVRD_HOME" rev-parse HEAD 2>/dev/null || echo unknown)
  [ "$git" != unknown ] && [ -n "$(git -C "$GRAVRD_HOME" status --porcelain --untracked-files=no 2>/dev/null)" ] && git="$git (modified)"
  echo "# gravrd job: $GR_SCRIPT"
  echo "# version: $("$GR" --version 2>&1 | head -n 1)"
  echo "# git: $git ($GRAVRD_HOME)"
  echo "# command line: $GR_COMMAND_LINE"
  echo "# date: $(date -u '+%Y-%m-%dT%H:%M:%SZ'), host $(hostname), directory $PWD"
  echo "# slurm: job ${SLURM_JOB_ID:-none}, array job ${SLURM_ARRAY_JOB_ID:-none} task ${SLURM_ARRAY_TASK_ID:-none} (of ${SLURM_ARRAY_TASK_COUNT:-none}), nodes ${SLURM_JOB_NODELIST:-none}, tasks ${SLURM_NTASKS:-none}, cpus per task ${SLURM_CPUS_PER_TASK:-unset}"
  echo "# ranks: $GR_NP, launcher: $GR_LAUNCHER; BLAS threads: $OPENBLAS_NUM_THREADS"
  for kv in "$@"; do echo "# ${kv%%=*}: ${kv#*=}"; done
}

# gr_wait CMD...: CMD in the background, waited for through signals. Slurm (scancel, the time limit)
# signals every process of the job: the ranks stop in order by themselves; this shell only keeps waiting
# for them, so the job's status is theirs (143 after SIGTERM: docs/results.md).
gr_wait() {
  "$@" &
  local pid=$!
  trap 'echo "gravrd job: SIGTERM received: waiting for the ranks to stop" >&2' TERM
  trap 'echo "gravrd job: SIGINT received: waiting for the ranks to stop" >&2' INT
  # a wait cut short by a trapped signal returns 128+signal while the process runs on: wait again; the status
  # kept is that of the wait that reaped it (waiting once more for a reaped process may not return it)
  local rc=0
  wait "$pid" || rc=$?
  while kill -0 "$pid" 2>/dev/null; do rc=0; wait "$pid" || rc=$?; done
  trap - TERM INT
  return "$rc"
}

# gr_run CMD...: CMD on GR_NP ranks (GR_LAUNCH), through gr_wait; the launch line goes to the log
gr_run() {
  echo "# run:$(printf " %q" "${GR_LAUNCH[@]}" "$@")"
  gr_wait "${GR_LAUNCH[@]}" "$@"
}
