"""`wandb = true` with the `wandb` package installed (the `wandb` extra): the real trainer mirrors
its metrics to an offline W&B run inside the run dir, no account or network needed. Skipped
where the extra is not installed."""
from __future__ import annotations

import json
import re

import pytest

from .helpers import grpo_spec, metrics, run_trainer

pytest.importorskip("wandb")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_wandb_offline_run_mirrors_the_metrics(tmp_path, tiny_model_dir, small_dataset, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)  # offline: nothing leaves the machine
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = tmp_path / "wb"
    grpo_spec(run_dir, tiny_model_dir, dataset=str(small_dataset), max_steps=2, save_steps=100, wandb=True).write()
    proc = run_trainer("run", str(run_dir), timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [offline] = (run_dir / "wandb").glob("offline-run-*")
    [record] = offline.glob("run-*.wandb")  # what `wandb sync` would upload
    logged = _history_items(record.read_bytes())
    rows = metrics(run_dir)
    assert sorted({int(v) for k, v in logged if k == "_step"}) == [r["step"] for r in rows] == [1, 2]
    for key in ("reward", "kl", "completions/mean_length", "arc/truncated_ratio"):
        values = [json.loads(v) for k, v in logged if k == key]
        assert values and values[-1] == pytest.approx(rows[-1][key]), key


def _history_items(data: bytes) -> list[tuple[str, str]]:
    """(key, value_json) of every logged item in a .wandb record file. wandb 0.31 ships no Python
    reader for it; each item is a protobuf message whose field 2 is the key and field 16 the value
    as JSON text, so short keys and values can be read straight from the bytes."""
    out = []
    for m in re.finditer(rb"\x12([\x01-\x7f])", data):
        end = m.end() + m.group(1)[0]
        key = data[m.end():end]
        if data[end:end + 2] != b"\x82\x01" or not re.fullmatch(rb"[\w/.-]+", key):
            continue
        n = data[end + 2]
        out.append((key.decode(), data[end + 3:end + 3 + n].decode("utf-8", "replace")))
    return out
