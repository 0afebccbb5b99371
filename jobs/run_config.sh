#!/usr/bin/env bash
# jobs/run_config.sh CONFIG PANEL [RANKS] [extra gravrd arguments...]: run `gravrd estimate` with the
# arguments listed in CONFIG (one per line, # comments; see configs/ and the README). PANEL is only read
# (derived columns such as segpair_100 are computed by estimate when the file does not store them).
# Paths are taken relative to the current directory. Ranks start through jobs/lib.sh: inside a Slurm
# allocation srun --mpi=pmix (else mpirun) with at most the allocation's tasks; outside one, mpirun -n RANKS.
# (jobs/estimate.sbatch is the batch job for one estimate.)
set -euo pipefail
GRAVRD_HOME=${GRAVRD_HOME:-$(cd "$(dirname "$0")/.." && pwd)}
. "$GRAVRD_HOME/jobs/lib.sh"
[ $# -ge 2 ] || { echo "usage: jobs/run_config.sh CONFIG PANEL [RANKS] [extra gravrd arguments...]" >&2; exit 2; }
CONFIG=$1 PANEL=$2 NP=${3:-${SLURM_NTASKS:-2}}
shift $(( $# >= 3 ? 3 : $# ))
[ -f "$CONFIG" ] || { echo "gravrd: error: $CONFIG: no such config" >&2; exit 2; }
mapfile -t ARGS < <(grep -v -E '^[[:space:]]*(#|$)' "$CONFIG")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
if [ -n "${SLURM_JOB_ID:-}" ]; then unset OMPI_MCA_rmaps_base_oversubscribe; else export OMPI_MCA_rmaps_base_oversubscribe=1; fi
gr_ranks "$NP"
exec "${GR_LAUNCH[@]}" "$GRAVRD_HOME/bin/gravrd" estimate --data "$PANEL" "${ARGS[@]}" "$@"
