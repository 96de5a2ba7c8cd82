"""Round 4 of crafted run dirs: a metrics.jsonl whose last line is 500 MB without a newline (a
sparse file: nothing of it is on disk), a line of tens of MB in the middle, a metrics.jsonl that is
a named pipe for the contract checker, and spec.json files that are a JSON array, nested 10^5 deep,
or start with a byte-order mark, under `fork` and `resume`. Every reader keeps its memory bounded,
never re-reads an endless line at every poll, keeps the rows before it, and every refusal is one
line naming the file and what is wrong."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

import pytest

from jobs import records, rundir
from jobs.rundir import JsonlTail, LocalFS, read_jsonl
from jobs.runview import RunView
from tests.cli_jobs.conftest import ARCCTL, one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)

GOOD = '{"step": 1, "time": 1.0, "reward": 0.5}\n'
MAX_LINE_BYTES = getattr(rundir, "MAX_LINE_BYTES", 16 << 20)  # (the code before this round had no limit)


def endless_line_run(root: Path, size: int = 500 << 20) -> Path:
    """One good metrics row, then a line of SIZE bytes that never ends (sparse: zero bytes on disk)."""
    run = root / "endless"
    run.mkdir()
    (run / "spec.json").write_text("{}")
    with open(run / "metrics.jsonl", "w") as f:
        f.write(GOOD + '{"step": 2, "x": "')
        f.truncate(size)
    return run


def _limited(*args: str, data_mb: int = 300) -> subprocess.CompletedProcess:
    """The real CLI with its heap limited to DATA_MB: the 500 MB line must never be read whole."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (data_mb << 20, data_mb << 20))

    return subprocess.run([ARCCTL, *args], capture_output=True, text=True, preexec_fn=limit, timeout=120)


def test_a_500_mb_line_without_newline_is_never_held_in_memory(home, tmp_path):
    run = endless_line_run(tmp_path)
    assert os.stat(run / "metrics.jsonl").st_blocks * 512 < 1 << 20  # sparse: the test stays small on disk
    for args in (("tail", str(run)), ("health", str(run)), ("compare", str(run), "--plot", "reward")):
        res = _limited(*args)
        assert res.returncode == 0 and "Traceback" not in res.stderr, (args, res.stderr[-2000:])
    assert _limited("tail", str(run)).stdout == "step 1  reward=0.5\n"


def test_the_rows_before_an_endless_last_line_stay_in_the_chart(tmp_path):
    """The run view reads the newest 256 KB first; with no newline in them everything was
    "history", whose loader gave up at the endless line and dropped the row before it, so
    `compare --plot` said the run had no metrics."""
    run = endless_line_run(tmp_path, size=3 << 20)
    view = RunView(str(run))
    view.refresh(completion_bytes=0)
    assert view.metrics.series("reward") == ([1.0], [0.5])
    assert view.history_progress is None  # the history is done, not retried at every refresh


