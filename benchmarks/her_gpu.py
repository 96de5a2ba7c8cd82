"""HER on toy targets: epochs to solve each target, with and without the low-temperature
exploitation group, from the synthetic-SFT tiny model of the demo pipeline.

Stages (each a real job in its own run dir under --out, `python -m trainer run`):
  sft     build the tiny model and warm-start it on synthetic tasks, half of them drawing tasks
          (the toy targets' family, never a target; full fine-tuning)
  her     one HER job per sampling mix on the toy ladder (toy:5; the cpu preset: four easy targets):
            with     8 programs at temperature 0.1 + 128 at 0.9 (exploitation + exploration)
            without  136 programs at 0.9 (the same number of samples, exploration only)
  report  epochs to solve per target and run (jobs.compare.build_her_table), the time split,
          and the total epochs of `with` relative to `without` (the baseline)
A stage that was cut short (e.g. by a 10-minute device call) resumes where it stopped when run
again with the same --out: every HER epoch is a checkpoint.

    # H200, from the repo root (each line fits a 10-minute call; rerun a line to continue it)
    python benchmarks/her_gpu.py --preset gpu --out /tmp/her --stage sft
    python benchmarks/her_gpu.py --preset gpu --out /tmp/her --stage her --mix with
    python benchmarks/her_gpu.py --preset gpu --out /tmp/her --stage her --mix without
    python benchmarks/her_gpu.py --preset gpu --out /tmp/her --stage report
    # the sampling path: --set generation_backend=merged-cudagraph (default auto, see trainer/her.py);
    # a spec already written keeps its own (rerun with a fresh --out, or the stage resumes as it was)
    # CPU, small scale (2-core VM: SFT ~35 min under load, one thread is faster there)
    OMP_NUM_THREADS=1 python benchmarks/her_gpu.py --preset cpu --out /tmp/her-cpu
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.demo_pipeline import with_overrides  # noqa: E402
from benchmarks.run_params import job_env, run_logged, synthetic_sft_params, tiny_presets  # noqa: E402

MIXES = {
    "with": [{"n": 8, "temperature": 0.1}, {"n": 128, "temperature": 0.9}],
    "without": [{"n": 136, "temperature": 0.9}],
}
# Warm start: the demo pipeline's synthetic SFT with `drawing_share` of its tasks replaced by
# drawing tasks (trainer.synthetic.drawing_tasks: blank canvas -> squares or lines drawn at explicit
# coordinates; the toy targets' family, never their instances). Without them the 384x6 model solved
# no toy target in 10 epochs (RESULTS.md). Grids are shown as colour names, one token per cell, so
# a column is a count of tokens; the tiny tokenizer merges digit runs ("0802010" -> "080", "20",
# "10") and a digit row's columns cannot be read off its tokens.
# cpu: a small model and the easiest targets, a few minutes on the 2-core VM (the RESULTS.md runs).
# gpu: the demo pipeline's GPU model, 3000 SFT steps on 8000 tasks.
PRESETS = tiny_presets(
    {
        "sft_steps": (300, 3000),
        "sft_tasks": (1500, 8000),
        "drawing_share": (0.5, 0.5),
        "drawing_side": (10, 30),
        "encoder": ("color_names", "color_names"),
        "sft_seq_length": (768, 4096),
        "targets": ("toy", "toy:5"),
        "task_ids": ("1-vertical-lines,2-vertical-lines,1-squares,2-squares", ""),
        "her_epochs": (4, 10),
        "scale": (0.15, 1.0),
        "tokens": (160, 640),  # a 25-square drawing program is ~600 tokens
        "keep": (8, 32),
        "lr": (1e-3, 5e-4),
        "lora_r": (8, 32),
        "batch": (4, 8),
        # trainer/fast_generation.py; auto: plain generate on a CPU, merged-cudagraph on a GPU
        "generation_backend": ("auto", "auto"),
    }
)


def write_spec(kind: str, run_dir: Path, params: dict) -> Path:
    from jobs.spec import JobSpec

    return JobSpec(kind=kind, name=run_dir.name, template=kind, params=params, run_dir=str(run_dir)).write()


def run_job(name: str, target: Path, log: Path, env: dict) -> float:
    return run_logged(name, [sys.executable, "-m", "trainer", "run", str(target)], log, env, append=True)


def warm_start_file(cfg: dict, work: Path) -> Path:
    """The SFT tasks with their programs (trainer.synthetic.warm_start_tasks), one JSON line each."""
    from trainer.synthetic import warm_start_tasks

    path = work / "warm-start.jsonl"
    pairs = warm_start_tasks(cfg["sft_tasks"], seed=0, drawing_share=cfg["drawing_share"], max_side=cfg["drawing_side"])
    lines = (json.dumps({"task_id": t.task_id, **t.to_dict(), "program": p}) for t, p in pairs)
    path.write_text("\n".join(lines) + "\n")
    return path


def stage_sft(cfg: dict, work: Path, env: dict) -> Path:
    final = work / "sft" / "final"
    if (final / "config.json").exists():
        print(f"== SFT: {final} exists, kept")
        return final
    from trainer import tiny_model

    model = work / "tiny-model"
    if not (model / "config.json").exists():
        tiny_model.build(model, hidden_size=cfg["hidden"], layers=cfg["layers"], heads=cfg["heads"])
    sft = work / "sft"
    params = dict(
        # checkpoints along the way: an SFT cut short by a 10-minute call resumes from the last
        **synthetic_sft_params(str(model), cfg, use_lora=False, save_steps=max(1, cfg["sft_steps"] // 4)),
        grid_encoder=cfg["encoder"],
        seed=0,
        max_seq_length=cfg["sft_seq_length"],
    )
    if cfg["drawing_share"] > 0:
        params.update(synthetic_tasks=0, dataset=str(warm_start_file(cfg, work)))
    # a restarted SFT continues from its own newest checkpoint
    target = sft if (sft / "spec.json").exists() else write_spec("sft", sft, params)
    run_job("SFT", target, work / "sft.log", env)
    return final


def stage_her(cfg: dict, work: Path, env: dict, mix: str) -> Path:
    run = work / f"her-{mix}"
    if not (run / "spec.json").exists():
        model = work / "sft" / "final"
        if not (model / "config.json").exists():
            sys.exit(f"{model}: no warm-started model yet; run --stage sft first")
        groups = [{"n": max(1, round(g["n"] * cfg["scale"])), "temperature": g["temperature"]} for g in MIXES[mix]]
        params = dict(
            model_path=str(model),
            dataset=cfg["targets"],
            task_ids=[t for t in cfg["task_ids"].split(",") if t] or None,
            sampling=groups,
            her_epochs=cfg["her_epochs"],
            keep_programs=cfg["keep"],
            max_new_tokens=cfg["tokens"],
            learning_rate=cfg["lr"],
            lora_r=cfg["lora_r"],
            lora_alpha=cfg["lora_r"],
            per_device_train_batch_size=cfg["batch"],
            gradient_accumulation_steps=1,
            max_grad_norm=1.0,
            grid_encoder=cfg["encoder"],
            seed=0,
            max_seq_length=8192,
            batch_size=max(g["n"] for g in groups),
            n_jobs=min(16, os.cpu_count() or 2),
            sandbox_timeout_s=2.0,
            generation_backend=cfg["generation_backend"],
        )
        write_spec("her", run, params)
    run_job(f"HER ({mix})", run, work / f"her-{mix}.log", env)
    return run


def report(work: Path) -> None:
    from jobs.compare import build_her_table
    from jobs.rundir import read_jsonl

    runs = [(mix, work / f"her-{mix}") for mix in MIXES if (work / f"her-{mix}" / "spec.json").exists()]
    if not runs:
        sys.exit(f"{work}: no HER runs yet")
    table = build_her_table([str(r) for _, r in runs], labels=[f"{m} exploitation group" for m, _ in runs])
    print("\n### Epochs to solve each toy target (`>N`: not solved in N epochs)\n")
    print(table.to_markdown())
    print(
        "\n| run | sampling backend | epochs | solved | sampling s | execution s | fine-tuning s | s per epoch |"
        "\n|---|---|---|---|---|---|---|---|"
    )
    totals = {}
    for mix, run in runs:
        rows = [r for r in read_jsonl(run / "metrics.jsonl") if "her/epoch" in r]
        split = [sum(r.get(f"her/time_{k}") or 0 for r in rows) for k in ("sampling", "execution", "finetune")]
        solved = sum(1 for t in table.tasks if (c := table.cells.get((t, f"{mix} exploitation group"))) and c.solved_at)
        totals[mix] = len(rows)
        started = [e for e in read_jsonl(run / "events.jsonl") if "started" in (e.get("event"), e.get("type"))]
        backend = (started[-1].get("generation_backend") if started else None) or "?"
        print(
            f"| {mix} | {backend} | {len(rows)} | {solved}/{len(table.tasks)} | {split[0]:.1f} | {split[1]:.1f} | {split[2]:.1f} | "
            f"{sum(split) / max(1, len(rows)):.1f} |"
        )
    if len(totals) == 2 and totals["without"]:
        print(
            f"\nepochs run, with / without the exploitation group: {totals['with'] / totals['without']:.2f} "
            "(epochs of unsolved targets count in full)"
        )
    print(f"\nagain: arcctl compare {' '.join(str(r) for _, r in runs)}")
    (work / "her_table.json").write_text(json.dumps(table.to_json(), indent=1) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    ap.add_argument("--out", required=True, help="work dir (kept between calls: stages resume)")
    ap.add_argument("--stage", choices=["all", "sft", "her", "report"], default="all")
    ap.add_argument("--mix", choices=[*MIXES, "both"], default="both", help="--stage her: which sampling mix")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset value")
    args = ap.parse_args()
    cfg = with_overrides(PRESETS[args.preset], args.set)
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    env = job_env(TOKENIZERS_PARALLELISM="false")
    if args.stage in ("all", "sft"):
        stage_sft(cfg, work, env)
    if args.stage in ("all", "her"):
        for mix in MIXES if args.mix == "both" else [args.mix]:
            stage_her(cfg, work, env, mix)
    if args.stage in ("all", "report"):
        report(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
