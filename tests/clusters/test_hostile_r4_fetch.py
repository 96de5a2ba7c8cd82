"""`arcctl fetch HOST:/run CHECKPOINT` (the real binary, the real loopback sshd, over paramiko)
of a checkpoint that holds what a copy must not follow: a named pipe (the server's open waited
for a writer: the fetch hung), a link to /dev/zero (read without end into this disk), a link to a
folder that loops, a broken link. Each is one error line naming the file, within seconds, and
nothing half-copied is left; a link to a regular file is copied as its content."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]
ARCCTL = str(Path(sys.executable).parent / "arcctl")


def _fetch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ARCCTL, "fetch", *args], capture_output=True, text=True, env=os.environ, timeout=60)


def _checkpoint(tmp_path: Path) -> Path:
    ck = tmp_path / "run" / "checkpoint-2"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text('{"global_step": 2}')
    (ck / "adapter_model.safetensors").write_bytes(b"w" * 5000)
    (tmp_path / "run" / "spec.json").write_text("{}")
    return ck


@pytest.mark.parametrize("hazard", ["fifo", "dev-zero", "folder-loop", "broken-link"])
def test_a_checkpoint_with_what_cannot_be_copied_is_one_line_and_leaves_nothing(ssh_config, tmp_path, hazard):
    ck = _checkpoint(tmp_path)
    bad = ck / "sub" / "x"
    bad.parent.mkdir()
    if hazard == "fifo":
        os.mkfifo(bad)
    elif hazard == "dev-zero":
        bad.symlink_to("/dev/zero")
    elif hazard == "folder-loop":
        bad.symlink_to("..")
    else:
        bad.symlink_to(tmp_path / "gone")
    dest = tmp_path / "here" / "ck"
    res = _fetch(f"testhost:{ck.parent}", "2", str(dest))
    out = (res.stdout + res.stderr).strip()
    assert res.returncode == 2 and "Traceback" not in out, out
    [line] = out.splitlines()
    assert f"testhost:{bad}" in line and "nothing was fetched" in line, line
    assert not dest.exists() and sorted(p.name for p in dest.parent.iterdir()) == []


def test_a_link_to_a_regular_file_is_copied_as_its_content(ssh_config, tmp_path):
    ck = _checkpoint(tmp_path)
    shared = tmp_path / "shared-tokenizer.json"
    shared.write_text('{"vocab": 1}')
    (ck / "tokenizer.json").symlink_to(shared)
    dest = tmp_path / "here" / "ck"
    res = _fetch(f"testhost:{ck.parent}", "2", str(dest))
    assert res.returncode == 0, res.stdout + res.stderr
    assert (dest / "tokenizer.json").read_text() == '{"vocab": 1}' and not (dest / "tokenizer.json").is_symlink()
    assert (dest / "adapter_model.safetensors").read_bytes() == b"w" * 5000
