"""Round 6b: `tail host:/run` whose metrics.jsonl or events.jsonl is a named pipe or a device (its
size is 0): printed nothing and exited 0 over both transports, as here; now one line naming it."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.cli_jobs.conftest import ARCCTL
from tests.console.test_hostile_r5c_logs_remote import _run, cfg  # noqa: F401 - the ssh config fixture

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]


@pytest.mark.parametrize("fname, flag", [("metrics.jsonl", None), ("events.jsonl", "--events")])
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_remote_run_file_that_is_not_a_regular_file_is_one_line(cfg, tmp_path, fname, flag, kind):  # noqa: F811
    run = _run(tmp_path)
    path = run / fname
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink("/dev/zero", path)
    env = {**os.environ, "ARCCTL_SSH_CONFIG": str(cfg)}
    args = ["tail", f"h:{run}", *([flag] if flag else [])]
    res = subprocess.run([ARCCTL, *args], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2 and res.stdout == "", res
    assert res.stderr.startswith(f"error: {path}: not a regular file") and res.stderr.count("\n") == 1, res.stderr
