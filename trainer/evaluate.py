"""Eval jobs (`python -m trainer eval SPEC.json`): n predictions per task, executed, scored.

For each task: n prompts, each on a randomly augmented copy of the task (the first one plain),
one completion each; the program is run in the sandbox on the augmented inputs and its outputs are
mapped back with `invert_grid`, so every prediction is scored against the original task.
Scores and metrics come from `jobs.evalmetrics` (pure functions, the same the console uses).

It scales to hundreds of predictions per task: predictions are generated in chunks of
`save_every`, each chunk executed, scored and appended to predictions.jsonl at once, and only a
small score summary per prediction stays in memory. A killed eval started again on the same run
dir (same parameters) resumes after the last complete chunk.

Each prediction has its own seed (from the job seed, the task and the sample number), and with
`sampling` groups its own temperature. With `refine_dataset`, the prompts are refine prompts
(an earlier program and its feedback) and the metrics document also holds the metrics of the
earlier programs (`refine_before`), for a before/after table in `arcctl compare`.

Writes into the run dir:
  eval/predictions.jsonl   one line per prediction (completion, program, outputs, scores)
  eval/progress.json       the parameters the predictions were made with (resume check)
  eval/metrics.json        aggregate + per-task metrics, pass@k, error counts, task_tests
  <checkpoint>/eval/<dataset>.json  a copy next to the checkpoint scored, for `arcctl compare`
plus the usual events.jsonl (started / stopped / error) and one metrics.jsonl line.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from jobs import evalmetrics, rundir
from jobs.compare import checkpoint_metrics_name
from jobs.progress import ProgressTracker
from jobs.rundir import CHECKPOINT_PREFIX, EV_STOPPED, JsonlWriter
from jobs.kaggle_submission import EVAL_DIR, METRICS_FILE, PREDICTIONS_FILE
from jobs.predictions import PredictionError, ResumedPrediction, check_prediction
from trainer.runfiles import check_appendable

PROGRESS_FILE = "progress.json"
# What a prediction keeps in memory after its line is written: enough for every metric.
SLIM_KEYS = (
    "task_id",
    "error",
    "truncated",
    "n_tokens",
    "valid_code",
    "valid_outputs",
    "fingerprint",
    "train_correct",
    "train_pixel",
    "test_correct",
    "test_pixel",
)


@dataclass
class Planned:
    task: Any  # trainer.data.Task (original)
    sample: int
    test_index: int
    aug: Any  # trainer.augment.Augmentation
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    attempt: Any = None  # jobs.refine.Attempt for refine prompts
    attempt_index: int | None = None

    @property
    def key(self) -> tuple:
        return (self.task.task_id, self.attempt_index, self.sample)


def sample_seed(seed: int, task_id: str, sample: int, attempt_index: int | None = None) -> int:
    """A seed of its own for each prediction, stable across runs and resumes."""
    h = hashlib.blake2b(f"{seed}:{task_id}:{attempt_index}:{sample}".encode(), digest_size=4)
    return int.from_bytes(h.digest(), "big")


def groups_of(params: Any) -> list[tuple[int, float, float]]:
    """(n, temperature, top_p) per sampling group; one group without `sampling`."""
    groups = getattr(params, "sampling", None)
    if groups:
        return [(g.n, g.temperature, g.top_p) for g in groups]
    return [(params.n_predictions, params.temperature, params.top_p)]


def plan(
    tasks: Sequence[Any], n: int, use_augmentation: bool, seed: int, groups=None, attempts: Sequence[Any] | None = None
) -> list[Planned]:
    """n predictions per task (or per refine attempt); sample 0 unaugmented, the rest with random
    augmentations (drawn from the prediction's own seed); the prompt's test input cycles over the
    task's test inputs; sample j belongs to the sampling group its index falls in."""
    from trainer.augment import Augmentation, random_augmentation

    groups = groups or [(n, 1.0, 1.0)]
    per_sample = [(t, p) for g_n, t, p in groups for _ in range(g_n)]
    out = []
    for k, task in enumerate(tasks):
        attempt = attempts[k] if attempts is not None else None
        k_index = k if attempts is not None else None
        for j, (temperature, top_p) in enumerate(per_sample):
            s = sample_seed(seed, task.task_id, j, k_index)
            if attempt is not None:  # the earlier program is in the task's own frame
                aug, test_index = Augmentation.identity(), attempt.test_index
            else:
                aug = random_augmentation(random.Random(s)) if use_augmentation and j > 0 else Augmentation.identity()
                test_index = j % len(task.test)
            out.append(Planned(task, j, test_index, aug, temperature, top_p, s, attempt, k_index))
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


def execute(
    planned: Sequence[Planned], completions: Sequence[Any], sandbox: Any, prefix: str | None = None
) -> list[dict[str, Any]]:
    """Prediction records (without scores): program, error kind, outputs in the original frame."""
    from trainer.extract import extract_program, too_long
    from trainer.prompts import ASSISTANT_PREFIX

    prefix = ASSISTANT_PREFIX if prefix is None else prefix
    programs = [extract_program(c.text, prefix) for c in completions]
    refused = {i: why for i, p in enumerate(programs) if (why := too_long(p))}
    runnable = [i for i, p in enumerate(programs) if p is not None and i not in refused]
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
            "task_id": pl.task.task_id,
            "sample": pl.sample,
            "test_index": pl.test_index,
            "augmentation": pl.aug.to_dict(),
            "temperature": pl.temperature,
            "seed": pl.seed,
            "completion": comp.text,
            "n_tokens": comp.n_tokens,
            "truncated": comp.truncated,
            "code": prog,
            "error": None,
            "detail": "",
            "train_outputs": None,
            "test_outputs": None,
        }
        if pl.attempt_index is not None:
            rec["attempt"] = pl.attempt_index
        if prog is None:
            rec.update(error=evalmetrics.NO_CODE, detail="no python code in the completion")
        elif i in refused:
            rec.update(error=evalmetrics.PARSE, detail=refused[i])
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


