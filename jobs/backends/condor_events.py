"""HTCondor job event logs (the `log =` file of a submit description) -> per-job state.

Parsed with the real `htcondor2.JobEventLog`, so the classic text format and its quirks are the
schedd's own reader's business. A remote log is copied through the RunFS (SFTP) into a temp file
first, because the parser wants a path.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from dataclasses import dataclass, field

from jobs.backends.base import JobState, JobStatus
from jobs.backends.units import format_memory, human_memory, next_memory_request

# htcondor JobEventType numbers (stable, part of the log format)
SUBMIT, EXECUTE, EXECUTABLE_ERROR, CHECKPOINTED, EVICTED, TERMINATED, IMAGE_SIZE = 0, 1, 2, 3, 4, 5, 6
SHADOW_EXCEPTION, ABORTED, SUSPENDED, UNSUSPENDED, HELD, RELEASED = 7, 9, 10, 11, 12, 13

# HoldReasonCode values that mean "ran out of memory" (34: JobOutOfResources, cgroup memory limit)
MEMORY_HOLD_CODES = {34}
_MEM_WORDS = re.compile(r"memory|oom|out of memory", re.I)
_PEAK = re.compile(r"peak usage:?\s*(\d+)\s*(?:megabytes|MB)", re.I)
_LIMIT = re.compile(r"limit of\s*(\d+)\s*(?:megabytes|MB)", re.I)


def ad_int(ad: dict, key: str, default: int | None = 0) -> int | None:
    """An integer attribute of a job ad; `default` for one that is missing, null or not a finite
    number (a condor_q of another version, or a site's wrapper around it, may print anything)."""
    value = ad.get(key)
    try:
        return default if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError, OverflowError):
        return default


@dataclass
class JobHistory:
    """What the event log says about one job (cluster.proc)."""

    job_id: str
    state: JobState = JobState.QUEUED
    exit_code: int | None = None
    hold_reason: str | None = None
    hold_code: int | None = None
    hold_subcode: int | None = None
    memory_used_mb: int | None = None  # peak MemoryUsage seen (image-size or terminated events)
    request_memory_mb: int | None = None
    evictions: int = 0
    starts: int = 0
    host: str | None = None
    events: list[str] = field(default_factory=list)


def is_memory_hold(reason: str | None, code: int | None) -> bool:
    return (code in MEMORY_HOLD_CODES) or bool(reason and _MEM_WORDS.search(reason))


def memory_detail(reason: str | None, used: int | None, requested: int | None) -> tuple[str, dict]:
    """One sentence for a memory hold: used vs requested, and the request to use next."""
    if reason:
        if used is None and (m := _PEAK.search(reason)):
            used = int(m.group(1))
        if requested is None and (m := _LIMIT.search(reason)):
            requested = int(m.group(1))
    extra: dict = {"memory_used_mb": used, "request_memory_mb": requested}
    try:
        nxt = next_memory_request(used, requested)
    except ValueError:
        return f"held: out of memory ({reason or 'no details'})", extra
    extra["suggested_request_memory_mb"] = nxt
    used_s = human_memory(used) if used else "unknown"
    req_s = human_memory(requested) if requested else "unknown"
    return (
        f"held: memory exceeded — used {used_s} of the {req_s} requested; "
        f"resubmit with request_memory={format_memory(nxt)}"
    ), extra


def _host(addr: str | None) -> str | None:
    if not addr:
        return None
    m = re.search(r"alias=([^&>]+)", addr)
    if m:
        return m.group(1)
    sinful = addr.strip("<>")
    if sinful.startswith("["):  # IPv6: <[2001:db8::5]:9618?...> (split at ':' it was "[2001")
        return sinful[1:].partition("]")[0]
    return sinful.split(":")[0]


