"""Commands that read a run's files on this machine (`compare` tables, `refine-data`, `submission
build`) take a path, or a registry job (id, id prefix or name) whose run dir is here, as the other
RUN arguments do."""

from __future__ import annotations

from pathlib import Path

from arcctl.cli.errors import UserError


def local_path(arg: str) -> str:
    """ARG when it names something on this machine, else the run dir of the registry job it names;
    neither is a UserError. A job on another host is refused, naming the command that brings its
    files here."""
    if Path(arg).expanduser().exists() or "/" in arg or arg.startswith((".", "~")):
        return str(Path(arg).expanduser())  # a path (job names are one folder name): its own error
    from arcctl.cli.resolve import registry_job

    job = registry_job(arg)  # UserError "ARG: not a run dir, and no job ..." when it is neither
    if job.host is not None:
        raise UserError(
            f"{arg}: job {job.id} ran on {job.host}; this command reads files on this machine "
            f"(copy {job.run_dir} here first)"
        )
    return job.run_dir
