"""HER on toy targets: epochs to solve each target, with and without the low-temperature
exploitation group, from the synthetic-SFT tiny model of the demo pipeline.

Stages (each a real job in its own run dir under --out, `python -m trainer run`):
  sft     build the tiny model and warm-start it on synthetic tasks (full fine-tuning)
  her     one HER job per sampling mix on the toy ladder (toy:5):
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
    # CPU check of the script itself (2-core VM: a few minutes)
    python benchmarks/her_gpu.py --preset cpu --out /tmp/her-cpu
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
# cpu: plumbing only, the 64x2 model does not write programs after this little SFT.
# gpu: the demo pipeline's GPU model and warm start (60% valid code after 600 steps there).
PRESETS = tiny_presets(
    {
        "sft_steps": (40, 1500),
        "targets": ("toy:1", "toy:5"),
        "her_epochs": (2, 10),
        "scale": (0.05, 1.0),
        "tokens": (96, 384),
        "keep": (8, 32),
        "lr": (1e-3, 5e-4),
        "lora_r": (8, 32),
        "batch": (4, 8),
    }
)


def write_spec(kind: str, run_dir: Path, params: dict) -> Path:
    from jobs.spec import JobSpec

    return JobSpec(kind=kind, name=run_dir.name, template=kind, params=params, run_dir=str(run_dir)).write()


def run_job(name: str, target: Path, log: Path, env: dict) -> float:
    return run_logged(name, [sys.executable, "-m", "trainer", "run", str(target)], log, env, append=True)


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
        **synthetic_sft_params(str(model), cfg, use_lora=False, save_steps=cfg["sft_steps"]),
        grid_encoder="digits",
        seed=0,
        max_seq_length=8192,
    )
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
            grid_encoder="digits",
            seed=0,
            max_seq_length=8192,
            batch_size=max(g["n"] for g in groups),
            n_jobs=min(16, os.cpu_count() or 2),
            sandbox_timeout_s=2.0,
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
        "\n| run | epochs | solved | sampling s | execution s | fine-tuning s | s per epoch |\n|---|---|---|---|---|---|---|"
    )
    totals = {}
    for mix, run in runs:
        rows = [r for r in read_jsonl(run / "metrics.jsonl") if "her/epoch" in r]
        split = [sum(r.get(f"her/time_{k}") or 0 for r in rows) for k in ("sampling", "execution", "finetune")]
        solved = sum(1 for t in table.tasks if (c := table.cells.get((t, f"{mix} exploitation group"))) and c.solved_at)
        totals[mix] = len(rows)
        print(
            f"| {mix} | {len(rows)} | {solved}/{len(table.tasks)} | {split[0]:.1f} | {split[1]:.1f} | {split[2]:.1f} | "
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
