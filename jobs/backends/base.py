"""The backend interface every scheduler implements (local, htcondor, slurm)."""

from __future__ import annotations

import math
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum

from typing import TYPE_CHECKING, Any, Callable

from jobs.errors import JobsError
from jobs.rundir import MAX_INT, decimal_int

if TYPE_CHECKING:  # annotations only: polling status must not pay for the pydantic models
    from jobs.scheduler_shell import Shell
    from jobs.spec import JobSpec


class JobState(str, Enum):
    QUEUED = "queued"  # accepted, waiting for resources
    RUNNING = "running"
    HELD = "held"  # HTCondor hold (e.g. memory exceeded); needs action
    EVICTED = "evicted"  # preempted/evicted; may come back by itself
    COMPLETED = "completed"  # exit code 0
    FAILED = "failed"  # non-zero exit code or scheduler failure
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


def printable(text: str) -> str:
    """TEXT with control characters written out (\\x1b, \\n): what a scheduler prints (a hold
    reason, a state name) reaches `arcctl ls`, the dashboard and the registry, and an escape
    sequence in it could rewrite the user's terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


MAX_CLOCK_OFFSET_S = 366 * 24 * 3600  # a host clock further off than a year is broken, not behind

# The registry keeps exit codes as SQLite integers (64 bits): a scheduler's exit code past that
# (sacct printing `99999999999999999999:0`, a condor_q ExitCode of 1e30 digits) was an
# OverflowError out of the whole refresh's transaction, every job's new state lost with it:
# MAX_INT (jobs.rundir) bounds them.


def job_number(text: object) -> int | None:
    """TEXT as a scheduler's job number (Slurm's and HTCondor's are 32-bit), or None for one that
    is not: no digits, or more than a 64-bit integer holds (int() of a 5000-digit id was a
    ValueError, "Exceeds the limit … for integer string conversion", out of crash recovery)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text if 0 <= text <= MAX_INT else None
    return decimal_int(text)


@dataclass
class JobStatus:
    state: JobState
    exit_code: int | None = None
    reason: str | None = None  # short machine-readable reason (e.g. "memory_exceeded", "preempted")
    detail: str | None = None  # one human sentence (hold reason, suggestion)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.exit_code is not None and not -MAX_INT - 1 <= self.exit_code <= MAX_INT:
            self.exit_code = None  # no process exits so: garbage, which the registry cannot hold
        # reason, detail and extra come from scheduler output: no control characters in them
        if isinstance(self.reason, str):
            self.reason = printable(self.reason)
        if isinstance(self.detail, str):
            self.detail = printable(self.detail)
        for k, v in self.extra.items():
            if isinstance(v, str):
                self.extra[k] = printable(v)


def check_labels(spec: JobSpec) -> None:
    """The job's name, template and profile head its job script / submit description as a comment
    line: a newline in one (a hand-edited or forked spec.json) started a line of its own there, a
    shell command in the sbatch script or a submit command in HTCondor's."""
    for what in ("name", "template", "profile"):
        value = getattr(spec, what)
        bad = next((c for c in value if not c.isprintable()), None)
        if bad is not None:
            raise BackendError(f"job {what} {value!r} contains the control character {bad!r}; not rendering it")


@dataclass
class LaunchArtifact:
    """What the backend would run: a command line, a submit description or an sbatch script."""

    kind: str  # "command", "condor_submit", "sbatch"
    text: str
    filename: str | None = None  # written into the run dir on submit


class BackendError(JobsError):
    """A user-facing failure: the message names the host, file or field."""


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_name_error(name: str, user: bool = True) -> str | None:
    """Why NAME cannot be an environment variable every backend can set (the sbatch script
    exports it, HTCondor's environment command and `env` parse it), or None when it can. A `user`
    (profile) value may not set what arcctl or the scheduler sets for the job."""
    if not _ENV_NAME.match(name):
        return f"{name!r} is not an environment variable name (letters, digits and _ only, not starting with a digit)"
    if user and (name in _RESERVED_ENV or name.startswith(_RESERVED_ENV_PREFIXES)):
        return (
            f"{name} is set for the job by arcctl or the scheduler: a profile's value would put the job "
            "on another job's GPUs, in another run dir, or requeue another job"
        )
    return None


