"""Slurm backend: an sbatch script per job, `sbatch --parsable` to submit, one `squeue` call for
the status of all jobs (plus at most one `sacct` for jobs squeue has forgotten), `scancel`.

Locally or over SSH (jobs.scheduler_shell); SLURM_CONF, when the profile names one, is put into every
command because a non-interactive ssh session does not have it.

Preemption: `--signal=B:USR1@90` reaches the batch shell (without `B:` only srun steps get it);
its trap forwards USR1 to the trainer (which checkpoints and exits) and requeues the job. TERM
(scancel, or a preemption that requeues the job itself) is forwarded the same way, and the script
waits for the trainer's checkpoint before it ends. Under a multi-process launcher the signals go
to the training processes it started, not to the launcher. On the
restart SLURM_RESTART_COUNT > 0 and the script exports ARCCTL_RESUME=newest, so the trainer
resumes from the newest valid checkpoint of its run dir.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from datetime import datetime
from typing import Any

from jobs.backends.base import BackendError, JobState, JobStatus, LaunchArtifact, SchedulerBackend, check_env
from jobs.backends.base import check_labels, check_option_types, job_number
from jobs.backends.environment import python_option, setup_block, setup_lines, shell_word
from jobs.backends.process_tree import is_launcher
from jobs.backends.units import format_memory, job_argv, memory_mb, time_seconds
from jobs.rundir import EXIT_CODE, STDERR, STDOUT
from jobs.scheduler_shell import CommandError
from jobs.spec import SPEC_FILE, JobSpec

SCRIPT_NAME = "job.sbatch"

# squeue/sacct state -> (our state, short reason)
_STATES: dict[str, tuple[JobState, str | None]] = {
    "PENDING": (JobState.QUEUED, None),
    "CONFIGURING": (JobState.QUEUED, None),
    "REQUEUED": (JobState.QUEUED, "requeued"),
    "REQUEUE_FED": (JobState.QUEUED, "requeued"),
    "REQUEUE_HOLD": (JobState.HELD, "requeue_hold"),
    "RESV_DEL_HOLD": (JobState.HELD, "reservation_deleted"),
    "SPECIAL_EXIT": (JobState.HELD, "special_exit"),
    "RUNNING": (JobState.RUNNING, None),
    "COMPLETING": (JobState.RUNNING, "completing"),
    "STAGE_OUT": (JobState.RUNNING, "stage_out"),
    "SIGNALING": (JobState.RUNNING, None),
    "RESIZING": (JobState.RUNNING, None),
    "SUSPENDED": (JobState.EVICTED, "suspended"),
    "STOPPED": (JobState.EVICTED, "stopped"),
    # a final PREEMPTED means Slurm cancelled it (a requeued one shows PENDING instead)
    "PREEMPTED": (JobState.FAILED, "preempted"),
    "COMPLETED": (JobState.COMPLETED, None),
    "FAILED": (JobState.FAILED, "nonzero_exit"),
    "TIMEOUT": (JobState.FAILED, "timeout"),
    "OUT_OF_MEMORY": (JobState.FAILED, "memory_exceeded"),
    "NODE_FAIL": (JobState.FAILED, "node_fail"),
    "BOOT_FAIL": (JobState.FAILED, "boot_fail"),
    "DEADLINE": (JobState.FAILED, "deadline"),
    "REVOKED": (JobState.CANCELLED, "revoked"),
    "CANCELLED": (JobState.CANCELLED, None),
}
_HELD_REASONS = {"JobHeldUser", "JobHeldAdmin"}
# free text (the reason) last: a `|` in it cannot shift the fields after it
_SQUEUE_FIELDS = "JobID:|,State:|,exit_code:|,RestartCnt:|,Reason:|"
_OPTION_KEYS = {
    "partition",
    "account",
    "qos",
    "constraint",
    "sbatch_args",
    "setup",
    "slurm_conf",
    "signal",
    "requeue",
    "python",
    "auto_resume",
    "max_restarts",
    "start_delay_s",
}
_OPTION_TYPES = {
    **dict.fromkeys(("partition", "account", "qos", "constraint", "slurm_conf", "signal"), "text"),
    "requeue": "flag",
    "sbatch_args": "texts",
    "start_delay_s": "seconds",
    "env": "table",
}
# whether `sacct` works or the jobcomp file must be read, per (host, SLURM_CONF): backends are made
# afresh by every watcher poll, and finding out again would cost an extra call each time
_SACCT_COMPLETION: dict[tuple[str | None, str | None], bool] = {}


def _q(s: str) -> str:
    return shlex.quote(str(s))


def job_name(name: str) -> str:
    """The name Slurm gets: sbatch splits `#SBATCH` lines at blanks (and rejects what follows), and
    squeue --name takes a comma-separated list, so anything but [A-Za-z0-9._+-] becomes `_`."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)[:200] or "arcctl-job"


