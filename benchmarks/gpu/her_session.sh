#!/usr/bin/env bash
# One device command (<= 560 s) for the HER proof on one H200: the warm-start SFT (resumes from its
# checkpoints when a call was cut), then both HER mixes at once with the fast sampling backend, then
# the report. Metrics, events, logs, each stage's output and the report are packed into
# $OUT/her-runs.tgz every 15 s by a background loop (and once more at the end), so a command cut by
# its limit still brings back what it got.
#
# On the H200 the gpu preset's SFT alone (3000 steps, ~4.5 steps/s) outlasts one call, so it takes two:
#
#   SFT_ONLY=1 bash benchmarks/gpu/her_session.sh   # call 1: the SFT gets the whole budget
#   bash benchmarks/gpu/her_session.sh              # call 2: the SFT's last steps, then HER, then the report
#
# The second call should come within the machine's 30 s warm window so /tmp/her (and the SFT's
# optimizer state) is still there. In case it does not: every call ends by exporting the newest SFT
# model (final, else the newest checkpoint; weights and tokenizer, no optimizer state) into
# $OUT/warm-model.tar.part-* (15 MiB parts: the device brings back files of at most 16 MiB, 8 in
# all). Put those parts in ./her-warm/ and carry it (`carry: [".whl", "her-warm"]`): a call that
# finds no SFT under WORK starts HER from that model instead of training the SFT again.
#
#   BUDGET_S=300 PRESET=cpu BACKEND=merged bash benchmarks/gpu/her_session.sh --set sft_steps=20 ...
#
# Each stage's timeout is what is left of BUDGET_S (counted from the script's start) less what the
# stages after it need at least (HER_MIN_S for the HER stage, RESERVE_S for the report, the export
# and the last copy); a stage that runs out is stopped (SIGTERM to its process group, SIGKILL 20 s
# later) and resumes from its last checkpoint when the script runs again with the same WORK. HER only
# starts once the SFT has written its final model. Arguments are passed on to every
# benchmarks/her_gpu.py call.
set -u
START=$(date +%s)
BUDGET_S=${BUDGET_S:-560}
RESERVE_S=${RESERVE_S:-40}  # the report, the export of the warm model and the last copy
HER_MIN_S=${HER_MIN_S:-120} # below this, HER would not get past its first epochs: not started
WORK=${WORK:-/tmp/her}
PRESET=${PRESET:-gpu}
BACKEND=${BACKEND:-merged-cudagraph}
OUT=${OUT:?set OUT to the folder that comes back}
PY=${PY:-python3}
WARM_IN=${WARM_IN:-her-warm} # carried parts of an exported SFT model (see above)
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
    for f in "$WORK"/*.log "$WORK"/*.out "$WORK"/her_table.json; do [ -f "$f" ] && files+=("${f#"$WORK"/}"); done
    [ ${#files[@]} -gt 0 ] && tar czf "$OUT/.her-runs.tgz" -C "$WORK" "${files[@]}" 2>/dev/null &&
        mv "$OUT/.her-runs.tgz" "$OUT/her-runs.tgz"
    return 0
}
(while :; do copy; sleep 15; done) &
COPIER=$!
trap 'kill $COPIER 2>/dev/null; copy' EXIT

# stage <name> <timeout s> <her_gpu.py args...>: one her_gpu.py call, its output in $WORK/<name>.out
stage() {
    local name=$1 limit=$2
    shift 2
    if [ "$limit" -le 0 ]; then
        log "$name: skipped (no time left: $(left) s of $BUDGET_S)"
        return 124
    fi
    log "$name: start, timeout ${limit} s"
    timeout -k 20 "$limit" "$PY" benchmarks/her_gpu.py --preset "$PRESET" --out "$WORK" "$@" > "$WORK/$name.out" 2>&1
    local rc=$?
    log "$name: rc $rc"
    return $rc
}

log "budget ${BUDGET_S} s, work $WORK, preset $PRESET, backend $BACKEND, args: $*"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$OUT/session.log"

# newest_model: the SFT's final model, else its newest checkpoint (empty when there is none)
newest_model() {
    if [ -f "$WORK/sft/final/config.json" ]; then
        echo "$WORK/sft/final"
    else
        ls -d "$WORK"/sft/checkpoint-* 2>/dev/null | sort -V | tail -1
    fi
}

# export_warm: the newest model's weights, config and tokenizer as $OUT/warm-model.tar.part-*
export_warm() {
    local m
    m=$(newest_model)
    [ -n "$m" ] || return 0
    rm -f "$OUT"/warm-model.tar.part-*
    tar cf - -C "$m" --exclude='optimizer.pt' --exclude='scheduler.pt' --exclude='rng_state*' \
        --exclude='training_args.bin' . | split -b 15M -d - "$OUT/warm-model.tar.part-"
    log "exported $(basename "$m") as $(ls "$OUT"/warm-model.tar.part-* | wc -l) part(s) of warm-model.tar"
}

# import_warm: a fresh machine (no SFT under WORK) with carried parts starts from them
if [ ! -d "$WORK/sft" ] && ls "$WARM_IN"/warm-model.tar.part-* > /dev/null 2>&1; then
    mkdir -p "$WORK/sft/final"
    cat "$WARM_IN"/warm-model.tar.part-* | tar xf - -C "$WORK/sft/final"
    step=$(sed -n 's/.*"global_step": *\([0-9]*\).*/\1/p' "$WORK/sft/final/trainer_state.json" 2>/dev/null | head -1)
    what="the final model of the SFT"
    [ -n "$step" ] && what="the checkpoint of step $step"
    log "no SFT in $WORK: HER starts from the carried model in $WARM_IN ($what)"
fi

if [ -n "${SFT_ONLY:-}" ]; then
    stage sft $(($(left) - RESERVE_S)) --stage sft "$@"
else
    stage sft $(($(left) - HER_MIN_S - RESERVE_S)) --stage sft "$@"
fi
if [ -n "${SFT_ONLY:-}" ]; then
    log "her: not started (SFT_ONLY)"
elif [ -f "$WORK/sft/final/config.json" ]; then
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
export_warm
if [ -d "$WORK/her-with" ] || [ -d "$WORK/her-without" ]; then
    lim=$(($(left) - 5))
    [ "$lim" -gt "$RESERVE_S" ] && lim=$RESERVE_S
    stage report "$lim" --stage report "$@"
    cat "$WORK/report.out" 2>/dev/null
fi
log "done, $(left) s of the budget left"
