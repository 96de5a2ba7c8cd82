"""Local backend: jobs are processes on this machine, one set of GPUs each.

A job is identified by its run dir (that is its backend job id). Submitting records it in a small
queue under ARCCTL_HOME/local; a job starts as soon as enough GPUs are free (least-used first) and
otherwise waits `queued` until they are: every `status()` call (the shared watcher's polls) and
every finishing job's wrapper start what fits, so the queue drains even with nobody watching.
The queue is shared by all local profiles; the GPU inventory is that of whoever starts the job. Starting runs `jobs.backends.local_wrapper`, which detaches, claims the launch, writes `pid`, and
writes `exit_code` when the job ends. State always comes from the run dir: pid + exit_code (+ a
`cancelled` marker), so it survives arcctl restarts.

Launched once, whatever dies when: every queued submission carries a token, and only the wrapper
that creates the run dir's `claim` for that token runs the job. A pump checks the claim before it
starts anything, so an entry left `queued` by a launcher killed between starting the wrapper and
recording it is recorded, not started again.

Options (profile [options]): visible_gpus ("0,1" or [..]: use these instead of detecting),
cancel_grace_s (SIGTERM -> SIGKILL delay, default 30), gpu_busy_fraction (a GPU whose memory is
used above this by others is not free, default 0.5), python (interpreter, default this one).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from jobs import config
from jobs.backends.base import Backend, BackendError, JobState, JobStatus, LaunchArtifact, check_env
from jobs.backends.environment import python_option, setup_lines, wrap_argv
from jobs.backends.local_wrapper import (
    CANCELLED,
    CLAIM,
    EXIT_CODE,
    LOST_CLAIM,
    PID,
    pause_point,
    proc_start_time,
    read_claim,
)
from jobs.backends.units import job_argv
from jobs.gpus import Gpu, detect_gpus, visible_gpus
from jobs.rundir import STDERR, STDOUT

if TYPE_CHECKING:
    from jobs.spec import JobSpec

GPUS_FILE = "gpus"
LAUNCH_FILE = "launch.sh"
_OPTIONS = {"visible_gpus", "cancel_grace_s", "gpu_busy_fraction", "python", "setup"}


def read_pid(run_dir: str) -> tuple[int, str] | None:
    try:
        text = Path(run_dir, PID).read_text().split()
        return int(text[0]), (text[1] if len(text) > 1 else "")
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(run_dir: str) -> bool:
    got = read_pid(run_dir)
    if not got:
        return False
    pid, start = got
    now_start = proc_start_time(pid)
    if now_start is None:
        if not os.path.exists("/proc"):  # not Linux: best effort
            try:
                os.kill(pid, 0)
                return True
            except OSError:
                return False
        return False
    return not start or start == now_start


def read_exit_code(run_dir: str) -> int | None:
    try:
        return int(Path(run_dir, EXIT_CODE).read_text().strip())
    except (OSError, ValueError):
        return None


class LocalBackend(Backend):
    name = "local"

    def __init__(self, options: dict[str, Any] | None = None, state_dir: str | Path | None = None):
        options = dict(options or {})
        self.grace = _number(options, "cancel_grace_s", 30, 86400, "seconds")
        self.busy_fraction = _number(options, "gpu_busy_fraction", 0.5, 1, "a share of a GPU's memory")
        py = python_option(options, "local profile")
        self.setup = setup_lines(options, "local profile")
        # after setup lines (a venv, conda, modules) `python` is whatever they put on PATH
        self.python = os.path.expanduser(py) if py else ("python" if self.setup else sys.executable)
        self.visible = visible_gpus(options.get("visible_gpus"))
        self.state_dir = Path(state_dir) if state_dir else config.data_dir() / "local"
        self.options = {k: options[k] for k in _OPTIONS if k in options}

    # ---- GPUs and the queue --------------------------------------------------------------------

    def gpus(self) -> list[Gpu]:
        if self.visible is not None:
            return [Gpu(i) for i in self.visible]
        return detect_gpus()

    @contextmanager
    def _locked(self) -> Iterator[Path]:
        qdir = self.state_dir / "queue"
        qdir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "lock", "a+") as lf:
            fcntl.flock(lf, fcntl.LOCK_EX)
            try:
                yield qdir
            finally:
                fcntl.flock(lf, fcntl.LOCK_UN)

    @staticmethod
    def _key(run_dir: str) -> str:
        return hashlib.sha1(run_dir.encode()).hexdigest()[:16] + ".json"

    def _entries(self, qdir: Path) -> list[dict]:
        out = []
        for p in qdir.glob("*.json"):
            try:
                e = json.loads(p.read_text())
                e["_path"] = str(p)
                out.append(e)
            except (OSError, ValueError):
                continue
        return sorted(out, key=lambda e: (e.get("queued_at", 0), e.get("run_dir", "")))

    def pump(self) -> None:
        """Start queued jobs whose GPUs are free now (under the queue lock, so two arcctl
        processes never give the same GPU twice)."""
        with self._locked() as qdir:
            entries = self._entries(qdir)
            if not entries:
                return
            used: set[str] = set()
            waiting = []
            for e in entries:
                if e["state"] == "started":
                    rd = e["run_dir"]
                    # exit_code first: the wrapper of a finished job is still alive while it pumps
                    done = read_exit_code(rd) is not None or (read_pid(rd) is not None and not pid_alive(rd))
                    if not os.path.isdir(rd):  # deleted: the recorded wrapper is all that is left
                        done = not _claim_alive(e)
                    if done:
                        os.unlink(e["_path"])  # finished: its GPUs are free again
                    else:
                        used.update(e.get("gpus", []))
                else:
                    waiting.append(e)
            if not waiting:
                return
            gpus: list[Gpu] | None = None
            for e in waiting:
                if not os.path.isdir(e["run_dir"]):  # deleted (or unmounted) before it started: wait
                    continue
                if not e.get("token"):  # written by an older arcctl: give it one before any start
                    e["token"] = uuid.uuid4().hex
                    _write_entry(Path(e["_path"]), e)
                claim = read_claim(e["run_dir"])
                if claim is not None and claim.get("token") == e["token"]:
                    # started by a pump that died before recording it: record, never start again
                    self._record_started(e, claim)
                    used.update(e["gpus"])
                    continue
                if claim is not None:  # another submission's claim in this run dir
                    if not _claim_alive(claim):
                        Path(e["run_dir"], CLAIM).unlink(missing_ok=True)  # its wrapper is gone
                    continue  # still running, or freed for the next pump
                if float(e.get("start_after", 0)) > time.time():
                    continue
                if gpus is None:
                    gpus = self.gpus()
                need = int(e.get("need", 0))
                if need == 0 or not gpus:
                    chosen: list[str] = []
                elif need > len(gpus):
                    continue  # reported by status(); never satisfiable
                else:
                    free = [
                        g
                        for g in gpus
                        if g.index not in used
                        and (not g.memory_total or g.memory_used / g.memory_total < self.busy_fraction)
                    ]
                    free.sort(
                        key=lambda g: (
                            g.memory_used,
                            g.util,
                            int(g.index) if g.index.isascii() and g.index.isdigit() else 0,
                        )
                    )
                    if len(free) < need:
                        continue
                    chosen = [g.index for g in free[:need]]
                pause_point("before_start")
                try:
                    self._start(e, chosen)
                except OSError as err:
                    claim = read_claim(e["run_dir"])
                    if claim is None or claim.get("token") != e["token"]:
                        Path(e["run_dir"], EXIT_CODE).write_text("127\n")
                        with Path(e["run_dir"], STDERR).open("a") as f:
                            f.write(f"arcctl: could not start: {err}\n")
                        os.unlink(e["_path"])
                        continue
                pause_point("after_start")
                # the GPUs of whichever wrapper holds the claim (ours, or an earlier one still starting)
                self._record_started(e, read_claim(e["run_dir"]) or {"gpus": ",".join(chosen)})
                used.update(e["gpus"])

    @staticmethod
    def _record_started(entry: dict, claim: dict) -> None:
        gpus = [g for g in str(claim.get("gpus", "")).split(",") if g]
        # the wrapper's pid, so that a job whose run dir is deleted can still be found and stopped
        entry.update(state="started", gpus=gpus, started_at=time.time(), pid=claim.get("pid"), start=claim.get("start"))
        _write_entry(Path(entry.pop("_path")), entry)

    def _start(self, entry: dict, gpus: list[str]) -> None:
        """Start the wrapper for this entry; returns once it holds the claim and wrote `pid`, or
        once it found that another wrapper holds the claim (LOST_CLAIM: that one runs the job)."""
        run_dir = entry["run_dir"]
        env = os.environ.copy()
        env.update(entry.get("env", {}))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        env["ARCCTL_RUN_DIR"] = run_dir
        env.setdefault("PYTHONUNBUFFERED", "1")
        Path(run_dir, GPUS_FILE).write_text(",".join(gpus) + "\n")
        with open(Path(run_dir, STDOUT), "ab") as out, open(Path(run_dir, STDERR), "ab") as err:
            p = subprocess.Popen(
                # the wrapper is arcctl's own code: arcctl's interpreter, whatever the job's python is
                [
                    sys.executable,
                    "-m",
                    "jobs.backends.local_wrapper",
                    run_dir,
                    str(self.grace),
                    str(self.state_dir),
                    json.dumps(self.options),
                    entry["token"],
                    "--",
                    *entry["cmd"],
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=run_dir,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        rc = p.wait(timeout=60)  # returns once the detached job has written its pid file
        if rc not in (0, LOST_CLAIM):
            raise OSError(f"local_wrapper exited with {rc}")

    # ---- Backend interface ---------------------------------------------------------------------

    def command(self, spec: JobSpec) -> list[str]:
        """The job's command line: the spec's entry + spec.json; N>1 GPUs -> accelerate launch;
        after the profile's setup lines when it has any."""
        return wrap_argv(self.setup, self._entry(spec))

    def _entry(self, spec: JobSpec) -> list[str]:
        if spec.kind == "command":
            return job_argv(spec, "", self.python)
        entry = list(spec.entry)
        spec_path = str(Path(spec.run_dir) / "spec.json")
        if entry and entry[0] in ("python", "python3"):
            entry = entry[1:]
            n = spec.resources.gpus
            if n > 1:
                return [self.python, "-m", "accelerate.commands.launch", "--num_processes", str(n), *entry, spec_path]
            return [self.python, *entry, spec_path]
        return [*entry, spec_path]

    def render(self, spec: JobSpec) -> LaunchArtifact:
        cmd = self.command(spec)
        n = spec.resources.gpus
        env = {
            **check_env(spec.env, f"profile {spec.profile}"),
            "CUDA_VISIBLE_DEVICES": "<set at launch>" if n else "",
            "ARCCTL_RUN_DIR": spec.run_dir,
        }
        lines = [
            "#!/bin/sh",
            f"# local job: {n} GPU(s), least-used free GPU first; queued until they are free",
            f"cd {shlex.quote(spec.run_dir)}",
            "env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " \\",
            "  " + " ".join(shlex.quote(c) for c in cmd),
        ]
        return LaunchArtifact(kind="command", text="\n".join(lines) + "\n", filename=LAUNCH_FILE)

    def submit(self, spec: JobSpec) -> str:
        run_dir = str(Path(spec.run_dir).absolute())
        if not Path(run_dir).is_dir():
            raise BackendError(f"run dir {run_dir} does not exist")
        if pid_alive(run_dir):
            raise BackendError(f"a job is still running in {run_dir}")
        art = self.render(spec)
        # A resume relaunches in the same run dir: old control files would lie about the new run.
        for f in (EXIT_CODE, PID, CANCELLED, GPUS_FILE, CLAIM):
            Path(run_dir, f).unlink(missing_ok=True)
        Path(run_dir, art.filename).write_text(art.text)
        now = time.time()
        entry = {
            "run_dir": run_dir,
            "cmd": self.command(spec),
            "env": dict(spec.env),
            "need": spec.resources.gpus,
            "state": "queued",
            "queued_at": now,
            "token": uuid.uuid4().hex,
        }
        delay = float(spec.backend_options.get("start_delay_s") or 0)
        if delay > 0:  # an auto-resume backoff: pumps leave it queued until then
            entry["start_after"] = now + delay
        with self._locked() as qdir:
            _write_entry(qdir / self._key(run_dir), entry)
        self.pump()
        return run_dir

    def find(self, spec: JobSpec) -> str | None:
        """The job launched for this spec, if any (used to finish an interrupted submit)."""
        run_dir = str(Path(spec.run_dir).absolute())
        if (
            (self.state_dir / "queue" / self._key(run_dir)).exists()
            or read_pid(run_dir)
            or read_exit_code(run_dir) is not None
        ):
            return run_dir
        return None

    def status(self, job_ids: list[str]) -> dict[str, JobStatus]:
        self.pump()
        qdir = self.state_dir / "queue"
        ngpus = None
        out: dict[str, JobStatus] = {}
        for jid in job_ids:
            run_dir = jid
            cancelled = Path(run_dir, CANCELLED).exists()
            code = read_exit_code(run_dir)
            alive = pid_alive(run_dir)
            if code is not None:  # before liveness: the wrapper outlives its job by a moment
                if cancelled:
                    out[jid] = JobStatus(JobState.CANCELLED, exit_code=code, reason="cancelled")
                elif code == 0:
                    out[jid] = JobStatus(JobState.COMPLETED, exit_code=0)
                else:
                    out[jid] = JobStatus(
                        JobState.FAILED,
                        exit_code=code,
                        reason="exit_code",
                        detail=f"exited with {code}; see {run_dir}/{STDERR}",
                    )
            elif alive:
                gpus = _read(Path(run_dir, GPUS_FILE)).strip()
                out[jid] = JobStatus(JobState.RUNNING, detail=f"GPUs {gpus}" if gpus else "CPU")
            elif cancelled:
                out[jid] = JobStatus(JobState.CANCELLED, reason="cancelled")
            elif read_pid(run_dir):
                out[jid] = JobStatus(
                    JobState.FAILED,
                    reason="vanished",
                    detail="the job's process ended without writing exit_code (killed from outside?)",
                )
            elif (qdir / self._key(run_dir)).exists():
                entry = _load_json(qdir / self._key(run_dir))
                need = int(entry.get("need", 0)) if entry else 0
                if ngpus is None:
                    ngpus = len(self.gpus())
                wait = float(entry.get("start_after", 0)) - time.time() if entry else 0
                if wait > 0:
                    out[jid] = JobStatus(
                        JobState.QUEUED, reason="backoff", detail=f"starts in {wait:.0f} s (auto-resume backoff)"
                    )
                elif ngpus and need > ngpus:
                    out[jid] = JobStatus(
                        JobState.QUEUED,
                        reason="insufficient_gpus",
                        detail=f"needs {need} GPUs, this machine has {ngpus}; it will never start",
                    )
                else:
                    out[jid] = JobStatus(JobState.QUEUED, detail=f"waiting for {need} free GPU(s)")
            else:
                out[jid] = JobStatus(JobState.UNKNOWN, reason="unknown", detail=f"no local job in {run_dir}")
        return out

    def cancel(self, job_id: str) -> None:
        """Marker first (a wrapper that claims later sees it and never starts the job), then the
        queue entry, then SIGTERM to the one wrapper that holds the claim, whatever the queue says:
        a launcher killed mid-start leaves a running job behind an entry still marked `queued`."""
        run_dir = job_id
        with self._locked() as qdir:
            try:
                Path(run_dir, CANCELLED).write_text(f"{time.time()}\n")
            except FileNotFoundError:  # the run dir was deleted: its queue entry must still go
                pass
            q = qdir / self._key(run_dir)
            entry = _load_json(q)
            if entry and entry.get("state") == "queued":
                q.unlink(missing_ok=True)
        got = read_pid(run_dir)
        wrapper = got[0] if got and pid_alive(run_dir) else None
        if wrapper is None and entry and not os.path.isdir(run_dir) and _claim_alive(entry):
            wrapper = int(entry["pid"])  # its pid file went with the deleted run dir; the queue kept it
        if wrapper is not None:
            try:  # the wrapper forwards SIGTERM to the job's group and SIGKILLs it after the grace
                os.killpg(wrapper, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _read(p: Path) -> str:
    try:
        return p.read_text()
    except OSError:
        return ""


def _claim_alive(claim: dict) -> bool:
    try:
        start = proc_start_time(int(claim.get("pid", 0)))
    except (TypeError, ValueError):
        return False
    return start is not None and start == claim.get("start")


def _write_entry(path: Path, entry: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({k: v for k, v in entry.items() if k != "_path"}))
    tmp.replace(path)


def _load_json(p: Path) -> dict | None:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _number(options: dict[str, Any], key: str, default: float, top: float, unit: str) -> float:
    """A profile option that must be a finite number from 0 to TOP (a grace of inf or nan would
    never SIGKILL a stubborn job)."""
    raw = options.get(key, default)
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not 0 <= value <= top:  # nan fails too
        raise BackendError(f"local profile: [options] {key} = {raw!r}: give {unit}, a number from 0 to {top:g}")
    return value


# what a local profile's [options] may hold besides _OPTIONS: the recovery policy's keys
_POLICY_OPTIONS = {"auto_resume", "max_restarts", "start_delay_s", "env", "backend", "host"}


def make_backend(options: dict, host: str | None) -> LocalBackend:
    if host:
        raise BackendError(
            f"the local backend runs on this machine; host '{host}' is not supported (use slurm or htcondor)"
        )
    unknown = set(options) - _OPTIONS - _POLICY_OPTIONS
    if unknown:  # a typo ('cancel_grace') would otherwise be ignored without a word
        from jobs.sweep import suggest

        first = sorted(unknown)[0]
        raise BackendError(
            f"local profile: unknown [options] key(s) {', '.join(sorted(unknown))}{suggest(first, _OPTIONS)}; "
            f"known: {', '.join(sorted(_OPTIONS | _POLICY_OPTIONS - {'env', 'backend', 'host'}))}"
        )
    return LocalBackend(options)
