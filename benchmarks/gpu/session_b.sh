#!/usr/bin/env bash
# H200 x2 session B, three jobs at once: the GRPO telemetry run on GPU0 alone (pinned to cores
# 8-15, as in session A's baseline run), and on GPU1 the collapse experiment (guard off vs
# rollback) and the demo pipeline (SFT -> eval -> GRPO -> eval), scaled to fit one 10-minute call.
set -u
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
G="--steps 200 --completion-length 64"
(CUDA_VISIBLE_DEVICES=0 taskset -c 8-15 timeout 470 python3 benchmarks/grpo_gpu.py $G --order telemetry --out /tmp/gb_t > $OUT/grpo_telemetry.log 2>&1; cp /tmp/gb_t/telemetry.json $OUT/ 2>/dev/null) &
(CUDA_VISIBLE_DEVICES=1 taskset -c 16-23 timeout 470 python3 benchmarks/collapse_gpu.py --out /tmp/collapse --sft-steps 600 --steps 100 --save-steps 10 --completion-length 64 --timeout 200 > $OUT/collapse.log 2>&1) &
(CUDA_VISIBLE_DEVICES=1 taskset -c 24-31 timeout 470 python3 benchmarks/demo_pipeline.py --preset gpu --out /tmp/demo --set sft_steps=600 --set sft_tasks=2000 --set grpo_steps=60 --set grpo_tasks=40 --set grpo_tokens=96 --set eval_tasks=20 --set eval_n=4 --set eval_tokens=192 > $OUT/demo.log 2>&1) &
wait
tail -n 25 $OUT/*.log
