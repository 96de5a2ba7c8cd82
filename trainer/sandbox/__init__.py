"""Sandbox for model-written ARC programs: see `pool.Sandbox` for the interface."""
from .pool import Sandbox, SandboxError
from .result import ERROR_KINDS, ExecResult

__all__ = ["Sandbox", "SandboxError", "ExecResult", "ERROR_KINDS"]
