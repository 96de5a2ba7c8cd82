"""Refine files: earlier programs and their execution feedback, the data of second-turn (refine) RL.

`arcctl refine-data EVAL_RUN... -o refine.json.gz` builds one from eval runs' predictions; a
`grpo-refine` job trains on it (params.refine_dataset) and an eval job with `refine_dataset`
measures how well a model repairs the programs. Pure Python (pydantic + json), so the console
writes and validates the file without the training dependencies.

Format (gzip-compressed when the name ends in .gz), a JSON object:
    format    "arcctl-refine/1"
    dataset   the data set the programs answer (built-in name or Kaggle file), as the eval ran it
    sources   the eval run dirs the records come from
    records   list of:
      task_id, test_index     the task and the test input the earlier prompt showed
      program                 the earlier program (code only)
      error, message          its sandbox error kind (None: it ran) and message
      pairs                   one per train pair, in order: output (grid or None), correct, pixel_score
      test_outputs            its test outputs (grids or None; never shown in prompts: "before"
                              metrics of a refine evaluation)
      source                  {"run": eval run dir, "sample": prediction number}
Records are ordered by (task_id, source run, sample), so the same inputs give the same file.
"""

from __future__ import annotations

import errno
import gzip
import os
import stat
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jobs.errors import JobsError, quoted, quoted_list
from jobs.evalmetrics import NO_CODE, is_grid
from jobs.rundir import loads

FORMAT = "arcctl-refine/1"
Grid = list[list[int]]


class RefineDataError(JobsError):
    pass


def _check_grid(g: Any) -> Any:
    if g is not None and not is_grid(g):
        raise ValueError("not a grid (a non-empty rectangular list of lists of ints 0-9)")
    return g


