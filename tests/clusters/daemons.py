"""Start (or reuse) the real daemons the cluster tests need: munge + slurmctld + slurmd, and an
OpenSSH server on loopback with throw-away keys.

Idempotent and shared: several test sessions (and other test modules, e.g. tests/health) may ask
for the same daemons at once. Each `ensure_*` call takes a lease (a file naming its pid) under the
state dir; `stop()` gives the lease back and stops the daemons only when no live process holds one,
so a session never pulls a daemon from under another. Start/stop run under a file lock. Ports are
chosen free at start time and remembered in the state dir.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from contextlib import contextmanager
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
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


@contextmanager
def _locked(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _take_lease(root: Path) -> Path:
    d = root / "leases"
    d.mkdir(parents=True, exist_ok=True)
    lease = d / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    lease.write_text("")
    return lease


@contextmanager
def _giving_back(holder):
    """Give `holder`'s lease back (under the lock); yields True when no other live session holds
    one, and the caller then stops the daemons, still under the lock."""
    if holder.lease is None:
        yield False
        return
    with _locked(holder.root):
        others = _other_live_leases(holder.root, holder.lease)
        holder.lease.unlink(missing_ok=True)
        holder.lease = None
        yield not others


def _other_live_leases(root: Path, mine: Path | None) -> list[Path]:
    out = []
    for lease in (root / "leases").glob("*"):
        if lease == mine:
            continue
        try:
            pid = int(lease.name.split("-")[0])
        except ValueError:
            continue
        if _alive(pid):
            out.append(lease)
        else:
            lease.unlink(missing_ok=True)  # a crashed session's lease
    return out


# ------------------------------------------------------------------------------------------ munge
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")


def ensure_munge() -> int | None:
    """Start munged unless one answers already; returns the pid we started (None if reused)."""
    if MUNGE_SOCKET.exists() and subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
        return None
    subprocess.run(["install", "-d", "-o", "munge", "-g", "munge", "-m", "0755", "/run/munge"], check=True)
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force"], check=True, capture_output=True)
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
    lease: Path | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, check=check)

    def stop(self) -> None:
        """Give the lease back; the last user stops the daemons (and munged if a lease-holder
        started it)."""
        with _giving_back(self) as last:
            if not last:
                return
            # our private cluster: end its jobs so no job step outlives the daemons
            self.run("scancel", "--user", str(os.getuid()), check=False)
            end = time.monotonic() + 10
            while time.monotonic() < end and self.run("squeue", "-h", "-t", "R,CG", check=False).stdout.strip():
                time.sleep(0.2)
            pids = json.loads((self.root / "pids.json").read_text()) if (self.root / "pids.json").exists() else {}
            for name in ("slurmctld", "slurmd", "munged"):
                _stop(pids.get(name))
            (self.root / "pids.json").unlink(missing_ok=True)


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
    """A single-node Slurm under `root`; reused when its daemons are alive, started otherwise.
    Call `.stop()` when done (it only stops the daemons if nobody else is using them)."""
    root = Path(root)
    with _locked(root):
        cluster = _ensure_slurm(root)
        cluster.lease = _take_lease(root)
        return cluster


def _ensure_slurm(root: Path) -> SlurmCluster:
    hostname = socket.gethostname()
    conf = root / "slurm.conf"
    cluster = SlurmCluster(root, conf, root / "jobcomp.txt", hostname)
    pids_file = root / "pids.json"
    pids = json.loads(pids_file.read_text()) if pids_file.exists() else {}
    munge_pid = ensure_munge()
    if munge_pid:
        pids["munged"] = munge_pid
        pids_file.write_text(json.dumps(pids))
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
    # slurmd deletes its pidfile on SIGTERM: remember the pids now
    pids.update(slurmctld=_read_pid(root / "slurmctld.pid"), slurmd=_read_pid(root / "slurmd.pid"))
    pids_file.write_text(json.dumps(pids))
    return cluster


# ------------------------------------------------------------------------------------------- sshd
@dataclass
class SSHServer:
    root: Path
    port: int
    host_pub: str  # "ssh-ed25519 AAAA..."
    user_key: Path  # private key accepted by the server
    other_key: Path  # a valid key the server does NOT accept
    known_hosts: Path  # contains the server's host key for [127.0.0.1]:port
    pid: int | None
    lease: Path | None = None

    def ssh_config(
        self,
        path: Path,
        alias: str = "testhost",
        known_hosts: Path | None = None,
        identity: Path | None = None,
        extra: str = "",
    ) -> Path:
        path.write_text(
            f"Host {alias}\n  HostName 127.0.0.1\n  Port {self.port}\n  User root\n"
            f"  IdentityFile {identity or self.user_key}\n"
            f"  UserKnownHostsFile {known_hosts or self.known_hosts}\n{extra}"
        )
        return path

    def stop(self) -> None:
        """Give the lease back; the last user stops sshd."""
        with _giving_back(self) as last:
            if last:
                _stop(self.pid)


def _write_if_changed(path: Path, text: str) -> None:
    """Atomic and only when different: another session's sshd or client may be reading it."""
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def _keygen(path: Path) -> None:
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _sshd_version() -> tuple[int, int]:
    out = subprocess.run([SSHD_BINARY, "-V"], capture_output=True, text=True)
    m = __import__("re").search(r"OpenSSH_(\d+)\.(\d+)", out.stderr + out.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def ensure_sshd(
    root: str | Path = "/tmp/arcctl-test-sshd", setenv: dict[str, str] | None = None, config: str = ""
) -> SSHServer:
    """CONFIG: sshd_config lines of this server's own (a `Subsystem sftp` line replaces the
    default internal-sftp one)."""
    root = Path(root)
    with _locked(root):
        server = _ensure_sshd(root, setenv, config)
        server.lease = _take_lease(root)
        return server


def _ensure_sshd(root: Path, setenv: dict[str, str] | None, config: str = "") -> SSHServer:
    for name in ("host_ed25519", "user_ed25519", "other_ed25519"):
        _keygen(root / name)
    host_pub = " ".join((root / "host_ed25519.pub").read_text().split()[:2])
    _write_if_changed(root / "authorized_keys", (root / "user_ed25519.pub").read_text())
    state = root / "state.json"
    pid = _read_pid(root / "sshd.pid")
    if state.exists() and _alive(pid):
        port = json.loads(state.read_text())["port"]
    else:
        _stop(pid)
        port = free_port()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        extra = ""
        if setenv:
            extra += "SetEnv " + " ".join(f"{k}={v}" for k, v in setenv.items()) + "\n"
        if _sshd_version() >= (9, 8):
            extra += "PerSourcePenalties no\n"  # the tests kill sessions and fail logins on purpose
        (root / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {root}/host_ed25519\nPidFile {root}/sshd.pid\n"
            f"AuthorizedKeysFile {root}/authorized_keys\nPermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\nAllowTcpForwarding yes\nMaxSessions 100\nMaxStartups 100\n"
            + ("" if "Subsystem sftp" in config else "Subsystem sftp internal-sftp\n")
            + extra
            + config
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
    known = root / "known_hosts"
    _write_if_changed(known, f"[127.0.0.1]:{port} {host_pub}\n")
    return SSHServer(root, port, host_pub, root / "user_ed25519", root / "other_ed25519", known, pid)
