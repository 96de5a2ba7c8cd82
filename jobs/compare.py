"""Side-by-side evaluation metrics of runs and checkpoints (`arcctl compare` and the dashboard).

Where metrics live:
  <eval run>/eval/metrics.json            written by an eval job
  <checkpoint>/eval/<dataset>.json        copy the eval job leaves next to the checkpoint it scored
  any metrics.json given directly
A training run dir without its own eval/metrics.json gives one row per evaluated checkpoint.
A refine evaluation (eval job with refine_dataset) gives two rows: before and after refinement.
"Best" is computed among rows of the same dataset only: numbers of different datasets do not compete.
"""

from __future__ import annotations

import json
import math
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import JobsError
from jobs.evalmetrics import TABLE_COLUMNS, format_value
from jobs.rundir import CHECKPOINT_PREFIX, LocalFS, RunFS, checkpoint_step, loads
from jobs.errors import quoted

EVAL_DIR = "eval"
METRICS_FILE = "metrics.json"


class CompareError(JobsError):
    pass


@dataclass
class Row:
    label: str
    source: str  # the metrics file
    dataset: str
    values: dict[str, Any]
    pass_at_k: dict[str, float] = field(default_factory=dict)
    # a run the guard rolled back: the run dirs from the one named to the newest rollback child,
    # whose metrics the row holds (empty: the row is the named run's own)
    rollback_chain: list[str] = field(default_factory=list)


@dataclass
class CompareTable:
    columns: list[str]  # metric columns (after the "experiment" and "dataset" text columns)
    rows: list[Row]
    best: dict[str, set[int]]  # column -> indices of rows holding the best value of their dataset

    def cell(self, row: int, column: str) -> str:
        return format_value(column, self.rows[row].values.get(column))

    def to_markdown(self) -> str:
        """The usual research table: one row per experiment, best values in **bold**."""
        head = ["dataset", "experiment", *self.columns]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("-" * (len(h) + 2) for h in head) + "|"]
        for i, r in enumerate(self.rows):
            cells = [r.dataset, r.label]
            for c in self.columns:
                text = self.cell(i, c)
                cells.append(f"**{text}**" if i in self.best.get(c, set()) else text)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": ["experiment", "dataset", *self.columns],
            "rows": [
                {
                    "experiment": r.label,
                    "source": r.source,
                    "dataset": r.dataset,
                    "values": r.values,
                    "pass_at_k": r.pass_at_k,
                    "rollback_chain": r.rollback_chain,
                    "best": [c for c in self.columns if i in self.best.get(c, set())],
                }
                for i, r in enumerate(self.rows)
            ],
        }


def _load(path: str, fs: RunFS) -> dict[str, Any]:
    try:
        doc = loads(fs.read_text(path))
    except OSError as e:
        raise CompareError(f"{path}: cannot read ({e.strerror or e})") from None
    except ValueError as e:
        raise CompareError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("aggregate"), dict):
        raise CompareError(f"{path}: not an eval metrics file (no 'aggregate' object)")
    return doc


