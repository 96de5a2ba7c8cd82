#!/usr/bin/env bash
# H200 x2 session A: GRPO throughput/telemetry overhead (baseline on GPU0 and telemetry on GPU1 at
# the same time, each pinned to 8 cores), the sandbox benchmark on 16 other cores, then SFT on
# 2 GPUs vs 1. Logs go to $OUT. Run from the repo root on the device machine.
set -u
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
G="--steps 200 --completion-length 64"
(CUDA_VISIBLE_DEVICES=0 taskset -c 0-7 timeout 400 python3 benchmarks/grpo_gpu.py $G --order baseline --out /tmp/gb_b > $OUT/grpo_baseline.log 2>&1) &
(CUDA_VISIBLE_DEVICES=1 taskset -c 8-15 timeout 400 python3 benchmarks/grpo_gpu.py $G --order telemetry --out /tmp/gb_t > $OUT/grpo_telemetry.log 2>&1) &
taskset -c 16-31 timeout 240 python3 benchmarks/sandbox.py --workers 16 --json-out $OUT/sandbox.json > $OUT/sandbox.log 2>&1
wait
cp /tmp/gb_b/baseline.json /tmp/gb_t/ 2>/dev/null
CUDA_VISIBLE_DEVICES=0 timeout 60 python3 benchmarks/grpo_gpu.py $G --order "" --out /tmp/gb_t > $OUT/grpo_report.log 2>&1
timeout 140 python3 benchmarks/sft_multigpu.py --steps 40 > $OUT/sft_multigpu.log 2>&1
tail -n 30 $OUT/*.log