def score_records(records: list[dict[str, Any]], truth: dict[str, dict[str, Any]]) -> None:
    """Attach the per-prediction scores to the records (in place)."""
    for rec, s in zip(records, evalmetrics.score_predictions(records, truth)):
        rec.update(s)


def score_and_aggregate(records: list[dict[str, Any]], tasks: Sequence[Any], ks=None) -> dict[str, Any]:
    """Attach per-prediction scores to the records (in place) and return the metrics document."""
    truth = truth_of(tasks)
    score_records(records, truth)
    return evalmetrics.metrics_from_scored(records, records, truth, ks)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


def _config_key(params: Any) -> str:
    """What the predictions depend on: a resume continues only a run made with the same values."""
    keep = {
        k: v
        for k, v in params.model_dump(mode="json").items()
        if k
        not in (
            "n_jobs",
            "sandbox_timeout_s",
            "sandbox_memory_mb",
            "batch_size",
            "gpu_memory_utilization",
            "save_every",
            "wandb",
            "use_vllm",
        )
    }
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def _resume(ev: Path, params: Any, log) -> tuple[dict[tuple, dict[str, Any]], bool]:
    """(slim records already done by key, resumed?). Predictions made with other parameters, or
    without a progress file, are replaced; a torn last line (killed mid-write) is cut off."""
    pred_path, prog_path = ev / PREDICTIONS_FILE, ev / PROGRESS_FILE
    key = _config_key(params)
    check_appendable(pred_path)  # a FIFO held the job at its first read, a device never ended
    try:
        progress = rundir.loads(rundir.read_regular_text(prog_path))
        same = isinstance(progress, dict) and progress.get("config") == key
    except (OSError, ValueError):
        same = False
    done: dict[tuple, dict[str, Any]] = {}
    if same and pred_path.exists():
        good = 0
        with open(pred_path, "rb") as f:
            for n, line in enumerate(iter(lambda: f.readline(rundir.MAX_LINE_BYTES), b""), 1):
                if not line.endswith(b"\n"):
                    break  # torn by a kill (or past any prediction's size): predicted again
                try:
                    rec = rundir.loads(line)
                except ValueError:
                    break
                # a complete line the job did not write as it is (edited, merged, another tool's)
                # was a KeyError/TypeError here or in the metrics after every prediction was made
                try:
                    rec = check_prediction(rec, f"{pred_path}:{n}", ResumedPrediction)
                except PredictionError as e:
                    raise PredictionError(f"{e}; the job resumes from this file: fix or remove that line") from None
                done[(rec["task_id"], rec["attempt"], rec["sample"])] = {k: rec.get(k) for k in SLIM_KEYS}
                good += len(line)
        with open(pred_path, "r+b") as f:
            f.truncate(good)
        log(f"resuming: {len(done)} predictions already in {pred_path}")
        return done, True
    pred_path.unlink(missing_ok=True)  # a rerun with other parameters replaces, never mixes
    _write_json(prog_path, {"config": key})
    return done, False


def chunks(items: Sequence[Planned], size: int) -> Iterator[list[Planned]]:
    """Consecutive chunks of at most `size`, split where the sampling settings change (one
    generate call per temperature)."""
    chunk: list[Planned] = []
    for it in items:
        if chunk and (len(chunk) >= size or (it.temperature, it.top_p) != (chunk[0].temperature, chunk[0].top_p)):
            yield chunk
            chunk = []
        chunk.append(it)
    if chunk:
        yield chunk


def _progress_line(tracker: ProgressTracker, done: int, total: int, tasks: int, now: float) -> str:
    """`120/400 predictions (100 tasks)  1.5 predictions/s  ETA 3m`: speed smoothed as the
    console smooths training steps (jobs.progress)."""
    tracker.feed([{"step": done, "time": now}])
    prog = tracker.estimate({"max_steps": total})
    line = f"{done}/{total} predictions ({tasks} tasks)"
    if prog.steps_per_s:
        line += f"  {prog.steps_per_s:.3g} predictions/s  ETA {prog.eta_text()}"
    return line


