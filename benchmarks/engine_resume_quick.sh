#!/usr/bin/env bash
# Resume after SIGKILL on the quick suite (issue 13). Usage, from the repository root:
#   MEDSTRATA_DATA_ROOT=... benchmarks/engine_resume_quick.sh [suite=quick] [more run overrides]
# 1. an uninterrupted reference run in a cold home (skipped when REF=<run folder> is given);
# 2. the same run in another cold home, SIGKILLed after a random delay in [KILL_MIN, KILL_MAX] s;
# 3. the rerun: it must skip every job marked done (their done.json untouched) and its tables must
#    equal the reference's (benchmarks/compare_runs.py). Both runs use MEDSTRATA_THREADS (default 1):
#    models trained with different torch thread counts differ in the last bits.
# Env: ENGINE_ARGS (e.g. "engine=joblib workers=2"), BASE (default /tmp/medstrata_resume), KILL_MIN/MAX.
set -euo pipefail
ARGS=("${@:-suite=quick}"); ARGS+=(progress=false)
BASE=${BASE:-/tmp/medstrata_resume}; KILL_MIN=${KILL_MIN:-60}; KILL_MAX=${KILL_MAX:-600}
export MEDSTRATA_OFFLINE=1 MEDSTRATA_THREADS=${MEDSTRATA_THREADS:-1}
read -r -a EXTRA <<< "${ENGINE_ARGS:-}"
if [ -z "${REF:-}" ]; then
  rm -rf "$BASE/ref"; t0=$(date +%s)
  REF=$(MEDSTRATA_HOME=$BASE/ref medstrata run "${ARGS[@]}" "${EXTRA[@]}" 2>"$BASE.ref.err" | tail -1)
  echo "reference run: $REF ($(( $(date +%s) - t0 )) s)"
fi
rm -rf "$BASE/killed"; mkdir -p "$BASE/killed"; export MEDSTRATA_HOME=$BASE/killed
delay=$(python -c "import random; print(random.randint($KILL_MIN, $KILL_MAX))")
setsid medstrata run "${ARGS[@]}" "${EXTRA[@]}" > "$BASE.killed.out" 2> "$BASE.killed.err" &
pid=$!; sleep "$delay"
kill -KILL -- -"$pid" 2>/dev/null || echo "the run ended before the kill at ${delay} s: raise KILL_MAX"
wait "$pid" || true
snap() { find "$MEDSTRATA_HOME/work" -name done.json -printf '%h %T@\n' 2>/dev/null | sort; }
snap > "$BASE.before"; echo "killed after ${delay} s with $(wc -l < "$BASE.before") jobs done"
t0=$(date +%s)
RUN=$(medstrata run "${ARGS[@]}" "${EXTRA[@]}" 2> "$BASE.rerun.err" | tail -1)
echo "rerun: $RUN ($(( $(date +%s) - t0 )) s); $(grep '^jobs:' "$BASE.rerun.err")"
snap > "$BASE.after"
if join "$BASE.before" "$BASE.after" | awk '$2 != $3 {bad=1} END {exit bad}'; then
  echo "every job marked done before the kill was skipped (done.json untouched)"
else echo "FAIL: a finished job was rewritten"; exit 1; fi
python "$(dirname "$0")/compare_runs.py" "$REF" "$RUN"
