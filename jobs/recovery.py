"""Auto-resume: which failures are worth another attempt, and how to make that attempt.

Recoverable: eviction/preemption (the job was fine, the machine was taken away), a node failure,
a wall-time limit, and running out of memory — the last only after raising the memory request,
so the same failure does not simply repeat. Everything else (a non-zero exit of the trainer, a
cancel) needs a human.

Per profile (backend_options):
    auto_resume = true                      # or a table:
    auto_resume = { max_restarts = 3, reasons = ["evicted", "memory_exceeded"], max_memory = "512G" }
    max_restarts = 3                        # also accepted at the top level (profile examples)
    auto_resume = { crash_patterns = ["illegal memory access"], backoff_s = 60 }

crash_patterns: a job that failed with one of these (regular expressions, case-insensitive) in
the last 64 KB of its stderr.log is resubmitted like a recoverable failure (reason "crash"), up to
max_restarts times; backoff_s delays each such restart on the scheduler itself (Slurm --begin,
HTCondor deferral_time, a local queue entry's start time), doubling per restart (at most 6 h).

`apply_policy(registry, updates)` is what the shared watcher calls after each poll; `arcctl resume`
(jobs.submit.resume_job) is the manual path: `resubmit` with `memory_after_hold`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jobs.backends.base import JobState, JobStatus
from jobs.backends.units import format_memory, human_memory, memory_mb, next_memory_request
from jobs.errors import SpecError
from jobs.spec import JobSpec

# our reason names (JobStatus.reason) that a resume can fix
RECOVERABLE = ("evicted", "preempted", "suspended", "node_fail", "timeout", "memory_exceeded")
DEFAULT_REASONS = ("evicted", "preempted", "node_fail", "memory_exceeded")


@dataclass(frozen=True)
class ResumePolicy:
    enabled: bool = False
    max_restarts: int = 3
    reasons: tuple[str, ...] = DEFAULT_REASONS
    memory_factor: float = 1.5
    max_memory_mb: int | None = None
    crash_patterns: tuple[str, ...] = ()
    backoff_s: float = 0.0

    def crash_match(self, stderr_tail: str) -> str | None:
        for pat in self.crash_patterns:
            if re.search(pat, stderr_tail, re.I):
                return pat
        return None

    @classmethod
    def from_options(cls, options: dict[str, Any], where: str = "profile") -> "ResumePolicy":
        raw = options.get("auto_resume", False)
        top_max = options.get("max_restarts")
        if isinstance(raw, bool):
            cfg: dict[str, Any] = {"enabled": raw}
        elif isinstance(raw, dict):
            cfg = {"enabled": raw.get("enabled", True), **{k: v for k, v in raw.items() if k != "enabled"}}
        else:
            raise SpecError(f"{where}: auto_resume must be true/false or a table, not {raw!r}")
        unknown = set(cfg) - {
            "enabled",
            "max_restarts",
            "reasons",
            "memory_factor",
            "max_memory",
            "crash_patterns",
            "backoff_s",
        }
        if unknown:
            raise SpecError(f"{where}: auto_resume has unknown key(s) {', '.join(sorted(unknown))}")
        reasons = cfg.get("reasons", DEFAULT_REASONS)
        if not isinstance(reasons, (list, tuple)):
            raise SpecError(
                f"{where}: auto_resume.reasons must be a list, e.g. {list(DEFAULT_REASONS)}, not {reasons!r}"
            )
        reasons = tuple(reasons)
        bad = [r for r in reasons if r not in RECOVERABLE]
        if bad:
            raise SpecError(f"{where}: auto_resume.reasons {bad} not recoverable; choose from {', '.join(RECOVERABLE)}")
        max_r = cfg.get("max_restarts", top_max if top_max is not None else 3)
        if not isinstance(max_r, int) or max_r < 0:
            raise SpecError(f"{where}: max_restarts must be a whole number >= 0, not {max_r!r}")
        factor = cfg.get("memory_factor", 1.5)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 1 < factor <= 100:
            raise SpecError(
                f"{where}: auto_resume.memory_factor must be a number above 1 (it raises the request), not {factor!r}"
            )
        cap = cfg.get("max_memory")
        pats = cfg.get("crash_patterns", [])
        if not isinstance(pats, list) or not all(isinstance(p, str) and p for p in pats):
            raise SpecError(f"{where}: auto_resume.crash_patterns must be a list of non-empty strings")
        for p in pats:
            try:
                re.compile(p)
            except re.error as e:
                raise SpecError(
                    f"{where}: auto_resume.crash_patterns: {p!r} is not a regular expression ({e})"
                ) from None
        backoff = cfg.get("backoff_s", 0)
        if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or not 0 <= backoff < 86400:
            raise SpecError(f"{where}: auto_resume.backoff_s must be seconds between 0 and 86400, not {backoff!r}")
        return cls(
            bool(cfg["enabled"]),
            max_r,
            reasons,
            float(factor),
            memory_mb(cap, f"{where}: auto_resume.max_memory") if cap else None,
            tuple(pats),
            float(backoff),
        )


def classify(status: JobStatus) -> str | None:
    """The recoverable reason of a status, or None (running, done, or needs a human)."""
    reason = status.reason or ""
    if status.state is JobState.HELD and reason == "memory_exceeded":
        return "memory_exceeded"
    if status.state is JobState.EVICTED:
        return "suspended" if reason == "suspended" else "evicted"
    if status.state is JobState.FAILED and reason in RECOVERABLE:
        return reason
    return None


@dataclass
class Decision:
    action: str  # "resubmit", "wait" (comes back by itself), "give_up", "none"
    reason: str | None = None
    memory: str | None = None  # new request_memory for a memory failure
    message: str = ""
    delay_s: float = 0.0  # start the resubmitted job this much later (crash backoff)


def memory_bump(spec: JobSpec, status: JobStatus, factor: float = 1.5, cap_mb: int | None = None) -> str:
    """The next memory request after a memory failure: 1.5x max(used, requested), whole GB."""
    ex = status.extra or {}
    used = ex.get("memory_used_mb")
    # the spec may already ask for more than the held attempt did (a previous bump)
    requested = max(int(ex.get("request_memory_mb") or 0), memory_mb(spec.resources.memory))
    new = next_memory_request(used, requested, factor)
    if cap_mb is not None and new > cap_mb:
        if requested >= cap_mb:
            raise SpecError(f"job {spec.name}: needs more than the {human_memory(cap_mb)} cap (auto_resume.max_memory)")
        new = cap_mb
    return format_memory(new)


MAX_BACKOFF_S = 6 * 3600


def decide(
    spec: JobSpec, status: JobStatus, restarts: int, policy: ResumePolicy, stderr_tail: str | None = None
) -> Decision:
    why = classify(status)
    crash = None
    if why is None and status.state is JobState.FAILED and stderr_tail and policy.crash_patterns:
        crash = policy.crash_match(stderr_tail)
        why = "crash" if crash else None
    if why is None:
        return Decision("none")
    if status.state is JobState.EVICTED:
        # HTCondor reschedules an evicted job and Slurm a requeued one: the job script resumes
        # from the newest checkpoint; resubmitting would only make a duplicate
        return Decision("wait", why, message="evicted; the scheduler runs it again and it resumes by itself")
    if not policy.enabled:
        return Decision("none", why, message="auto_resume is off for this profile (arcctl resume does it by hand)")
    if why not in policy.reasons and not crash:
        return Decision("none", why, message=f"{why} is not in this profile's auto_resume.reasons")
    if restarts >= policy.max_restarts:
        return Decision(
            "give_up",
            why,
            message=f"{why}, but already restarted {restarts} time(s) (max_restarts={policy.max_restarts})",
        )
    mem = None
    if why == "memory_exceeded":
        try:
            mem = memory_bump(spec, status, policy.memory_factor, policy.max_memory_mb)
        except SpecError as e:
            return Decision("give_up", why, message=str(e))
    if crash:
        delay = min(policy.backoff_s * 2**restarts, MAX_BACKOFF_S)
        msg = f"resubmitting after a crash ({crash!r} in stderr.log)" + (f", starting in {delay:g} s" if delay else "")
        return Decision("resubmit", why, None, msg, delay)
    msg = f"resubmitting after {why}" + (f" with request_memory={mem}" if mem else "")
    return Decision("resubmit", why, mem, msg)


def with_start_delay(spec: JobSpec, delay_s: float) -> JobSpec:
    """The spec with backend_options.start_delay_s set (or cleared: a manual resume starts now)."""
    opts = {k: v for k, v in spec.backend_options.items() if k != "start_delay_s"}
    if delay_s > 0:
        opts["start_delay_s"] = int(delay_s)
    return spec.model_copy(update={"backend_options": opts})


def stderr_tail(run_dir: str, host: str | None, limit: int = 65536) -> str:
    """The end of a run's stderr.log (locally or over SSH); "" when it cannot be read."""
    from jobs.rundir import STDERR, fs_for_host

    path = f"{run_dir.rstrip('/')}/{STDERR}"
    try:
        fs = fs_for_host(host)
        size = fs.size(path)
        with fs.open_binary(path) as f:
            f.seek(max(0, size - limit))
            return f.read(limit).decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 - no log, no crash match
        return ""


