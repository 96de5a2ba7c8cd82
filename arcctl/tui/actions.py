"""State-changing actions, all through jobs.submit / jobs.fork (the same code the CLI uses)."""

from __future__ import annotations

from typing import Any

from arcctl.tui.data import JobRow, JobSource


def _registry(source: JobSource) -> Any:
    if source.registry is None:
        from jobs.registry import Registry

        source.registry = Registry()
    return source.registry


def cancel_job(source: JobSource, row: JobRow) -> str:
    from jobs.submit import cancel_job as cancel

    return cancel(_registry(source), row.key)


def registry_id_for(source: JobSource, run_dir: str) -> str | None:
    try:
        return _registry(source).get(run_dir).id
    except Exception:  # noqa: BLE001 - not registered (opened as a plain run dir)
        return None


def resume(source: JobSource, run_dir: str, checkpoint: str | None) -> str:
    """Relaunch the job in its own run dir from `checkpoint` (the registry job restarts)."""
    from jobs.errors import SpecError
    from jobs.submit import resume_job

    jid = registry_id_for(source, run_dir)
    if jid is None:
        raise SpecError(f"{run_dir} is not a job in the registry; fork it instead")
    return resume_job(_registry(source), jid, checkpoint)


def fork_preview(
    run_dir: str,
    checkpoint: str | None,
    overrides: dict[str, str],
    fs: Any = None,
    name: str | None = None,
    source: JobSource | None = None,
):
    """(spec, artifact text) of the fork, without writing anything."""
    from jobs.fork import fork_spec
    from jobs.submit import render

    taken = _registry(source).run_dir_taken if source is not None else None
    spec = fork_spec(run_dir, checkpoint, overrides, fs=fs, name=name or None, taken=taken)
    ((_, artifact),) = render([spec])
    return spec, artifact


def submit(source: JobSource, specs: list[Any]) -> list[str]:
    from jobs.submit import submit_specs

    return submit_specs(specs, _registry(source))
