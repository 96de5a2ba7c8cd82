"""Collapse on purpose, with and without the guard.

    python benchmarks/collapse_gpu.py --out DIR                 # on the GPU host (CUDA), ~defaults below
    python benchmarks/collapse_gpu.py --cpu --out DIR --trip    # seconds-long smoke run on a CPU

What it does (every training is a `python -m trainer run SPEC` subprocess, as a job would run):
  0. the model: the project's tiny Llama model (trainer.tiny_model.build; larger on a GPU), or --model;
  1. warm start: a FULL-parameter fine-tune (plain torch, here) on the trainer's synthetic
     ARC-like tasks and their programs, so the model writes runnable programs and the GRPO reward
     starts above zero. (A LoRA SFT of the randomly initialised tiny model does not learn: its
     entropy stays at ln(vocab).) Skip with --sft-steps 0 when --model is already capable;
  2. the same GRPO job twice on real ARC-AGI-1 tasks with a learning rate far too high
     (default 20x the demo's): once guard=off, once guard=rollback. The guard's child runs are
     submitted through the real registry + local backend in DIR/home (ARCCTL_HOME), and this
     script waits for the whole rollback chain to finish.
Prints, for both: step of the first warning, step of the first critical alert, step at which the
smoothed reward fell to half its best ("collapse"), best and final reward, and the rollback chain.
A markdown table for benchmarks/RESULTS.md ("## Collapse guard") is printed at the end.
--remedies adds the reward/generation remedies to the rollback (rollback_changes sets
frequency_penalty, reward_ngram_penalty, truncated_reward and tie_break=shorter on top of the
learning-rate and beta factors), so the child runs with them switched on; guard=off stays plain.
--trip tightens the health thresholds so that a tiny CPU run trips the guard (to check the
plumbing); never use it for the real measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.run_params import grpo_batch, grpo_constant_lr  # noqa: E402
from jobs import rundir  # noqa: E402
from jobs.spec import JobSpec  # noqa: E402

SMOOTH = 20  # rows; the same window as jobs.health's default smoothing
TRIP = {
    "baseline_skip": 2,
    "baseline_rows": 1,
    "window": 1,
    "persist": 1,
    "entropy_low_watch": 100.0,
    "entropy_low_warning": 100.0,
    "entropy_low_critical": 100.0,
}


def env(home: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e["ARCCTL_HOME"] = str(home)
    e.setdefault("TOKENIZERS_PARALLELISM", "false")
    return e


def trainer(args: list[str], log: Path, home: Path) -> None:
    t0 = time.time()
    with open(log, "w") as f:
        rc = subprocess.call(
            [sys.executable, "-m", "trainer", *args], cwd=REPO, env=env(home), stdout=f, stderr=subprocess.STDOUT
        )
    print(f"  {' '.join(args[:2])}: exit {rc} in {time.time() - t0:.0f} s (log {log})", flush=True)
    if rc != 0:
        sys.exit(f"failed, see {log}:\n" + log.read_text()[-3000:])


def warm_start(model_dir: Path, out: Path, steps: int, gpu: bool, log: Path) -> None:
    """Full fine-tune on (prompt, program) pairs of synthetic tasks; loss on the program only."""
    import random
    from types import SimpleNamespace

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.sft import build_examples
    from trainer.synthetic import generate_tasks

    device = "cuda" if gpu else "cpu"
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).to(device)
    p = SimpleNamespace(grid_encoder="digits", max_seq_length=2048, seed=0)
    pairs = generate_tasks(3000 if gpu else 24, seed=1)
    examples = build_examples(pairs, p, tok)
    eos = tok.eos_token_id
    data = []
    for ex in examples:
        prompt = tok(ex["prompt"], add_special_tokens=False)["input_ids"]
        completion = tok(ex["completion"], add_special_tokens=False)["input_ids"] + [eos]
        data.append((prompt + completion, [-100] * len(prompt) + completion))
    batch = 16 if gpu else 2
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3 if gpu else 3e-3, weight_decay=0.0)
    rng = random.Random(0)
    model.train()
    with open(log, "w") as f:
        for step in range(1, steps + 1):
            chunk = rng.sample(data, min(batch, len(data)))
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.full((len(chunk), width), tok.pad_token_id)
            labels = torch.full((len(chunk), width), -100)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, (x, y) in enumerate(chunk):
                ids[i, : len(x)] = torch.tensor(x)
                labels[i, : len(y)] = torch.tensor(y)
                mask[i, : len(x)] = 1
            with torch.autocast(device, dtype=torch.bfloat16, enabled=gpu):
                loss = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            f.write(json.dumps({"step": step, "loss": round(loss.item(), 4)}) + "\n")
            if step % max(1, steps // 10) == 0:
                print(f"  warm start step {step}/{steps}: loss {loss.item():.3f}", flush=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)


def grpo_params(a) -> dict:
    p = dict(
        **grpo_batch(
            not a.cpu,
            completion_length=a.completion_length or (48 if a.cpu else 256),
            tasks=a.tasks or (4 if a.cpu else 200),
            cpu_accumulation=1,
        ),
        **grpo_constant_lr(steps=a.steps, save_steps=a.save_steps, learning_rate=a.lr, seed=a.seed),
        lora_alpha=32,
        max_grad_norm=1.0,
        rollback_changes=rollback_changes(a),
        max_rollbacks=a.max_rollbacks,
    )
    if a.trip:
        p["health"] = dict(TRIP)
    return p


# What --remedies switches on in a rollback child ("=V" sets a value; a factor could not lift a 0).
REMEDIES = {
    "frequency_penalty": "=0.5",
    "presence_penalty": "=0.1",
    "reward_ngram_penalty": "=2.0",
    "reward_ngram_size": "=4",
    "truncated_reward": "=0.0",
    "tie_break": "shorter",
}


def rollback_changes(a) -> dict:
    changes = {"learning_rate": a.lr_factor, "beta": 2.0}
    if a.remedies:
        changes.update(REMEDIES)
    return changes


def chain(run_dir: Path) -> list[Path]:
    """The run followed by its rollback children, in order."""
    out = [run_dir]
    while True:
        ev = [
            e
            for e in rundir.read_jsonl(out[-1] / rundir.EVENTS)
            if e.get("event") == rundir.EV_ROLLBACK and e.get("child_run_dir")
        ]
        if not ev:
            return out
        out.append(Path(ev[-1]["child_run_dir"]))


def stopped(run_dir: Path) -> bool:
    return (run_dir / rundir.EVENTS).exists() and any(
        e.get("event") in (rundir.EV_STOPPED, rundir.EV_ERROR) for e in rundir.read_jsonl(run_dir / rundir.EVENTS)
    )


def wait_chain(run_dir: Path, home: Path, timeout: float) -> list[Path]:
    """Wait until the last run of the rollback chain has stopped, nudging the local backend's queue
    (what the console's status watcher does) so a queued child starts when its GPU frees."""
    os.environ["ARCCTL_HOME"] = str(home)
    from jobs.registry import Registry
    from jobs.submit import backend_for

    end = time.time() + timeout
    while time.time() < end:
        runs = chain(run_dir)
        last = runs[-1]
        if stopped(last) and len(chain(run_dir)) == len(runs):
            return runs
        try:
            job = Registry().get(str(last))
            st = (
                backend_for(job.spec()).status([job.backend_job_id]).get(job.backend_job_id)
                if job.backend_job_id
                else None
            )
        except Exception:
            st = None
        if st is not None and st.state.terminal and not stopped(last):
            # e.g. a previous invocation of this script was killed and took the child with it
            print(f"  {last.name} ended ({st.state.value}) without a stopped event: resuming it here", flush=True)
            trainer(["run", str(last)], last.parent.parent / "logs" / f"{last.name}.log", home)
            continue
        time.sleep(2)
    print(f"  timed out waiting for the rollback chain of {run_dir}", flush=True)
    return chain(run_dir)


def smoothed(values: list[float]) -> list[float]:
    out = []
    for i in range(len(values)):
        w = values[max(0, i - SMOOTH + 1) : i + 1]
        out.append(sum(w) / len(w))
    return out


def summarize(runs: list[Path]) -> dict:
    from jobs.health import diagnose

    first = diagnose(str(runs[0]))
    rows = []
    for r in runs:  # each child continues from its checkpoint step; keep the newest row per step
        rows = [
            x for x in rows if x["step"] <= (rundir.read_jsonl(r / rundir.METRICS) or [{"step": 1e18}])[0]["step"] - 1
        ]
        rows += [x for x in rundir.read_jsonl(r / rundir.METRICS) if isinstance(x.get("reward"), (int, float))]
    steps = [x["step"] for x in rows]
    sm = smoothed([x["reward"] for x in rows])
    best_i = max(range(len(sm)), key=sm.__getitem__) if sm else None
    half = None
    for i in range(len(sm)):
        if i >= SMOOTH and sm[i] <= 0.5 * max(sm[: i + 1]) and max(sm[: i + 1]) > 0:
            half = steps[i]
            break
    tail = [x["reward"] for x in rows[-10:]]
    # With remedies on, TRL's `reward` is the shaped one; compare runs on the plain ARC reward of
    # the completions (reward_arc) and on the share of solved completions, over the last 10 steps.
    last = steps[-1] if steps else 0
    comps = [c for c in rundir.read_jsonl(runs[-1] / rundir.COMPLETIONS) if c.get("step", 0) > last - 10]
    arc = [c.get("reward_arc", c.get("reward")) for c in comps]
    solved = [x.get("arc/solved_ratio") for x in rows[-10:] if isinstance(x.get("arc/solved_ratio"), (int, float))]
    crit = first.alerts and min((a.steps["critical"] for a in first.alerts if "critical" in a.steps), default=None)
    return {
        "runs": [str(r) for r in runs],
        "rollbacks": len(runs) - 1,
        "first_warning": first.first_warning_step,
        "first_critical": crit or None,
        "rules": sorted({a.rule for a in first.alerts if a.level >= 2}),
        "reward_halved": half,
        "best_reward": round(sm[best_i], 4) if sm else None,
        "best_step": steps[best_i] if sm else None,
        "final_reward": round(sum(tail) / len(tail), 4) if tail else None,
        "final_arc_reward": round(sum(arc) / len(arc), 4) if arc else None,
        "final_solved": round(sum(solved) / len(solved), 4) if solved else None,
        "last_step": steps[-1] if steps else None,
        "healthy_checkpoint": first.healthy_checkpoint.name if first.healthy_checkpoint else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="work folder (model, runs, registry)")
    ap.add_argument("--cpu", action="store_true", help="tiny settings for a CPU smoke run")
    ap.add_argument("--model", help="model folder (default: build the tiny model)")
    ap.add_argument(
        "--sft-steps", type=int, default=None, help="full-parameter warm-start steps (default 1500 GPU, 4 CPU; 0 skips)"
    )
    ap.add_argument("--steps", type=int, default=None, help="GRPO steps per run (default 300 GPU, 10 CPU)")
    ap.add_argument("--save-steps", type=int, default=None, help="checkpoint interval (default 20 GPU, 2 CPU)")
    ap.add_argument("--lr", type=float, default=2e-3, help="GRPO learning rate, far too high (demo uses 1e-4)")
    ap.add_argument("--lr-factor", type=float, default=0.25, help="rollback_changes learning_rate multiplier")
    ap.add_argument("--max-rollbacks", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=None)
    ap.add_argument("--completion-length", type=int, default=None)
    ap.add_argument("--remedies", action="store_true", help="the rollback also switches the remedies on (see REMEDIES)")
    ap.add_argument("--seed", type=int, default=3, help="GRPO seed, the same for both runs")
    ap.add_argument("--trip", action="store_true", help="tiny thresholds that trip the guard at once (plumbing check)")
    ap.add_argument("--timeout", type=float, default=3 * 3600)
    a = ap.parse_args()
    a.steps = a.steps or (10 if a.cpu else 300)
    a.save_steps = a.save_steps or (2 if a.cpu else 20)
    sft_steps = a.sft_steps if a.sft_steps is not None else (4 if a.cpu else 1500)
    work = Path(a.out).absolute()
    home = work / "home"
    (work / "logs").mkdir(parents=True, exist_ok=True)
    gpu = not a.cpu
    resources = {"gpus": 1 if gpu else 0, "cpus": 8 if gpu else 1, "memory": "32G" if gpu else "4G"}

    model = Path(a.model) if a.model else work / "tiny-model"
    if not a.model and not (model / "config.json").exists():
        print("building the tiny model", flush=True)
        from trainer import tiny_model

        size = dict(hidden_size=256, layers=4, heads=8) if gpu else dict(hidden_size=64, layers=2, heads=4)
        tiny_model.build(model, **size)

    if sft_steps > 0:
        warm = work / "warm-model"
        if not (warm / "config.json").exists():
            print(f"warm start: {sft_steps} full-parameter steps on synthetic tasks", flush=True)
            t0 = time.time()
            warm_start(model, warm, sft_steps, gpu, work / "logs" / "warm-start.jsonl")
            print(f"  warm start done in {time.time() - t0:.0f} s", flush=True)
        model = warm

    results = {}
    for guard in ("off", "rollback"):
        run_dir = work / "runs" / f"collapse-guard-{guard}"
        if not stopped(run_dir):  # a rerun resumes an interrupted run from its newest checkpoint
            params = dict(model_path=str(model), guard=guard, **grpo_params(a))
            if not (run_dir / rundir.SPEC).exists():
                JobSpec(
                    kind="grpo",
                    name=run_dir.name,
                    template="grpo",
                    run_dir=str(run_dir),
                    resources=resources,
                    params=params,
                ).write()
            print(f"GRPO guard={guard}: {a.steps} steps at lr {a.lr}", flush=True)
            trainer(["run", str(run_dir)], work / "logs" / f"grpo-{guard}.log", home)
        runs = wait_chain(run_dir, home, a.timeout) if guard == "rollback" else [run_dir]
        results[guard] = summarize(runs)

    (work / "results.json").write_text(json.dumps(results, indent=2))
    device = "CPU"
    try:
        import torch

        if torch.cuda.is_available():
            device = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    cols = [
        "first_warning",
        "first_critical",
        "reward_halved",
        "best_reward",
        "best_step",
        "final_reward",
        "final_arc_reward",
        "final_solved",
        "last_step",
        "rollbacks",
        "healthy_checkpoint",
        "rules",
    ]
    extra = ", " + ", ".join(f"{k} {v}" for k, v in REMEDIES.items()) if a.remedies else ""
    print(
        f"\nCollapse guard on {device}: lr {a.lr} (rollback: lr x{a.lr_factor}, beta x2{extra}, max {a.max_rollbacks}),"
        f" {a.steps} GRPO steps, full warm start {sft_steps} steps{', TRIP thresholds' if a.trip else ''}"
    )
    print("| guard | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for guard, r in results.items():
        print(
            f"| {guard} | "
            + " | ".join(str(r[c]) if not isinstance(r[c], list) else ", ".join(r[c]) or "-" for c in cols)
            + " |"
        )
    off, rb = results["off"], results["rollback"]
    key = "final_arc_reward"  # unshaped, so comparable when the rollback switched remedies on
    if off[key] is not None and rb[key] is not None:
        ratio = f"{rb[key] / off[key]:.2f}x" if off[key] else "n/a: guard-off final reward is 0"
        verdict = "above" if rb[key] > off[key] else "not above"
        print(
            f"\nfinal ARC reward (last 10 steps), rollback vs off: {rb[key]} vs {off[key]} ({ratio}): "
            f"the rolled-back chain ends {verdict} the unguarded run"
        )
    print(f"details: {work / 'results.json'}")


if __name__ == "__main__":
    main()