def _number(value: Any, path: str, field_name: str) -> float | int | None:
    """A table value as the eval job writes it: a finite number, or null where unknown."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
        return value
    raise CompareError(f"{path}: aggregate.{field_name}: expected a number or null, got {json.dumps(value)[:40]}")


def _pass_curve(curve: Any, path: str) -> dict[str, float]:
    """aggregate.pass_at_k: {"k": fraction} with k a positive integer; missing means none."""
    if curve is None:
        return {}
    if not isinstance(curve, dict):
        raise CompareError(f"{path}: aggregate.pass_at_k: expected an object {{k: fraction}}")
    out: dict[str, float] = {}
    for k, v in curve.items():
        if not (k.isascii() and k.isdigit() and 0 < int(k) < 10**9):
            raise CompareError(f"{path}: aggregate.pass_at_k: {k[:20]!r} is not a sample count k")
        v = _number(v, path, f"pass_at_k.{k}")
        if v is None or not 0 <= v <= 1:
            raise CompareError(f"{path}: aggregate.pass_at_k.{k}: expected a fraction in [0, 1], got {v}")
        out[str(int(k))] = float(v)
    return out


def _listdir(path: str, fs: RunFS) -> list[str] | None:
    """Entries of a directory, or None when `path` is not one (RunFS has no is_dir)."""
    try:
        return fs.listdir(path)
    except (OSError, ValueError):
        return None


def _join(*parts: str) -> str:
    return posixpath.join(*parts)  # run dirs may be remote (SFTP): always '/'


def _checkpoint_files(ckpt: str, fs: RunFS) -> list[str]:
    names = _listdir(_join(ckpt, EVAL_DIR), fs) or []
    return [_join(ckpt, EVAL_DIR, n) for n in sorted(names) if n.endswith(".json")]


def _step(name: str) -> int:
    step = checkpoint_step(name)
    return -1 if step is None else step


def metrics_files(target: str, fs: RunFS | None = None) -> list[tuple[str, str]]:
    """(label, metrics file) for one argument (run dir, checkpoint dir or metrics file), local or
    through any RunFS (SFTP); an error names what was looked for."""
    return [(label, path) for label, path, _chain in _metrics_files(target, fs or LocalFS())]


def _metrics_files(target: str, fs: RunFS) -> list[tuple[str, str, list[str]]]:
    """metrics_files with, per file, the rollback chain followed to it. A run the guard rolled back
    (its events.jsonl names a `continued` child, jobs.lineage) ended in its newest rollback child:
    its rows are that child's, labelled `run → child`; the parent's own metrics are not its outcome."""
    p = target.rstrip("/") or "/"
    name, parent = posixpath.basename(p), posixpath.dirname(p)
    entries = _listdir(p, fs)
    if entries is None:
        if not fs.exists(p):
            raise CompareError(f"{target}: no such run, checkpoint or metrics file")
        label = (
            posixpath.basename(posixpath.dirname(parent))
            if posixpath.basename(parent) == EVAL_DIR
            else name.rsplit(".", 1)[0]
        )
        return [(label, p, [])]
    if name.startswith(CHECKPOINT_PREFIX):  # a checkpoint named on purpose: its own evaluations
        files = _checkpoint_files(p, fs)
        if not files:
            raise CompareError(
                f"{target}: checkpoint has not been evaluated (no {EVAL_DIR}/*.json); "
                f"run an eval job with adapter_path={target}"
            )
        return [(f"{posixpath.basename(parent)}/{name}", f, []) for f in files]
    from jobs.lineage import rollback_chain

    chain = rollback_chain(p, fs)
    if len(chain) == 1:
        return [(label, f, []) for label, f in _run_files(p, name, entries, target, fs)]
    tip = chain[-1]
    tip_name = posixpath.basename(tip)
    found = _run_files(tip, f"{name} → {tip_name}", _listdir(tip, fs) or [], None, fs)
    if not found:
        raise CompareError(
            f"{target}: rolled back into {tip}, which has no {EVAL_DIR}/{METRICS_FILE} and no evaluated "
            f"checkpoints yet (the rolled-back run's own: compare {p}/checkpoint-N)"
        )
    return [(label, f, chain) for label, f in found]


def _run_files(run: str, name: str, entries: list[str], target: str | None, fs: RunFS) -> list[tuple[str, str]]:
    """(label, file) of one run dir: its own eval/metrics.json, else each evaluated checkpoint's.
    None found is an error naming TARGET, or an empty list without one."""
    own = _join(run, EVAL_DIR, METRICS_FILE)
    if EVAL_DIR in entries and fs.exists(own):
        return [(name, own)]
    found = []
    for c in sorted((e for e in entries if e.startswith(CHECKPOINT_PREFIX)), key=_step):
        found += [(f"{name}/{c}", f) for f in _checkpoint_files(_join(run, c), fs)]
    if not found and target is not None:
        raise CompareError(f"{target}: no {EVAL_DIR}/{METRICS_FILE} and no evaluated checkpoints")
    return found


def build_table(targets: list[str], labels: list[str] | None = None, fs: RunFS | None = None) -> CompareTable:
    """The comparison of every target (one row per metrics file found); `labels` rename rows in order."""
    fs = fs or LocalFS()
    rows: list[Row] = []
    for t in targets:
        for label, path, chain in _metrics_files(t, fs):
            doc = _load(path, fs)
            # a refine evaluation: the earlier programs' row first, then the refined one
            before = doc.get("refine_before")
            parts = (
                [(f"{label} (before refine)", before["aggregate"])]
                if isinstance(before, dict) and isinstance(before.get("aggregate"), dict)
                else []
            )
            parts.append((f"{label} (after refine)" if parts else label, doc["aggregate"]))
            for row_label, agg in parts:
                rows.append(
                    Row(
                        label=row_label,
                        source=path,
                        dataset=str(doc.get("dataset", "?")),
                        values={c: _number(agg.get(c), path, c) for c, _ in TABLE_COLUMNS},
                        pass_at_k=_pass_curve(agg.get("pass_at_k"), path),
                        rollback_chain=chain,
                    )
                )
    if labels:
        for r, name in zip(rows, labels):
            r.label = name
    return CompareTable(columns=[c for c, _ in TABLE_COLUMNS], rows=rows, best=best_flags(rows))


def best_flags(rows: list[Row]) -> dict[str, set[int]]:
    """Per column, the rows holding the best value among rows of the same dataset. Nothing is
    marked where a dataset has fewer than two values or all values are equal."""
    best: dict[str, set[int]] = {}
    by_ds: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_ds.setdefault(r.dataset, []).append(i)
    for col, direction in TABLE_COLUMNS:
        if direction == "none":
            continue
        marked: set[int] = set()
        for idx in by_ds.values():
            vals = {i: rows[i].values.get(col) for i in idx if isinstance(rows[i].values.get(col), (int, float))}
            if len(vals) < 2 or len(set(vals.values())) == 1:
                continue
            top = max(vals.values()) if direction == "max" else min(vals.values())
            marked |= {i for i, v in vals.items() if v == top}
        best[col] = marked
    return best


def checkpoint_metrics_name(dataset: str) -> str:
    """File name the eval job uses under <checkpoint>/eval/ for one dataset."""
    if dataset.endswith((".json", ".gz")):
        dataset = Path(dataset).name.removesuffix(".gz").removesuffix(".json")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset.replace("/", "-"))
    return f"{safe.strip('._') or 'dataset'}.json"


# --- HER runs: epochs to solve each target ------------------------------------------------------


@dataclass
class HERTable:
    """Epochs to solve per target (rows) and run (columns), the HER research's model comparison.
    A cell holds jobs.her_report.TargetRow or None when that run has not reached the target."""

    runs: list[str]
    tasks: list[str]
    cells: dict[tuple[str, str], Any]
    best: set[tuple[str, str]]  # (task, run) with the fewest epochs to solve, when runs differ

    @property
    def invalid(self) -> list[str]:
        """`run: task epoch N: field=value` for each score outside 0..1 (or not a number) in the
        runs' events: read as missing (null in the JSON), never passed through."""
        return [
            f"{run}: {quoted(task)} {bad}"
            for task in self.tasks
            for run in self.runs
            if (row := self.cells.get((task, run))) is not None
            for bad in row.invalid
        ]

    def invalid_notice(self) -> str | None:
        """One line for the user when some score was invalid (None: all were valid)."""
        bad = self.invalid
        if not bad:
            return None
        shown = "; ".join(bad[:3]) + (f"; … {len(bad) - 3} more" if len(bad) > 3 else "")
        return f"notice: {len(bad)} HER score(s) not a number in 0..1, read as missing: {shown}"

    def cell(self, task: str, run: str) -> str:
        row = self.cells.get((task, run))
        if row is None:
            return "-"
        if row.solved_at is not None:
            return str(row.solved_at)
        # not solved: after all its epochs (">N"), or still searching ("N…")
        return f">{row.epoch_reached}" if row.finished else f"{row.epoch_reached}…"

    def to_markdown(self) -> str:
        head = ["task", *self.runs]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("-" * (len(h) + 2) for h in head) + "|"]
        for t in self.tasks:
            cells = [f"**{self.cell(t, r)}**" if (t, r) in self.best else self.cell(t, r) for r in self.runs]
            lines.append("| " + " | ".join([t, *cells]) + " |")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        def one(row: Any) -> dict[str, Any] | None:
            if row is None:
                return None
            return {
                "solved_at": row.solved_at,
                "epochs": row.epoch_reached,
                "finished": row.finished,
                "best_pixel_score": row.best_curve,
                "test_correct": row.test_correct,
                "invalid": row.invalid,
            }

        return {
            "runs": self.runs,
            "tasks": [{"task": t, **{r: one(self.cells.get((t, r))) for r in self.runs}} for t in self.tasks],
            "invalid": self.invalid,
        }


