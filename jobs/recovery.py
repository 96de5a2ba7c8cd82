"""Auto-resume: which failures are worth another attempt, and how to make that attempt.

Recoverable: eviction/preemption (the job was fine, the machine was taken away), a node failure,
a wall-time limit, and running out of memory — the last only after raising the memory request,
so the same failure does not simply repeat. Everything else (a non-zero exit of the trainer, a
cancel) needs a human.

Per profile (backend_options):
    auto_resume = true                      # or a table:
    auto_resume = { max_restarts = 3, reasons = ["evicted", "memory_exceeded"], max_memory = "512G" }
    max_restarts = 3                        # also accepted at the top level (profile examples)

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
        unknown = set(cfg) - {"enabled", "max_restarts", "reasons", "memory_factor", "max_memory"}
        if unknown:
            raise SpecError(f"{where}: auto_resume has unknown key(s) {', '.join(sorted(unknown))}")
        reasons = tuple(cfg.get("reasons", DEFAULT_REASONS))
        bad = [r for r in reasons if r not in RECOVERABLE]
        if bad:
            raise SpecError(f"{where}: auto_resume.reasons {bad} not recoverable; choose from {', '.join(RECOVERABLE)}")
        max_r = cfg.get("max_restarts", top_max if top_max is not None else 3)
        if not isinstance(max_r, int) or max_r < 0:
            raise SpecError(f"{where}: max_restarts must be a whole number >= 0, not {max_r!r}")
        factor = float(cfg.get("memory_factor", 1.5))
        if factor <= 1:
            raise SpecError(f"{where}: auto_resume.memory_factor must be > 1 (it raises the request)")
        cap = cfg.get("max_memory")
        return cls(bool(cfg["enabled"]), max_r, reasons, factor,
                   memory_mb(cap, f"{where}: auto_resume.max_memory") if cap else None)


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
    action: str                 # "resubmit", "wait" (comes back by itself), "give_up", "none"
    reason: str | None = None
    memory: str | None = None   # new request_memory for a memory failure
    message: str = ""


def memory_bump(spec: JobSpec, status: JobStatus, factor: float = 1.5,
                cap_mb: int | None = None) -> str:
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


def decide(spec: JobSpec, status: JobStatus, restarts: int, policy: ResumePolicy) -> Decision:
    why = classify(status)
    if why is None:
        return Decision("none")
    if status.state is JobState.EVICTED:
        # HTCondor reschedules an evicted job and Slurm a requeued one: the job script resumes
        # from the newest checkpoint; resubmitting would only make a duplicate
        return Decision("wait", why, message="evicted; the scheduler runs it again and it resumes by itself")
    if not policy.enabled:
        return Decision("none", why, message="auto_resume is off for this profile (arcctl resume does it by hand)")
    if why not in policy.reasons:
        return Decision("none", why, message=f"{why} is not in this profile's auto_resume.reasons")
    if restarts >= policy.max_restarts:
        return Decision("give_up", why, message=f"{why}, but already restarted {restarts} time(s) "
                                                  f"(max_restarts={policy.max_restarts})")
    mem = None
    if why == "memory_exceeded":
        try:
            mem = memory_bump(spec, status, policy.memory_factor, policy.max_memory_mb)
        except SpecError as e:
            return Decision("give_up", why, message=str(e))
    msg = f"resubmitting after {why}" + (f" with request_memory={mem}" if mem else "")
    return Decision("resubmit", why, mem, msg)


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


def resubmit(registry, job, memory: str | None = None, checkpoint: str | None = None) -> str:
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
    backend = backend_for(spec)
    backend.render(spec)
    if job.backend_job_id and job.state in ("held", "evicted"):
        backend.cancel(job.backend_job_id)
    if spec.host is None:
        spec.write()
    registry.restart(job.id, spec)
    registry.set_state(job.id, SUBMITTING, detail=submitter_tag())
    launch(registry, job.id, spec, backend)
    return job.id


def apply_policy(registry, updates: dict[str, JobStatus]) -> list[str]:
    """After a watcher poll: resubmit the jobs whose profile asks for it. One line per action."""
    out = []
    for jid, st in updates.items():
        if classify(st) is None:
            continue
        job = registry.get(jid)  # with its spec
        spec = job.spec()
        try:
            policy = ResumePolicy.from_options(spec.backend_options, f"profile {spec.profile}")
        except SpecError as e:
            out.append(f"{jid}: {e}")
            continue
        d = decide(spec, st, job.restarts, policy)
        if d.action == "resubmit":
            try:
                resubmit(registry, job, d.memory)
                out.append(f"{jid} ({job.name}): {d.message}")
            except Exception as e:  # noqa: BLE001 - one failing resubmit must not stop the others
                out.append(f"{jid} ({job.name}): auto-resume failed: {e}")
        elif d.action == "give_up":
            out.append(f"{jid} ({job.name}): not resuming: {d.message}")
    return out
