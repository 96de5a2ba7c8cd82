"""Eval jobs (`python -m trainer eval SPEC.json`): n predictions per task, executed, scored.

For each task: n prompts, each on a randomly augmented copy of the task (the first one plain),
one completion each; the program is run in the sandbox on the augmented inputs and its outputs are
mapped back with `invert_grid`, so every prediction is scored against the original task.
Scores and metrics come from `jobs.evalmetrics` (pure functions, the same the console uses).

Writes into the run dir:
  eval/predictions.jsonl   one line per prediction (completion, program, outputs, scores)
  eval/metrics.json        aggregate + per-task metrics, pass@k, error counts, task_tests
  <checkpoint>/eval/<dataset>.json  a copy next to the checkpoint scored, for `arcctl compare`
plus the usual events.jsonl (started / stopped / error) and one metrics.jsonl line.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from jobs import evalmetrics
from jobs.compare import checkpoint_metrics_name
from jobs.rundir import CHECKPOINT_PREFIX, EV_STOPPED, JsonlWriter
from jobs.kaggle_submission import EVAL_DIR, METRICS_FILE, PREDICTIONS_FILE


@dataclass
class Planned:
    task: Any  # trainer.data.Task (original)
    sample: int
    test_index: int
    aug: Any  # trainer.augment.Augmentation


def plan(tasks: Sequence[Any], n: int, use_augmentation: bool, seed: int) -> list[Planned]:
    """n predictions per task; sample 0 unaugmented, the rest with random augmentations; the
    prompt's test input cycles over the task's test inputs."""
    from trainer.augment import Augmentation, random_augmentation

    rng = random.Random(seed)
    out = []
    for task in tasks:
        for j in range(n):
            aug = random_augmentation(rng) if use_augmentation and j > 0 else Augmentation.identity()
            out.append(Planned(task, j, j % len(task.test), aug))
    return out


def truth_of(tasks: Sequence[Any]) -> dict[str, dict[str, Any]]:
    return {t.task_id: {"train": [p.output for p in t.train], "test": [p.output for p in t.test]} for t in tasks}


def _invert(aug: Any, grids: list | None) -> list | None:
    if grids is None:
        return None
    try:
        return [aug.invert_grid(g) for g in grids]
    except (ValueError, TypeError, IndexError):
        return None


def execute(planned: Sequence[Planned], completions: Sequence[Any], sandbox: Any) -> list[dict[str, Any]]:
    """Prediction records (without scores): program, error kind, outputs in the original frame."""
    from trainer.extract import extract_program

    programs = [extract_program(c.text) for c in completions]
    runnable = [i for i, p in enumerate(programs) if p is not None]
    results: dict[int, Any] = {}
    if runnable:
        inputs = []
        for i in runnable:
            t = planned[i].aug.apply_task(planned[i].task)
            inputs.append([p.input for p in t.train] + [p.input for p in t.test])
        results = dict(zip(runnable, sandbox.run_many([programs[i] for i in runnable], inputs)))
    records = []
    for i, (pl, comp, prog) in enumerate(zip(planned, completions, programs)):
        n_train = len(pl.task.train)
        rec: dict[str, Any] = {
            "task_id": pl.task.task_id, "sample": pl.sample, "test_index": pl.test_index,
            "augmentation": pl.aug.to_dict(), "completion": comp.text, "n_tokens": comp.n_tokens,
            "truncated": comp.truncated, "code": prog, "error": None, "detail": "",
            "train_outputs": None, "test_outputs": None,
        }
        if prog is None:
            rec.update(error=evalmetrics.NO_CODE, detail="no python code in the completion")
        else:
            r = results[i]
            outs = None if r.error else _invert(pl.aug, list(r.outputs or []))
            if r.error:
                rec.update(error=r.error, detail=(getattr(r, "detail", "") or "")[:500])
            elif outs is None or len(outs) != n_train + len(pl.task.test):
                rec.update(error="invalid_output", detail="outputs are not grids for every input")
            else:
                rec.update(train_outputs=outs[:n_train], test_outputs=outs[n_train:])
        records.append(rec)
    return records


def score_and_aggregate(records: list[dict[str, Any]], tasks: Sequence[Any], ks=None) -> dict[str, Any]:
    """Attach per-prediction scores to the records (in place) and return the metrics document."""
    truth = truth_of(tasks)
    scored = evalmetrics.score_predictions(records, truth)
    for rec, s in zip(records, scored):
        rec.update(s)
    return evalmetrics.metrics_from_scored(records, scored, truth, ks)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


def run_eval(params: Any, run_dir: str | Path, generator: Any = None, sandbox: Any = None,
             log=print) -> dict[str, Any]:
    """The eval job minus process concerns; `generator`/`sandbox` may be passed in (tests)."""
    from trainer.encoders import get_encoder
    from trainer.prompts import build_prompt_text

    run_dir = Path(run_dir)
    from trainer.task_select import select_tasks

    tasks = select_tasks(params.dataset, params.max_tasks, params.task_ids)
    encoder = get_encoder(params.grid_encoder)
    if generator is None:
        from trainer.generation import make_generator

        generator = make_generator(params)
    planned = plan(tasks, params.n_predictions, params.use_data_augmentation, params.seed)
    prompts = [build_prompt_text(pl.aug.apply_task(pl.task), encoder, generator.tokenizer, pl.test_index)
               for pl in planned]
    t0 = time.time()
    completions = generator.generate(prompts, params.max_new_tokens, params.temperature, params.top_p, params.seed)
    t_gen = time.time() - t0
    log(f"generated {len(completions)} completions for {len(tasks)} tasks in {t_gen:.1f}s")
    t1 = time.time()
    if sandbox is None:
        from trainer.sandbox import Sandbox

        with Sandbox(workers=params.n_jobs, timeout_s=params.sandbox_timeout_s,
                     memory_mb=params.sandbox_memory_mb, common_module=params.common_module) as sb:
            records = execute(planned, completions, sb)
    else:
        records = execute(planned, completions, sandbox)
    t_exec = time.time() - t1
    doc = score_and_aggregate(records, tasks)
    doc = {
        "dataset": params.dataset,
        "model_path": params.model_path,
        "adapter_path": params.adapter_path,
        "n_predictions": params.n_predictions,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "use_data_augmentation": params.use_data_augmentation,
        "backend": "vllm" if params.use_vllm else "transformers",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "timing_s": {"generation": round(t_gen, 3), "execution": round(t_exec, 3)},
        "truncated_ratio": sum(r["truncated"] for r in records) / len(records),
        "mean_tokens": sum(r["n_tokens"] for r in records) / len(records),
        "task_tests": {t.task_id: len(t.test) for t in tasks},
        **doc,
    }
    ev = run_dir / EVAL_DIR
    ev.mkdir(parents=True, exist_ok=True)
    pred_path = ev / PREDICTIONS_FILE
    pred_path.unlink(missing_ok=True)  # a rerun replaces, never mixes, predictions
    w = JsonlWriter(pred_path)
    for rec in records:
        w.write(rec)
    w.close()
    _write_json(ev / METRICS_FILE, doc)
    _copy_to_checkpoint(params, doc, log)
    return doc


def _copy_to_checkpoint(params: Any, doc: dict[str, Any], log) -> None:
    """Leave the metrics next to the checkpoint they describe (best effort: it may be read-only)."""
    if not params.adapter_path:
        return
    ckpt = Path(params.adapter_path)
    if not ckpt.name.startswith(CHECKPOINT_PREFIX) or not ckpt.is_dir():
        return
    slim = {k: v for k, v in doc.items() if k != "per_task"}
    try:
        _write_json(ckpt / EVAL_DIR / checkpoint_metrics_name(params.dataset), slim)
    except OSError as e:
        log(f"note: could not write metrics next to {ckpt} ({e.strerror})")


def print_table(doc: dict[str, Any], label: str, log=print) -> None:
    agg = doc["aggregate"]
    cols = [c for c, _ in evalmetrics.TABLE_COLUMNS]
    log("| dataset | experiment | " + " | ".join(cols) + " |")
    log("|" + "---|" * (len(cols) + 2))
    log(f"| {doc['dataset']} | {label} | " + " | ".join(evalmetrics.format_value(c, agg.get(c)) for c in cols) + " |")
    if agg.get("pass_at_k"):
        log("pass@k: " + ", ".join(f"{k}={100 * v:.2f}%" for k, v in agg["pass_at_k"].items())
            + (f" (unsupported k: {agg['pass_at_k_unsupported']})" if agg.get("pass_at_k_unsupported") else ""))


def main(spec: Any, run_dir: str | Path | None = None) -> int:
    """Entry point used by trainer/cli.py for kind=eval; exit codes are trainer.runner's."""
    from trainer import runner

    run_dir = Path(run_dir or spec.run_dir)
    return runner.run_job(lambda files: _run(spec, run_dir, files), run_dir)


def _run(spec: Any, run_dir: Path, files) -> int:
    params = spec.typed_params()
    from trainer.model_loading import check_optional_backends

    check_optional_backends(params)  # use_vllm without vllm: one line naming the extra
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "spec.json").exists():
        spec.write(run_dir)
    files.started(kind="eval", n_predictions=params.n_predictions, dataset=params.dataset,
                  adapter_path=params.adapter_path)
    doc = run_eval(params, run_dir)
    agg = doc["aggregate"]
    files.metric(0, {f"eval/{k}": v for k, v in agg.items() if isinstance(v, (int, float))})
    files.event(EV_STOPPED, reason="completed", **{k: agg.get(k) for k in ("n_tasks", "is_correct", "pass_rate")})
    print_table(doc, spec.name)
    return 0
