"""Launching one spec on its backend and recording it: the step shared by a first submit
(jobs.submit) and a resubmit after a failure (jobs.recovery), so neither imports the other.
"""

from __future__ import annotations

import os
from typing import Any

from jobs.errors import JobsError, SpecError
from jobs.registry import SUBMITTING, Registry
from jobs.spec import JobSpec

# Fault injection for the crash-mid-submit tests: exit hard at this point of submit_spec.
FAULT_ENV = "ARCCTL_FAULT"


def backend_for(spec: JobSpec):
    """The backend (local, htcondor, slurm) this spec's profile names, on its host."""
    from jobs.backends import get_backend

    return get_backend(spec.backend, spec.host, spec.backend_options)


def render(specs: list[JobSpec]) -> list[tuple[JobSpec, Any]]:
    """(spec, LaunchArtifact) pairs; validates backend options; writes nothing."""
    from jobs.backends.base import BackendError

    out = []
    for s in specs:
        try:
            out.append((s, backend_for(s).render(s)))
        except BackendError as e:
            raise SpecError(str(e)) from None
    return out


def fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        os._exit(70)


def submitter_tag() -> str:
    from jobs.backends.local_wrapper import proc_start_time

    return f"submitting: pid={os.getpid()} start={proc_start_time(os.getpid()) or ''}"


def launch(registry: Registry, job_id: str, spec: JobSpec, backend) -> str:
    """Submit a reserved registry row's spec; confirm the backend's id, or record why not."""
    from jobs.backends.base import BackendError

    fault("before_backend")
    try:
        bid = backend.submit(spec)
    except (BackendError, JobsError, OSError) as e:
        registry.set_state(job_id, "failed", reason="submit_failed", detail=str(e))
        raise SpecError(f"job {job_id} ({spec.name}): submit failed: {e}") from None
    except BaseException as e:  # Ctrl-C or a bug: the row stays, recover() resolves it
        registry.set_state(job_id, SUBMITTING, reason="submit_interrupted", detail=f"{type(e).__name__}: {e}")
        raise
    fault("after_backend")
    registry.confirm(job_id, bid)
    if getattr(backend, "name", "") == "local":  # a local status is a few file reads: record "running" now
        st = backend.status([bid]).get(bid)
        if st is not None and not st.state.terminal:  # an ending is the watcher's: it applies auto-resume
            registry.update_statuses({job_id: st})
    return bid
