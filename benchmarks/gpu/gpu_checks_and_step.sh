#!/usr/bin/env bash
# One 10-minute H200 call: the GPU-marked tests (NVML inventory, bf16 GRPO), `arcctl doctor local`,
# the GRPO step at real-run settings on the 8B shape through `arcctl submit` (grouped decode
# attention on), then generation backends at 0.9B (with `paged`) and `paged` at 8B over short
# completions.
#   . benchmarks/gpu/install_wheels.sh && benchmarks/gpu/gpu_checks_and_step.sh $OUT
# Each part runs under a timeout cut to what is left of the call and writes under OUT as it goes,
# so one failure or overrun costs only itself.
set -u
out=${1:?OUT dir}
budget=${BUDGET_S:-570}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
stamp() { echo "== $(date -u +%T) t=${SECONDS}s $*"; }
cap() { local left=$((budget - SECONDS)); [ "$left" -lt 5 ] && left=5; [ "$left" -lt "$1" ] && echo "$left" || echo "$1"; }
# a timed-out `arcctl submit` job keeps running detached: stop every trainer before the next part
stop_trainers() { pkill -f "trainer run" 2>/dev/null; sleep 2; pkill -9 -f "trainer run" 2>/dev/null; true; }

stamp "gpu tests"
timeout "$(cap 180)" python3 -m pytest -q -m gpu -p no:cacheprovider \
  tests/cli_jobs/test_gpu_detect.py tests/trainer_train/test_grpo_gpu.py > "$out/gpu_tests.log" 2>&1
tail -15 "$out/gpu_tests.log"
stamp "doctor"
ARCCTL_HOME=/tmp/doctor-home timeout "$(cap 40)" python3 -m arcctl.cli.main doctor local > "$out/doctor.log" 2>&1
cat "$out/doctor.log"

stamp "grpo step 8b"
if [ ! -f /tmp/gb/model-8b/config.json ]; then
  timeout "$(cap 120)" python3 -m trainer tiny-model /tmp/gb/model-8b --hidden 4096 --layers 32 --heads 32 \
    --kv-heads 8 --intermediate 14336 --dtype bfloat16 --device cuda 2>&1 | tail -2
fi
timeout "$(cap 260)" benchmarks/gpu/grpo_step_8b.sh /tmp/gb/model-8b 3 merged-cudagraph "$out" > "$out/grpo8b.log" 2>&1
cat "$out/grpo8b.log"
stop_trainers

stamp "generation 0.9b: trl, merged-cudagraph, paged"
timeout "$(cap 150)" python3 benchmarks/generation_gpu.py --out /tmp/gb --results "$out/generation.jsonl" \
  --shapes 0.9b --backends trl,merged-cudagraph,paged --baseline-tokens 256 > "$out/generation_09b.log" 2>&1
tail -8 "$out/generation_09b.log"
stamp "generation 8b: trl vs paged, 128 tokens"
timeout "$(cap 150)" python3 benchmarks/generation_gpu.py --out /tmp/gb --results "$out/generation.jsonl" \
  --shapes 8b --backends trl,paged --new-tokens 128 --baseline-tokens 128 > "$out/generation_8b.log" 2>&1
tail -8 "$out/generation_8b.log"
stamp "done"
