"""Peak memory of an eval job against its number of predictions (target: 10x the predictions,
at most 1.3x the peak RSS).

    python benchmarks/eval_memory.py [--out DIR] [--small 2000] [--large 20000] [--tasks 10]

Each row is one real eval job (`python -m trainer run RUN_DIR`, the tiny model built by
trainer.tiny_model, transformers generate on the CPU, the real sandbox) on the same real
ARC-AGI-1 tasks with the same config, differing only in n_predictions; peak RSS is RUSAGE_CHILDREN's
maxrss of a wrapper that only waits for the job: the largest resident set any one process of the
job's tree reached (the trainer's own process here; the sandbox workers are far smaller), not their sum. The
baseline is the small run, measured in the same invocation. Completions are kept short
(max_new_tokens 8) so that the time goes into the per-prediction bookkeeping being measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WRAPPER = (
    "import resource, subprocess, sys, json; rc = subprocess.call(sys.argv[1:]); "
    "print(json.dumps({'rc': rc, 'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"
)


def small_tasks(n: int, side: int = 6) -> list[str]:
    from trainer.data import load_tasks

    out = []
    for t in load_tasks("arc1/train"):
        grids = [g for p in t.train + t.test for g in (p.input, p.output) if g is not None]
        if all(len(g) <= side and len(g[0]) <= side for g in grids):
            out.append(t.task_id)
        if len(out) == n:
            break
    return out


def run_eval(work: Path, model: Path, tasks: list[str], per_task: int) -> dict:
    from jobs.spec import JobSpec

    run = work / f"eval-{per_task * len(tasks)}"
    params = dict(
        model_path=str(model),
        dataset="arc1/train",
        task_ids=tasks,
        n_predictions=per_task,
        max_new_tokens=8,
        batch_size=64,
        save_every=512,
        n_jobs=1,
        grid_encoder="digits",
        seed=0,
        use_data_augmentation=True,
    )
    JobSpec(kind="eval", name=run.name, template="eval", params=params, run_dir=str(run)).write()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, sys.executable, "-m", "trainer", "run", str(run)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        sys.exit(f"eval of {per_task * len(tasks)} predictions failed: {out.stderr[-2000:]}")
    lines = sum(1 for _ in open(run / "eval" / "predictions.jsonl"))
    return {
        "predictions": lines,
        "peak_rss_mb": res["maxrss_kb"] / 1024,
        "seconds": time.time() - t0,
        "file_mb": (run / "eval" / "predictions.jsonl").stat().st_size / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="work folder (default: a temporary one)")
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--large", type=int, default=20000)
    ap.add_argument("--tasks", type=int, default=10)
    a = ap.parse_args()
    work = Path(a.out or tempfile.mkdtemp(prefix="eval-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    model = work / "tiny-model"
    if not (model / "config.json").exists():
        from trainer import tiny_model

        tiny_model.build(model)
    tasks = small_tasks(a.tasks)
    rows = []
    for total in (a.small, a.large):
        per_task = max(1, total // len(tasks))
        print(f"eval: {len(tasks)} tasks x {per_task} predictions ...", flush=True)
        rows.append(run_eval(work, model, tasks, per_task))
    base = rows[0]["peak_rss_mb"]
    print(
        f"\nEval peak memory vs predictions ({platform.node()}, {os.cpu_count()} cores, tiny model on CPU, "
        f"{len(tasks)} ARC-AGI-1 tasks, max_new_tokens 8, save_every 512)"
    )
    print("| predictions | peak RSS (MB) | ratio vs baseline | predictions.jsonl (MB) | wall (s) |")
    print("|---|---|---|---|---|")
    for i, r in enumerate(rows):
        label = f"{r['predictions']}" + (" (baseline)" if i == 0 else "")
        print(
            f"| {label} | {r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / base:.2f}x | {r['file_mb']:.1f} | "
            f"{r['seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