def _sbatch_word(s: str) -> str:
    """One argument of an #SBATCH line. sbatch reads shell-style quotes there, so blanks, quotes
    and `#` survive shlex.quote; but it takes a backslash as an escape even inside single quotes
    (a partition `a\\b` became `ab`), so each one is doubled."""
    return _q(str(s).replace("\\", "\\\\"))


def _log_path(path: str) -> str:
    """--output/--error are filename patterns (%j = job id): a literal % of the run dir is %%."""
    return _sbatch_word(path.replace("%", "%%"))


class SlurmBackend(SchedulerBackend):
    name = "slurm"

    # ----------------------------------------------------------------------------- helpers
    def _env(self, opts: dict[str, Any] | None = None) -> dict[str, str]:
        conf = (opts or self.options).get("slurm_conf")
        return {"SLURM_CONF": str(conf)} if conf else {}

    def _opts(self, spec: JobSpec) -> dict[str, Any]:
        return {**self.options, **spec.backend_options}

    # ----------------------------------------------------------------------------- render
    def render(self, spec: JobSpec) -> LaunchArtifact:
        o = self._opts(spec)
        check_labels(spec)
        check_option_types(o, _OPTION_TYPES, f"profile {spec.profile}")
        r = spec.resources
        run_dir = spec.run_dir.rstrip("/") or "/"
        if "\\" in run_dir:
            # slurmd drops every backslash of an --output/--error path (its filename-pattern
            # escape), whatever the quoting: the job could not open its logs (JobLaunchFailure)
            raise BackendError(
                f"run dir {run_dir!r} of job {spec.name}: Slurm cannot put logs in a path with a backslash; "
                "choose a run dir without one"
            )
        sb: list[str] = [
            f"--job-name={job_name(spec.name)}",
            f"--output={_log_path(posixpath.join(run_dir, STDOUT))}",
            f"--error={_log_path(posixpath.join(run_dir, STDERR))}",
            "--open-mode=append",  # a requeued run appends instead of wiping the first attempt's log
            f"--chdir={_sbatch_word(run_dir)}",
            "--nodes=1",
            "--ntasks=1",
            f"--cpus-per-task={r.cpus}",
            f"--mem={format_memory(memory_mb(r.memory))}",
        ]
        if r.gpus > 0:
            sb.append(f"--gres=gpu:{r.gpus}")
        if r.time:
            time_seconds(r.time)  # validates; Slurm gets the user's own spelling
            sb.append(f"--time={r.time}")
        if r.disk:
            sb.append(f"--tmp={format_memory(memory_mb(r.disk, 'resources.disk'))}")
        for key in ("partition", "account", "qos", "constraint"):
            if o.get(key):
                sb.append(f"--{key}={_sbatch_word(o[key])}")
        if r.requirements and not o.get("constraint"):
            # HTCondor-style machine requirement: map (TARGET.Machine == "x") to --nodelist
            m = re.search(r'Machine\s*==\s*"([^"]+)"', r.requirements)
            if m:
                sb.append(f"--nodelist={_sbatch_word(m.group(1))}")
        if o.get("start_delay_s"):  # an auto-resume backoff: Slurm holds the job until then
            sb.append(f"--begin=now+{int(o['start_delay_s'])}")
        sb.append(f"--signal={_signal_option(o.get('signal', 'B:USR1@90'))}")
        if o.get("requeue", True):
            sb.append("--requeue")
        sb.extend(str(a) for a in o.get("sbatch_args", []))
        for a in sb:
            if "\n" in a:
                raise BackendError(f"sbatch option {a!r} of job {spec.name} contains a newline")

        env = {
            **check_env({**o.get("env", {}), **spec.env}, f"profile {spec.profile}"),
            "ARCCTL_RUN_DIR": run_dir,
            "PYTHONUNBUFFERED": "1",
        }
        where = f"profile {spec.profile}"
        entry = job_argv(spec, posixpath.join(run_dir, SPEC_FILE), python_option(o, where))
        setup = setup_block(setup_lines(o, where))

        # A multi-process launcher (accelerate, torchrun) dies on USR1 and exits 143 on TERM, orphaning
        # its training processes: they get the signal instead, and the launcher exits 0 after them.
        # TERM (scancel, a preemption that requeues) is trapped too: the script must outlive the
        # trainer's checkpoint, since Slurm kills what is left of the job once the script ends.
        target = '-P "$child"' if is_launcher(entry) else '"$child"'
        forward = {sig: f"{'pkill' if is_launcher(entry) else 'kill'} -{sig} {target}" for sig in ("USR1", "TERM")}
        lines = ["#!/bin/bash", f"# arcctl job {spec.name} (template {spec.template}, profile {spec.profile})"]
        lines += [f"#SBATCH {a}" for a in sb]
        lines += ["", "set -u", f"RUN_DIR={_q(run_dir)}", 'cd "$RUN_DIR"']
        lines += [f"export {k}={_q(v)}" for k, v in sorted(env.items())]
        lines += [
            'export ARCCTL_RESTART_COUNT="${SLURM_RESTART_COUNT:-0}"',
            "# a requeued job (preempted, time limit warning) resumes from its newest valid checkpoint",
            'if [ "$ARCCTL_RESTART_COUNT" -gt 0 ]; then export ARCCTL_RESUME=newest; fi',
            "",
            "child=",
            "requeueing=",
            "on_usr1() {",
            '  echo "arcctl: USR1 from Slurm (preemption or time limit): checkpoint, then requeue" >&2',
            f'  if [ -n "$child" ]; then {forward["USR1"]} 2>/dev/null; wait "$child"; fi',
            "  requeueing=1  # the requeue kills this script with TERM: nothing left to stop",
            '  scontrol requeue "$SLURM_JOB_ID" && exit 0',
            '  echo "arcctl: requeue of $SLURM_JOB_ID refused; the job ends here" >&2',
            "  exit 143",
            "}",
            "on_term() {",
            '  if [ -n "$requeueing" ]; then exit 0; fi',
            '  echo "arcctl: TERM from Slurm (cancel or preemption): the trainer checkpoints, then the job ends" >&2',
            "  rc=143",
            f'  if [ -n "$child" ]; then {forward["TERM"]} 2>/dev/null; wait "$child"; rc=$?; fi',
            f'  echo "$rc" > "$RUN_DIR/{EXIT_CODE}"',
            '  exit "$rc"',
            "}",
            "trap on_usr1 USR1",
            "trap on_term TERM",
        ]
        lines += setup
        lines += [
            "# in the background so the trap runs at once instead of after the trainer exits",
            " ".join([shell_word(entry[0]), *(_q(a) for a in entry[1:])]) + " &",
            "child=$!",
            'wait "$child"',
            "rc=$?",
            f'echo "$rc" > "$RUN_DIR/{EXIT_CODE}"',
            'exit "$rc"',
            "",
        ]
        return LaunchArtifact("sbatch", "\n".join(lines), SCRIPT_NAME)

    # ----------------------------------------------------------------------------- submit
    def submit(self, spec: JobSpec) -> str:
        art = self.render(spec)
        run_dir = spec.run_dir.rstrip("/")
        script = posixpath.join(run_dir, SCRIPT_NAME)
        self.shell.makedirs(run_dir)
        self.shell.write_text(posixpath.join(run_dir, SPEC_FILE), spec.to_json() + "\n")
        self.shell.write_text(script, art.text, mode=0o755)
        res = self.shell.run(["sbatch", "--parsable", script], env=self._env(self._opts(spec)))
        res.check(self.where)
        job_id = res.stdout.strip().splitlines()[-1].split(";")[0] if res.stdout.strip() else ""
        if job_number(job_id) is None:  # past 64 bits too: no scheduler's number
            job_id = job_id if len(job_id) <= 80 else job_id[:80] + "…"
            raise CommandError(f"sbatch on {self.where} returned no job id: {job_id!r}")
        return job_id

    # ----------------------------------------------------------------------------- status
    def status(self, job_ids: list[str]) -> dict[str, JobStatus]:
        ids = [str(j) for j in dict.fromkeys(job_ids)]
        if not ids:
            return {}
        out: dict[str, JobStatus] = {}
        res = self.shell.run(
            ["squeue", "-h", "--states=all", "-j", ",".join(ids), "-O", _SQUEUE_FIELDS], env=self._env()
        )
        if res.rc != 0 and "Invalid job id" not in res.stderr:
            res.check(self.where)
        for line in res.stdout.splitlines():
            parts = line.strip().split("|", 4)
            if len(parts) < 5 or parts[0] not in ids:
                continue
            job_id, state, raw_exit, restarts, reason = parts
            reason = reason[:-1] if reason.endswith("|") else reason
            out[job_id] = _status(state, reason, _decode_wait_status(raw_exit), restarts)
        missing = [j for j in ids if j not in out]
        if missing:
            out.update(self._finished(missing))
        for j in ids:
            out.setdefault(
                j,
                JobStatus(
                    JobState.UNKNOWN,
                    reason="not_found",
                    detail=f"Slurm on {self.where} knows no job {j} (squeue and sacct)",
                ),
            )
        return out

    def _finished(self, ids: list[str]) -> dict[str, JobStatus]:
        """One sacct call; with accounting storage off, the jobcomp file (`sacct -c`) instead.
        Which one works is remembered, so later refreshes make a single call."""
        base = ["sacct", "-n", "-P", "-j", ",".join(ids), "-o", "JobID,State,ExitCode,Reason"]
        if self._sacct_completion is not True:
            res = self.shell.run(base[:1] + ["-X"] + base[1:], env=self._env())
            if res.rc == 0 and "accounting storage is disabled" not in (res.stderr + res.stdout):
                self._sacct_completion = False
                return _parse_sacct(res.stdout, ids)
            self._sacct_completion = True
        res = self.shell.run(
            ["sacct", "-c", "-n", "-P", "-j", ",".join(ids), "-o", "JobID,State,ExitCode"], env=self._env()
        )
        if res.rc != 0:
            return {}
        return _parse_sacct(res.stdout, ids)

    @property
    def _sacct_completion(self) -> bool | None:
        return _SACCT_COMPLETION.get((self.host, self.options.get("slurm_conf")))

    @_sacct_completion.setter
    def _sacct_completion(self, value: bool) -> None:
        _SACCT_COMPLETION[(self.host, self.options.get("slurm_conf"))] = value

    def find(self, spec: JobSpec) -> str | None:
        """The job Slurm has for this spec (same run dir, submitted after the spec was made), for
        jobs.submit.recover after a crash between sbatch and the registry update."""
        # the work dir last, split off once: a run dir may hold `|` (or blanks), and split at every
        # `|` it never equalled the spec's, so the job sbatch had started was marked never-run
        # SubmitTime in seconds since the epoch: as Slurm prints it by default (the cluster's local
        # time, no zone) it was read in this machine's zone, and a cluster in UTC seen from
        # Europe submitted every job an hour "before" its spec was made: never confirmed
        res = self.shell.run(
            ["squeue", "-h", "--states=all", f"--name={job_name(spec.name)}", "-O", "JobID:|,SubmitTime:|,WorkDir:|"],
            env={**self._env(self._opts(spec)), "SLURM_TIME_FORMAT": "%s"},
        )
        if res.rc != 0:
            return None
        created = self.since(spec.created.timestamp())  # on the host's clock
        found = []
        for line in res.stdout.split("\n"):
            parts = line.split("|", 2)
            if len(parts) < 3:
                continue
            parts[0], work_dir = parts[0].strip(), parts[2][:-1] if parts[2].endswith("|") else parts[2]
            if work_dir.rstrip("/") == spec.run_dir.rstrip("/"):
                when = parts[1].strip()
                try:  # a Slurm that ignores SLURM_TIME_FORMAT prints its local time
                    submitted = (
                        int(when) if when.isascii() and when.isdigit() else datetime.fromisoformat(when).timestamp()
                    )
                except ValueError:
                    continue
                # an id that is not a number (an array task `12_3`, garbage) was a ValueError out of
                # crash recovery, i.e. out of `arcctl ls`: not ours to confirm
                number = job_number(parts[0])  # 5000 digits: int() raised, a traceback
                if submitted >= created and number is not None:
                    found.append(number)
        return str(max(found)) if found else None

    # ----------------------------------------------------------------------------- cancel
    def cancel(self, job_id: str) -> None:
        self.shell.run(["scancel", str(job_id)], env=self._env()).check(self.where)

    def signal(self, job_id: str, sig: str = "USR1") -> None:
        """Send a signal to the batch shell (what Slurm does before a time limit or preemption)."""
        self.shell.run(["scancel", "--batch", f"--signal={sig}", str(job_id)], env=self._env()).check(self.where)


