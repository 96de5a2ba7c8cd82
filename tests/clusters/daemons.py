"""Start (or reuse) the real daemons the cluster tests need: munge + slurmctld + slurmd, and an
OpenSSH server on loopback with throw-away keys.

Idempotent by design: several test sessions (or helpers' test modules) may ask for the same
daemons; a running instance under the same state dir is reused and only the session that started
it stops it. Ports are chosen free at start time and remembered in the state dir.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SLURM_BINARIES = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "sacct", "scancel", "scontrol")
SSHD_BINARY = "/usr/sbin/sshd"


def missing(binaries) -> list[str]:
    return [b for b in binaries if not (shutil.which(b) or shutil.which(b, path="/usr/sbin:/usr/bin:/sbin"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # a zombie or a recycled pid of another program is not ours
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _stop(pid: int | None, timeout: float = 10.0) -> None:
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------ munge
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")


def ensure_munge() -> int | None:
    """Start munged unless one answers already; returns the pid we started (None if reused)."""
    if MUNGE_SOCKET.exists() and subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
        return None
    subprocess.run(["install", "-d", "-o", "munge", "-g", "munge", "-m", "0755", "/run/munge"], check=True)
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force"], check=True,
                   capture_output=True)
    for _ in range(100):
        if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
            break
        time.sleep(0.05)
    return _read_pid(Path("/run/munge/munged.pid"))


# ------------------------------------------------------------------------------------------ slurm
@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    jobcomp: Path
    hostname: str
    started: list[int] = field(default_factory=list)  # pids this process started (and will stop)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, check=check)

    def stop(self) -> None:
        if self.started:
            # our private cluster: end its jobs so no job step outlives the daemons
            self.run("scancel", "--user", str(os.getuid()), check=False)
            end = time.monotonic() + 10
            while time.monotonic() < end and self.run("squeue", "-h", "-t", "R,CG", check=False).stdout.strip():
                time.sleep(0.2)
        for pid in reversed(self.started):
            _stop(pid)
        self.started.clear()


def _slurm_conf(root: Path, hostname: str, ctl_port: int, d_port: int) -> str:
    cpus = os.cpu_count() or 1
    mem_mb = 1024
    try:
        out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True).stdout
        mem_mb = int(out.split("RealMemory=")[1].split()[0])
    except (IndexError, ValueError, OSError):
        pass
    mem_mb = max(256, int(mem_mb * 0.9))
    return f"""\
ClusterName=arcctltest
SlurmctldHost={hostname}
SlurmctldPort={ctl_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerParameters=batch_sched_delay=0
MinJobAge=600
MaxJobCount=20000
NodeName={hostname} CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _slurm_ready(cluster: SlurmCluster) -> bool:
    r = cluster.run("sinfo", "-h", "-o", "%T", check=False)
    return r.returncode == 0 and any(s in r.stdout for s in ("idle", "mixed", "allocated"))


def ensure_slurm(root: str | Path = "/tmp/arcctl-test-slurm") -> SlurmCluster:
    """A single-node Slurm under `root`; reused when its daemons are alive, started otherwise."""
    root = Path(root)
    hostname = socket.gethostname()
    conf = root / "slurm.conf"
    cluster = SlurmCluster(root, conf, root / "jobcomp.txt", hostname)
    munge_pid = ensure_munge()
    if munge_pid:
        cluster.started.append(munge_pid)
    ctl_pid, d_pid = _read_pid(root / "slurmctld.pid"), _read_pid(root / "slurmd.pid")
    if conf.exists() and _alive(ctl_pid) and _alive(d_pid) and _slurm_ready(cluster):
        return cluster
    # stale pieces from a crashed session: stop them and start clean
    _stop(ctl_pid)
    _stop(d_pid)
    for sub in ("state", "spool"):
        shutil.rmtree(root / sub, ignore_errors=True)
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf.write_text(_slurm_conf(root, hostname, free_port(), free_port()))
    cluster.run("slurmctld", "-c", "-f", str(conf))
    cluster.run("slurmd", "-f", str(conf))
    end = time.monotonic() + 30
    while time.monotonic() < end and not _slurm_ready(cluster):
        time.sleep(0.1)
    if not _slurm_ready(cluster):
        log = (root / "slurmctld.log").read_text()[-2000:] if (root / "slurmctld.log").exists() else ""
        raise RuntimeError(f"local slurm did not become ready; slurmctld.log tail:\n{log}")
    # slurmd deletes its pidfile on SIGTERM: remember the pids now. stop() goes in reverse:
    # slurmctld, slurmd, then munged (only if this session started it)
    for pidfile in ("slurmd.pid", "slurmctld.pid"):
        pid = _read_pid(root / pidfile)
        if pid:
            cluster.started.append(pid)
    return cluster


# ------------------------------------------------------------------------------------------- sshd
@dataclass
class SSHServer:
    root: Path
    port: int
    host_pub: str        # "ssh-ed25519 AAAA..."
    user_key: Path       # private key accepted by the server
    other_key: Path      # a valid key the server does NOT accept
    known_hosts: Path    # contains the server's host key for [127.0.0.1]:port
    pid: int | None
    started: bool

    def ssh_config(self, path: Path, alias: str = "testhost", known_hosts: Path | None = None,
                   identity: Path | None = None, extra: str = "") -> Path:
        path.write_text(
            f"Host {alias}\n  HostName 127.0.0.1\n  Port {self.port}\n  User root\n"
            f"  IdentityFile {identity or self.user_key}\n"
            f"  UserKnownHostsFile {known_hosts or self.known_hosts}\n{extra}"
        )
        return path

    def stop(self) -> None:
        if self.started:
            _stop(self.pid)
            self.started = False


def _keygen(path: Path) -> None:
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def ensure_sshd(root: str | Path = "/tmp/arcctl-test-sshd", setenv: dict[str, str] | None = None) -> SSHServer:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name in ("host_ed25519", "user_ed25519", "other_ed25519"):
        _keygen(root / name)
    host_pub = " ".join((root / "host_ed25519.pub").read_text().split()[:2])
    (root / "authorized_keys").write_text((root / "user_ed25519.pub").read_text())
    state = root / "state.json"
    pid = _read_pid(root / "sshd.pid")
    port = None
    started = False
    if state.exists() and _alive(pid):
        port = json.loads(state.read_text())["port"]
    else:
        _stop(pid)
        port = free_port()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        env_line = ""
        if setenv:
            env_line = "SetEnv " + " ".join(f"{k}={v}" for k, v in setenv.items()) + "\n"
        (root / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {root}/host_ed25519\nPidFile {root}/sshd.pid\n"
            f"AuthorizedKeysFile {root}/authorized_keys\nPermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\nAllowTcpForwarding yes\nMaxSessions 100\nMaxStartups 100\n"
            "Subsystem sftp internal-sftp\n" + env_line
        )
        subprocess.run([SSHD_BINARY, "-f", str(root / "sshd_config"), "-E", str(root / "sshd.log")], check=True)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        pid = _read_pid(root / "sshd.pid")
        state.write_text(json.dumps({"port": port}))
        started = True
    known = root / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    return SSHServer(root, port, host_pub, root / "user_ed25519", root / "other_ed25519", known, pid, started)
