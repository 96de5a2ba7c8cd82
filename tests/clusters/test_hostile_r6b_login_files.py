"""A paramiko host whose login prints to stdout (round 6b): SFTP cannot start there (round 6 made
that one line), and a submit's spec and scripts were written through SFTP, so nothing could be
submitted to such a host. Now, once SFTP is found unusable, files are written through the exec
channel (`cat > tmp && mv`, the banner dropped by the marker), and jobs.ssh_exec_files reads run
dirs the same way. The server is the real sshd with a ForceCommand that prints a banner
(tests.clusters.test_hostile_r6_login); the submit is to the real Slurm."""

from __future__ import annotations

import os
import stat

import pytest

from jobs.backends.base import JobState
from jobs.backends.slurm import SlurmBackend
from jobs.errors import RemoteError
from jobs.scheduler_shell import SSHShell
from jobs.ssh_exec_files import exec_fs
from tests.clusters.conftest import make_spec, wait_for
from tests.clusters.test_hostile_r6_login import banner_paramiko_pool, banner_sshd  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(180)]


@pytest.fixture
def pool(banner_paramiko_pool):
    return banner_paramiko_pool


def test_files_are_written_through_commands_when_sftp_cannot_start(pool, tmp_path):
    target = tmp_path / "new" / "dir" / "job.sh"
    pool.write_text("h", str(target), "#!/bin/bash\necho 'héllo'\n", mode=0o750)  # was "cannot open SFTP on h"
    assert target.read_text() == "#!/bin/bash\necho 'héllo'\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert not (tmp_path / "new" / "dir" / "job.sh.tmp").exists()
    assert pool.no_sftp("h")
    pool.makedirs("h", str(tmp_path / "a" / "b"))
    assert (tmp_path / "a" / "b").is_dir()
    # a write that fails is still one line naming the host
    with pytest.raises(RemoteError) as e:
        pool.write_text("h", "/proc/arcctl-nope/x", "x")
    assert str(e.value).startswith("h: ") and "\n" not in str(e.value)


def test_run_dir_reads_through_commands(pool, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.json").write_text('{"name": "x"}\n')
    (run / "blob").write_bytes(bytes(range(256)) * 10)
    os.mkfifo(run / "fifo")
    fs = exec_fs(pool, "h")
    assert fs.read_text(str(run / "spec.json")) == '{"name": "x"}\n'
    assert fs.size(str(run / "blob")) == 2560 and fs.exists(str(run / "spec.json"))
    assert sorted(fs.listdir(str(run))) == ["blob", "fifo", "spec.json"]
    with fs.open_binary(str(run / "blob")) as f:
        f.seek(255)
        assert f.read(3) == bytes([255, 0, 1])  # bytes, not text: the banner and decoding kept out
    from jobs.ssh_answers import NotRegularFile

    with pytest.raises(NotRegularFile):
        fs.read_text(str(run / "fifo"))


def test_a_slurm_submit_to_a_host_whose_login_prints(slurm, pool, tmp_path):
    run = tmp_path / "run"
    backend = SlurmBackend({"slurm_conf": str(slurm.conf)}, host="h", shell=SSHShell("h", pool))
    spec = make_spec(run, host="h")
    job = backend.submit(spec)
    assert (run / "spec.json").exists() and job
    wait_for(lambda: backend.status([job])[job].state is JobState.COMPLETED, timeout=120, what="the job to complete")


def test_sftp_run_dir_reader_falls_back_to_commands_on_a_printing_login(pool, tmp_path):
    # what `arcctl tail`, `logs` and the dashboard use for a paramiko host: it failed with
    # "cannot open SFTP on h" at every read; the first read now learns it and reads through commands
    from jobs.sftp_runfs import SFTPFS

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "reward": 0.5}\n')
    fs = SFTPFS("h", pool)
    assert not pool.no_sftp("h")
    assert fs.read_text(str(run / "metrics.jsonl")) == '{"step": 1, "reward": 0.5}\n'
    assert pool.no_sftp("h")
    assert fs.listdir(str(run)) == ["metrics.jsonl"] and fs.exists(str(run / "metrics.jsonl"))
    assert not fs.exists(str(run / "nope"))
    fresh = SFTPFS("h", pool)  # a second reader of the same pool goes straight to commands
    assert fresh.size(str(run / "metrics.jsonl")) == 27