def _signal_option(value: str) -> str:
    """Only USR1 is trapped by the job script, and only `B:` delivers it to the batch shell (without
    it only srun steps get the signal): 'USR1@90' is taken to mean 'B:USR1@90'."""
    m = re.match(r"^(B:)?(SIG)?USR1@(\d+)$", str(value).strip())
    if not m:
        raise BackendError(f"slurm profile: signal = {value!r}: use 'B:USR1@<seconds>' (the job script traps USR1)")
    return f"B:USR1@{m.group(3)}"


def _decode_wait_status(raw: str) -> int | None:
    """squeue prints the raw wait status (768 = exit 3); sacct prints 'code:signal'."""
    raw = raw.strip()
    if not raw or raw in ("N/A", "(null)"):
        return None
    if ":" in raw:
        code, sig = raw.split(":", 1)
        try:
            return 128 + int(sig) if int(sig) and not int(code) else int(code)
        except ValueError:
            return None
    try:
        v = int(raw)
    except ValueError:
        return None
    if v & 0x7F:
        return 128 + (v & 0x7F)
    return (v >> 8) & 0xFF


def _status(state: str, reason: str, exit_code: int | None, restarts: str = "0") -> JobStatus:
    words = state.split()  # a state of blanks only (hostile output) was an IndexError
    state = words[0].rstrip("+") if words else "UNKNOWN"
    ours, why = _STATES.get(state, (JobState.UNKNOWN, state.lower()))
    reason = reason.strip()
    if ours is JobState.QUEUED and reason in _HELD_REASONS:
        ours, why = JobState.HELD, reason
    extra: dict[str, Any] = {"slurm_state": state}
    if reason and reason not in ("None", "(null)"):
        extra["slurm_reason"] = reason
    try:
        if int(restarts):
            extra["restarts"] = int(restarts)
            if ours is JobState.QUEUED and why is None:
                why = "requeued"
    except ValueError:
        pass
    if ours is JobState.COMPLETED:
        exit_code = 0 if exit_code is None else exit_code
    elif not ours.terminal:
        exit_code = None
    detail = None
    if ours is JobState.QUEUED and reason and reason not in ("None",):
        detail = f"pending: {reason}"
    elif ours is JobState.FAILED:
        detail = {
            "timeout": "hit its time limit",
            "memory_exceeded": "killed for exceeding its memory",
            "node_fail": "its node failed",
        }.get(why or "", f"exit code {exit_code}")
    return JobStatus(ours, exit_code=exit_code, reason=why, detail=detail, extra=extra)


def _parse_sacct(text: str, ids: list[str]) -> dict[str, JobStatus]:
    out: dict[str, JobStatus] = {}
    wanted = set(ids)
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or parts[0] not in wanted:
            continue  # steps (123.batch) and other jobs
        reason = parts[3] if len(parts) > 3 else ""
        st = _status(parts[1], reason, _decode_wait_status(parts[2]))
        # the jobcomp file adds a record per requeue; the last terminal record wins
        if parts[0] not in out or st.state.terminal:
            out[parts[0]] = st
    return out


def make_backend(options: dict[str, Any], host: str | None) -> SlurmBackend:
    unknown = set(options) - _OPTION_KEYS - {"env", "backend", "host", "max_restarts"}
    if unknown:
        # profiles are user files: a typo ('partiton') should not be silently ignored
        raise BackendError(
            f"slurm profile: unknown backend option(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_OPTION_KEYS | {'env'}))}"
        )
    return SlurmBackend(options, host or options.get("host"))