def read_event_log(path: str, fs=None) -> dict[str, JobHistory]:
    """Every job in one event log, folded to its latest state. `fs` is a RunFS (SFTP for remote)."""
    import htcondor2

    tmp = None
    if fs is not None and not _is_local(fs):
        text = fs.read_text(path)
        fd, tmp = tempfile.mkstemp(prefix="arcctl-condor-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        path = tmp
    elif os.path.exists(path) and not os.path.isfile(path):
        # the path comes from the job ad (UserLog): a named pipe there blocked the status pass on
        # its open, /dev/zero kept it reading; only a regular file is an event log
        raise OSError(errno.EINVAL, "not a regular file", path)
    try:
        return _fold(htcondor2.JobEventLog(path).events(stop_after=0))
    finally:
        if tmp:
            os.unlink(tmp)


def _is_local(fs) -> bool:
    from jobs.rundir import LocalFS

    return isinstance(fs, LocalFS)


def _events(it):
    """The events up to the first one the parser rejects (a torn or foreign record ends the read:
    what came before still counts)."""
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except Exception:  # htcondor2 raises HTCondorException("ULOG_RD_ERROR") on a bad record
            return


def _fold(events) -> dict[str, JobHistory]:
    jobs: dict[str, JobHistory] = {}
    for ev in _events(iter(events)):
        jid = f"{ev.cluster}.{ev.proc}"
        h = jobs.setdefault(jid, JobHistory(jid))
        t = int(ev.type)
        get = ev.get if hasattr(ev, "get") else (lambda k, d=None: d)
        h.events.append(str(t))
        if get("MemoryUsage") is not None:
            h.memory_used_mb = max(h.memory_used_mb or 0, int(get("MemoryUsage")))
        if get("RequestMemory") is not None:
            h.request_memory_mb = int(get("RequestMemory"))
        if t == SUBMIT:
            h.state = JobState.QUEUED
        elif t in (EXECUTE, UNSUSPENDED):
            h.state = JobState.RUNNING
            h.starts += t == EXECUTE
            h.host = _host(get("ExecuteHost")) or h.host
        elif t in (EVICTED, SHADOW_EXCEPTION):
            h.state = JobState.EVICTED
            h.evictions += 1
        elif t == SUSPENDED:
            h.state = JobState.EVICTED
        elif t == HELD:
            h.state = JobState.HELD
            h.hold_reason = get("HoldReason")
            h.hold_code = get("HoldReasonCode")
            h.hold_subcode = get("HoldReasonSubCode")
        elif t == RELEASED:
            h.state = JobState.QUEUED
        elif t == ABORTED:
            h.state = JobState.CANCELLED
        elif t == EXECUTABLE_ERROR:
            h.state = JobState.FAILED
        elif t == TERMINATED:
            if get("TerminatedNormally", True):
                h.exit_code = int(get("ReturnValue", 0))
            else:
                h.exit_code = 128 + int(get("TerminatedBySignal", 0))
            h.state = JobState.COMPLETED if h.exit_code == 0 else JobState.FAILED
    return jobs


def history_status(h: JobHistory) -> JobStatus:
    extra: dict = {"evictions": h.evictions, "starts": h.starts}
    if h.host:
        extra["host"] = h.host
    if h.memory_used_mb is not None:
        extra["memory_used_mb"] = h.memory_used_mb
    if h.state is JobState.HELD:
        extra.update(hold_code=h.hold_code, hold_subcode=h.hold_subcode, hold_reason=h.hold_reason)
        if is_memory_hold(h.hold_reason, h.hold_code):
            detail, mem = memory_detail(h.hold_reason, h.memory_used_mb, h.request_memory_mb)
            extra.update({k: v for k, v in mem.items() if v is not None})
            return JobStatus(JobState.HELD, reason="memory_exceeded", detail=detail, extra=extra)
        return JobStatus(JobState.HELD, reason="held", detail=f"held: {h.hold_reason}", extra=extra)
    if h.state is JobState.EVICTED:
        return JobStatus(
            JobState.EVICTED,
            reason="evicted",
            detail=f"evicted{' from ' + h.host if h.host else ''}; it will run again "
            f"(resuming from its newest checkpoint)",
            extra=extra,
        )
    if h.state.terminal:
        detail = (
            None
            if h.state is JobState.COMPLETED
            else ("removed (condor_rm)" if h.state is JobState.CANCELLED else f"exit code {h.exit_code}")
        )
        return JobStatus(
            h.state,
            exit_code=h.exit_code,
            reason=None
            if h.state is JobState.COMPLETED
            else ("removed" if h.state is JobState.CANCELLED else "nonzero_exit"),
            detail=detail,
            extra=extra,
        )
    return JobStatus(h.state, extra=extra)
