"""The paramiko transport against a real OpenSSH server on a loopback port (throw-away keys), and
the Slurm backend driven over it."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from jobs.backends.base import JobState
from jobs.backends.slurm import SlurmBackend
from jobs.errors import RemoteError, SpecError
from jobs.ssh_transport import SFTPFS, SSHPool, resolve_host
from jobs.rundir import METRICS, JsonlTail, read_jsonl
from jobs.scheduler_shell import SSHShell
from tests.clusters import daemons
from tests.clusters.conftest import make_spec, wait_for

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]


def _dead(pid: int) -> bool:
    """Gone, or a zombie its parent has not reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_host_resolution_from_ssh_config(ssh_config, sshd):
    h = resolve_host("testhost")
    assert (h.hostname, h.port, h.user) == ("127.0.0.1", sshd.port, "root")
    assert h.identity_files == [str(sshd.user_key)] and h.known_hosts == [str(sshd.known_hosts)]


def test_one_reused_connection_and_reconnect_after_drop(ssh_config, sshd):
    pool = SSHPool()
    assert pool.exec("testhost", "echo hi; echo err >&2; exit 3") == (3, "hi\n", "err\n")
    assert pool.exec("testhost", "cat", input="piped") == (0, "piped", "")
    assert pool.connects == 1
    # 1) our side drops the transport
    pool.client("testhost").get_transport().close()
    assert pool.exec("testhost", "echo back")[1] == "back\n"
    assert pool.connects == 2
    # 2) the server side dies under us: the sshd process serving this connection (only ours: the
    #    daemon may be shared with other test sessions) is killed
    session_pid = int(pool.exec("testhost", "echo $PPID")[1])
    assert "sshd" in open(f"/proc/{session_pid}/cmdline").read()
    os.kill(session_pid, signal.SIGKILL)
    wait_for(lambda: _dead(session_pid), timeout=10, what=f"sshd session {session_pid} to die")
    assert pool.exec("testhost", "echo again")[1] == "again\n"
    assert pool.connects == 3
    pool.close()


def test_unknown_host_key_is_refused_with_its_fingerprint(sshd, tmp_path, monkeypatch):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    monkeypatch.setenv("ARCCTL_SSH_CONFIG", str(sshd.ssh_config(tmp_path / "cfg", known_hosts=empty)))
    expected = subprocess.run(
        ["ssh-keygen", "-lf", str(sshd.root / "host_ed25519.pub")], capture_output=True, text=True
    ).stdout.split()[1]
    with pytest.raises(RemoteError) as e:
        SSHPool().exec("testhost", "true")
    assert "testhost" in str(e.value) and "unknown" in str(e.value) and expected in str(e.value)
    assert empty.read_text() == ""  # never silently added


def test_changed_host_key_is_refused(sshd, tmp_path, monkeypatch):
    wrong = tmp_path / "known_hosts"
    other_pub = " ".join((sshd.root / "other_ed25519.pub").read_text().split()[:2])
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {other_pub}\n")
    monkeypatch.setenv("ARCCTL_SSH_CONFIG", str(sshd.ssh_config(tmp_path / "cfg", known_hosts=wrong)))
    with pytest.raises(RemoteError, match=r"host key of testhost .*CHANGED.*SHA256:"):
        SSHPool().exec("testhost", "true")


def test_permission_denied_names_host_and_key(sshd, tmp_path, monkeypatch):
    monkeypatch.setenv("ARCCTL_SSH_CONFIG", str(sshd.ssh_config(tmp_path / "cfg", identity=sshd.other_key)))
    with pytest.raises(RemoteError, match=r"permission denied for testhost .*other_ed25519"):
        SSHPool().exec("testhost", "true")


def test_bad_key_file_and_unreachable_host(sshd, tmp_path, monkeypatch):
    bad = tmp_path / "id_bad"
    bad.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n")
    monkeypatch.setenv("ARCCTL_SSH_CONFIG", str(sshd.ssh_config(tmp_path / "cfg", identity=bad)))
    with pytest.raises(RemoteError, match=r"IdentityFile .*id_bad for host testhost is not a usable private key"):
        SSHPool().exec("testhost", "true")
    closed = daemons.free_port()
    cfg = tmp_path / "cfg2"
    cfg.write_text(f"Host deadhost\n  HostName 127.0.0.1\n  Port {closed}\n  IdentityFile {sshd.user_key}\n")
    monkeypatch.setenv("ARCCTL_SSH_CONFIG", str(cfg))
    with pytest.raises(RemoteError, match=rf"cannot reach deadhost \(.*127.0.0.1:{closed}\)"):
        SSHPool(connect_timeout=3).exec("deadhost", "true")


def test_proxy_jump(sshd, tmp_path, monkeypatch):
    cfg = sshd.ssh_config(tmp_path / "cfg")
    cfg.write_text(
        cfg.read_text() + f"Host behind\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
        f"  IdentityFile {sshd.user_key}\n  UserKnownHostsFile {sshd.known_hosts}\n  ProxyJump testhost\n"
        f"Host behind2\n  HostName 127.0.0.1\n  Port {sshd.port}\n  IdentityFile {sshd.user_key}\n"
        f"  UserKnownHostsFile {sshd.known_hosts}\n  ProxyJump root@testhost:{sshd.port}\n"
    )
    monkeypatch.setenv("ARCCTL_SSH_CONFIG", str(cfg))
    pool = SSHPool()
    assert pool.exec("behind", "echo via-jump")[1] == "via-jump\n"
    assert set(pool._clients) == {"testhost", "behind"}
    # ProxyJump in its [user@]host[:port] form
    assert pool.exec("behind2", "whoami")[1] == "root\n"
    assert f"root@testhost:{sshd.port}" in pool._clients
    pool.close()


