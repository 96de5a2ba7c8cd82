"""`arcctl tail RUN [--metrics|--completions|--events] [--follow]`: incremental reads of a run's
JSONL files (jobs.rundir.JsonlTail keeps a byte offset: following never re-reads the file)."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Optional

import typer

from arcctl.cli.errors import user_errors
from arcctl.cli.numbers import MAX_FOLLOW_S, count_option, seconds_option
from arcctl.cli.regular_file import check_regular
from arcctl.cli.resolve import resolve_run
from arcctl.cli.terminal_text import one_line, shown
from jobs.her_report import checked_metric
from jobs.masked_steps import LABEL, MASKED_METRICS, all_masked, is_masked_metric, run_masking
from jobs.rundir import invalid_value, json_bool, json_step

_SKIP = {"step", "time"}
# What `tail --metrics` shows first (TRL names + ours); `--all` prints every metric.
KEY_METRICS = (
    "reward",
    "reward_std",
    "frac_reward_zero_std",
    "kl",
    "entropy",
    "loss",
    "grad_norm",
    "learning_rate",
    "completions/mean_length",
    "completions/clipped_ratio",
    "arc/truncated_ratio",
    "arc/truncated_reward_mean",
    "arc/ngram4_repeat_max",
    "arc/unique_token_ratio",
    "arc/solved_ratio",
)


# An event shows at most this many of its fields (a record from another host may hold thousands).
MAX_FIELDS = 40


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _value(v: Any) -> str:
    """A field of a record as shown: numbers short, anything else at most FIELD_LIMIT characters
    with control and format characters written out (a value nested past Python's recursion
    limit, from a file nested almost as deep as the JSON reader allows, is named, not raised)."""
    try:
        return shown(_num(v) if _is_number(v) else v)
    except (RecursionError, ValueError):  # ValueError: an int too long for str()
        return f"({type(v).__name__} nested too deeply to show)"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _invalid_note(bad: list[str]) -> str:
    """What a line shows for fields that fail their check (docs/run-dir.md: they read as absent)."""
    return f"  [invalid: {', '.join(bad)}]" if bad else ""


def _checked(rec: dict[str, Any], key: str, check: Any, bad: list[str]) -> Any:
    """REC[KEY] through CHECK (jobs.rundir.json_*); a present, non-null value that fails it is
    named in BAD and reads as missing (None)."""
    value = rec.get(key)
    ok = check(value)
    if ok is None and value is not None:
        bad.append(f"{shown(key, 100)}={invalid_value(value)}")
    return ok


def format_record(kind: str, rec: dict[str, Any], all_metrics: bool = False, masking: bool | None = None) -> str:
    """One line per record. `masking`: the run's mask_truncated_completions (None: unknown); on a
    step whose every completion was masked out of the loss, the placeholder zeros show as "–".
    Fields are read strictly (a step only from an integer, `truncated` only from a JSON boolean,
    a metric only from a number): one that fails shows as "?" or is left out, and the line ends
    with `[invalid: field=value]`, never the wrong value."""
    bad: list[str] = []
    if kind == "metrics":
        step = _checked(rec, "step", json_step, bad)
        head = f"step {'?' if step is None else step}"
        keys = [k for k in rec if k not in _SKIP and rec[k] is not None]
        # a metric is a number (or null); a her/ score also lies in its range (jobs.her_report)
        ok = {k for k in keys if _is_number(rec[k]) and checked_metric(k, rec[k])[1]}
        bad += [f"{shown(k, 100)}={invalid_value(rec[k])}" for k in keys if k not in ok]
        keys = [k for k in keys if k in ok]
        if not all_metrics and any(k in rec for k in KEY_METRICS):
            keys = [k for k in KEY_METRICS if k in keys]
        masked = all_masked(rec, masking)
        rest = "  ".join(
            f"{shown(k, 100)}=–" if masked and is_masked_metric(k) else f"{shown(k, 100)}={_num(rec[k])}" for k in keys
        )
        if masked:
            rest += f"  [{LABEL}: every completion truncated; {', '.join(sorted(MASKED_METRICS))} not measured]"
        return f"{head}  {rest}".rstrip() + _invalid_note(bad)
    if kind == "completions":
        text = rec.get("completion") if isinstance(rec.get("completion"), str) else ""
        text = text[:160].replace("\n", "⏎")
        step = _checked(rec, "step", json_step, bad)
        reward = _checked(rec, "reward", lambda v: v if _is_number(v) else None, bad)
        tokens = _checked(rec, "n_tokens", json_step, bad)  # a count: an integer >= 0, like a step
        flags = " [truncated]" if _checked(rec, "truncated", json_bool, bad) else ""
        task = _checked(rec, "task_id", lambda v: v if isinstance(v, str) else None, bad)
        return (
            f"step {'?' if step is None else step}  task {shown(task or '?', 100)}  "
            f"reward {'?' if reward is None else _num(reward)}  {'?' if tokens is None else tokens} tok{flags}"
            f"{_invalid_note(bad)}  {shown(text)}"
        )
    t = rec.get("time")
    try:
        when = time.strftime("%H:%M:%S", time.localtime(t)) if isinstance(t, (int, float)) else str(t or "")
    except (OverflowError, ValueError, OSError):  # inf, nan, or a year the platform cannot show
        when = str(t)
    fields = [(k, v) for k, v in rec.items() if k not in ("time", "event")]
    rest = "  ".join(f"{shown(k, 100)}={_value(v)}" for k, v in fields[:MAX_FIELDS])
    if len(fields) > MAX_FIELDS:
        rest += f"  … {len(fields) - MAX_FIELDS} more fields"
    return f"{_value(when)}  {_value(rec.get('event', '?'))}  {rest}".rstrip()


def _check_regular(fs: Any, path: str, fname: str) -> None:
    """A FIFO or a device where the run's file should be: one line naming it (it read as empty)."""
    from jobs.errors import SpecError
    from jobs.ssh_answers import NotRegularFile

    try:
        check_regular(fs, path, fs.size(path))
    except NotRegularFile:
        raise SpecError(f"{path}: not a regular file (a named pipe or a device), not the run's {fname}") from None


