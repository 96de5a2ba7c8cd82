"""The whole workflow on real ARC tasks: SFT warm start on synthetic tasks, eval, GRPO on real
ARC tasks starting from the SFT model, eval again; prints the metrics table before/after RL.

Every stage is a real job run the way jobs run (`python -m trainer run|eval SPEC.json` in its own
run dir), so this also checks that the stages hand over to each other (SFT final model ->
GRPO model_path, GRPO checkpoint -> eval adapter_path).

    # GPU (H200), from the repo root; the tiny model is built here (no hub access needed)
    python benchmarks/demo_pipeline.py --preset gpu --out /tmp/demo
    # CPU check of the script itself (a few minutes)
    python benchmarks/demo_pipeline.py --preset cpu --out /tmp/demo-cpu
    # a real model folder instead of the tiny one (LoRA SFT then)
    python benchmarks/demo_pipeline.py --preset gpu --model /models/Qwen2.5-0.5B-Instruct

Output: per-stage wall time, the GRPO reward curve (first vs last steps), and the Markdown
metrics table (best per column in bold) to paste into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run_params import MEASURED_GRPO, job_env, run_logged, synthetic_sft_params, tiny_presets  # noqa: E402

# cpu: the tiny model, full fine-tuning (it starts from random weights), few steps: checks the plumbing.
# gpu: a bigger tiny model, a warm start long enough to write well-formed programs, then >=200 RL steps.
PRESETS = tiny_presets(
    {
        "sft_steps": (40, 3000),
        "eval_dataset": ("arc1/train", "arc1/train"),
        "eval_tasks": (4, 100),
        "eval_n": (4, 16),
        "eval_tokens": (160, 512),
        "grpo_dataset": ("arc1/train", "arc1/train"),
        "grpo_tasks": (8, 100),
        "grpo_steps": (4, 200),
        "grpo_gens": (4, 8),
        "grpo_batch": (4, 16),
        "grpo_tokens": (96, 384),
        "grpo_lr": (1e-4, 2e-5),
    }
)


def write_spec(kind: str, run_dir: Path, params: dict, entry: str = "run") -> Path:
    from jobs.spec import JobSpec

    spec = JobSpec(
        kind=kind,
        name=run_dir.name,
        template=kind,
        params=params,
        run_dir=str(run_dir),
        entry=["python", "-m", "trainer", entry],
    )
    return spec.write()


def newest_checkpoint(run_dir: Path) -> str:
    from jobs.rundir import list_checkpoints

    valid = [c for c in list_checkpoints(str(run_dir)) if c.valid]
    if not valid:
        sys.exit(f"{run_dir}: GRPO left no valid checkpoint")
    return valid[-1].path


def reward_curve(run_dir: Path) -> list[tuple[int, float]]:
    out = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        m = json.loads(line)
        if "reward" in m and m.get("reward") is not None:
            out.append((m["step"], m["reward"]))
    return out


def with_overrides(preset: dict, sets: list[str]) -> dict:
    """A copy of a preset with `--set KEY=VALUE` overrides, each converted to the preset value's type."""
    cfg = dict(preset)
    for kv in sets:
        k, _, v = kv.partition("=")
        if k not in cfg:
            sys.exit(f"--set {k}: unknown key; keys: {', '.join(cfg)}")
        cfg[k] = type(cfg[k])(v)
    return cfg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    ap.add_argument("--model", help="start from this model folder (LoRA SFT) instead of the tiny model")
    ap.add_argument("--out", help="work dir (default: a temp dir)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset value")
    ap.add_argument("--eval-base", action="store_true", help="also evaluate the model before SFT")
    args = ap.parse_args()
    cfg = with_overrides(PRESETS[args.preset], args.set)
    work = Path(args.out or tempfile.mkdtemp(prefix="arcctl-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    env = job_env()
    times: dict[str, float] = {}

    def run_job(label: str, kind: str, run_dir: Path, params: dict, entry: str = "run") -> float:
        """`python -m trainer ENTRY SPEC` for a new spec in run_dir; its output in WORK/<run dir name>.log."""
        spec = write_spec(kind, run_dir, params, entry)
        return run_logged(label, [sys.executable, "-m", "trainer", entry, str(spec)], work / f"{run_dir.name}.log", env)

    tiny = args.model is None
    if tiny:
        from trainer import tiny_model

        t0 = time.time()
        model = str(
            tiny_model.build(work / "tiny-model", hidden_size=cfg["hidden"], layers=cfg["layers"], heads=cfg["heads"])
        )
        times["build tiny model"] = time.time() - t0
    else:
        model = args.model
    common = dict(grid_encoder="digits", seed=0, max_seq_length=8192, n_jobs=min(8, os.cpu_count() or 2))

    # 1. SFT warm start on synthetic tasks (full fine-tuning for the tiny model: random weights)
    sft = work / "sft"
    sft_params = dict(
        **synthetic_sft_params(model, cfg, use_lora=not tiny, save_steps=max(cfg["sft_steps"], 1)),
        use_rslora=False,
        use_dora=False,
        **{k: v for k, v in common.items() if k != "n_jobs"},
    )
    if not tiny:
        sft_params.update(lora_r=32, lora_alpha=32, learning_rate=2e-4)
    times["sft"] = run_job("SFT", "sft", sft, sft_params)
    sft_final = str(sft / "final")

    def evaluate(name: str, model_path: str, adapter: str | None) -> Path:
        d = work / name
        params = dict(
            model_path=model_path,
            adapter_path=adapter,
            dataset=cfg["eval_dataset"],
            max_tasks=cfg["eval_tasks"],
            n_predictions=cfg["eval_n"],
            max_new_tokens=cfg["eval_tokens"],
            temperature=1.0,
            batch_size=64,
            **common,
        )
        times[name] = run_job(f"eval {name}", "eval", d, params, "eval")
        return d

    # SFT output: a whole model (tiny, full FT) or an adapter over `model`
    sft_model, sft_adapter = (sft_final, None) if tiny else (model, sft_final)
    evals = []
    if args.eval_base:
        evals.append(("base model", evaluate("eval-base", model, None)))
    evals.append(("SFT (before RL)", evaluate("eval-before-rl", sft_model, sft_adapter)))

    # 2. GRPO on real ARC tasks from the SFT model
    grpo = work / "grpo"
    grpo_params = dict(
        model_path=sft_model,
        adapter_path=sft_adapter,
        dataset=cfg["grpo_dataset"],
        max_tasks=cfg["grpo_tasks"],
        max_steps=cfg["grpo_steps"],
        num_generations=cfg["grpo_gens"],
        per_device_train_batch_size=cfg["grpo_batch"],
        gradient_accumulation_steps=1,
        learning_rate=cfg["grpo_lr"],
        max_completion_length=cfg["grpo_tokens"],
        save_steps=max(1, cfg["grpo_steps"] // 2),
        logging_steps=1,
        lora_r=16,
        lora_alpha=32,
        reward_name="arc-v1",
        beta=0.0,
        temperature=1.0,
        **common,
        **MEASURED_GRPO,
    )
    times["grpo"] = run_job("GRPO", "grpo", grpo, grpo_params)
    ckpt = newest_checkpoint(grpo)
    # the GRPO checkpoint is a LoRA adapter over the GRPO base (the SFT model)
    evals.append(("SFT + GRPO (after RL)", evaluate("eval-after-rl", sft_model, ckpt)))

    # 3. report
    from jobs.compare import build_table

    table = build_table([str(d) for _, d in evals], labels=[name for name, _ in evals])
    curve = reward_curve(grpo)
    print(
        "\n### Demo pipeline",
        f"(preset {args.preset}, model {'tiny ' + str(cfg['hidden']) + 'x' + str(cfg['layers']) if tiny else model})",
    )
    print("\n| stage | wall s |\n|---|---|")
    for k, v in times.items():
        print(f"| {k} | {v:.1f} |")
    if curve:
        k = max(1, len(curve) // 10)
        first = sum(r for _, r in curve[:k]) / k
        last = sum(r for _, r in curve[-k:]) / k
        print(
            f"\nGRPO reward: mean of first {k} steps {first:.3f}, last {k} steps {last:.3f} ({len(curve)} steps logged)"
        )
    print("\nEval on", cfg["eval_dataset"], f"({cfg['eval_tasks']} tasks, {cfg['eval_n']} predictions each):\n")
    print(table.to_markdown())
    for (name, _), row in zip(evals, table.rows):
        if row.pass_at_k:
            print(f"pass@k {name}: " + ", ".join(f"{k}={100 * v:.2f}%" for k, v in row.pass_at_k.items()))
    print(f"\nrun dirs under {work}; compare again with: arcctl compare {' '.join(str(d) for _, d in evals)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
