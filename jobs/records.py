"""The run-dir records as types: what the trainer writes to metrics.jsonl, completions.jsonl and
events.jsonl, and the one spelling of each field that readers parse. docs/run-dir.md describes
the same contract for people.

Each type forbids unknown fields, so a writer that adds a field without declaring it here fails
its tests instead of writing something no reader knows. Readers stay tolerant (a run dir may be
damaged or come from an older trainer): they use the field names declared here and treat what is
missing or malformed as absent.
"""

from __future__ import annotations

import json
import math
import os
import stat
from typing import Annotated, Any, Iterator, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from jobs.rundir import (  # noqa: F401 - the names of the run dir, re-exported with its types
    COMPLETIONS,
    ERROR_KINDS,
    EV_CHECKPOINT,
    EV_COLLAPSE,
    EV_ERROR,
    EV_RESUMED,
    EV_ROLLBACK,
    EV_STARTED,
    EV_STOPPED,
    EV_WARNING,
    EVENTS,
    METRICS,
    LocalFS,
    RunFS,
    json_int,
    loads,
)
from jobs.rundir import MAX_LINE_BYTES as _READER_LINE_LIMIT
from jobs.rundir import MAX_STEP as _MAX_STEP

# Bumped when a field changes meaning or spelling; the `started` event carries it.
RUN_DIR_VERSION = 1

ErrorKind = Literal[ERROR_KINDS]  # type: ignore[valid-type]

# `rollback` event statuses. `continued`: the child run dir is written and the same trainer process
# goes on training in it; `refused`: max_rollbacks reached; `failed`: the child could not be built.
ROLLBACK_CONTINUED = "continued"
ROLLBACK_REFUSED = "refused"
ROLLBACK_FAILED = "failed"

Number = Union[int, float, None]
# A step, a count of tokens, an index: readers take only a JSON integer 0..2**63-1 (jobs.rundir.json_step).
Count = Annotated[int, Field(ge=0, le=_MAX_STEP)]
# A HER epoch counts from 1.
Epoch = Annotated[int, Field(ge=1)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricRow(BaseModel):
    """One metrics.jsonl line: the step, wall time, and every logged metric under TRL's own name
    (ours under `arc/`, evaluation's under `eval/`). A value is a number, or null for NaN/inf."""

    model_config = ConfigDict(extra="allow")
    step: Count
    time: float

    @model_validator(mode="after")
    def _metrics_are_numbers(self) -> "MetricRow":
        for key, value in (self.model_extra or {}).items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"metric {key!r} is {value!r}, not a number")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"metric {key!r} is {value}, write null instead")
        return self


class Diagnostics(_Record):
    """Repetition numbers of one completion, over its token ids (jobs.textstats.diagnostics)."""

    unique_token_ratio: float
    ngram3_unique_ratio: float
    ngram3_repeat_max: int
    ngram4_unique_ratio: float
    ngram4_repeat_max: int


class CompletionRecord(_Record):
    """One completions.jsonl line: a sampled completion and what running its program gave."""

    id: str  # "<step>:<index in the generation batch>"
    step: Count
    task_id: str
    augmentation: dict[str, Any] | None  # the transform applied to the task, None for the original
    reward: float  # what the trainer optimised (after reward shaping)
    reward_arc: float | None = None  # the ARC reward before shaping (absent in older run dirs)
    n_tokens: Count
    truncated: bool  # stopped at the length limit, not at EOS
    error: ErrorKind | None
    solved: bool
    pixel_score: float
    correct_train: float  # share of train pairs solved
    correct_test: float | None  # None when the test outputs are unknown
    diag: Diagnostics
    # the program's output grids (train inputs first, then test) in the task's own frame, each as
    # rows of colour digits joined by "|" (jobs.arcgrids); None past its size cap or without outputs
    outputs: list[str | None] | None = None
    completion: str


class HerCompletionRecord(_Record):
    """One completions.jsonl line of a HER job: one of an epoch's best programs (`rank` 0 first)."""

    step: Count
    task_id: str
    epoch: Epoch
    rank: Count
    completion: str
    program: str | None
    reward: float  # the program's pixel score
    pixel_score: float
    solved: bool
    correct_test: Any = None
    temperature: float
    n_tokens: Count
    truncated: bool
    error: str | None
    diag: Diagnostics


class _Event(_Record):
    time: float


