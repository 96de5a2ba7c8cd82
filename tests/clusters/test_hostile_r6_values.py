"""Round 6, values from the user's side: a private key other users can read, and a machine whose
time zone is not the cluster's (the real Slurm over the real sshd on loopback)."""

from __future__ import annotations

import shutil
import time

import pytest

from jobs.backends.slurm import SlurmBackend
from jobs.errors import RemoteError
from jobs.ssh_transport import SSHPool
from tests.clusters.cli_lines import one_line
from tests.clusters.conftest import cli, make_spec


@pytest.mark.sshd
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_an_identity_file_other_users_can_read_is_refused(sshd, tmp_path, mode):
    """ssh ignores such a key ("UNPROTECTED PRIVATE KEY FILE!"); paramiko logged in with it."""
    key = tmp_path / "id_shared"
    shutil.copyfile(sshd.user_key, key)
    key.chmod(mode)
    cfg = sshd.ssh_config(tmp_path / "ssh_config", identity=key)
    with pytest.raises(RemoteError) as e:
        SSHPool(cfg).exec("testhost", "true")
    assert str(e.value) == (
        f"IdentityFile {key} for host testhost can be read by other users (mode {mode:04o}); "
        f"ssh refuses such a key: `chmod 600 {key}`"
    )
    res = cli({"ARCCTL_SSH_CONFIG": str(cfg)}, "tail", "testhost:/runs/x", check=False)
    one_line(res, str(key), "chmod 600")
    key.chmod(0o600)  # the same key, private: logs in
    assert SSHPool(cfg).exec("testhost", "true")[0] == 0


@pytest.mark.slurm
@pytest.mark.sshd
@pytest.mark.timeout(90)
def test_crash_recovery_confirms_a_job_of_a_cluster_in_another_time_zone(slurm, ssh_config, tmp_path, monkeypatch):
    """squeue prints SubmitTime in the cluster's local time without a zone, and `find` read it in
    this machine's: seen from a machine 9 hours ahead of the cluster every job was submitted 9
    hours before its spec was made, so a submit interrupted after sbatch was marked never-run
    while its job ran."""
    b = SlurmBackend({"slurm_conf": str(slurm.conf)}, host="testhost")
    spec = make_spec(tmp_path / "zoned", "zoned", env={"FAKE_STEPS": 1, "FAKE_STEP_S": 0})
    job = b.submit(spec)
    assert b.find(spec) == job
    monkeypatch.setenv("TZ", "JST-9")  # this machine in Tokyo; the cluster (sshd's zone) in UTC
    time.tzset()
    try:
        assert b.find(spec) == job
        # a spec made after the job: still not this job's (the clock comparison still works)
        later = spec.model_copy(update={"created": spec.created.replace(year=spec.created.year + 1)})
        assert b.find(later) is None
    finally:
        monkeypatch.undo()
        time.tzset()
