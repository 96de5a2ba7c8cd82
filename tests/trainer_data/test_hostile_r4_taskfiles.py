"""Task files an attacker controls, loaded by the trainer (round 4). Round 3 covered ragged rows,
colour 10, bool/str cells, empty and 1000x1000 grids, missing outputs, deep nesting and a solutions
sibling that never ends (tests/cli_jobs/test_hostile_inputs_r3_tasks.py); these are what it left.

Holes these found: a 900 KB .json.gz holding one 10^4 x 10^4 grid took 25 s and 1 GB of memory to
refuse (json builds every row before a grid is checked; 10^5 x 10^5 is out of memory); a gzip bomb
was read whole; a FIFO or folder given as `x.json` was "file not found"; a folder holding a.json
and a.json.gz gave two tasks with id `a`, and eval scored one against the other's answers; a task id
or a "train" key given twice in one object silently lost the first (json keeps the last)."""

from __future__ import annotations

import gzip
import json
import os
import time
import tracemalloc

import pytest

from jobs import arc_tasks
from trainer.data import DatasetError, load_tasks

pytestmark = pytest.mark.timeout(60)


def _gz_repeated(path, head: bytes, body: bytes, times: int, tail: bytes) -> None:
    """head + body*times + tail as one gzip stream of concatenated members: `body` is compressed
    once, so a file that decompresses to hundreds of MB is written in milliseconds."""
    member = gzip.compress(body, compresslevel=9)
    with open(path, "wb") as f:
        f.write(gzip.compress(head))
        for _ in range(times):
            f.write(member)
        f.write(gzip.compress(tail))