class Started(_Event):
    """The job began training (after loading model and data)."""

    event: Literal["started"]
    run_dir_version: int = RUN_DIR_VERSION
    pid: int
    host: str
    argv: list[str]
    kind: str | None = None
    step: Count | None = None  # the step it starts from (0, or a resumed checkpoint's)
    resume_from: str | None = None  # the checkpoint path it resumed from
    bf16: bool | None = None
    # GRPO
    tasks: int | None = Field(None, description="tasks after filtering")
    rows: int | None = Field(None, description="dataset rows: tasks x augmentations")
    prompts_per_step: int | None = None
    backend: Literal["trl", "unsloth"] | None = None
    use_vllm: bool | None = None
    generation_backend: str | None = Field(None, description="the sampling path `auto` resolved to")
    # SFT
    examples: int | None = Field(None, description="training examples")
    eval_examples: int | None = Field(None, description="held-out examples (eval_fraction)")
    world_size: int | None = Field(None, description="data-parallel processes")
    global_batch: int | None = Field(None, description="examples per optimizer step over all processes")
    # eval
    n_predictions: int | None = Field(None, description="programs sampled per task")
    dataset: str | None = None
    adapter_path: str | None = Field(None, description="the LoRA adapter evaluated, if any")
    # HER
    targets: list[str] | None = Field(None, description="the target task ids")
    start_target: int | None = Field(None, description="index of the target a resumed run goes on with")


class CheckpointSaved(_Event):
    event: Literal["checkpoint_saved"]
    step: Count
    path: str


class Stopped(_Event):
    """The job ended without an error."""

    event: Literal["stopped"]
    reason: Literal["completed", "signal", "collapse", "interrupted"]
    signal: str | None = Field(None, description="the stop signal's name (SIGTERM, SIGUSR1, SIGINT)")
    step: Count | None = None
    # Trainer's end-of-training summary
    train_runtime: float | None = None
    train_samples_per_second: float | None = None
    train_steps_per_second: float | None = None
    total_flos: float | None = None
    train_loss: float | None = None
    # eval
    n_tasks: int | None = Field(None, description="tasks evaluated")
    is_correct: float | None = Field(None, description="mean over tasks: some program solves train and test (pass@n)")
    pass_rate: float | None = Field(None, description="mean over tasks: share of programs solving train and test")
    # HER
    targets: int | None = Field(None, description="target tasks worked on")
    solved: int | None = Field(None, description="target tasks solved")


class ErrorEvent(_Event):
    """The job failed: a user error (exit 2) or a crash (exit 1). kind: the exception's class."""

    event: Literal["error"]
    message: str
    kind: str | None = None


class WarningEvent(_Event):
    """Something the user should know that did not stop the job (a skipped checkpoint, dropped
    examples, a failed health check)."""

    event: Literal["warning"]
    message: str
    step: Count | None = None
    checkpoint: str | None = None
    problem: str | None = None
    tasks: list[str] | None = None  # ids of the tasks dropped for a too-long prompt (the first 50)


class Resumed(_Event):
    """The run was resumed in its own dir from an earlier checkpoint: the later checkpoints and
    rows moved aside to `branch` (none when there were none), so the dir reads as one history."""

    event: Literal["resumed"]
    checkpoint: str
    step: Count
    resume_id: str = Field(description="the resuming spec's `created` time: a requeue of it resumes no further")
    branch: str | None = Field(None, description="branches/<time>-from-checkpoint-N, relative to the run dir")
    moved_checkpoints: list[str] = Field(default_factory=list)
    moved_rows: dict[str, int] = Field(default_factory=dict, description="file name -> rows moved aside")


class HerEpoch(_Event):
    """One search-and-learn epoch of a HER job on one target task."""

    event: Literal["her_epoch"]
    step: Count
    task_id: str
    target: Count
    epoch: Epoch
    solved: bool
    best_pixel_score: float | None = None
    mean_pixel_score: float | None = None
    test_correct: Any = None
    checkpoint: str | None = None


class HerTarget(_Event):
    """A HER job finished one target task."""

    event: Literal["her_target"]
    task_id: str
    target: Count
    solved: bool
    solved_at: Epoch | None = None
    epochs: Epoch
    best_pixel_score: float | None = None
    test_correct: Any = None


class CollapseWarning(_Event):
    """A collapse rule's severity rose (jobs.health Alert fields), and what the guard did."""

    event: Literal["collapse_warning"]
    step: Count
    action: Literal["none", "stop", "rollback"]
    guard: str
    rule: str
    severity: Literal["watch", "warning", "critical"]
    current: str | None = None
    first_step: Count | None = None
    last_step: Count | None = None
    steps: dict[str, Count] = Field(default_factory=dict)
    message: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)


class Rollback(_Event):
    """The guard rolled a collapsed run back: a child run dir forked from `checkpoint` with
    `changes` applied, trained on by the same process (status `continued`)."""

    event: Literal["rollback"]
    step: Count
    status: Literal["continued", "refused", "failed"]
    reason: str | None = None
    rule: str | None = None
    child_run_dir: str | None = None
    child_name: str | None = None
    checkpoint: str | None = None  # the parent's checkpoint the child starts from
    first_warning_step: Count | None = None
    changes: dict[str, Any] | None = None
    rollbacks_before: int | None = None


