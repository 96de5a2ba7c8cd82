"""One shared, rate-limited status watcher per backend + host.

`poll()` asks the backend about *all* non-terminal jobs it owns in one `status()` call and writes
the answers to the registry, then applies the profiles' auto-resume policy to them
(`jobs.recovery.apply_policy`): this is the one place every status passes, so a profile's
`auto_resume` works whether the CLI or the dashboard polled. The rate limit is kept in the registry (`Registry.claim`), so the CLI
and the dashboard together poll a cluster at most once per `interval_s`, however many of them run.
For the local backend a poll is also what starts queued jobs whose GPUs have become free.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from jobs.registry import SUBMITTING, Registry

DEFAULT_INTERVAL_S = {"local": 1.0, "slurm": 10.0, "htcondor": 15.0}


class StatusWatcher:
    def __init__(self, registry: Registry, backend: str, host: str | None = None, interval_s: float | None = None):
        self.registry = registry
        self.backend_name = backend
        self.host = host
        self.interval_s = DEFAULT_INTERVAL_S.get(backend, 10.0) if interval_s is None else interval_s
        self.last_poll: float | None = None
        self.last_error: str | None = None
        self.last_actions: list[str] = []  # what the auto-resume policy did on the last poll
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        return f"watch:{self.backend_name}@{self.host or ''}"

    def _jobs(self) -> list[Any]:
        return [
            j
            for j in self.registry.active(with_spec=True)
            if j.backend == self.backend_name
            and (j.host or None) == self.host
            and j.state != SUBMITTING
            and j.backend_job_id
        ]

    def poll(self, force: bool = False) -> dict[str, Any]:
        """{job_id: JobStatus} of what was polled; {} when rate-limited or nothing to poll.
        A failing backend (host down) is recorded in `last_error`, never raised."""
        from jobs.backends import get_backend
        from jobs.errors import JobsError

        with self._lock:
            if not self.registry.claim(self.key, 0 if force else self.interval_s):
                return {}
            jobs = self._jobs()
            if not jobs:
                return {}
            self.last_poll = time.time()
            try:
                import json

                # the newest job's profile options; plain JSON: no pydantic on this hot path
                options = json.loads(jobs[-1].spec_json or "{}").get("backend_options", {})
                backend = get_backend(self.backend_name, self.host, options)
                by_bid = {j.backend_job_id: j.id for j in jobs}
                statuses = backend.status(list(by_bid))
            except (JobsError, OSError, Exception) as e:  # noqa: BLE001 - a watcher must survive
                self.last_error = f"{self.backend_name}@{self.host or 'localhost'}: {e}"
                return {}
            self.last_error = None
            updates = {by_bid[b]: st for b, st in statuses.items() if b in by_bid}
            self.registry.update_statuses(updates)
            self.last_actions = self._auto_resume(updates)
            return updates

    def _auto_resume(self, updates: dict[str, Any]) -> list[str]:
        from jobs.backends.base import JobState

        if not any(st.state in (JobState.HELD, JobState.EVICTED, JobState.FAILED) for st in updates.values()):
            return []  # the common case: nothing to recover, keep pydantic off the hot path
        from jobs.recovery import apply_policy

        try:
            return apply_policy(self.registry, updates)
        except Exception as e:  # noqa: BLE001 - a bad profile must not stop the status updates
            return [f"auto-resume: {e}"]


_WATCHERS: dict[tuple[str, str, str | None], StatusWatcher] = {}
_WLOCK = threading.Lock()


def get_watcher(
    registry: Registry, backend: str, host: str | None = None, interval_s: float | None = None
) -> StatusWatcher:
    """The process-wide watcher of (registry, backend, host)."""
    key = (str(registry.path), backend, host)
    with _WLOCK:
        w = _WATCHERS.get(key)
        if w is None or w.registry is not registry:
            w = _WATCHERS[key] = StatusWatcher(registry, backend, host, interval_s)
        return w


def refresh_all(registry: Registry, force: bool = False, actions: list[str] | None = None) -> list[str]:
    """Poll every backend+host that has live jobs (and resolve interrupted submits first).
    Returns the errors of unreachable backends, one line each; what auto-resume did on these
    polls is appended to `actions` when given."""
    if registry.has_state(SUBMITTING):  # rare: keep the common path free of the submit imports
        from jobs.submit import recover

        recover(registry)
    targets = {(j.backend, j.host or None) for j in registry.active(with_spec=False) if j.state != SUBMITTING}
    errors = []
    for backend, host in sorted(targets, key=lambda t: (t[0], t[1] or "")):
        w = get_watcher(registry, backend, host)
        if w.poll(force=force) and actions is not None:
            actions.extend(w.last_actions)
        if w.last_error:
            errors.append(w.last_error)
    return errors
