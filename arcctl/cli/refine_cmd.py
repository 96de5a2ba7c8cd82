"""`arcctl refine-data EVAL_RUN... -o FILE`: eval predictions -> second-turn (refine) tasks.

Reads each run's spec.json (for its dataset) and eval/predictions.jsonl; writes the refine file
of jobs.refine. Only pure-python jobs modules are imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, List, Optional

import typer

from arcctl.cli.local_runs import local_path
from arcctl.cli.errors import UserError, user_errors
from arcctl.cli.progress_out import progress
from arcctl.cli.numbers import count_option
from arcctl.cli.terminal_text import shown


def _predictions(path: Path) -> Iterator[dict[str, Any]]:
    """One prediction per line, each field checked; a line that is not a JSON object with the
    fields of a prediction is an error naming file, line and field."""
    from jobs.predictions import read_predictions

    return read_predictions(path)


def _counted(records: Iterator[dict[str, Any]], advance: Any) -> Iterator[dict[str, Any]]:
    for rec in records:
        advance(1)
        yield rec


def _eval_run(run: str) -> tuple[str, Path]:
    """(dataset, predictions file) of one eval run dir."""
    from jobs.spec import JobSpec
    from jobs.kaggle_submission import EVAL_DIR, PREDICTIONS_FILE

    d = Path(run)
    preds = d / EVAL_DIR / PREDICTIONS_FILE
    if not preds.is_file():
        raise UserError(
            f"{run}: no {EVAL_DIR}/{PREDICTIONS_FILE} (not an eval run, or it has not produced predictions)"
        )
    try:
        spec = JobSpec.read(d)
    except (OSError, ValueError) as e:
        raise UserError(f"{run}: cannot read spec.json ({str(e).splitlines()[0]})") from None
    if spec.kind != "eval":
        raise UserError(f"{run}: kind is {spec.kind!r}, not an eval run")
    return str(spec.params.get("dataset")), preds


def register(app: typer.Typer) -> None:
    @app.command("refine-data")
    def refine_data(
        runs: List[str] = typer.Argument(..., help="eval run dirs (or their jobs) whose predictions to refine"),
        out: str = typer.Option(..., "-o", "--out", help="refine file to write (.json or .json.gz)"),
        per_task: Optional[int] = count_option(None, "--per-task", lo=1, help="at most K distinct programs per task"),
        wrong_only: bool = typer.Option(False, "--wrong-only", help="leave out programs that solve the task"),
    ) -> None:
        """Turn eval predictions into refine tasks: the task, one earlier program and its feedback."""
        with user_errors():
            from jobs import refine

            runs = [local_path(r) for r in runs]  # a path, or a job whose run dir is here
            loaded = [(str(Path(r).absolute()), *_eval_run(r)) for r in runs]
            datasets = {d for _, d, _ in loaded}
            if len(datasets) > 1:
                raise UserError(
                    f"the eval runs answer different datasets ({', '.join(sorted(datasets))}); "
                    "one refine file holds one dataset"
                )
            from jobs.output_file import check_not_read

            reads = [f for r, _, p in loaded for f in (p, Path(r) / "spec.json")]
            check_not_read(Path(out).expanduser(), reads, refine.RefineDataError)
            parent = Path(out).expanduser().absolute().parent
            if not parent.is_dir():  # known before reading any prediction
                raise UserError(f"{out}: cannot write (no directory {parent})")
            with progress("refine-data", unit="predictions") as advance:
                doc = refine.build(
                    ((run, _counted(_predictions(p), advance)) for run, _, p in loaded),
                    loaded[0][1],
                    per_task=per_task,
                    wrong_only=wrong_only,
                )
            refine.write(out, doc)
            tasks = len({r.task_id for r in doc.records})
            typer.echo(
                f"{shown(out)}: {len(doc.records)} records for {tasks} tasks of {shown(doc.dataset)} "
                f"from {len(runs)} eval run(s)"
            )