def _generate(generator: Any, prompts: list[str], chunk: list[Planned], params: Any) -> list[Any]:
    kwargs: dict[str, Any] = {"seeds": [pl.seed for pl in chunk]}
    penalties = (getattr(params, "frequency_penalty", 0.0), getattr(params, "presence_penalty", 0.0))
    if any(penalties):
        kwargs["penalties"] = penalties
    return generator.generate(
        prompts, params.max_new_tokens, chunk[0].temperature, chunk[0].top_p, chunk[0].seed, **kwargs
    )


def run_eval(params: Any, run_dir: str | Path, generator: Any = None, sandbox: Any = None, log=print) -> dict[str, Any]:
    """The eval job minus process concerns; `generator`/`sandbox` may be passed in (tests)."""
    import contextlib

    from trainer.encoders import get_encoder
    from trainer.prompts import load_prompter
    from trainer.task_select import select_tasks

    run_dir = Path(run_dir)
    prompter = load_prompter(getattr(params, "prompt_template", None))  # errors before the model loads
    attempts = None
    if getattr(params, "refine_dataset", None):
        from trainer.refine import refine_tasks

        tasks, attempts = refine_tasks(params)
    else:
        tasks = select_tasks(params.dataset, params.max_tasks, params.task_ids)
    unique_tasks = list({t.task_id: t for t in tasks}.values())
    truth = truth_of(unique_tasks)
    encoder = get_encoder(params.grid_encoder)
    planned = plan(tasks, params.n_predictions, params.use_data_augmentation, params.seed, groups_of(params), attempts)
    ev = run_dir / EVAL_DIR
    ev.mkdir(parents=True, exist_ok=True)
    done, resumed = _resume(ev, params, log)
    todo = [pl for pl in planned if pl.key not in done]
    t_gen = t_exec = 0.0
    with contextlib.ExitStack() as stack:
        if sandbox is None and todo:
            from trainer.sandbox import Sandbox

            # started before the model loads: a broken common_module fails at once
            sandbox = stack.enter_context(
                Sandbox(
                    workers=params.n_jobs,
                    timeout_s=params.sandbox_timeout_s,
                    memory_mb=params.sandbox_memory_mb,
                    common_module=params.common_module,
                )
            )
        if generator is None and todo:
            from trainer.generation import make_generator

            generator = make_generator(params)
        writer = JsonlWriter(ev / PREDICTIONS_FILE)
        tracker = ProgressTracker()
        tracker.feed([{"step": len(done), "time": time.time()}])
        try:
            for chunk in chunks(todo, params.save_every):
                prompts = [
                    prompter.text(pl.aug.apply_task(pl.task), encoder, generator.tokenizer, pl.test_index, pl.attempt)
                    for pl in chunk
                ]
                t0 = time.time()
                completions = _generate(generator, prompts, chunk, params)
                t1 = time.time()
                records = execute(chunk, completions, sandbox, prompter.prefix)
                score_records(records, truth)
                t_gen, t_exec = t_gen + t1 - t0, t_exec + time.time() - t1
                for pl, rec in zip(chunk, records):
                    writer.write(rec)
                    done[pl.key] = {k: rec.get(k) for k in SLIM_KEYS}
                log(_progress_line(tracker, len(done), len(planned), len(tasks), time.time()))
        finally:
            writer.close()
    slim = [done[pl.key] for pl in planned]
    doc = evalmetrics.metrics_from_scored(slim, slim, truth)
    doc = {
        "dataset": params.dataset,
        "model_path": params.model_path,
        "adapter_path": params.adapter_path,
        "n_predictions": params.n_predictions,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "sampling": [{"n": n, "temperature": t, "top_p": p} for n, t, p in groups_of(params)],
        "use_data_augmentation": params.use_data_augmentation,
        "backend": "vllm" if params.use_vllm else "transformers",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "resumed": resumed,
        "timing_s": {"generation": round(t_gen, 3), "execution": round(t_exec, 3)},
        "truncated_ratio": sum(bool(r["truncated"]) for r in slim) / len(slim),
        "mean_tokens": sum(r["n_tokens"] or 0 for r in slim) / len(slim),
        "task_tests": {t.task_id: len(t.test) for t in unique_tasks},
        **doc,
    }
    if attempts is not None:
        from trainer.refine import before_metrics

        doc["refine_dataset"] = params.refine_dataset
        doc["refine_before"] = before_metrics(attempts, truth)
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
        log(
            "pass@k: "
            + ", ".join(f"{k}={100 * v:.2f}%" for k, v in agg["pass_at_k"].items())
            + (f" (unsupported k: {agg['pass_at_k_unsupported']})" if agg.get("pass_at_k_unsupported") else "")
        )


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
    files.started(
        kind="eval", n_predictions=params.n_predictions, dataset=params.dataset, adapter_path=params.adapter_path
    )
    doc = run_eval(params, run_dir)
    agg = doc["aggregate"]
    files.metric(0, {f"eval/{k}": v for k, v in agg.items() if isinstance(v, (int, float))})
    files.event(EV_STOPPED, reason="completed", **{k: agg.get(k) for k in ("n_tasks", "is_correct", "pass_rate")})
    print_table(doc, spec.name)
    return 0