class CountingFS(LocalFS):
    """The local file system, counting the bytes read through it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def open_binary(self, path: str):
        f = super().open_binary(path)
        fs, real_read = self, f.read

        def read(n: int = -1) -> bytes:
            data = real_read(n)
            fs.read_bytes += len(data)
            return data

        f.read = read  # type: ignore[method-assign]
        return f


def test_an_endless_line_is_scanned_once_not_at_every_poll(tmp_path):
    size = 3 * MAX_LINE_BYTES
    run = endless_line_run(tmp_path, size=size)
    fs = CountingFS()
    tail = JsonlTail(str(run / "metrics.jsonl"), fs)
    assert [r["step"] for r in tail.read_new()] == [1]
    first = fs.read_bytes
    assert first < 2 * size  # about the file once (its first piece twice)
    for _ in range(3):
        assert tail.read_new() == []
    assert fs.read_bytes - first < 1 << 20  # nothing new: nothing read again
    with open(run / "metrics.jsonl", "a") as f:
        f.write('"}\n' + GOOD.replace('"step": 1', '"step": 3'))
    assert [r["step"] for r in tail.read_new()] == [3]  # the endless line ends: cut, counted, passed
    assert tail.bad_lines == 1


def test_a_line_of_tens_of_megabytes_comes_back_cut(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with open(path, "w") as f:
        f.write(GOOD + '{"step": 2, "x": "' + "y" * (MAX_LINE_BYTES + 5) + '"}\n' + GOOD.replace("1,", "3,"))
    tail = JsonlTail(str(path))
    assert [r["step"] for r in tail.read_new()] == [1, 3] and tail.bad_lines == 1
    assert [r["step"] for r in read_jsonl(path)] == [1, 3]


def test_the_contract_checker_names_a_pipe_instead_of_hanging(tmp_path):
    os.mkfifo(tmp_path / "metrics.jsonl")
    (tmp_path / "events.jsonl").write_text('{"event": "error", "time": 1, "message": "m"}\n')
    assert records.check_run_dir(str(tmp_path)) == [f"{tmp_path}/metrics.jsonl: not a regular file"]


@pytest.mark.parametrize(
    "content, named",
    [
        (b"[1, 2]", "not a valid spec (the file: Input should be an object)"),
        (b"[" * 100_000 + b"]" * 100_000, "not a valid spec (the file: Invalid JSON: recursion limit exceeded"),
        (None, "starts with a byte-order mark"),
        (b'{"kind": "grpo", "na', "not a valid spec (the file: Invalid JSON: EOF"),
    ],
    ids=["array", "deep", "bom", "torn"],
)
def test_fork_and_resume_name_what_is_wrong_with_spec_json(home, content, named):
    [jid] = run_cli("submit", "fake", "-q", check=True).stdout.split()
    run = Path(json.loads(run_cli("show", jid, "--json", check=True).stdout)["run_dir"])
    spec = (run / "spec.json").read_bytes()
    (run / "spec.json").write_bytes(b"\xef\xbb\xbf" + spec if content is None else content)
    for cmd in ("fork", "resume"):
        one_line_error(run_cli(cmd, jid), f"{run}/spec.json: ", named)
    (run / "spec.json").write_bytes(spec)  # the run itself was never touched


def test_a_trainer_state_with_negative_and_huge_steps_draws_from_step_0(home, tmp_path):
    """A command job's checkpoint trainer_state.json (its only metrics) with a step of -3, a step
    and an epoch past float range, a loss of 1e999 and NaN: the chart and the progress start at
    step 0, `tail` names the bad step, nothing is drawn at -3."""
    from jobs.progress import ProgressTracker

    run = tmp_path / "cmd"
    (run / "checkpoint-5").mkdir(parents=True)
    (run / "spec.json").write_text("{}")
    big = "9" * 400
    rows = [
        f'{{"step": 1, "loss": 1e999, "epoch": {big}}}',
        f'{{"step": {big}, "loss": 5}}',
        '{"step": -3, "loss": 2}',
        '{"step": 2, "loss": NaN, "learning_rate": true}',
        '{"step": 3, "loss": 0.5}',
    ]
    state = f'{{"global_step": 1e999, "max_steps": {big}, "log_history": [{", ".join(rows)}]}}'
    (run / "checkpoint-5" / "trainer_state.json").write_text(state)
    (run / "checkpoint-5" / "adapter_model.safetensors").write_bytes(b"")
    view = RunView(str(run))
    view.refresh(completion_bytes=0)
    assert view.metrics.series("loss") == ([3.0], [0.5])
    assert min(view.metrics.steps) >= 0
    tracker = ProgressTracker()
    tracker.feed([{"step": 2, "time": 1.0}, {"step": -3, "time": 2.0}])
    assert tracker.step == 2
    res = run_cli("tail", str(run), check=True)
    assert "step ?  loss=2  [invalid: step=-3]" in res.stdout and "Traceback" not in res.stderr
    res = run_cli("compare", str(run), "--plot", "loss", "--width", "60", check=True)
    assert "Traceback" not in res.stderr and "-3" not in res.stdout.splitlines()[-2], res.stdout


@pytest.mark.parametrize("hostile", ["dev_zero", "fifo", "folder_link"])
def test_fetch_refuses_a_checkpoint_holding_a_device_a_pipe_or_a_link_to_a_folder(home, tmp_path, hostile):
    """`arcctl fetch` of a local run followed every link: a file linked to /dev/zero was copied
    until the disk was full, a named pipe blocked, a link to `/` copied the machine. Each is now
    one line naming it, and neither the destination nor a hidden partial copy is left behind."""
    run = tmp_path / "run"
    ck = run / "checkpoint-2"
    ck.mkdir(parents=True)
    (run / "spec.json").write_text("{}")
    (ck / "trainer_state.json").write_text('{"global_step": 2}')
    (ck / "adapter_model.safetensors").write_bytes(b"w" * 1000)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("s")
    (ck / "tokenizer.json").symlink_to(tmp_path / "outside" / "secret")  # a link to a file: copied
    bad = ck / "extra"
    if hostile == "dev_zero":
        bad.symlink_to("/dev/zero")
    elif hostile == "fifo":
        os.mkfifo(bad)
    else:
        bad.symlink_to(tmp_path / "outside")
    dest = tmp_path / "fetched"
    dest.mkdir()
    res = run_cli("fetch", str(run), "2", str(dest / "ck"), timeout=60)
    one_line_error(res, f"{ck}/extra: ", "the checkpoint is not copied")
    assert list(dest.iterdir()) == []
    bad.unlink()
    run_cli("fetch", str(run), "2", str(dest / "ck"), check=True, timeout=60)
    assert (dest / "ck" / "tokenizer.json").read_text() == "s" and not (dest / "ck" / "tokenizer.json").is_symlink()


def test_the_completions_index_keeps_true_offsets_around_a_line_past_the_limit(tmp_path):
    """The completions index maps lines to byte offsets: the line past MAX_LINE_BYTES keeps its
    true extent (the lines after it open at the right place) and is shown as malformed, read only
    up to its first bytes."""
    from jobs.completions import CompletionIndex

    path = tmp_path / "completions.jsonl"
    row = {"id": "1:0", "step": 1, "task_id": "t", "reward": 0.5, "completion": "first"}
    with open(path, "w") as f:
        f.write(json.dumps(row) + "\n")
        f.write(json.dumps({**row, "id": "2:0", "step": 2, "completion": "y" * (MAX_LINE_BYTES + 5)}) + "\n")
        f.write(json.dumps({**row, "id": "3:0", "step": 3, "completion": "third"}) + "\n")
    idx = CompletionIndex(LocalFS(), str(path))
    idx.update(None)
    assert len(idx) == 3 and list(idx.step) == [1, 2, 3]
    first, huge, third = idx.read([0, 1, 2])
    assert (first.text, third.text, third.step) == ("first", "third", 3)
    assert len(huge.text) < 2 * MAX_LINE_BYTES // 100  # its start only, shown as a malformed line
    assert idx.find_id("3:0").text == "third"