@pytest.mark.slurm
@pytest.mark.timeout(180)
def test_submit_to_slurm_over_ssh_and_tail_the_remote_run_dir(slurm, ssh_config, tmp_path):
    pool = SSHPool()
    b = SlurmBackend({"slurm_conf": str(slurm.conf)}, host="testhost", shell=SSHShell("testhost", pool))
    run = tmp_path / "remote-run"  # on the sshd host (loopback); written through SFTP
    job = b.submit(make_spec(run, "remote", host="testhost", env={"FAKE_STEPS": 8, "FAKE_STEP_S": 0.25}))
    assert job.isdigit() and (run / "job.sbatch").exists()
    fs = SFTPFS("testhost", pool)
    tail = JsonlTail(str(run / METRICS), fs)
    seen: list[dict] = []
    states = set()
    dropped = []

    def progress():
        seen.extend(tail.read_new())
        st = b.status([job])[job]
        states.add(st.state)
        if seen and not dropped:  # a drop mid-tail: the reader carries on from its byte offset
            pool.client("testhost").get_transport().close()
            dropped.append(len(seen))
        return st.state.terminal and st

    final = wait_for(progress, timeout=90, interval=0.1, what="remote job to finish")
    seen.extend(tail.read_new())
    assert final.state is JobState.COMPLETED and final.exit_code == 0
    assert JobState.RUNNING in states
    assert seen == read_jsonl(run / METRICS) and [m["step"] for m in seen] == list(range(1, 9))
    assert pool.connects >= 2 and dropped[0] < 8  # reconnected after a drop mid-run
    assert [c for c in fs.listdir(str(run)) if c.startswith("checkpoint-")]
    long = b.submit(make_spec(tmp_path / "long", "long", host="testhost", env={"FAKE_STEPS": 500}))
    b.cancel(long)
    assert wait_for(lambda: b.status([long])[long].state is JobState.CANCELLED, what="cancel over ssh")
    pool.close()


@pytest.mark.slurm
def test_without_slurm_conf_over_ssh_the_error_names_the_host(slurm, ssh_config, tmp_path):
    """A non-interactive ssh session has no SLURM_CONF: the profile must give it; the error says where."""
    b = SlurmBackend({}, host="testhost")
    with pytest.raises(Exception, match="sbatch failed on testhost"):
        b.submit(make_spec(tmp_path / "noconf", "noconf", host="testhost"))


def test_agent_auth_without_identity_file(sshd, tmp_path, monkeypatch):
    """No IdentityFile in the config: the key comes from a real ssh-agent."""
    sock = tmp_path / "agent.sock"
    agent = subprocess.run(["ssh-agent", "-a", str(sock), "-s"], capture_output=True, text=True, check=True)
    pid = int(agent.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", str(sshd.user_key)], env=env, capture_output=True, check=True)
        cfg = tmp_path / "cfg"
        cfg.write_text(
            f"Host agenthost\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
            f"  UserKnownHostsFile {sshd.known_hosts}\n"
        )
        monkeypatch.setenv("ARCCTL_SSH_CONFIG", str(cfg))
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/id_* to fall back on
        pool = SSHPool()
        assert pool.exec("agenthost", "echo agent")[1] == "agent\n"
        pool.close()
        monkeypatch.delenv("SSH_AUTH_SOCK")
        with pytest.raises(RemoteError, match="permission denied for agenthost .*no key to offer.*ssh-agent"):
            SSHPool().exec("agenthost", "true")
    finally:
        os.kill(pid, signal.SIGTERM)


def test_remote_runs_root_is_expanded_by_the_host(ssh_config, tmp_path):
    """A profile's `~`/$USER are the remote user's: expanded by the host's shell at submit time."""
    from jobs.ssh_transport import expand_path
    from jobs.registry import Registry
    from jobs.submit import submit_spec
    from tests.clusters import condor_standin as standin
    from tests.clusters.test_htcondor import grpo_seed

    pool = SSHPool()
    home = pool.exec("testhost", 'printf %s "$HOME"')[1]
    assert expand_path("testhost", "~/runs/$USER/a b", pool) == f"{home}/runs/root/a b"
    assert expand_path("testhost", '/x/"q"/$USER', pool) == '/x/"q"/root'
    with pytest.raises(RemoteError, match="testhost: cannot expand '/x/\\$ARCCTL_NO_SUCH_VAR'"):
        expand_path("testhost", "/x/$ARCCTL_NO_SUCH_VAR", pool)
    with pytest.raises(RemoteError, match="command substitution"):
        expand_path("testhost", "/x/$(touch /tmp/pwned)", pool)

    state, bindir = tmp_path / "state", tmp_path / "bin"
    standin.install(bindir, state)
    reg = Registry(tmp_path / "registry.db")
    spec = grpo_seed(name="r").model_copy(
        update={
            "run_dir": f"{tmp_path}/$USER/runs/r",
            "host": "testhost",
            "backend_options": {"bin_dir": str(bindir), "docker_image": "img"},
        }
    )
    jid = submit_spec(spec, reg)
    job = reg.get(jid)
    assert job.run_dir == f"{tmp_path}/root/runs/r" == job.spec().run_dir
    assert (tmp_path / "root" / "runs" / "r" / "job.sub").exists()
    # the same unexpanded path again: seen as taken once expanded (an auto name moves on)
    with pytest.raises(SpecError, match=f"run dir {tmp_path}/root/runs/r on testhost belongs to another job"):
        submit_spec(spec, reg)
    again = reg.get(submit_spec(spec, reg, rename_on_conflict=True))
    assert (again.name, again.run_dir) == ("r-2", f"{tmp_path}/root/runs/r-2")