# What arcctl and the schedulers set in a job's environment, and the job script relies on.
_RESERVED_ENV = {"CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_JOBID", "SLURM_RESTART_COUNT"}
_RESERVED_ENV_PREFIXES = ("ARCCTL_", "_CONDOR_")


def check_env(env: dict, where: str, user: bool = True) -> dict[str, str]:
    """The environment as strings; BackendError naming WHERE and the key for a bad name or a
    value with a NUL byte (no process environment can carry one)."""
    out = {}
    for k, v in env.items():
        why = env_name_error(str(k), user)
        if why:
            raise BackendError(f"{where}: [env] {why}")
        if "\0" in str(v):
            raise BackendError(f"{where}: [env] {k} contains a NUL byte")
        out[str(k)] = str(v)
    return out


def _is_number(v: Any, top: float) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= top


# What each kind of option value must be: TOML gives any type, and a wrong one was used as it came
# (a string of sbatch_args became one #SBATCH line per character, requeue = "false" requeued).
_OPTION_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "text": ("a string", lambda v: isinstance(v, str)),
    "flag": ("true or false", lambda v: isinstance(v, bool)),
    "flag_or_text": ("true, false or a string", lambda v: isinstance(v, (bool, str))),
    "texts": ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
    "seconds": ("a number of seconds (0 to 1e7)", lambda v: _is_number(v, 1e7)),
    "count": ("a whole number (0 to 1e6)", lambda v: isinstance(v, int) and _is_number(v, 1e6)),
    "table": (
        "a table of names to strings or numbers",
        lambda v: isinstance(v, dict) and all(isinstance(x, (str, int, float, bool)) for x in v.values()),
    ),
}


def check_option_types(options: dict[str, Any], types: dict[str, str], where: str) -> None:
    """BackendError naming WHERE, the option and its value for the first value of the wrong type."""
    for key, kind in types.items():
        value = options.get(key)
        what, ok = _OPTION_TYPES[kind]
        if value is not None and not ok(value):
            raise BackendError(f"{where}: [options] {key} = {value!r}: expected {what}")


class Backend(ABC):
    name: str

    @abstractmethod
    def render(self, spec: JobSpec) -> LaunchArtifact:
        """The exact artifact submit() would use; no side effects."""

    @abstractmethod
    def submit(self, spec: JobSpec) -> str:
        """Launch; returns the backend job id. Writes the artifact into the run dir."""

    @abstractmethod
    def status(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """Status of many jobs with as few scheduler calls as possible (one, ideally)."""

    @abstractmethod
    def cancel(self, job_id: str) -> None: ...

    def find(self, spec: JobSpec) -> str | None:
        """The backend job id of a job already launched for this spec's run dir, or None.
        Lets jobs.submit.recover finish a submit interrupted between launch and registry update
        (optional: the default says "cannot tell", and the job is then marked failed)."""
        return None


class SchedulerBackend(Backend):
    """A cluster scheduler driven by its commands, on this machine or over SSH (jobs.scheduler_shell)."""

    def __init__(self, options: dict[str, Any] | None = None, host: str | None = None, shell: Shell | None = None):
        from jobs.scheduler_shell import make_shell

        self.options = dict(options or {})
        self.host = host
        self.shell = shell or make_shell(host)

    @property
    def where(self) -> str:
        """The host for messages."""
        return self.host or "localhost"

    def since(self, created: float) -> float:
        """CREATED (this machine's clock, seconds) on the scheduler host's clock, less a little
        slack: crash recovery compares it with submit times the host's scheduler wrote, and a
        host whose clock is behind this one's by more than the slack put the job of the interrupted
        submit "before" its spec, marking a running job never-run. One `date` call, only for a
        host, only in recovery; a `date` that prints no number leaves the clocks as they are."""
        if self.host is None:
            return created - 5
        t0 = time.time()
        res = self.shell.run(["date", "+%s"], timeout=30)
        t1 = time.time()
        host_now = job_number(res.stdout.strip())
        # a `date` that prints a number of 5000 digits (int() raised: a traceback out of recovery)
        # or one decades off (every job "before" its spec, marked never-run) is no clock to go by
        if res.rc != 0 or host_now is None or abs(host_now - (t0 + t1) / 2) > MAX_CLOCK_OFFSET_S:
            return created - 5
        # the host's `date` ran between t0 and t1: its offset is known to within that round trip
        return created + (host_now - (t0 + t1) / 2) - 5 - (t1 - t0)
