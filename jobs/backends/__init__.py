"""Backends: one interface (`jobs.backends.base.Backend`), one module per scheduler.

Each module `jobs.backends.<name>` defines `make_backend(options: dict, host: str | None) -> Backend`;
it is imported only when that backend is used, so `arcctl ls` on local jobs never loads SSH code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobs.backends.base import Backend

KNOWN = ("local", "htcondor", "slurm")


def get_backend(backend_name: str, host: str | None = None, options: dict[str, Any] | None = None) -> "Backend":
    from jobs.errors import SpecError

    if backend_name not in KNOWN:
        from jobs.sweep import suggest

        raise SpecError(f"unknown backend '{backend_name}'{suggest(backend_name, KNOWN)}")
    try:
        mod = importlib.import_module(f"jobs.backends.{backend_name}")
    except ModuleNotFoundError as e:
        if e.name == f"jobs.backends.{backend_name}":
            raise SpecError(f"backend '{backend_name}' is not available in this installation") from None
        raise
    return mod.make_backend(dict(options or {}), host)
