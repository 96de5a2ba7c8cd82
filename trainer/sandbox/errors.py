"""Errors of the sandbox itself (not of the programs it runs: those are ExecResult.error)."""

from __future__ import annotations

from jobs.errors import JobsError


class SandboxError(JobsError, RuntimeError):
    """The sandbox itself cannot run (bad common module, zygote or workers fail to start)."""


class ZygoteLost(SandboxError):
    """The zygote process is gone (killed from outside, e.g. by the OOM killer)."""
