"""Record REAL collapse traces for the health tests: the project's tiny model, trained for real.

    OMP_NUM_THREADS=1 python tests/health/record_traces.py --work /tmp/health-traces [--only NAME ...]

1. builds the tiny Llama model (trainer.tiny_model.build, the tests' default shape);
2. warm-starts it with a full-parameter fine-tune on synthetic ARC-like tasks and their programs
   (benchmarks/collapse_gpu.py's warm_start), so it writes runnable programs and the GRPO reward
   starts above zero;
3. runs one GRPO job per recipe below with `python -m trainer run SPEC` (the real trainer, TRL, on
   the CPU) on held-out synthetic tasks. The learning rate warms up linearly from 0 to a peak far too
   high, so each run starts healthy and collapses once the rate is large; the sampling settings
   (temperature, repetition_penalty), beta and `pay_repeats` (a reward for repeated 4-grams, applied
   by this script: the trainer then runs in this script's process, see train_child) steer which kind
   of collapse it becomes;
4. copies each finished run into tests/health/traces/real_<name>/ with completions trimmed to the
   fields the detectors read (their text cut at TEXT_CHARS), metrics to the series they read, and a
   trace.json saying what was recorded and which rule must catch it.

Which collapse a run turns into is read off the recorded run (the sampled text, reward, KL), not
chosen in advance; each recipe's expectations below say what this recording showed: the rule that
catches it first (expected_rule), the others that warn (also_warns; late_rules warn only after the
smoothed reward halved), signs_at (first step whose signs_metric exceeds signs_above), end_state
(zero_reward: every group ends with reward 0; repetition: completions end as one looped phrase;
grad_blowup: the gradient ends 4x its early median), reward_half_check (False when the run never had
a reward to lose) and missed (a rule that should fire and does not). A re-recording on another
machine may take another trajectory: check the new run by eye before replacing a committed trace.

A run stopped early (SIGTERM: the trainer checkpoints and exits 0) is stored up to its last step;
`--store-only` stores an existing run dir under --work without training.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from jobs import rundir  # noqa: E402
from tests.tiny_params import SHORT_PROMPTS, job_spec  # noqa: E402

TRACES = Path(__file__).resolve().parent / "traces"
WARM_STEPS = 300  # full-parameter warm-start steps (batch 2, lr 3e-3, 24 synthetic tasks)
TEXT_CHARS = 2000  # the detectors' text signals read the head of a completion; the trainer's diag has the rest
METRIC_KEYS = (
    "step",
    "time",
    "epoch",
    "loss",
    "learning_rate",
    "reward",
    "reward_std",
    "frac_reward_zero_std",
    "kl",
    "entropy",
    "grad_norm",
    "completions/mean_length",
    "completions/clipped_ratio",
    "completions/max_length",
    "arc/truncated_ratio",
    "arc/unique_token_ratio",
    "arc/ngram4_repeat_max",
    "arc/error_parse",
    "arc/solved_ratio",
)
COMPLETION_KEYS = ("id", "step", "task_id", "reward", "n_tokens", "truncated", "error", "solved", "diag", "completion")

# GRPO settings shared by every recipe: small enough for a 2-core CPU, one logged row per step.
BASE = dict(SHORT_PROMPTS, dataset="synthetic:32", n_jobs=1, sandbox_timeout_s=1.0, guard="off", seed=7)
BASE.update(logging_steps=1, save_steps=1000)
BASE.update(lr_scheduler_type="constant_with_warmup", max_grad_norm=1.0, beta=0.01, lora_r=16, lora_alpha=32)
BASE.update(num_generations=4, per_device_train_batch_size=4, gradient_accumulation_steps=1, max_completion_length=160)
BASE.update(temperature=1.0, repetition_penalty=1.0, reward_name="arc-v2-no-pixel-score")

# the repeat-paying reward, with truncated completions scored rather than masked
PAY_REPEATS = dict(pay_repeats=1.0, mask_truncated_completions=False)


def early_signs(step: int, metric: str, above: float, text: str) -> dict:
    """Where a recipe's collapse first shows: the first step at which `metric` exceeds `above`."""
    return dict(signs_at=step, signs_metric=metric, signs_above=above, signs=text)


