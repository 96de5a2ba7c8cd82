#!/usr/bin/env bash
# One 10-minute H200 call, three jobs on the one GPU at once (timings of the 4-bit run are therefore
# upper bounds; the other two report rewards and epochs, not times):
#  - the 8B shape in 4-bit under a 24 GiB cap, 5 GRPO steps at the grpo template's settings;
#  - the collapse experiment with remedies (guard off vs a rollback that switches them on);
#  - HER on 5 toy targets, with and without the low-temperature exploitation group.
#   . benchmarks/gpu/install_wheels.sh && benchmarks/gpu/small_models_and_4bit.sh $OUT
# The collapse and HER stages resume from their checkpoints when the script is run again.
set -u
out=${1:?OUT dir}
budget=${BUDGET_S:-560}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
echo "== $(date -u +%T) start"
if [ ! -f /tmp/gb/model-8b/config.json ]; then
  timeout 120 python3 -m trainer tiny-model /tmp/gb/model-8b --hidden 4096 --layers 32 --heads 32 \
    --kv-heads 8 --intermediate 14336 --dtype bfloat16 --device cuda 2>&1 | tail -2
fi
left=$((budget - SECONDS))
(timeout "$left" taskset -c 0-3 python3 benchmarks/grpo_24gb.py --model /tmp/gb/model-8b --out /tmp/24gb --steps 5 \
  > "$out/grpo_24gb.log" 2>&1; echo "exit $?" >> "$out/grpo_24gb.log") &
(timeout "$left" taskset -c 4-9 python3 benchmarks/collapse_gpu.py --out /tmp/collapse --remedies --sft-steps 600 \
  --steps 100 --save-steps 10 --completion-length 64 --seed 3 --timeout $((left - 10)) > "$out/collapse.log" 2>&1) &
(
  her() { python3 benchmarks/her_gpu.py --preset gpu --out /tmp/her "$@"; }
  timeout "$left" taskset -c 10-15 bash -c "$(declare -f her); her --stage sft && { her --stage her --mix with & her --stage her --mix without & wait; }" \
    > "$out/her.log" 2>&1
  timeout 30 python3 benchmarks/her_gpu.py --preset gpu --out /tmp/her --stage report > "$out/her_report.log" 2>&1
) &
wait
pkill -f "trainer run" 2>/dev/null
cp /tmp/24gb/grpo-24gib/metrics.jsonl "$out/grpo_24gb_metrics.jsonl" 2>/dev/null
echo "== $(date -u +%T) end"
tail -n 14 "$out/grpo_24gb.log"; tail -n 30 "$out/collapse.log"; cat "$out/her_report.log"
