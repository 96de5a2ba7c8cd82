"""Round 4, render side: what the trainer now refuses in a task file (a key given twice, a row or
grid far past any ARC size, two files for one task id), a `synthetic:N` past the cap and a refine
record with more test outputs than its task has test inputs are refused when the job is rendered,
by the same code (jobs.arc_tasks, jobs.refine), instead of after the job has queued and loaded its
model."""

from __future__ import annotations

import gzip
import json

import pytest

from jobs.errors import SpecError
from jobs.submit import build_specs

pytestmark = pytest.mark.timeout(120)

TASK = {"train": [{"input": [[0, 1]], "output": [[1, 0]]}], "test": [{"input": [[0, 1]]}]}


def test_a_task_id_given_twice_in_one_file_is_refused_at_render(home, tmp_path):
    path = tmp_path / "twice_challenges.json"
    body = json.dumps(TASK)
    path.write_text('{"a": ' + body + ', "a": ' + body + "}")  # json.loads kept the second, silently
    for kind in ("grpo", "eval", "her"):
        with pytest.raises(SpecError, match=f"^dataset {path}: key 'a' appears twice in one object"):
            build_specs(kind, [f"dataset={path}"], "local")


def test_a_train_list_given_twice_in_one_task_is_refused_at_render(home, tmp_path):
    path = tmp_path / "train_twice_challenges.json"
    pair = json.dumps(TASK["train"])
    path.write_text('{"a": {"train": ' + pair + ', "test": [{"input": [[0]]}], "train": ' + pair + "}}")
    with pytest.raises(SpecError, match="key 'train' appears twice"):
        build_specs("grpo", [f"dataset={path}"], "local")


def test_a_huge_grid_is_refused_at_render_before_it_is_parsed(home, tmp_path):
    path = tmp_path / "huge_challenges.json.gz"
    row = b"[" + b"0," * 9_999 + b"0]"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b'{"t": {"train": [{"input": [')
        for i in range(2_000):  # 2000 rows of 10^4 cells: ~40 MB of JSON, ~2*10^7 cells
            f.write(row + (b"," if i < 1_999 else b""))
        f.write(b'], "output": [[0]]}], "test": [{"input": [[0]]}]}}')
    # "byte N": refused by the scan where the row starts, before json built 2*10^7 ints (the
    # check after parsing would say "has 2000 rows")
    with pytest.raises(
        SpecError, match=r"^dataset .*huge_challenges\.json\.gz: byte \d+: a row of more than 1000 cells"
    ):
        build_specs("eval", [f"dataset={path}"], "local")


def test_one_task_in_two_files_of_a_folder_is_refused_at_render(home, tmp_path):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(TASK))
    (folder / "a.json.gz").write_bytes(gzip.compress(json.dumps(TASK).encode()))
    with pytest.raises(SpecError, match=f"^dataset {folder}: task id 'a' is both a.json and a.json.gz$"):
        build_specs("grpo", [f"dataset={folder}"], "local")


def test_synthetic_past_the_cap_is_refused_at_render(home):
    with pytest.raises(SpecError, match="at most 100000 synthetic tasks"):
        build_specs("grpo", ["dataset=synthetic:1000000000"], "local")
    build_specs("grpo", ["dataset=synthetic:100000"], "local")  # the cap itself is taken