# name -> (GRPO overrides, trace.json expectations). `pay_repeats` (not a job parameter: the recorder
# applies it, see train_child) adds W x the share of repeated token 4-grams to every reward. Only
# recipes whose trace is committed are listed; the README beside the traces tells each recording's
# story and which other settings were tried and what they gave.
RECIPES: dict[str, tuple[dict, dict]] = {
    "grpo_lr_ramp": (
        dict(learning_rate=3e-2, warmup_ratio=0.6, max_steps=100),
        dict(
            story="the learning rate ramps linearly from 0 towards 3e-2 (stopped at step 53, lr 1.6e-2): KL "
            "runs away from step 12, the few rewarded completions (reward 0.25 on about one step in four) "
            "vanish after step 21, every group then has zero reward spread, entropy doubles and completions "
            "run into the length limit",
            expected_rule="kl_spike",
            also_warns=["zero_std", "reward_fall", "entropy", "truncation"],
            **early_signs(15, "kl", 0.5, "first step with KL above 0.5 nats, far from the warm-started model"),
            late_rules=["zero_std", "reward_fall", "entropy", "truncation"],
            end_state="zero_reward",
        ),
    ),
    "gibberish_t1.25": (
        dict(learning_rate=3e-2, warmup_ratio=0.6, max_steps=100, temperature=1.25),
        dict(
            story="the same ramp sampled at temperature 1.25: one rewarded step (3), KL spikes from step 18, "
            "then the completions turn into digit soup (digits 10% of the text in steps 1-25, 52% in steps "
            "76-100), run into the length limit and entropy triples",
            expected_rule="kl_spike",
            also_warns=["truncation", "entropy", "gibberish"],
            late_rules=["truncation", "entropy", "gibberish"],
            reward_half_check=False,
            end_state="zero_reward",
        ),
    ),
    "repeat_reward": (
        dict(PAY_REPEATS, learning_rate=6e-3, warmup_ratio=0.5, max_steps=60),
        dict(
            story="the reward pays for repeated 4-grams: from step 29 the completions loop one line ('# "
            "description:') to the length limit; unique-token ratio 0.55 -> 0.03, entropy collapses",
            expected_rule="repetition",
            also_warns=["kl_spike", "truncation", "entropy"],
            **early_signs(29, "arc/ngram4_repeat_max", 7.5, "first step whose most repeated 4-gram reaches 8"),
            reward_half_check=False,
            end_state="repetition",
        ),
    ),
    "grad_kl": (
        dict(PAY_REPEATS, learning_rate=2e-2, warmup_ratio=0.5, max_steps=50, beta=0.5),
        dict(
            story="beta 0.5 with the repeat-paying reward: KL above 0.5 from step 20, grad norm from a median of 0.9 "
            "(steps 1-20) to 4-11 from step 31; entropy explodes, completions turn to soup",
            expected_rule="grad_norm_spike",
            also_warns=["kl_spike", "entropy", "truncation"],
            **early_signs(31, "grad_norm", 4.0, "first step with grad norm above 4 (5x its early median)"),
            reward_half_check=False,
            end_state="grad_blowup",
        ),
    ),
}


def train_child(run_dir: str, pay_repeats: float) -> int:
    """Run the real trainer in this process with a reward that pays for repetition: the ARC reward
    plus `pay_repeats` x the share of repeated token 4-grams of the completion. It goes in where the
    trainer applies its own reward shaping (completions.jsonl keeps the ARC reward as reward_arc)."""
    from trainer import grpo_reward
    from trainer.cli import main as trainer_main

    def paying(scores, tokens, truncated, row_ids, shaping):
        return [s + pay_repeats * grpo_reward.repeated_ngram_share(t, 4) for s, t in zip(scores, tokens)]

    grpo_reward.shape_rewards = paying
    grpo_reward.Shaping.active = property(lambda self: True)
    return trainer_main(["run", run_dir])


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("TOKENIZERS_PARALLELISM", "false")
    e.setdefault("OMP_NUM_THREADS", "1")  # a tiny model on a shared CPU: more threads only contend
    e["ARCCTL_HOME"] = e.get("ARCCTL_HOME_RECORD", str(Path(e.get("TMPDIR", "/tmp")) / "record-traces-home"))
    return e


