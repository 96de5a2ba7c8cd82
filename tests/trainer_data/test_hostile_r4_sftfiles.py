"""SFT data an attacker controls (round 4): a file of tasks with programs, and `synthetic:N`.
Before: 100k `[` in the file was a RecursionError traceback, a .jsonl line that is not an object
an AttributeError, a 10^4-wide row was built in full before any check, `synthetic:²` (a digit to
str.isdigit) a ValueError traceback, and `synthetic:1000000000` generated tasks for weeks."""

from __future__ import annotations

import json
import time

import pytest

from jobs.errors import JobsError
from trainer.data import load_tasks
from trainer.sft import load_program_tasks

pytestmark = pytest.mark.timeout(60)

PROGRAM = "def transform(g):\n    return g\n"


def _task(**extra) -> dict:
    return {"train": [{"input": [[1]], "output": [[1]]}], "test": [{"input": [[2]]}], "program": PROGRAM, **extra}


@pytest.mark.parametrize(
    "name, text, needle",
    [
        ("deep.json", "[" * 100_000, "nested too deeply"),
        ("list_line.jsonl", json.dumps(_task()) + "\n[1, 2]\n", "line 2: expected an object, got list"),
        ("number_line.jsonl", "7\n", "line 1: expected an object, got int"),
        ("wide.json", '{"a": {"train": [{"input": [' + "[" + "0," * 20_000 + "0]", "a row of more than 1000 cells"),
    ],
)
def test_a_bad_sft_file_is_one_error_naming_it(tmp_path, name, text, needle):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(JobsError) as err:
        load_program_tasks(str(path), None)
    assert str(err.value).startswith(str(path)) and needle in str(err.value) and "\n" not in str(err.value)


def test_good_sft_files_still_load(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps(_task(task_id="x")) + "\n\n" + json.dumps(_task()) + "\n")
    assert [(t.task_id, prog) for t, prog in load_program_tasks(str(tmp_path / "a.jsonl"), None)] == [
        ("x", PROGRAM),
        ("line3", PROGRAM),
    ]
    (tmp_path / "b.json").write_text(json.dumps({"y": _task()}))
    assert [t.task_id for t, _ in load_program_tasks(str(tmp_path / "b.json"), None)] == ["y"]


@pytest.mark.parametrize("n", ["²", "1²", "١٢"])  # digits to str.isdigit, not to int() or not ASCII
def test_synthetic_with_a_digit_that_is_not_ascii_is_refused(n):
    with pytest.raises(JobsError, match=f"^dataset synthetic:{n}: expected synthetic:N with N a positive integer$"):
        load_tasks(f"synthetic:{n}")


def test_an_absurd_synthetic_count_is_refused_at_once():
    t0 = time.perf_counter()
    with pytest.raises(JobsError, match="^dataset synthetic:1000000000: at most 100000 synthetic tasks$"):
        load_tasks("synthetic:1000000000")
    assert time.perf_counter() - t0 < 1.0
    assert len(load_tasks("synthetic:3")) == 3
