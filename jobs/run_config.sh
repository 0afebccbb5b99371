#!/usr/bin/env bash
# jobs/run_config.sh CONFIG PANEL [RANKS] [extra gravrd arguments...]: run `gravrd estimate` with the
# arguments listed in CONFIG (one per line, # comments; see configs/ and the README). PANEL is only read
# (derived columns such as segpair_100 are computed by estimate when the file does not store them).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=$1 PANEL=$2 NP=${3:-${SLURM_NTASKS:-2}}
shift $(( $# >= 3 ? 3 : $# ))
[ -f "$CONFIG" ] || { echo "gravrd: error: $CONFIG: no such config" >&2; exit 2; }
mapfile -t ARGS < <(grep -v -E '^[[:space:]]*(#|$)' "$CONFIG")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
exec mpirun -n "$NP" --oversubscribe ./bin/gravrd estimate --data "$PANEL" "${ARGS[@]}" "$@"