def warm_model(work: Path, steps: int) -> Path:
    model, warm = work / "tiny-model", work / "warm-model"
    if not (model / "config.json").exists():
        from trainer import tiny_model

        tiny_model.build(model)
    if not (warm / "config.json").exists():
        spec = importlib.util.spec_from_file_location("collapse_gpu", REPO / "benchmarks" / "collapse_gpu.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        t0 = time.time()
        mod.warm_start(model, warm, steps, gpu=False, log=work / "warm-start.jsonl")
        print(f"warm start: {steps} steps in {time.time() - t0:.0f} s", flush=True)
    return warm


def record(name: str, model: Path, work: Path) -> Path:
    overrides, expect = RECIPES[name]
    run_dir = work / "runs" / name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    overrides = dict(overrides)
    pay = overrides.pop("pay_repeats", None)
    params = dict(BASE, model_path=str(model), **overrides)
    resources = {"gpus": 0, "cpus": 1, "memory": "4G"}
    job_spec("grpo", run_dir, params, name=f"real_{name}", profile="local", resources=resources).write()
    t0 = time.time()
    log = work / f"{name}.log"
    with open(log, "w") as f:
        cmd = (
            [sys.executable, "-m", "trainer", "run", str(run_dir)]
            if pay is None
            else [
                sys.executable,
                str(Path(__file__).resolve()),
                "--train-child",
                str(run_dir),
                "--pay-repeats",
                str(pay),
            ]
        )
        rc = subprocess.call(cmd, cwd=REPO, env=env(), stdout=f, stderr=subprocess.STDOUT)
    took = time.time() - t0
    print(f"{name}: exit {rc} in {took:.0f} s (log {log})", flush=True)
    if rc != 0:
        sys.exit(log.read_text()[-3000:])
    return store(name, run_dir, took)


def store(name: str, run_dir: Path, took: float) -> Path:
    overrides, expect = RECIPES[name]
    out = TRACES / f"real_{name}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    spec = json.loads((run_dir / rundir.SPEC).read_text())
    spec["params"]["model_path"] = "<warm-started tiny model, see trace.json>"
    spec["run_dir"] = f"tests/health/traces/{out.name}"
    (out / rundir.SPEC).write_text(json.dumps(spec, indent=2) + "\n")
    rows = [r for r in rundir.read_jsonl(run_dir / rundir.METRICS) if "reward" in r]  # not the summary row
    last = rows[-1]["step"] if rows else None
    with open(out / rundir.METRICS, "w") as f:
        for row in rows:
            f.write(json.dumps({k: row[k] for k in METRIC_KEYS if k in row}) + "\n")
    with open(out / rundir.COMPLETIONS, "w") as f:
        for row in rundir.read_jsonl(run_dir / rundir.COMPLETIONS):
            row = {k: row[k] for k in COMPLETION_KEYS if k in row}
            row["completion"] = (row.get("completion") or "")[:TEXT_CHARS]
            f.write(json.dumps(row) + "\n")
    (out / "trace.json").write_text(
        json.dumps(
            {
                "simulated": False,
                "kind": f"real GRPO run of the warm-started tiny model on a CPU: {expect['story']}",
                "expected_rule": expect.get("expected_rule"),
                "last_step": last,
                **{k: v for k, v in expect.items() if k not in ("story", "expected_rule")},
                "recipe": overrides,
                "recorded": time.strftime("%Y-%m-%d", time.gmtime()),
                "warm_start_steps": WARM_STEPS,
                "seconds": round(took) or None,
                "generator": "tests/health/record_traces.py",
            },
            indent=2,
        )
        + "\n"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", help="scratch folder (models, full run dirs, logs)")
    ap.add_argument("--only", nargs="*", choices=sorted(RECIPES), help="recipes to record (default all)")
    ap.add_argument("--store-only", action="store_true", help="store the finished runs under --work; train nothing")
    ap.add_argument("--train-child", metavar="RUN_DIR", help=argparse.SUPPRESS)
    ap.add_argument("--pay-repeats", type=float, default=0.0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.train_child:
        sys.exit(train_child(a.train_child, a.pay_repeats))
    if not a.work:
        ap.error("--work is required")
    work = Path(a.work).absolute()
    work.mkdir(parents=True, exist_ok=True)
    if a.store_only:
        for name in a.only or RECIPES:
            print(f"stored {store(name, work / 'runs' / name, took=0)}", flush=True)
        return
    model = warm_model(work, WARM_STEPS)
    for name in a.only or RECIPES:
        print(f"stored {record(name, model, work)}", flush=True)


if __name__ == "__main__":
    main()
