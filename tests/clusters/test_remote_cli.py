"""`arcctl hosts` and `arcctl fetch` against the real loopback sshd, through the real CLI entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]
ARCCTL = str(Path(sys.executable).parent / "arcctl")


def cli(*args, env=None, cwd=None):
    return subprocess.run(
        [ARCCTL, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env={**os.environ, **(env or {})}
    )


def _run_dir(root: Path) -> Path:
    run = root / "remote-run"
    for step, valid in ((100, True), (200, True), (300, False)):
        ck = run / f"checkpoint-{step}"
        ck.mkdir(parents=True)
        (ck / "adapter_model.safetensors").write_bytes(os.urandom(2048))
        if valid:
            (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        (ck / "sub").mkdir()
        (ck / "sub" / "rng.pt").write_bytes(b"rng")
    (run / "spec.json").write_text("{}")
    return run


def test_hosts_reports_reachable_and_failing_hosts(sshd, ssh_config, tmp_path):
    res = cli("hosts", env={"ARCCTL_SSH_CONFIG": str(ssh_config)})
    assert res.returncode == 0, res.stderr
    assert "testhost" in res.stdout and f"127.0.0.1:{sshd.port}" in res.stdout and " ok " in res.stdout

    empty = tmp_path / "kh"
    empty.write_text("")
    cfg = sshd.ssh_config(tmp_path / "cfg", known_hosts=empty)
    res = cli("hosts", "testhost", env={"ARCCTL_SSH_CONFIG": str(cfg)})
    assert res.returncode == 1 and "FAILED" in res.stdout and "SHA256:" in res.stdout
    fp = res.stdout.split("fingerprint is ")[1].split(";")[0]
    assert empty.read_text() == ""

    wrong = cli(
        "hosts",
        "testhost",
        "--trust",
        "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        env={"ARCCTL_SSH_CONFIG": str(cfg)},
    )
    assert wrong.returncode == 2 and "fingerprint mismatch" in wrong.stderr and "Traceback" not in wrong.stderr
    assert empty.read_text() == ""
    ok = cli("hosts", "testhost", "--trust", fp, env={"ARCCTL_SSH_CONFIG": str(cfg)})
    assert ok.returncode == 0, ok.stderr + ok.stdout
    assert f"added key {fp}" in ok.stdout and " ok " in ok.stdout
    assert empty.read_text().startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")


def test_fetch_copies_a_checkpoint_back_over_sftp(ssh_config, tmp_path):
    run = _run_dir(tmp_path / "cluster")
    env = {"ARCCTL_SSH_CONFIG": str(ssh_config), "ARCCTL_HOME": str(tmp_path / "home")}
    res = cli("fetch", f"testhost:{run}", "newest", str(tmp_path / "here"), env=env)
    assert res.returncode == 0, res.stderr
    got = tmp_path / "here"
    assert (got / "trainer_state.json").read_text() == (run / "checkpoint-200" / "trainer_state.json").read_text()
    assert (got / "adapter_model.safetensors").read_bytes() == (
        run / "checkpoint-200" / "adapter_model.safetensors"
    ).read_bytes()
    assert (got / "sub" / "rng.pt").read_bytes() == b"rng"
    assert "testhost:" in res.stdout

    # into an existing directory: DEST/<checkpoint>; a second copy is refused, nothing overwritten
    (tmp_path / "dl").mkdir()
    assert cli("fetch", f"testhost:{run}", "100", str(tmp_path / "dl"), env=env).returncode == 0
    assert (tmp_path / "dl" / "checkpoint-100" / "trainer_state.json").exists()
    again = cli("fetch", f"testhost:{run}", "checkpoint-100", str(tmp_path / "dl"), env=env)
    assert again.returncode == 2 and "already exists" in again.stderr

    bad = cli("fetch", f"testhost:{run}", "300", str(tmp_path / "x"), env=env)
    assert bad.returncode == 2 and "checkpoint-300: not a usable checkpoint (missing trainer_state.json)" in bad.stderr
    missing = cli("fetch", f"testhost:{run}", "999", str(tmp_path / "x"), env=env)
    assert missing.returncode == 2 and "no checkpoint-999" in missing.stderr and "checkpoint-100" in missing.stderr
    assert not (tmp_path / "x").exists()
