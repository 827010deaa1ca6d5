#!/usr/bin/env bash
# One worker against two on the quick suite (issue 13 target: >= 1.6x), each in a cold home.
# Usage, from the repository root on an otherwise idle machine:
#   MEDSTRATA_DATA_ROOT=... benchmarks/engine_workers_quick.sh [suite=quick] [more run overrides]
# Run 1: engine=inline, one process with every core (MEDSTRATA_THREADS=$(nproc)).
# Run 2: engine=joblib workers=2, each worker nproc/2 torch and BLAS threads.
# With THREADS_CHECK=1 a third run (inline, nproc/2 threads) checks that run 2's tables equal a
# sequential run with the same thread count (bit-identical; runs 1 and 2 may differ in the last bits
# because torch sums floats in another order with another thread count).
set -euo pipefail
ARGS=("${@:-suite=quick}"); ARGS+=(progress=false)
BASE=${BASE:-/tmp/medstrata_workers}; N=$(nproc); HALF=$(( N / 2 > 0 ? N / 2 : 1 ))
export MEDSTRATA_OFFLINE=1
timed() {  # name, threads, args...: a cold run; prints its wall seconds and run folder
  local name=$1 threads=$2; shift 2; rm -rf "$BASE/$name"; local t0; t0=$(date +%s.%N)
  local run; run=$(MEDSTRATA_HOME=$BASE/$name MEDSTRATA_THREADS=$threads medstrata run "$@" 2> "$BASE.$name.err" | tail -1)
  echo "$name $(python -c "import time; print(f'{time.time() - $t0:.1f}')") $run"
}
mkdir -p "$BASE"
one=$(timed one "$N" "${ARGS[@]}"); echo "1 worker x $N threads:  $one"
two=$(timed two "$HALF" "${ARGS[@]}" engine=joblib workers=2); echo "2 workers x $HALF threads: $two"
python -c "a, b = $(echo "$one" | cut -d' ' -f2), $(echo "$two" | cut -d' ' -f2); print(f'speed-up {a / b:.2f}x (target >= 1.6x)')"
python "$(dirname "$0")/compare_runs.py" "$(echo "$one" | cut -d' ' -f3)" "$(echo "$two" | cut -d' ' -f3)" || \
  echo "(tables of runs 1 and 2 differ: expected when their torch thread counts differ)"
if [ "${THREADS_CHECK:-0}" = 1 ]; then
  three=$(timed three "$HALF" "${ARGS[@]}"); echo "1 worker x $HALF threads: $three"
  python "$(dirname "$0")/compare_runs.py" "$(echo "$three" | cut -d' ' -f3)" "$(echo "$two" | cut -d' ' -f3)"
fi
