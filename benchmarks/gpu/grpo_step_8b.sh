#!/usr/bin/env bash
# One GRPO job at real-run settings (grpo template defaults: 16 generations x 1024 tokens,
# LoRA r=32 on all linear layers, gradient accumulation 2) on a random-init Llama-3.1-8B-shaped model,
# submitted through `arcctl submit --profile local`; prints the per-step time split from metrics.jsonl.
#   benchmarks/gpu/grpo_step_8b.sh MODEL_DIR STEPS GENERATION_BACKEND [OUT_DIR]
set -u
model=$1; steps=$2; backend=$3; out=${4:-/tmp}
export ARCCTL_HOME=/tmp/arcctl-home
python3 -m arcctl.cli.main submit grpo --profile local --name grpo8b-$backend --run-dir /tmp/runs/grpo8b-$backend \
  -p model_path=$model -p max_steps=$steps -p save_steps=1000 -p generation_backend=$backend -p n_jobs=16 || exit 1
run=/tmp/runs/grpo8b-$backend
for i in $(seq 1 900); do
  # `ls` prints the state before the name: wait while this job is not in a terminal state
  python3 -m arcctl.cli.main ls --json 2>/dev/null | python3 -c "import json,sys; sys.exit(0 if any(j.get('name')=='grpo8b-$backend' and j.get('state') in ('running','queued','submitted','pending') for j in json.load(sys.stdin)) else 1)" || break
  sleep 2
done
python3 -m arcctl.cli.main ls | grep grpo8b
cp $run/metrics.jsonl $out/grpo8b-$backend-metrics.jsonl 2>/dev/null
tail -5 $run/stderr.log 2>/dev/null
python3 - "$run" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl") if l.strip()]
rows = [r for r in rows if "arc/time_step_s" in r]
print("| step | step s | generation s | reward s | optimisation s | mean length | peak GiB |")
for r in rows:
    print(f"| {r['step']} | {r['arc/time_step_s']:.1f} | {r['arc/time_generation_s']:.1f} | {r['arc/time_reward_s']:.2f} | "
          f"{r['arc/time_optimization_s']:.1f} | {r.get('completions/mean_length', 0):.0f} | {r.get('arc/gpu_peak_gib', '')} |")
PY
