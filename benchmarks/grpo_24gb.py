"""A GRPO job on a 24 GB card, simulated on a bigger GPU: the process is capped at --cap-gib of GPU
memory (torch.cuda.set_per_process_memory_fraction) and runs the product path (`trainer.grpo.main`)
with 4-bit base weights (bitsandbytes NF4) at the grpo template's real-run settings unless told otherwise.

    python benchmarks/grpo_24gb.py --model DIR --out DIR [--steps 5] [--cap-gib 24] [-p key=value ...]

Prints each step's time split and the peak GPU memory, or the out-of-memory error and the setting
that made it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--cap-gib", type=float, default=24.0)
    ap.add_argument("-p", action="append", default=[], help="extra parameter key=value (JSON value)")
    args = ap.parse_args()
    import torch

    from jobs.spec import JobSpec
    from jobs.templates import load_template
    from trainer import grpo

    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(args.cap_gib * 2**30 / total)
    params = dict(load_template("grpo").params)
    params.update(
        model_path=args.model,
        max_steps=args.steps,
        save_steps=10_000,
        load_in_4bit=True,
        dataset="arc1/train",
        n_jobs=8,
    )
    for kv in args.p:
        k, v = kv.split("=", 1)
        try:
            params[k] = json.loads(v)
        except ValueError:
            params[k] = v
    run = Path(args.out) / f"grpo-{args.cap_gib:g}gib"
    spec = JobSpec(kind="grpo", name=run.name, template="grpo", run_dir=str(run), params=params)
    t0 = time.perf_counter()
    rc = grpo.main(spec)
    print(
        f"exit {rc} after {time.perf_counter() - t0:.0f} s; cap {args.cap_gib} GiB of "
        f"{total / 2**30:.0f}; peak allocated {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
    )
    for line in (run / "events.jsonl").read_text().splitlines():
        if '"error"' in line:
            print(line[:400])
    rows = (
        [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
        if (run / "metrics.jsonl").exists()
        else []
    )
    print("| step | step s | generation s | optimisation s | mean length | peak GiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if "arc/time_step_s" in r:
            print(
                f"| {r['step']} | {r['arc/time_step_s']:.1f} | {r['arc/time_generation_s']:.1f} | "
                f"{r['arc/time_optimization_s']:.1f} | {r.get('completions/mean_length', 0):.0f} | "
                f"{r.get('arc/gpu_peak_gib', 0):.1f} |"
            )
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