def with_memory(spec: JobSpec, memory: str) -> JobSpec:
    data = spec.model_dump()
    data["resources"]["memory"] = memory
    return JobSpec.model_validate(data)


def memory_after_hold(spec: JobSpec, reason: str | None, detail: str | None, factor: float = 1.5) -> str | None:
    """For `arcctl resume` of a job the registry shows as memory_exceeded: the request the status
    line suggested ('… request_memory=193G'), else 1.5x the current request; None otherwise."""
    if reason != "memory_exceeded":
        return None
    m = re.search(r"request_memory=(\d+[KMGT]?)", detail or "")
    if m and memory_mb(m.group(1)) > memory_mb(spec.resources.memory):
        return m.group(1)
    return format_memory(next_memory_request(None, memory_mb(spec.resources.memory), factor))


def resubmit(registry, job, memory: str | None = None, checkpoint: str | None = None, delay_s: float = 0.0) -> str:
    """Relaunch `job` in its own run dir from `checkpoint` (None: its newest valid one, or the
    start when it has none), with `memory` as the new request when given. A held or evicted job is
    removed from the queue first so it does not linger (or come back) next to its successor."""
    from jobs.fork import resume_spec
    from jobs.registry import SUBMITTING
    from jobs.launch import backend_for, launch, submitter_tag
    from jobs.rundir import fs_for_host

    fs = fs_for_host(job.host)
    spec = resume_spec(job.run_dir, checkpoint, fs)
    if memory:
        spec = with_memory(spec, memory)
    spec = with_start_delay(spec, delay_s)
    backend = backend_for(spec)
    backend.render(spec)
    if job.backend_job_id and job.state in ("held", "evicted"):
        backend.cancel(job.backend_job_id)
    registry.restart(job.id, spec, seen=job)  # claims the resume; a concurrent one stops here
    if spec.host is None:
        spec.write()
    registry.set_state(job.id, SUBMITTING, detail=submitter_tag())
    launch(registry, job.id, spec, backend)
    return job.id


def apply_policy(registry, updates: dict[str, JobStatus]) -> list[str]:
    """After a watcher poll: resubmit the jobs whose profile asks for it. One line per action."""
    out = []
    for jid, st in updates.items():
        if classify(st) is None and st.state is not JobState.FAILED:  # a failure may be a named crash
            continue
        job = registry.get(jid)  # with its spec
        spec = job.spec()
        try:
            policy = ResumePolicy.from_options(spec.backend_options, f"profile {spec.profile}")
        except SpecError as e:
            out.append(f"{jid}: {e}")
            continue
        tail = stderr_tail(job.run_dir, job.host) if st.state is JobState.FAILED and policy.crash_patterns else None
        d = decide(spec, st, job.restarts, policy, tail)
        if d.action == "resubmit":
            try:
                resubmit(registry, job, d.memory, delay_s=d.delay_s)
                out.append(f"{jid} ({job.name}): {d.message}")
            except Exception as e:  # noqa: BLE001 - one failing resubmit must not stop the others
                out.append(f"{jid} ({job.name}): auto-resume failed: {e}")
        elif d.action == "give_up":
            out.append(f"{jid} ({job.name}): not resuming: {d.message}")
    return out