Event = Annotated[
    Union[
        Started,
        CheckpointSaved,
        Stopped,
        ErrorEvent,
        WarningEvent,
        Resumed,
        CollapseWarning,
        Rollback,
        HerEpoch,
        HerTarget,
    ],
    Field(discriminator="event"),
]
EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)
EVENT_KINDS = (
    EV_STARTED,
    EV_CHECKPOINT,
    EV_STOPPED,
    EV_ERROR,
    EV_WARNING,
    EV_RESUMED,
    EV_COLLAPSE,
    EV_ROLLBACK,
    "her_epoch",
    "her_target",
)


def validate_metric(obj: dict[str, Any], strict: bool = False) -> MetricRow:
    return MetricRow.model_validate(obj, strict=strict)


def validate_completion(obj: dict[str, Any], strict: bool = False) -> BaseModel:
    """A GRPO completion, or a HER job's (it has `epoch` and `rank`)."""
    if "epoch" in obj and "rank" in obj:
        return HerCompletionRecord.model_validate(obj, strict=strict)
    return CompletionRecord.model_validate(obj, strict=strict)


def validate_event(obj: dict[str, Any], strict: bool = False) -> BaseModel:
    return EVENT_ADAPTER.validate_python(obj, strict=strict)


_VALIDATORS = {METRICS: validate_metric, COMPLETIONS: validate_completion, EVENTS: validate_event}


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON (a number that is not finite is written as null)")


# The decoder readers use (jobs.rundir.loads: an integer past float range reads as inf), except
# that NaN / Infinity tokens, which Python's json writes but no other JSON reader takes, are refused.
_STRICT_DECODER = json.JSONDecoder(parse_int=json_int, parse_constant=_no_constant)


def strict_loads(line: str | bytes) -> Any:
    """One run-dir line as check_run_dir reads it: JSON proper (no NaN, Infinity), UTF-8."""
    try:
        return _STRICT_DECODER.decode(line.decode("utf-8") if isinstance(line, (bytes, bytearray)) else line)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def check_record(name: str, line: str | bytes) -> BaseModel:
    """One line of run-dir file NAME (metrics.jsonl, completions.jsonl, events.jsonl) read and
    checked exactly as check_run_dir does; ValueError says what does not match."""
    if line[:3] == b"\xef\xbb\xbf" or line[:1] == "\ufeff":  # an editor's mark: json's message would not say
        raise ValueError("starts with a byte-order mark (not JSON)")
    obj = strict_loads(line)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return _VALIDATORS[name](obj, strict=True)


def check_run_dir(run_dir: str, fs: RunFS | None = None) -> list[str]:
    """Every record of a run dir's three JSONL files checked against its type: one
    `file:line: problem` string per record that does not match (empty when all do). Types are
    strict, as readers read them: `"no"` or `1` is no bool, `true` or `5.5` no int, `-1` no step;
    a line is JSON proper (UTF-8, no NaN or Infinity). Lines end at `\\n` only, as for the readers."""
    fs = fs or LocalFS()
    problems = []
    for name in _VALIDATORS:
        path = f"{run_dir.rstrip('/')}/{name}"
        if not fs.exists(path):
            continue
        if isinstance(fs, LocalFS) and not stat.S_ISREG(os.stat(path).st_mode):
            problems.append(f"{path}: not a regular file")  # a FIFO would never end, /dev/zero neither
            continue
        for i, line in enumerate(_lines(fs, path), 1):
            if line is None:
                problems.append(f"{path}:{i}: a line longer than {MAX_LINE_BYTES >> 20} MiB")
                continue
            if not line.strip():
                continue
            try:
                check_record(name, line)
            except ValueError as e:  # UnicodeDecodeError is one
                problems.append(f"{path}:{i}: {describe(e)}")
    return problems


# A line longer than the readers' limit is not read into memory: check_run_dir names it instead
# (readers take it as a malformed line too).
MAX_LINE_BYTES = _READER_LINE_LIMIT


def _lines(fs: RunFS, path: str) -> Iterator[bytes | None]:
    """The lines of a file, split at b"\\n" only (str.splitlines would also split at \\x1c, \\x85,
    U+2028 inside a string), read in blocks; None for a line past MAX_LINE_BYTES."""
    with fs.open_binary(path) as f:
        pieces: list[bytes] = []
        size, too_long = 0, False
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            *ends, last = block.split(b"\n")
            for end in ends:
                yield None if too_long or size + len(end) > MAX_LINE_BYTES else b"".join([*pieces, end])
                pieces, size, too_long = [], 0, False
            if not too_long:
                pieces.append(last)
                size += len(last)
                if size > MAX_LINE_BYTES:
                    pieces, too_long = [], True
        if too_long or size:
            yield None if too_long else b"".join(pieces)


def describe(e: ValueError) -> str:
    """A validation error in one line: `field: problem; field: problem`."""
    if isinstance(e, ValidationError):
        return "; ".join(f"{'.'.join(str(x) for x in err['loc']) or 'record'}: {err['msg']}" for err in e.errors())
    return str(e).splitlines()[0] if str(e) else type(e).__name__
