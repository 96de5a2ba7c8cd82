"""eval/predictions.jsonl records, checked field by field before `submission build` or
`refine-data` uses them.

The trainer writes one object per sampled program (trainer/evaluate.py); a file edited by hand,
merged from elsewhere or written by another tool may hold a field of the wrong type. Ranking and
refine records used to meet it as a TypeError or pydantic traceback deep in the build; now it is
one error naming the file, the line and the field. Fields not read here are kept as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Iterator

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobs.errors import JobsError
from jobs.rundir import loads

# the largest test_index / sample we take: ARC tasks have a handful of test inputs
_INDEX = Annotated[int, Field(ge=0, le=2**31)]
_SCORE = Annotated[float, Field(ge=0, le=1)]


class PredictionError(JobsError):
    pass


class Prediction(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    task_id: str = Field(min_length=1)
    sample: _INDEX | None = None
    test_index: _INDEX | None = None
    code: str | None = None
    error: str | None = None
    detail: str | None = None
    train_outputs: list[Any] | None = None
    test_outputs: list[Any] | None = None
    train_correct: list[bool] | None = None
    train_pixel: list[_SCORE] | None = None
    test_correct: list[bool] | None = None


class ResumedPrediction(BaseModel):
    """What an eval job takes back from its own predictions.jsonl when it resumes: the key of the
    prediction and every field its metrics are computed from (trainer.evaluate.SLIM_KEYS), in
    exactly the types it writes them (strict: no "0" for 0, no 1 for true)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)

    task_id: str = Field(min_length=1)
    sample: _INDEX
    attempt: _INDEX | None = None
    error: str | None
    truncated: bool
    n_tokens: Annotated[int, Field(ge=0)]
    valid_code: bool
    valid_outputs: bool
    fingerprint: str | None
    train_correct: list[bool]
    train_pixel: list[_SCORE]
    test_correct: list[bool] | None
    test_pixel: list[_SCORE] | None


def check_prediction(rec: Any, where: str, model: type[BaseModel] = Prediction) -> dict[str, Any]:
    """The record with its known fields in their types; PredictionError naming `where` and the field."""
    if not isinstance(rec, dict):
        raise PredictionError(f"{where}: not a prediction (expected an object, got {type(rec).__name__})")
    try:
        return model.model_validate(rec).model_dump()
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "record"
        got = "" if err["type"] == "missing" else f" (got {_short(err.get('input'))})"
        raise PredictionError(f"{where}: {field}: {err['msg']}{got}") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_predictions(path: str | Path, skip_unparseable: bool = False) -> Iterator[dict[str, Any]]:
    """Each prediction of the file, checked. A line that is not JSON is an error naming the line,
    or skipped with `skip_unparseable` (the torn last line of an eval that was stopped)."""
    from jobs.runfs import open_regular_binary

    with open_regular_binary(path) as f:  # a FIFO fails at once instead of blocking
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = loads(line)
            except ValueError as e:
                if skip_unparseable:
                    continue
                raise PredictionError(f"{path}:{n}: not valid JSON ({getattr(e, 'msg', e)})") from None
            yield check_prediction(rec, f"{path}:{n}")