def _kind(target: str, fs: RunFS) -> str | None:
    try:
        spec = loads(fs.read_text(_join(target.rstrip("/") or "/", "spec.json")))
    except (OSError, ValueError):
        return None
    return spec.get("kind") if isinstance(spec, dict) else None


def her_runs(targets: list[str], fs: RunFS | None = None) -> bool:
    """True when every target is a HER run dir, False when none is; a mix is an error."""
    fs = fs or LocalFS()
    her = [t for t in targets if _kind(t, fs) == "her"]
    if her and len(her) != len(targets):
        other = next(t for t in targets if t not in her)
        raise CompareError(f"{other}: not a HER run; compare HER runs ({her[0]}) only with HER runs")
    return bool(her)


def build_her_table(targets: list[str], labels: list[str] | None = None, fs: RunFS | None = None) -> HERTable:
    from jobs.her_report import read_targets

    fs = fs or LocalFS()
    runs = [posixpath.basename(t.rstrip("/")) for t in targets]
    for i, name in enumerate((labels or [])[: len(runs)]):
        runs[i] = name
    if len(set(runs)) != len(runs):
        raise CompareError("two runs have the same name; tell them apart with --label")
    cells: dict[tuple[str, str], Any] = {}
    tasks: list[str] = []
    for run, target in zip(runs, targets):
        for row in read_targets(target.rstrip("/"), fs):
            if row.task_id not in tasks:
                tasks.append(row.task_id)
            cells[(row.task_id, run)] = row
    best: set[tuple[str, str]] = set()
    for t in tasks:
        solved = {r: cells[(t, r)].solved_at for r in runs if (t, r) in cells and cells[(t, r)].solved_at is not None}
        if len(solved) >= 2 and len(set(solved.values())) > 1:
            top = min(solved.values())
            best |= {(t, r) for r, v in solved.items() if v == top}
    return HERTable(runs=runs, tasks=tasks, cells=cells, best=best)
