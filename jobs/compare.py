"""Side-by-side evaluation metrics of runs and checkpoints (`arcctl compare` and the dashboard).

Where metrics live:
  <eval run>/eval/metrics.json            written by an eval job
  <checkpoint>/eval/<dataset>.json        copy the eval job leaves next to the checkpoint it scored
  any metrics.json given directly
A training run dir without its own eval/metrics.json gives one row per evaluated checkpoint.
"Best" is computed among rows of the same dataset only: numbers of different datasets do not compete.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import JobsError
from jobs.evalmetrics import TABLE_COLUMNS, format_value
from jobs.rundir import CHECKPOINT_PREFIX

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


@dataclass
class CompareTable:
    columns: list[str]  # metric columns (after the "experiment" and "dataset" text columns)
    rows: list[Row]
    best: dict[str, set[int]]  # column -> indices of rows holding the best value of their dataset

    def cell(self, row: int, column: str) -> str:
        return format_value(column, self.rows[row].values.get(column))

    def to_markdown(self) -> str:
        """The seed notes' table: one row per experiment, best values in **bold**."""
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
                {"experiment": r.label, "source": r.source, "dataset": r.dataset, "values": r.values,
                 "pass_at_k": r.pass_at_k,
                 "best": [c for c in self.columns if i in self.best.get(c, set())]}
                for i, r in enumerate(self.rows)
            ],
        }


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except OSError as e:
        raise CompareError(f"{path}: cannot read ({e.strerror})") from None
    except ValueError as e:
        raise CompareError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("aggregate"), dict):
        raise CompareError(f"{path}: not an eval metrics file (no 'aggregate' object)")
    return doc


def _checkpoint_files(ckpt: Path) -> list[Path]:
    d = ckpt / EVAL_DIR
    return sorted(d.glob("*.json")) if d.is_dir() else []


def metrics_files(target: str) -> list[tuple[str, Path]]:
    """(label, metrics file) for one command-line argument; an error names what was looked for."""
    p = Path(target)
    if p.is_file():
        label = p.parent.parent.name if p.parent.name == EVAL_DIR else p.stem
        return [(label, p)]
    if not p.is_dir():
        raise CompareError(f"{target}: no such run, checkpoint or metrics file")
    own = p / EVAL_DIR / METRICS_FILE
    if own.is_file():
        return [(p.name, own)]
    if p.name.startswith(CHECKPOINT_PREFIX):
        files = _checkpoint_files(p)
        if not files:
            raise CompareError(f"{target}: checkpoint has not been evaluated (no {EVAL_DIR}/*.json); run an eval job with adapter_path={target}")
        return [(f"{p.parent.name}/{p.name}", f) for f in files]
    found = []
    ckpts = sorted((c for c in p.iterdir() if c.is_dir() and c.name.startswith(CHECKPOINT_PREFIX)),
                   key=lambda c: int(c.name[len(CHECKPOINT_PREFIX):]) if c.name[len(CHECKPOINT_PREFIX):].isdigit() else -1)
    for c in ckpts:
        found += [(f"{p.name}/{c.name}", f) for f in _checkpoint_files(c)]
    if not found:
        raise CompareError(f"{target}: no {EVAL_DIR}/{METRICS_FILE} and no evaluated checkpoints")
    return found


def build_table(targets: list[str], labels: list[str] | None = None) -> CompareTable:
    rows: list[Row] = []
    for t in targets:
        for label, path in metrics_files(t):
            doc = _load(path)
            agg = doc["aggregate"]
            rows.append(Row(label=label, source=str(path), dataset=str(doc.get("dataset", "?")),
                            values={c: agg.get(c) for c, _ in TABLE_COLUMNS},
                            pass_at_k={str(k): v for k, v in (agg.get("pass_at_k") or {}).items()}))
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
