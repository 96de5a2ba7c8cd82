"""Sandbox for model-written ARC programs: see `pool.Sandbox` for the interface."""

from .errors import SandboxError
from .pool import Sandbox
from .result import ERROR_KINDS, ExecResult

__all__ = ["Sandbox", "SandboxError", "ExecResult", "ERROR_KINDS"]
