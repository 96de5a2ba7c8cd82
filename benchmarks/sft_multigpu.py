"""SFT data-parallel on 2 GPUs (accelerate) against 1 GPU: do the loss curves match, and how much
faster is it?

Both runs see the same global batch per optimizer step: 1 GPU uses per_device_batch x (2 x accum),
2 GPUs use per_device_batch x accum on each process, so the same examples go into every step and
the loss curves must agree up to reduction-order noise.

    # on a 2-GPU host (H200 x2), from the repo root
    python benchmarks/sft_multigpu.py                       # tiny model built here, 60 steps
    python benchmarks/sft_multigpu.py --model /models/X --steps 100 --seq 8192
    # on a CPU-only machine, to check the script itself (2 gloo processes via torchrun)
    python benchmarks/sft_multigpu.py --cpu --steps 6

Prints per-step losses side by side, the max/mean relative difference, the verdict against
--tolerance, and the throughput ratio (2 GPUs / 1 GPU) measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_spec(run_dir: Path, args, accum: int):
    from jobs.spec import JobSpec

    params = dict(
        model_path=args.model,
        dataset="synthetic",
        synthetic_tasks=args.tasks,
        max_steps=args.steps,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        warmup_ratio=0.0,
        per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=accum,
        save_steps=max(args.steps, 1),
        logging_steps=1,
        lora_r=16,
        lora_alpha=32,
        max_seq_length=args.seq,
        grid_encoder="digits",
        seed=0,
        max_grad_norm=1.0,
        use_data_augmentation=False,
        use_rslora=False,
        use_dora=False,  # as measured in RESULTS.md
    )
    spec = JobSpec(kind="sft", name=run_dir.name, template="sft", params=params, run_dir=str(run_dir))
    spec.write()
    return spec


def run(cmd: list[str], env: dict[str, str], log: Path) -> float:
    t0 = time.time()
    with open(log, "w") as f:
        rc = subprocess.call(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    if rc != 0:
        sys.exit(f"command failed ({rc}), see {log}:\n  {' '.join(cmd)}\n" + log.read_text()[-3000:])
    return time.time() - t0


def losses(run_dir: Path) -> tuple[dict[int, float], dict]:
    out, stopped = {}, {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        m = json.loads(line)
        if "loss" in m:
            out[m["step"]] = m["loss"]
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["event"] == "started":
            stopped["world_size"] = e.get("world_size")
        if e["event"] == "stopped":
            stopped.update(e)
    return out, stopped


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: build the tiny model)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=4, help="per-device batch size")
    ap.add_argument("--accum", type=int, default=2, help="accumulation steps per process on 2 GPUs")
    ap.add_argument("--tasks", type=int, default=400, help="synthetic tasks")
    ap.add_argument("--seq", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--tolerance", type=float, default=0.02, help="max mean relative loss difference")
    ap.add_argument("--cpu", action="store_true", help="run both on CPU (2 gloo processes) to check the script")
    ap.add_argument("--out", help="work dir (default: a temp dir)")
    args = ap.parse_args()

    work = Path(args.out or tempfile.mkdtemp(prefix="sft-multigpu-"))
    work.mkdir(parents=True, exist_ok=True)
    if not args.model:
        from trainer import tiny_model

        args.model = str(tiny_model.build(work / "tiny-model", hidden_size=256, layers=4, heads=8))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if args.cpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
        args.tasks = min(args.tasks, 40)

    one, two = work / "sft-1gpu", work / "sft-2gpu"
    make_spec(one, args, accum=2 * args.accum)
    make_spec(two, args, accum=args.accum)
    # Both runs are plain `python -m trainer run`, as every backend starts a job: with 2 visible
    # GPUs (or ARCCTL_DATA_PARALLEL=2 on CPU) the SFT job relaunches itself data-parallel.
    if args.cpu:
        env1, env2 = dict(env, ARCCTL_DATA_PARALLEL="1"), dict(env, ARCCTL_DATA_PARALLEL="2")
    else:
        env1, env2 = dict(env, CUDA_VISIBLE_DEVICES="0"), dict(env, CUDA_VISIBLE_DEVICES="0,1")
    t1 = run([sys.executable, "-m", "trainer", "run", str(one)], env1, work / "1gpu.log")
    t2 = run([sys.executable, "-m", "trainer", "run", str(two)], env2, work / "2gpu.log")
    l1, s1 = losses(one)
    l2, s2 = losses(two)
    steps = sorted(set(l1) & set(l2))
    if not steps:
        sys.exit("no common logged steps: see the logs in " + str(work))
    rel = [abs(l1[s] - l2[s]) / max(abs(l1[s]), 1e-8) for s in steps]
    print(
        f"\nSFT loss, 1 vs 2 {'CPU processes' if args.cpu else 'GPUs'} (same global batch "
        f"{args.batch * 2 * args.accum}), model {args.model}"
    )
    print(f"{'step':>5} {'loss 1':>10} {'loss 2':>10} {'rel diff':>9}")
    for s, r in zip(steps, rel):
        print(f"{s:>5} {l1[s]:>10.4f} {l2[s]:>10.4f} {100 * r:>8.2f}%")
    mean_rel, max_rel = sum(rel) / len(rel), max(rel)
    ok = mean_rel <= args.tolerance
    if s2.get("world_size") != 2:
        print(f"WARNING: the 2-process run reports world_size={s2.get('world_size')}: not data parallel")
    sps1, sps2 = s1.get("train_samples_per_second"), s2.get("train_samples_per_second")
    print()
    print("| setup | wall s | train samples/s | ratio vs 1 |")
    print("|---|---|---|---|")
    print(f"| 1 process (world size {s1.get('world_size')}) | {t1:.1f} | {sps1 or 0:.2f} | 1.00 |")
    ratio = (sps2 / sps1) if sps1 and sps2 else float("nan")
    how = "torchrun gloo DDP" if args.cpu else "accelerate DDP"
    print(f"| 2 processes ({how}, world size {s2.get('world_size')}) | {t2:.1f} | {sps2 or 0:.2f} | {ratio:.2f} |")
    print(
        f"\nloss match: mean rel diff {100 * mean_rel:.2f}%, max {100 * max_rel:.2f}% "
        f"-> {'MATCH' if ok else 'MISMATCH'} (tolerance {100 * args.tolerance:.1f}% mean)"
    )
    print(f"run dirs: {one} {two}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