def _refused_cheaply(path, needle: str) -> None:
    tracemalloc.start()
    t0 = time.process_time()  # CPU time: a loaded CI machine stretches wall time, not this
    try:
        with pytest.raises(DatasetError) as err:
            load_tasks(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.process_time() - t0
    assert str(err.value).startswith(f"{path}: ") and needle in str(err.value), str(err.value)
    assert "\n" not in str(err.value)
    assert elapsed < 8.0 and peak < 32 << 20, (elapsed, peak)  # was 25 s and 1 GB


def test_a_ten_thousand_square_grid_is_refused_before_it_is_built(tmp_path):
    n = 10_000
    row = b"[" + b",".join([b"0"] * n) + b"]"
    path = tmp_path / "big_challenges.json.gz"
    _gz_repeated(
        path,
        b'{"t": {"train": [{"input": [',
        (row + b",") * 100,
        n // 100 - 1,
        row * 100 + b'], "output": [[0]]}], "test": [{"input": [[0]]}]}}',
    )
    _refused_cheaply(path, "byte 28: a row of more than 1000 cells (ARC grids are at most 30 x 30)")


def test_a_grid_of_a_million_one_cell_rows_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "tall_challenges.json.gz"
    _gz_repeated(path, b'{"t": {"train": [{"output": [[0]], "input": [', b"[7]," * 10_000, 100, b'[7]]}], "test": []}}')
    _refused_cheaply(path, "a grid of more than 1000 rows")


def test_a_huge_grid_in_the_solutions_sibling_names_that_file(tmp_path):
    challenges = tmp_path / "x_challenges.json"
    challenges.write_text(json.dumps({"t": {"train": [{"input": [[0]], "output": [[1]]}], "test": [{"input": [[0]]}]}}))
    solutions = tmp_path / "x_solutions.json.gz"
    _gz_repeated(solutions, b'{"t": [[', b"0," * 100_000, 100, b"0]]}")
    _refused_cheaply(solutions, "a row of more than 1000 cells")


def test_a_gzip_bomb_is_refused_at_the_cap_not_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(arc_tasks, "MAX_FILE_BYTES", 4 << 20)  # the real cap is 1 GiB: the same code, sooner
    path = tmp_path / "bomb_challenges.json.gz"
    _gz_repeated(path, b"{", b" " * (1 << 20), 8, b"}")
    with pytest.raises(DatasetError, match=f"^{path}: more than 4 MiB \\(decompressed\\)$"):
        load_tasks(str(path))


def test_the_largest_real_files_pass_the_look_before_parsing(tmp_path):
    """Real ARC-AGI-2 training data (1000 tasks), compact and pretty-printed, with its solutions."""
    tasks = load_tasks("kaggle2025/train")
    chal = {
        t.task_id: {"train": [vars(p) for p in t.train], "test": [{"input": p.input} for p in t.test]} for t in tasks
    }
    sols = {t.task_id: [p.output for p in t.test] for t in tasks}
    for indent in (1,):  # pretty-printed: rows spread over lines, the harder case for the scan
        d = tmp_path / str(indent)
        d.mkdir()
        (d / "a_challenges.json").write_text(json.dumps(chal, indent=indent))
        (d / "a_solutions.json").write_text(json.dumps(sols, indent=indent))
        got = load_tasks(str(d / "a_challenges.json"))
        assert [(t.task_id, t.test[0].output) for t in got] == [(t.task_id, t.test[0].output) for t in tasks]
    # the widest and tallest grids ARC allows pass
    full = {
        "t": {"train": [{"input": [[9] * 30] * 30, "output": [[1] * 30] * 30}], "test": [{"input": [[0] * 30] * 30}]}
    }
    (tmp_path / "full_challenges.json").write_text(json.dumps(full))
    assert load_tasks(str(tmp_path / "full_challenges.json"))[0].train[0].input == [[9] * 30] * 30


@pytest.mark.timeout(20)
def test_a_data_path_that_is_a_fifo_a_folder_or_a_device_is_named_not_read(tmp_path):
    fifo = tmp_path / "pipe_challenges.json"
    os.mkfifo(fifo)
    folder = tmp_path / "folder_challenges.json"
    folder.mkdir()
    device = tmp_path / "zero_challenges.json"
    device.symlink_to("/dev/zero")
    for path in (fifo, folder, device):
        with pytest.raises(DatasetError, match=f"^{path}: not a regular file$"):  # was "file not found"
            load_tasks(str(path))
    with pytest.raises(DatasetError, match="file not found"):
        load_tasks(str(tmp_path / "missing_challenges.json"))


@pytest.mark.timeout(20)
def test_a_task_folder_skips_pipes_and_devices_among_its_files(tmp_path):
    real = load_tasks("arc1/train", 1)[0]
    (tmp_path / "ok.json").write_text(json.dumps(real.to_dict()))
    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    got = load_tasks(str(tmp_path))
    assert [(t.task_id, t.train) for t in got] == [("ok", real.train)]


def test_one_task_id_twice_in_a_folder_is_refused(tmp_path):
    """a.json and a.json.gz are both task `a`: the eval's answers are keyed by id, so one of the
    two was scored against the other's test outputs."""
    first, second = load_tasks("arc1/train", 2)  # real tasks, different answers
    (tmp_path / "a.json").write_text(json.dumps(first.to_dict()))
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(json.dumps(second.to_dict()).encode()))
    with pytest.raises(DatasetError, match=f"^{tmp_path}: task id 'a' is both a.json and a.json.gz$"):
        load_tasks(str(tmp_path))


TASK = '{"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]]}]}'


@pytest.mark.parametrize(
    "challenges, solutions, bad, key",
    [
        ('{"a": %s, "b": %s, "a": %s}' % (TASK, TASK, TASK), None, "x_challenges.json", "a"),
        (
            '{"a": {"train": [], "train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]]}]}}',
            None,
            "x_challenges.json",
            "train",
        ),
        ('{"a": %s}' % TASK, '{"a": [[[1]]], "a": [[[2]]]}', "x_solutions.json", "a"),
    ],
    ids=["task_id", "train_key", "solutions"],
)
def test_a_key_given_twice_in_one_object_is_refused(tmp_path, challenges, solutions, bad, key):
    (tmp_path / "x_challenges.json").write_text(challenges)
    if solutions:
        (tmp_path / "x_solutions.json").write_text(solutions)
    with pytest.raises(DatasetError) as err:
        load_tasks(str(tmp_path / "x_challenges.json"))
    assert (
        str(err.value) == f"{tmp_path / bad}: key {key!r} appears twice in one object (json would keep only the last)"
    )


def test_a_key_given_twice_in_a_task_folder_file_is_refused(tmp_path):
    (tmp_path / "t.json").write_text(
        '{"train": [], "test": [{"input": [[1]]}], "train": [{"input": [[1]], "output": [[2]]}]}'
    )
    with pytest.raises(DatasetError, match="t.json: key 'train' appears twice in one object"):
        load_tasks(str(tmp_path))