def register(app: typer.Typer) -> None:
    @app.command("tail")
    def tail_cmd(
        run: str = typer.Argument(..., help="job id, prefix, name, run dir, or HOST:/path/to/run"),
        metrics: bool = typer.Option(False, "--metrics", help="metrics.jsonl (default)"),
        completions: bool = typer.Option(False, "--completions", help="completions.jsonl"),
        events: bool = typer.Option(False, "--events", help="events.jsonl"),
        follow: bool = typer.Option(False, "-f", "--follow", help="keep printing new records"),
        lines: int = count_option(20, "-n", "--lines", lo=0, help="show the last N records first (0: all)"),
        json_out: bool = typer.Option(False, "--json", help="print the raw JSON lines"),
        all_metrics: bool = typer.Option(False, "--all", help="every metric, not just the key ones"),
        poll_s: float = seconds_option(0.5, "--poll", 0.01, 3600, "seconds between reads when following"),
        max_seconds: Optional[float] = seconds_option(
            None, "--max-seconds", 0, MAX_FOLLOW_S, "stop following after this long"
        ),
    ) -> None:
        """Print the newest metrics / completions / events of a run."""
        with user_errors():
            from jobs.errors import SpecError
            from jobs.rundir import COMPLETIONS, EVENTS, METRICS, JsonlTail
            from jobs.trainer_state import metrics_source

            chosen = [k for k, on in (("metrics", metrics), ("completions", completions), ("events", events)) if on]
            if len(chosen) > 1:
                raise SpecError("choose one of --metrics, --completions, --events")
            kind = chosen[0] if chosen else "metrics"
            target = resolve_run(run, must_exist=False)
            run_dir, fs = target.run_dir, target.fs
            fname = {"metrics": METRICS, "completions": COMPLETIONS, "events": EVENTS}[kind]
            tail = metrics_source(run_dir, fs) if kind == "metrics" else JsonlTail(f"{run_dir.rstrip('/')}/{fname}", fs)
            masking = run_masking(run_dir, fs) if kind == "metrics" and not json_out else None
            first = tail.read_new()
            if lines > 0:
                first = first[-lines:]

            def emit(recs) -> None:
                for r in recs:
                    # one_line: completions and events hold text of the model's and its programs'
                    typer.echo(json.dumps(r) if json_out else one_line(format_record(kind, r, all_metrics, masking)))

            emit(first)
            if not first and not follow and not fs.exists(tail.path):
                typer.echo(f"(no {fname} in {shown(run_dir)} yet)", err=True)
            if not first and target.host is None and os.path.isdir(tail.path):
                raise SpecError(f"{tail.path}: a folder, not the run's {fname} file")
            if not first and fs.exists(tail.path):
                _check_regular(fs, tail.path, fname)
            if follow:
                start = time.monotonic()
                while max_seconds is None or time.monotonic() - start < max_seconds:
                    recs = tail.read_new()
                    if recs:
                        emit(recs)
                    else:
                        time.sleep(poll_s)
