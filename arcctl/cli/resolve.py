"""The RUN argument of every command that reads a run: a run dir, `host:/path/to/run`, or a
registry job (id, id prefix, name) -> the run dir, its host and the file system to read it with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arcctl.cli.errors import UserError

# `[user@]host[:port]:/path`, the host an alias, a name, an IPv4 address or an IPv6 address in
# brackets (`root@[::1]:2222:/runs/x`, as ProxyJump writes one; jobs.ssh_config.parse_hop reads
# it). A user or host starts with a letter, digit or underscore: "-o..." is never taken for one.
_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_V6 = r"\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9_.-]+)?\]"
REMOTE = re.compile(rf"^(?P<host>(?:{_NAME}@)*(?:{_V6}|{_NAME})(?::[0-9]{{1,5}})?):(?P<path>/.*)$")


@dataclass(frozen=True)
class RunTarget:
    run_dir: str
    host: str | None  # None: this machine
    fs: Any  # jobs.rundir.RunFS


def resolve_run(run: str, must_exist: bool = True) -> RunTarget:
    """RUN -> RunTarget. With must_exist, a run dir that is not there (yet) is a UserError naming
    it; without, `arcctl tail` can wait for a job that has not started."""
    from jobs.rundir import LocalFS, fs_for_host

    if not run.strip():  # an unset shell variable: never the current folder
        raise UserError(f"RUN {run!r}: empty; give a run dir, host:/path/to/run or a job id or name")
    m = REMOTE.match(run)
    if m and not Path(run).exists():
        host, path = m["host"], m["path"].rstrip("/") or "/"
        fs = fs_for_host(host)
        if must_exist and not fs.exists(path):
            raise UserError(f"{run}: no such run dir on {host}")
        return RunTarget(path, host, fs)
    p = Path(run).expanduser()
    if p.is_dir():
        return RunTarget(str(p.absolute()), None, LocalFS())
    job = registry_job(run)
    if must_exist and job.host is None and not Path(job.run_dir).is_dir():
        raise UserError(f"job {job.id} ({job.name}): run dir {job.run_dir} does not exist (yet)")
    return RunTarget(job.run_dir, job.host, fs_for_host(job.host))


def registry_job(run: str):
    """The registry job RUN names (id, id prefix or name); a UserError naming RUN when none."""
    from jobs import config
    from jobs.errors import RegistryError
    from jobs.registry import Registry

    if not config.registry_path().exists():  # a read-only command never creates a registry
        raise UserError(f"{run}: not a run dir, and no job {run!r} (no registry at {config.registry_path()})")
    try:
        return Registry().get(run)
    except RegistryError as e:
        raise UserError(f"{run}: not a run dir, and {e}") from None