class PairFeedback(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    output: Grid | None
    correct: bool
    pixel_score: float = Field(ge=0, le=1)

    @field_validator("output")
    @classmethod
    def _grid(cls, v):
        return _check_grid(v)


class Attempt(BaseModel):
    """One earlier program of one task, with what it did on each train pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str = Field(min_length=1)
    test_index: int = Field(0, ge=0)
    program: str = Field(min_length=1)
    error: str | None = None
    message: str = ""
    pairs: list[PairFeedback]
    test_outputs: list[Grid | None] | None = None
    source: dict[str, Any] = Field(default_factory=dict)

    @field_validator("test_outputs")
    @classmethod
    def _grids(cls, v):
        for g in v or []:
            _check_grid(g)
        return v

    @property
    def solved_train(self) -> bool:
        return self.error is None and bool(self.pairs) and all(p.correct for p in self.pairs)


class RefineFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["arcctl-refine/1"] = FORMAT
    dataset: str = Field(min_length=1)
    sources: list[str] = Field(default_factory=list)
    records: list[Attempt] = Field(min_length=1)


# -- building -----------------------------------------------------------------------------------


def attempt_from_prediction(pred: dict[str, Any], run: str) -> Attempt | None:
    """The refine record of one eval prediction (None when it holds no code to refine)."""
    code = pred.get("code")
    if not code or pred.get("error") == NO_CODE:
        return None
    n_train = len(pred.get("train_correct") or [])
    outs = pred.get("train_outputs")
    correct = pred.get("train_correct") or [False] * n_train
    pixel = pred.get("train_pixel") or [0.0] * n_train
    if pred.get("error") is not None or outs is None:
        pairs = [PairFeedback(output=None, correct=False, pixel_score=0.0) for _ in range(n_train)]
    else:
        pairs = [
            PairFeedback(output=o if is_grid(o) else None, correct=bool(c), pixel_score=float(px))
            for o, c, px in zip(outs, correct, pixel)
        ]
    # a non-grid test output is kept as missing (as a train output is), not a refusal of the record
    test_outputs = [g if is_grid(g) else None for g in pred["test_outputs"]] if pred.get("test_outputs") else None
    return Attempt(
        task_id=pred["task_id"],
        test_index=int(pred.get("test_index") or 0),
        program=code,
        error=pred.get("error"),
        message=(pred.get("detail") or "")[:500],
        pairs=pairs,
        test_outputs=test_outputs,
        source={"run": run, "sample": pred.get("sample")},
    )


def _is_correct(pred: dict[str, Any]) -> bool:
    train = pred.get("train_correct") or []
    test = pred.get("test_correct")
    return pred.get("error") is None and bool(train) and all(train) and (test is None or all(test))


def build(
    runs: Iterable[tuple[str, Iterable[dict[str, Any]]]],
    dataset: str,
    per_task: int | None = None,
    wrong_only: bool = False,
) -> RefineFile:
    """Records from (run dir, predictions) pairs: at most `per_task` per task (distinct programs,
    lowest sample numbers first), without the correct ones when `wrong_only`."""
    found: list[tuple[tuple, Attempt]] = []
    sources = []
    for run_index, (run, predictions) in enumerate(runs):
        sources.append(run)
        for pred in predictions:
            if wrong_only and _is_correct(pred):
                continue
            att = attempt_from_prediction(pred, run)
            if att is not None:
                found.append(((att.task_id, run_index, pred.get("sample") or 0), att))
    found.sort(key=lambda x: x[0])
    records: list[Attempt] = []
    seen: dict[str, set[str]] = {}
    for _, att in found:
        programs = seen.setdefault(att.task_id, set())
        if att.program in programs or (per_task is not None and len(programs) >= per_task):
            continue
        programs.add(att.program)
        records.append(att)
    if not records:
        raise RefineDataError("no predictions with code to refine" + (" (all correct?)" if wrong_only else ""))
    return RefineFile(dataset=dataset, sources=sources, records=records)


# -- matching records with their tasks ----------------------------------------------------------


def select_records(
    doc: RefineFile,
    path: str | Path,
    shapes: dict[str, tuple[int, int]],
    task_ids: list[str] | None = None,
    max_tasks: int | None = None,
) -> list[int]:
    """Indexes of the records a job trains or evaluates on. `shapes` is {task id: (train pairs,
    test inputs)} of the file's data set. Shared by render (which reads the set on this machine)
    and the trainer, so a record that does not fit its task, or a selection that leaves nothing,
    is refused before the job waits in a queue. Every problem names the file and the record."""
    chosen: list[str] = []
    kept: list[int] = []
    wanted = set(task_ids) if task_ids else None
    for i, att in enumerate(doc.records):
        where = f"refine_dataset {path}: record {i} (task {quoted(att.task_id)})"
        shape = shapes.get(att.task_id)
        if shape is None:
            raise RefineDataError(f"{where}: no such task in {doc.dataset}")
        n_train, n_test = shape
        if att.test_index >= n_test:
            raise RefineDataError(f"{where}: test_index {att.test_index}, the task has {n_test} test inputs")
        if len(att.pairs) != n_train:
            raise RefineDataError(f"{where}: {len(att.pairs)} feedback pairs, the task has {n_train} train pairs")
        if att.test_outputs is not None and len(att.test_outputs) != n_test:  # extra outputs scored as correct
            raise RefineDataError(f"{where}: {len(att.test_outputs)} test_outputs, the task has {n_test} test inputs")
        if wanted is not None and att.task_id not in wanted:
            continue
        if att.task_id not in chosen:
            if max_tasks is not None and len(chosen) >= max_tasks:
                continue
            chosen.append(att.task_id)
        kept.append(i)
    if wanted is not None:
        missing = sorted(wanted - {a.task_id for a in doc.records})
        if missing:
            raise RefineDataError(f"task_ids: {quoted_list(missing)} not in refine_dataset {path}")
    if not kept:
        raise RefineDataError(f"refine_dataset {path}: no records left after max_tasks/task_ids")
    return kept


# -- reading and writing ------------------------------------------------------------------------


def write(path: str | Path, doc: RefineFile) -> None:
    from jobs.output_file import write_output

    path = Path(path)
    data = (doc.model_dump_json() + "\n").encode()
    write_output(path, gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data, RefineDataError)


# decompressed: a gzip bomb (10 MB of zeros gzip to 10 KB) was decompressed whole into memory, at
# render and in the trainer; real refine files are a few MB
MAX_FILE_BYTES = 1 << 30


def _read_capped(path: Path) -> bytes:
    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO waits for a writer, /dev/zero never ends
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        raw = (gzip.GzipFile(fileobj=f) if gzipped else f).read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise RefineDataError(f"refine_dataset {path}: more than {MAX_FILE_BYTES >> 20} MiB (decompressed)")
    return raw


def load(path: str | Path) -> RefineFile:
    """The validated file; any problem is one RefineDataError naming the file, record and field."""
    path = Path(path)
    try:
        raw = _read_capped(path)
        doc = loads(raw)  # json.loads raised RecursionError on 100k `[`
    except OSError as e:
        raise RefineDataError(f"refine_dataset {path}: cannot read ({e.strerror or e})") from None
    except (ValueError, EOFError) as e:
        raise RefineDataError(f"refine_dataset {path}: not a (gzipped) JSON file: {e}") from None
    if not isinstance(doc, dict):
        raise RefineDataError(f"refine_dataset {path}: expected a JSON object with format/dataset/records")
    if doc.get("format") != FORMAT:
        raise RefineDataError(
            f"refine_dataset {path}: format {doc.get('format')!r} is not {FORMAT!r} "
            "(write it with `arcctl refine-data`)"
        )
    try:
        return RefineFile.model_validate(doc)
    except ValidationError as e:
        err = e.errors()[0]
        loc = list(err.get("loc", ()))
        where = ".".join(str(x) for x in loc)
        if len(loc) >= 2 and loc[0] == "records":
            rec = doc["records"][loc[1]] if isinstance(doc.get("records"), list) else {}
            tid = rec.get("task_id") if isinstance(rec, dict) else None
            where = (
                f"record {loc[1]}"
                + (f" (task {quoted(tid)})" if tid else "")
                + (": " + ".".join(str(x) for x in loc[2:]) if loc[2:] else "")
            )
        raise RefineDataError(f"refine_dataset {path}: {where}: {err.get('msg')}") from None
