"""GRPO on a GPU: throughput, time split, peak memory, and the overhead of our telemetry.

    python benchmarks/grpo_gpu.py --steps 200 --out DIR        # on the GPU host (CUDA)
    python benchmarks/grpo_gpu.py --steps 3 --out DIR          # smoke run on a CPU

Builds the project's own model (no hub), trains it with GRPO on real ARC-AGI-1 tasks twice, each run
in a fresh process so neither inherits the other's warm caches:
  telemetry  the product path: `trainer.grpo.main(spec)` writing metrics/completions/events
  baseline   the same TRL GRPOTrainer, model, data, reward and seeds, without our telemetry
             (no files, no per-completion diagnostics, no arc/ metrics)
Step time is measured the same way in both (wall time from step begin to step end); the first
steps are excluded as warm-up. Prints a table (and a markdown version for benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.run_params import grpo_batch, grpo_constant_lr  # noqa: E402


def config(args, on_gpu: bool) -> dict:
    """GRPO parameters: a realistic small run on a GPU, a seconds-long one on a CPU."""
    return dict(
        **grpo_batch(
            on_gpu,
            completion_length=args.completion_length or (128 if on_gpu else 32),
            tasks=args.tasks or (200 if on_gpu else 4),
            cpu_accumulation=2,
        ),
        **grpo_constant_lr(steps=args.steps, save_steps=max(args.steps, 1), learning_rate=1e-4, seed=3),
        use_data_augmentation=True,
    )


def _spec(run_dir: Path, model_dir: Path, params: dict):
    from jobs.spec import JobSpec

    return JobSpec(
        kind="grpo",
        name=run_dir.name,
        template="grpo",
        run_dir=str(run_dir),
        params={"model_path": str(model_dir), **params},
    )


def _peak_mem_gib() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 2**30


def run_telemetry(run_dir: Path, model_dir: Path, params: dict) -> dict:
    from jobs import rundir
    from trainer import grpo

    t0 = time.perf_counter()
    rc = grpo.main(_spec(run_dir, model_dir, params))
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"telemetry run failed (exit {rc}); see {run_dir}/events.jsonl")
    rows = rundir.read_jsonl(run_dir / rundir.METRICS)
    return {
        "step_s": [r["arc/time_step_s"] for r in rows],
        "gen_s": [r["arc/time_generation_s"] for r in rows],
        "reward_s": [r["arc/time_reward_s"] for r in rows],
        "opt_s": [r["arc/time_optimization_s"] for r in rows],
        "mean_length": [r["completions/mean_length"] for r in rows],
        "peak_gib": _peak_mem_gib(),
        "wall_s": wall,
    }


def run_baseline(run_dir: Path, model_dir: Path, params: dict) -> dict:
    from trainer import grpo
    from trainer.grpo_reward import ArcReward, Timing
    from trainer.sandbox import Sandbox

    spec = _spec(run_dir, model_dir, params)
    p = spec.typed_params()
    t0 = time.perf_counter()
    setup = grpo.setup_training(p, run_dir, lambda message, **_: print("warning:", message, file=sys.stderr))
    # Timing is three perf_counter calls per step; it is kept so both runs report the same split.
    timing = Timing()
    per_step: dict[str, list[float]] = {"step_s": [], "gen_s": [], "reward_s": [], "opt_s": []}

    from transformers import TrainerCallback

    class Collect(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            m = timing.as_metrics()
            per_step["step_s"].append(m["arc/time_step_s"])
            per_step["gen_s"].append(m["arc/time_generation_s"])
            per_step["reward_s"].append(m["arc/time_reward_s"])
            per_step["opt_s"].append(m["arc/time_optimization_s"])
            timing.reset()

    with Sandbox(
        workers=p.n_jobs, timeout_s=p.sandbox_timeout_s, memory_mb=p.sandbox_memory_mb, common_module=p.common_module
    ) as sandbox:
        reward = ArcReward(setup.rows, sandbox, p.reward_name, files=None, timing=timing, eos_ids=setup.eos_ids)
        trainer = grpo.build_trainer(setup, reward, [], timing, p.learning_rate)
        trainer.add_callback(Collect())  # after StepTimer, so the step's total is in
        trainer.train()
    wall = time.perf_counter() - t0
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
    return {**per_step, "mean_length": lengths, "peak_gib": _peak_mem_gib(), "wall_s": wall}


def one(kind: str, out: Path, model_dir: Path, params: dict) -> None:
    """Child process: one run, results as JSON."""
    run_dir = out / kind
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    res = (run_telemetry if kind == "telemetry" else run_baseline)(run_dir, model_dir, params)
    model = json.loads((model_dir / "arcctl_tiny_model.json").read_text())
    (out / f"{kind}.json").write_text(json.dumps({**res, "params": params, "model": model}))


def summarise(res: dict, warmup: int) -> dict:
    def m(key):
        xs = res[key][warmup:] or res[key]
        return statistics.fmean(xs) if xs else float("nan")

    step = m("step_s")
    return {
        "steps": len(res["step_s"]),
        "step_s": step,
        "steps_per_s": 1 / step if step else float("nan"),
        "gen_s": m("gen_s"),
        "reward_s": m("reward_s"),
        "opt_s": m("opt_s"),
        "mean_length": m("mean_length"),
        "peak_gib": res["peak_gib"],
        "wall_s": res["wall_s"],
    }


def table(rows: dict[str, dict], markdown: bool) -> str:
    head = ["run", "steps", "steps/s", "s/step", "generation", "reward", "optimisation", "peak GPU GiB", "mean len"]

    def fmt(name, s):
        split = [f"{s[k]:.3f}s ({100 * s[k] / s['step_s']:.0f}%)" for k in ("gen_s", "reward_s", "opt_s")]
        mem = "-" if s["peak_gib"] is None else f"{s['peak_gib']:.2f}"
        return [
            name,
            str(s["steps"]),
            f"{s['steps_per_s']:.3f}",
            f"{s['step_s']:.3f}",
            *split,
            mem,
            f"{s['mean_length']:.1f}",
        ]

    lines = [fmt(n, s) for n, s in rows.items()]
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in lines]
        return "\n".join(out)
    widths = [max(len(x) for x in col) for col in zip(head, *lines)]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(r, widths)) for r in [head, *lines])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--hidden", type=int, default=None, help="model width (GPU default 256, CPU 64)")
    ap.add_argument("--layers", type=int, default=None, help="model depth (GPU default 4, CPU 2)")
    ap.add_argument("--tasks", type=int, default=None)
    ap.add_argument("--completion-length", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None, help="steps excluded from the means")
    ap.add_argument("--order", default="baseline,telemetry", help="which runs, in which order")
    ap.add_argument("--_one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    import torch

    on_gpu = torch.cuda.is_available()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    params = config(args, on_gpu)
    model_dir = out / "model"
    if args._one:
        one(args._one, out, model_dir, params)
        return 0

    from trainer import tiny_model

    hidden = args.hidden or (256 if on_gpu else 64)
    layers = args.layers or (4 if on_gpu else 2)
    t0 = time.perf_counter()
    tiny_model.build(model_dir, hidden_size=hidden, layers=layers, heads=max(4, hidden // 64))
    info = json.loads((model_dir / "arcctl_tiny_model.json").read_text())
    device = torch.cuda.get_device_name(0) if on_gpu else "CPU"
    print(
        f"model: Llama hidden={hidden} layers={layers} params={info['parameters']:,} "
        f"(built in {time.perf_counter() - t0:.1f}s); device: {device}; torch {torch.__version__}"
    )
    print("params: " + json.dumps(params))

    runs = [r.strip() for r in args.order.split(",") if r.strip()]
    if any(r not in ("baseline", "telemetry") for r in runs):
        ap.error("--order takes baseline and/or telemetry")
    for kind in runs:
        t1 = time.perf_counter()
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--_one",
            kind,
            "--out",
            str(out),
            "--steps",
            str(args.steps),
        ]
        for flag, val in (("--tasks", args.tasks), ("--completion-length", args.completion_length)):
            if val is not None:
                cmd += [flag, str(val)]
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-4000:], file=sys.stderr)
            return proc.returncode
        print(f"{kind}: done in {time.perf_counter() - t1:.1f}s", flush=True)

    warmup = args.warmup if args.warmup is not None else min(10, args.steps // 5)
    # Runs may come from separate invocations (`--order baseline`, then `--order telemetry`, to stay
    # under a per-command time limit): report every run in DIR made with these same parameters.
    rows = {}
    for k in ("baseline", "telemetry"):
        f = out / f"{k}.json"
        if f.exists():
            res = json.loads(f.read_text())
            if res.get("params") == params and res.get("model") == info:
                rows[k] = summarise(res, warmup)
    print(f"\nGRPO, {args.steps} steps, means over steps after the first {warmup}:")
    print(table(rows, markdown=False))
    if "baseline" in rows and "telemetry" in rows:
        base, tel = rows["baseline"]["step_s"], rows["telemetry"]["step_s"]
        overhead = 100 * (tel - base) / base
        lb, lt = rows["baseline"]["mean_length"], rows["telemetry"]["mean_length"]
        print(
            f"\ntelemetry overhead: {overhead:+.2f}% per step (target < 3%); "
            f"mean completion length baseline {lb:.1f} vs telemetry {lt:.1f}"
        )
        rows_md = table(rows, markdown=True)
        (out / "results.md").write_text(rows_md + f"\n\nTelemetry overhead: {overhead:+.2f}% per step.\n")
        print("\nmarkdown:\n" + rows_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
