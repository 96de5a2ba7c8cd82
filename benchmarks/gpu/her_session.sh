#!/usr/bin/env bash
# One device command (<= 560 s) for the HER proof on one H200: the warm-start SFT (resumes from its
# checkpoints when a call was cut), then both HER mixes at once with the fast sampling backend, then
# the report. Metrics, events, logs and the report are packed into $OUT/her-runs.tgz every 15 s by a
# background loop (and once more at the end), so a command cut by its limit still brings back what it
# got; $OUT holds 6 files (the device brings back at most 8). On the H200 the gpu preset's SFT alone
# (3000 steps, ~4.5 steps/s) outlasts one call: run the script twice, the second call within the
# machine's 30 s warm window so /tmp/her is still there (the SFT resumes, then HER runs).
#
#   bash benchmarks/gpu/her_session.sh                  # from the repo root, $OUT set by the device
#   BUDGET_S=300 PRESET=cpu BACKEND=merged bash benchmarks/gpu/her_session.sh --set sft_steps=20 ...
#
# Each stage's timeout is what is left of BUDGET_S (counted from the script's start) less what the
# stages after it need at least (HER_MIN_S for the HER stage, RESERVE_S for the report and the last
# copy); a stage that runs out is stopped (SIGTERM to its process group, SIGKILL 20 s later) and
# resumes from its last checkpoint when the script runs again with the same WORK. HER only starts
# once the SFT has written its final model. Arguments are passed on to every benchmarks/her_gpu.py call.
set -u
START=$(date +%s)
BUDGET_S=${BUDGET_S:-560}
RESERVE_S=${RESERVE_S:-40}  # the report and the last copy
HER_MIN_S=${HER_MIN_S:-120} # below this, HER would not get past its first epochs: not started
WORK=${WORK:-/tmp/her}
PRESET=${PRESET:-gpu}
BACKEND=${BACKEND:-merged-cudagraph}
OUT=${OUT:?set OUT to the folder that comes back}
PY=${PY:-python3}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT" "$WORK"
if [ -d .whl ] && [ -z "${NO_WHEELS:-}" ]; then . benchmarks/gpu/install_wheels.sh; fi

left() { echo $((BUDGET_S - ($(date +%s) - START))); }
log() { echo "[$(date -u +%H:%M:%S) +$(($(date +%s) - START))s] $*" | tee -a "$OUT/session.log"; }
copy() {
    # one tarball (the device brings back at most 8 files from $OUT): written beside, then renamed
    local d f files=()
    for d in sft her-with her-without; do
        for f in metrics.jsonl events.jsonl spec.json completions.jsonl stderr.log; do
            [ -f "$WORK/$d/$f" ] && files+=("$d/$f")
        done
    done
    for f in "$WORK"/*.log "$WORK"/her_table.json; do [ -f "$f" ] && files+=("${f#"$WORK"/}"); done
    [ ${#files[@]} -gt 0 ] && tar czf "$OUT/.her-runs.tgz" -C "$WORK" "${files[@]}" 2>/dev/null &&
        mv "$OUT/.her-runs.tgz" "$OUT/her-runs.tgz"
    return 0
}
(while :; do copy; sleep 15; done) &
COPIER=$!
trap 'kill $COPIER 2>/dev/null; copy' EXIT

# stage <name> <timeout s> <her_gpu.py args...>: one her_gpu.py call, its output in $OUT/<name>.out
stage() {
    local name=$1 limit=$2
    shift 2
    if [ "$limit" -le 0 ]; then
        log "$name: skipped (no time left: $(left) s of $BUDGET_S)"
        return 124
    fi
    log "$name: start, timeout ${limit} s"
    timeout -k 20 "$limit" "$PY" benchmarks/her_gpu.py --preset "$PRESET" --out "$WORK" "$@" > "$OUT/$name.out" 2>&1
    local rc=$?
    log "$name: rc $rc"
    return $rc
}

log "budget ${BUDGET_S} s, work $WORK, preset $PRESET, backend $BACKEND, args: $*"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$OUT/session.log"

stage sft $(($(left) - HER_MIN_S - RESERVE_S)) --stage sft "$@"
if [ -f "$WORK/sft/final/config.json" ]; then
    lim=$(($(left) - RESERVE_S))
    [ "$lim" -lt "$HER_MIN_S" ] && lim=0
    stage her-with "$lim" --stage her --mix with --set generation_backend="$BACKEND" "$@" &
    W=$!
    stage her-without "$lim" --stage her --mix without --set generation_backend="$BACKEND" "$@" &
    WO=$!
    wait $W $WO
else
    log "her: not started, the SFT has no final model yet (run this script again: it resumes)"
fi
lim=$(($(left) - 5))
[ "$lim" -gt "$RESERVE_S" ] && lim=$RESERVE_S
stage report "$lim" --stage report "$@"
cat "$OUT/report.out" 2>/dev/null
log "done, $(left) s of the budget left"
