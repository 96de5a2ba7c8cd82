"""The one RUN resolver behind `tail`, `fetch`, `health` and `open`: a run dir, `host:/path`, or a
registry job -> run dir, host and file system; bad input is one UserError naming what was given."""

from __future__ import annotations

from pathlib import Path

import pytest

from arcctl.cli.errors import UserError
from arcctl.cli.resolve import resolve_run
from jobs import config
from jobs.registry import Registry
from jobs.rundir import LocalFS
from jobs.spec import JobSpec


def _job(run_dir: Path, name: str = "r1", host: str | None = None) -> str:
    spec = JobSpec(
        kind="grpo",
        name=name,
        template="grpo",
        run_dir=str(run_dir),
        host=host,
        backend="slurm" if host else "local",
        params={"model_path": "m", "dataset": "d"},
    )
    return Registry().reserve(spec)


def test_a_run_dir_is_taken_as_it_is(home, tmp_path, monkeypatch):
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "runs")
    t = resolve_run("a")
    assert (t.run_dir, t.host, isinstance(t.fs, LocalFS)) == (str(run), None, True)
    assert not config.registry_path().exists()  # reading never creates a registry


def test_host_path_names_a_remote_run(home):
    from jobs.ssh_transport import SFTPFS

    t = resolve_run("gpu-box:/data/runs/a/", must_exist=False)  # no connection is made yet
    assert (t.run_dir, t.host, isinstance(t.fs, SFTPFS)) == ("/data/runs/a", "gpu-box", True)


def test_what_is_neither_is_one_clear_error(home):
    for arg in ("nope", "-oProxyCommand=touch /tmp/x:/tmp/run", "host:relative/path"):
        with pytest.raises(UserError) as e:
            resolve_run(arg)
        assert str(e.value).startswith(f"{arg}: not a run dir, and no job {arg!r}")
    assert not config.registry_path().exists()


def test_registry_jobs_by_id_and_name(home, tmp_path):
    here, gone = tmp_path / "here", tmp_path / "gone"
    here.mkdir()
    jid = _job(here)
    _job(gone, name="r2")
    remote = _job(Path("/scratch/r3"), name="r3", host="cluster")
    assert resolve_run(jid).run_dir == str(here) and resolve_run("r1").host is None
    with pytest.raises(UserError, match=r"job .* \(r2\): run dir .*gone does not exist \(yet\)"):
        resolve_run("r2")
    assert resolve_run("r2", must_exist=False).run_dir == str(gone)  # `tail` waits for it
    t = resolve_run(remote)
    assert (t.run_dir, t.host) == ("/scratch/r3", "cluster")
    with pytest.raises(UserError, match="not a run dir, and no job 'r9'"):
        resolve_run("r9")
