"""From a template (or an existing spec) to a launched, registered job.

build_specs: template + profile + `-p` overrides -> validated JobSpecs (one per sweep point),
             each with its own name and run dir; nothing written.
submit_spec: mkdir run dir -> spec.json -> registry.reserve -> jobs.launch.launch (backend.submit
             -> registry.confirm).
recover:     finishes submits interrupted by a crash (see jobs.registry).
Used by the CLI and the dashboard; the trainer never launches jobs.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any, Callable, Iterable

from jobs import config
from jobs.errors import JobsError, SpecError
from jobs.inputs import check_inputs
from jobs.launch import backend_for, fault, launch, render, submitter_tag
from jobs.registry import SUBMITTING, Registry
from jobs.rundir import fs_for_host
from jobs.spec import JobSpec, Resources

__all__ = [
    "backend_for",
    "build_specs",
    "cancel_job",
    "fork_job",
    "recover",
    "render",
    "resume_job",
    "submit_spec",
    "submit_specs",
]


def _validation_message(e: Exception) -> str:
    errs = getattr(e, "errors", None)
    if callable(errs):
        first = errs()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        msg = str(first.get("msg", "")).removeprefix("Value error, ")  # a model-level check has no loc
        return f"{loc}: {msg}" if loc else msg
    return str(e).splitlines()[0]


def _expand_root(root: str) -> str:
    return os.path.expandvars(os.path.expanduser(root))


def build_specs(
    template: str,
    overrides: Iterable[str] = (),
    profile: str = "local",
    *,
    name: str | None = None,
    run_dir: str | None = None,
    registry: Registry | None = None,
    max_points: int | None = None,
    command: list[str] | None = None,
) -> list[JobSpec]:
    """Validated specs, one per sweep point. COMMAND (the words after `--`) is the program of a
    `command` job, instead of its template's entry. An auto-generated name that collides with an existing
    run dir (or one earlier in this sweep, or one in the registry) gets -2, -3...; an explicit
    `name`/`run_dir` that exists is an error."""
    from jobs.naming import check_name, check_run_dir, render_name, safe, unique_name
    from jobs.params import defaults as param_defaults
    from jobs.params import sampling_total
    from jobs.sweep import RESOURCE_PREFIX, check_sweep_size, expand, parse_overrides, swept_keys
    from jobs.templates import load_profile, load_template
    from jobs.wandb_files import with_sweep_group

    if name is not None:
        check_name(name)
    if run_dir is not None:
        check_run_dir(run_dir, "--run-dir")
    tpl = load_template(template)
    prof = load_profile(profile)
    from jobs.recovery import ResumePolicy

    # read only when a job fails, maybe days later: a mistake in it is reported now
    ResumePolicy.from_options(prof.options, f"profile {prof.name} ({prof.path})")
    entry = _command_entry(tpl, command, local=prof.host is None)
    if prof.runs_root:
        check_run_dir(prof.runs_root, f"profile {prof.name} ({prof.path}): runs_root")
    ov = parse_overrides(list(overrides), tpl.kind)
    check_sweep_size(ov, max_points)
    points = expand(ov)
    swept = swept_keys(ov)
    if run_dir and len(points) > 1:
        raise SpecError(f"--run-dir names one run but the overrides make {len(points)} (a sweep)")
    if prof.runs_root and prof.host:
        # `~` and $USER name the remote user's home and environment: they stay as written here
        # (render shows them so) and are expanded on the host at submit (see _remote_run_dir)
        root = prof.runs_root.rstrip("/")
    else:
        root = _expand_root(prof.runs_root) if prof.runs_root else str(config.runs_root())
    if not prof.host:
        if "$" in root:
            raise SpecError(
                f"profile {prof.name} ({prof.path}): runs_root {prof.runs_root!r} uses an unset "
                f"environment variable ({root})"
            )
        root = str(Path(root).absolute())
    check_fs = prof.host is None
    batch: set[str] = set()

    def taken(path: str) -> bool:
        return path in batch or (registry is not None and registry.run_dir_taken(path))

    specs = []
    for point in points:
        params = {**param_defaults(tpl.kind), **tpl.params}  # a name pattern may use any parameter
        res = {**tpl.resources, **prof.resources_for(tpl.kind)}
        for k, v in point.items():
            if k.startswith(RESOURCE_PREFIX):
                res[k[len(RESOURCE_PREFIX) :]] = v
            else:
                params[k] = v
        if tpl.health:
            params["health"] = {**tpl.health, **(params.get("health") or {})}
        if tpl.kind == "eval" and (total := sampling_total(params.get("sampling"))) is not None:
            params["n_predictions"] = total  # the run is named by what it will sample ({n_predictions}preds)
        if len(points) > 1:
            params = with_sweep_group(tpl.kind, tpl.name_pattern, params, {k: ov[k] for k in swept})
        if run_dir:
            rd = str(Path(_expand_root(run_dir)).absolute()) if check_fs else run_dir
            if (check_fs and Path(rd).exists()) or taken(rd):
                raise SpecError(f"run dir {rd} already exists; choose another --run-dir (runs are never overwritten)")
            _refuse_nesting(rd, registry, check_fs)
            _refuse_holding_the_runs(rd, root, check_fs)
            nm = Path(rd).name
        else:
            if name:
                nm = safe(name if not swept else render_name(name, params, extra=swept))
                rd = f"{root}/{nm}"
                if (check_fs and Path(rd).exists()) or taken(rd):
                    raise SpecError(f"run dir {rd} already exists; choose another --name (runs are never overwritten)")
            else:
                nm = render_name(tpl.name_pattern, params, extra=swept)
                if tpl.kind == "command" and command:
                    from jobs.naming import command_name

                    nm = command_name(command) or nm
                if check_fs:
                    nm = unique_name(root, nm, taken)
                else:
                    base, n = nm, 1
                    while taken(f"{root}/{nm}"):
                        n += 1
                        nm = f"{base}-{n}"
                rd = f"{root}/{nm}"
        batch.add(rd)
        kw: dict[str, Any] = dict(
            kind=tpl.kind,
            name=nm,
            template=tpl.name,
            params=params,
            profile=prof.name,
            backend=prof.backend,
            host=prof.host,
            backend_options=prof.options,
            env=prof.env,
            run_dir=rd,
        )
        if entry:
            kw["entry"] = entry
        try:
            kw["resources"] = Resources(**res)
            specs.append(JobSpec(**kw))
        except ValueError as e:
            raise SpecError(
                f"template {tpl.name} ({tpl.path}) with profile {prof.name}: {_validation_message(e)}"
            ) from None
        check_inputs(specs[-1])
    return specs


def _command_entry(tpl, command: list[str] | None, local: bool) -> list[str] | None:
    """The entry of the specs. A command job runs in its run dir, so on this machine a script
    named relative to where the user typed the command (`python finetuning.py`) is made absolute."""
    if command and tpl.kind != "command":
        raise SpecError(
            f"template {tpl.name} runs the trainer; a program after `--` is for command jobs "
            f"(arcctl submit command -- PROGRAM ARGS...)"
        )
    entry = list(command) if command else tpl.entry
    if command and local:
        entry = [
            str(Path(a).absolute()) if a.endswith((".py", ".sh")) and not os.path.isabs(a) and os.path.isfile(a) else a
            for a in entry
        ]
    if tpl.kind == "command" and not entry:
        raise SpecError(
            f"template {tpl.name} ({tpl.path}) is a command job without a command: give it after `--` "
            "(arcctl submit command -- PROGRAM ARGS...) or as entry = [...] in the template"
        )
    if entry and not entry[0].strip():  # `-- "$UNSET_VAR" args`: the job would fail to exec ''
        raise SpecError(f"the program of the command is empty: {entry!r} (the first word after `--` or of entry)")
    return entry


def _refuse_nesting(run_dir: str, registry: Registry | None, local: bool) -> None:
    """A run dir inside another job's (`--run-dir ./fork` typed from within a run dir) would be
    moved into branches/ by a resume of that job, or deleted with the checkpoint folder it sits in."""
    for parent in Path(run_dir).parents:
        # by the registry's spelling, and on disk whatever the spelling (a home reached through a
        # symlink): every run dir holds a spec.json
        taken = registry is not None and registry.run_dir_taken(str(parent))
        if taken or (local and (parent / "spec.json").is_file()):
            raise SpecError(f"run dir {run_dir} is inside the run dir {parent} of another job; put it beside it")


def _refuse_holding_the_runs(run_dir: str, root: str, local: bool) -> None:
    """The runs root (or arcctl's home, or a folder above either) as one job's run dir: every later
    run would be created inside that job's folder, where its resume and checkpoint retention move
    and delete things."""
    norm = os.path.realpath if local else posixpath.normpath
    rd = norm(run_dir)
    for held, what in ((root, "the runs root"), (str(config.data_dir()) if local else None, "arcctl's home")):
        if held and (norm(held) == rd or norm(held).startswith(rd.rstrip("/") + "/")):
            raise SpecError(
                f"run dir {run_dir} would hold {what} ({held}) and every other run; choose a folder of its own"
            )


def _claim_run_dir(spec: JobSpec, registry: Registry, rename: bool) -> JobSpec:
    """mkdir the run dir (atomic: of two processes racing for a name exactly one wins). The
    loser of an auto-generated name moves on to the next free suffix; an explicit one fails."""
    from jobs.naming import unique_name

    base = spec.name  # suffixes count from the built name, not from an earlier suffixed try
    while True:
        rd = Path(spec.run_dir)
        try:
            rd.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # FileExistsError too: a file where a folder should be
            blocker = next((p for p in (rd.parent, *rd.parent.parents) if p.exists() and not p.is_dir()), None)
            why = f"{blocker} is a file" if blocker else (e.strerror or str(e))
            raise SpecError(f"run dir {rd}: cannot create it ({why})") from None
        try:
            rd.mkdir()
            return spec
        except FileExistsError:
            if not rename:
                raise SpecError(f"run dir {rd} already exists; runs are never overwritten") from None
            name = unique_name(rd.parent, base, registry.run_dir_taken)
            spec = spec.model_copy(update={"name": name, "run_dir": str(rd.parent / name)})
        except OSError as e:  # below a file, under /proc, a read-only or foreign folder
            raise SpecError(f"run dir {rd}: cannot create it ({e.strerror or e})") from None


def _claim_remote_run_dir(spec: JobSpec, registry: Registry, rename: bool, backend) -> JobSpec:
    """_claim_run_dir on the job's host: the registry knows only this machine's jobs, so a folder
    already there (a run launched from another machine into the same runs_root, or one whose
    registry was lost) would otherwise get a new spec.json and a second job's logs and metrics.
    A host that cannot be reached is left to the launch, which records the failed attempt."""
    shell = getattr(backend, "shell", None)
    if shell is None:
        return spec
    base, n = spec.name, 1
    while True:
        rd = spec.run_dir.rstrip("/")
        try:
            made = shell.run(["sh", "-c", 'mkdir -p -- "$1" && mkdir -- "$2"', "sh", posixpath.dirname(rd), rd])
            if made.rc == 0 or shell.run(["test", "-e", rd]).rc != 0:
                return spec  # made, or not made for another reason the backend's own mkdir reports
        except JobsError:
            return spec
        if not rename:
            raise SpecError(f"run dir {rd} already exists on {spec.host}; runs are never overwritten")
        while True:
            n += 1
            name = f"{base}-{n}"
            if not registry.run_dir_taken(f"{posixpath.dirname(rd)}/{name}"):
                break
        spec = spec.model_copy(update={"name": name, "run_dir": f"{posixpath.dirname(rd)}/{name}"})


def _unclaim_remote_run_dir(spec: JobSpec, backend) -> None:
    try:
        backend.shell.run(["rmdir", "--", spec.run_dir.rstrip("/")])  # only if still empty
    except (AttributeError, JobsError):
        pass


def _unclaim_run_dir(spec: JobSpec) -> None:
    """Undo _claim_run_dir after a failure before any backend saw the job: the dir holds only
    what submit wrote (spec.json), so nothing of the user's is removed."""
    rd = Path(spec.run_dir)
    try:
        (rd / "spec.json").unlink(missing_ok=True)
        (rd / "spec.json.tmp").unlink(missing_ok=True)
        rd.rmdir()
    except OSError:
        pass


def _remote_run_dir(spec: JobSpec, registry: Registry, rename: bool) -> JobSpec:
    """The run dir with `~`/$VARS expanded by the host's shell: the job script, SFTP and the
    registry all need the real path. build_specs could only compare the unexpanded path with the
    registry's, so the check for a run dir already in use happens again here."""
    from jobs.ssh_transport import expand_path

    parent, _, name = expand_path(spec.host, spec.run_dir).rpartition("/")
    base, n = name, 1
    while registry.run_dir_taken(f"{parent}/{name}"):
        if not rename:
            raise SpecError(
                f"run dir {parent}/{name} on {spec.host} belongs to another job; runs are never overwritten"
            )
        n += 1
        name = f"{base}-{n}"
    return spec.model_copy(update={"run_dir": f"{parent}/{name}", "name": name if n > 1 else spec.name})


def submit_spec(spec: JobSpec, registry: Registry | None = None, backend=None, rename_on_conflict: bool = False) -> str:
    """Launch one spec; returns the registry job id. Never overwrites a run dir; with
    `rename_on_conflict` (auto-generated names) a run dir taken meanwhile gets the next suffix."""
    registry = registry or Registry()
    backend = backend or backend_for(spec)
    if spec.host and ("~" in spec.run_dir or "$" in spec.run_dir):
        spec = _remote_run_dir(spec, registry, rename_on_conflict)
    backend.render(spec)  # validates options before anything is written
    if spec.host is None:
        spec = _claim_run_dir(spec, registry, rename_on_conflict)
    else:
        spec = _claim_remote_run_dir(spec, registry, rename_on_conflict, backend)
    try:
        if spec.host is None:
            try:
                spec.write()
            except OSError as e:
                raise SpecError(f"run dir {spec.run_dir}: cannot write spec.json ({e.strerror or e})") from None
        job_id = registry.reserve(spec, detail=submitter_tag())
    except JobsError:  # a full disk, a damaged registry: leave no run dir no job points to
        if spec.host is None:
            _unclaim_run_dir(spec)
        else:
            _unclaim_remote_run_dir(spec, backend)
        raise
    fault("after_reserve")
    launch(registry, job_id, spec, backend)
    return job_id


def submit_specs(
    specs: list[JobSpec],
    registry: Registry | None = None,
    on_submitted: Callable[[str, JobSpec], None] | None = None,
    rename_on_conflict: bool = False,
) -> list[str]:
    """All specs are rendered (validated) first, so a bad one launches none."""
    registry = registry or Registry()
    render(specs)
    ids = []
    for s in specs:
        jid = submit_spec(s, registry, rename_on_conflict=rename_on_conflict)
        ids.append(jid)
        if on_submitted:
            on_submitted(jid, registry.get(jid).spec() if rename_on_conflict else s)
    return ids


def resume_job(registry: Registry, ref: str, checkpoint: str | None = None) -> str:
    """Relaunch a stopped job in its own run dir from a checkpoint (None: the newest valid one).
    Same registry row, restarts + 1. A held or evicted job is removed from its queue first, and
    one stopped for memory asks for more (the request its status suggested, else 1.5x)."""
    from jobs.recovery import memory_after_hold, resubmit

    job = registry.get(ref)
    if not job.terminal and job.backend_job_id:  # the registry may lag: ask the backend once
        st = backend_for(job.spec()).status([job.backend_job_id]).get(job.backend_job_id)
        if st is not None:
            registry.update_statuses({job.id: st})
            job = registry.get(job.id)
    if not job.terminal and job.state not in ("held", "evicted"):  # resuming would run it twice
        raise SpecError(f"job {job.id} ({job.name}) is {job.state}; cancel it before resuming (arcctl cancel {job.id})")
    return resubmit(registry, job, memory_after_hold(job.spec(), job.reason, job.detail), checkpoint)


def fork_job(
    registry: Registry,
    ref: str,
    checkpoint: str | None = None,
    overrides: dict[str, Any] | None = None,
    name: str | None = None,
) -> str:
    from jobs.fork import fork_spec
    from jobs.naming import check_name

    if name is not None:
        check_name(name)
    job = registry.get(ref)
    fs = fs_for_host(job.host)
    if name and job.host is None:
        target = Path(job.run_dir).parent / name
        if target.exists() or registry.run_dir_taken(str(target)):
            raise SpecError(f"run dir {target} already exists; choose another --name")
    spec = fork_spec(job.run_dir, checkpoint, overrides, fs=fs, name=name, taken=registry.run_dir_taken)
    check_inputs(spec)  # a changed data set or file is checked as at submit
    return submit_spec(spec, registry)


def cancel_job(registry: Registry, ref: str) -> str:
    job = registry.get(ref)
    if job.terminal:
        raise SpecError(f"job {job.id} ({job.name}) is already {job.state}")
    if not job.backend_job_id:
        # a submit that died after the backend launched but before the registry heard of it: the
        # backend may still have (and run) the job; cancel whatever it has for this spec
        try:
            backend = backend_for(job.spec())
            found = backend.find(job.spec())
        except JobsError:
            found = None
        if found:
            backend.cancel(found)
        registry.set_state(job.id, "cancelled", reason="cancelled", detail="cancelled before the backend accepted it")
        return job.id
    backend = backend_for(job.spec())
    backend.cancel(job.backend_job_id)
    st = backend.status([job.backend_job_id]).get(job.backend_job_id)
    if st is not None and st.state.terminal:
        registry.update_statuses({job.id: st})
    elif job.host is None and job.backend == "local" and not os.path.lexists(job.run_dir):
        # nothing left that could run it: the run dir (and its pid file) was deleted
        registry.set_state(
            job.id, "cancelled", reason="cancelled", detail=f"cancelled; its run dir {job.run_dir} is gone"
        )
    else:
        registry.set_state(job.id, job.state, reason="cancelling", detail="cancel requested")
    return job.id


def recover(registry: Registry) -> list[str]:
    """Resolve jobs left in `submitting` by a process that died: if the backend knows a launch for
    the spec, confirm it; otherwise mark it failed (it never ran). Never launches anything."""
    from jobs.backends.local_wrapper import proc_start_time

    fixed = []
    for job in registry.list(states=[SUBMITTING], with_spec=True):
        tag = job.detail or ""
        if tag.startswith("submitting: pid="):
            try:
                pid_s, start_s = tag.split("pid=", 1)[1].split(" start=")
                if proc_start_time(int(pid_s)) == (start_s or None) and start_s:
                    continue  # that submit is still in progress
            except ValueError:
                pass
        try:
            backend = backend_for(job.spec())
            found = backend.find(job.spec()) if hasattr(backend, "find") else None
        except JobsError:
            found = None
        if found:
            registry.confirm(job.id, found)
        else:
            registry.set_state(
                job.id,
                "failed",
                reason="submit_interrupted",
                detail="arcctl stopped before the backend accepted this job; it never ran",
            )
        fixed.append(job.id)
    return fixed
