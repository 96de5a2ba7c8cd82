"""Job commands: templates, render, submit, ls, show, cancel, resume, fork.

Imports of `jobs.*` stay inside the commands: `arcctl --help` and `arcctl ls` must start fast.
Output goes to stdout as plain text (a 10,000-row `ls` must not wait for a table renderer);
errors are one line on stderr (arcctl.cli.errors.user_errors).
"""

from __future__ import annotations

import json
import time
from typing import Annotated, List, Optional

import typer

from arcctl.cli.completion import complete_job, complete_profile, complete_template
from arcctl.cli.errors import user_errors, warn
from arcctl.cli.numbers import count_option, whole
from arcctl.cli.terminal_text import block, shown

PARAM_HELP = "KEY=VALUE override; VALUE1,VALUE2 sweeps (cartesian product over all -p)"
MAX_POINTS_HELP = "allow a sweep of more points than the default limit (1000)"  # jobs.sweep.MAX_SWEEP_POINTS


def _warn_gpu_fit(specs) -> None:
    """One stderr line per distinct GPU-fit problem (jobs.gpu_fit); the job is still rendered/launched."""
    from jobs.gpu_fit import warning

    seen = set()
    for spec in specs:
        msg = warning(spec.kind, spec.params, spec.resources.gpu_memory)
        if msg and msg not in seen:
            seen.add(msg)
            warn(f"{spec.name}: {msg}")


def _rendered(template, param, profile, name, run_dir, registry, max_points, command):
    """The specs of every sweep point and their launch artifacts (rendering validates each point);
    warns when a model may not fit its GPUs."""
    from jobs.submit import build_specs, render

    specs = build_specs(
        template,
        param,
        profile,
        name=name,
        run_dir=run_dir,
        registry=registry,
        max_points=max_points,
        command=command,
    )
    pairs = render(specs)
    _warn_gpu_fit(specs)
    return specs, pairs


def _age(ts: float | None, now: float) -> str:
    if not ts:
        return "-"
    d = max(0, now - ts)
    for unit, sec in (("d", 86400), ("h", 3600), ("m", 60)):
        if d >= sec:
            return f"{int(d // sec)}{unit}"
    return f"{int(d)}s"


def _print_spec_and_artifact(i: int, n: int, spec, art) -> None:
    # names, parameters and the artifact may hold what a parent's spec.json from another host said
    # (a fork's or resume's): JSON leaves C1 controls and bidi overrides raw, so the text is written out
    typer.echo(f"# [{i}/{n}] {shown(spec.name)}")
    typer.echo(f"# run dir: {shown(spec.run_dir)}")
    typer.echo(block(spec.to_json(), limit=1_000_000))
    where = f" -> {shown(art.filename)}" if art.filename else ""
    typer.echo(f"# launch artifact ({art.kind}{where}):")
    typer.echo(block(art.text.rstrip("\n"), limit=1_000_000, keep="\t"))
    typer.echo("")


COMMAND_HELP = "for the `command` template: the program and its arguments, after `--`"

# The arguments `render` and `submit` share (a submit is a render that launches).
TemplateArg = Annotated[
    str,
    typer.Argument(help="template name (see `arcctl templates`) or a .toml file", autocompletion=complete_template),
]
ParamOpt = Annotated[List[str], typer.Option("-p", "--param", help=PARAM_HELP)]
ProfileOpt = Annotated[str, typer.Option("--profile", help="launch profile", autocompletion=complete_profile)]
NameOpt = Annotated[Optional[str], typer.Option("--name", help="experiment name instead of the template's pattern")]
RunDirOpt = Annotated[Optional[str], typer.Option("--run-dir", help="explicit run dir (one run only)")]
MaxPointsOpt = Annotated[
    Optional[int], typer.Option("--max-points", parser=whole("--max-points", 1), metavar="N", help=MAX_POINTS_HELP)
]
CommandArg = Annotated[Optional[List[str]], typer.Argument(help=COMMAND_HELP, show_default=False)]


def register(app: typer.Typer) -> None:
    @app.command("templates")
    def templates_cmd(
        name: Optional[str] = typer.Argument(
            None, help="show one template: every parameter, its value and type", autocompletion=complete_template
        ),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """List job templates and launch profiles (built-in and user ones)."""
        with user_errors():
            from jobs import config
            from jobs.templates import list_profiles, list_templates

            if name:
                _show_template(name, json_out)
                return

            tpls, profs = list_templates(), list_profiles()
            if json_out:
                out = {
                    "templates": [
                        {"error": str(t)}
                        if isinstance(t, Exception)
                        else {
                            "name": t.name,
                            "kind": t.kind,
                            "source": t.source,
                            "path": t.path,
                            "description": t.description,
                        }
                        for t in tpls
                    ],
                    "profiles": [
                        {"error": str(p)}
                        if isinstance(p, Exception)
                        else {
                            "name": p.name,
                            "backend": p.backend,
                            "host": p.host,
                            "source": p.source,
                            "path": p.path,
                            "description": p.description,
                        }
                        for p in profs
                    ],
                }
                typer.echo(json.dumps(out, indent=2))
                return
            for bad in [x for x in (*tpls, *profs) if isinstance(x, Exception)]:
                warn(f"{bad} (skipped)")
            typer.echo("TEMPLATES")
            for t in tpls:
                if not isinstance(t, Exception):
                    typer.echo(f"  {shown(t.name, 200):<16} {t.kind:<12} {t.source:<9} {shown(t.description, 200)}")
            typer.echo("PROFILES")
            for p in profs:
                if not isinstance(p, Exception):
                    where = p.backend + (f"@{p.host}" if p.host else "")
                    typer.echo(
                        f"  {shown(p.name, 200):<16} {shown(where, 200):<20} {p.source:<9} {shown(p.description, 200)}"
                    )
            typer.echo(f"(user templates: {config.user_templates_dir()}, profiles: {config.user_profiles_dir()})")

    @app.command("render")
    def render_cmd(
        template: TemplateArg,
        param: ParamOpt = [],
        profile: ProfileOpt = "local",
        name: NameOpt = None,
        run_dir: RunDirOpt = None,
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
        max_points: MaxPointsOpt = None,
        command: CommandArg = None,
    ) -> None:
        """Dry run: print each resolved spec and the exact launch artifact; nothing is written."""
        with user_errors():
            _, pairs = _rendered(template, param, profile, name, run_dir, _registry_if_exists(), max_points, command)
            if json_out:
                typer.echo(
                    json.dumps(
                        [
                            {
                                "spec": json.loads(s.to_json()),
                                "artifact": {"kind": a.kind, "filename": a.filename, "text": a.text},
                            }
                            for s, a in pairs
                        ],
                        indent=2,
                    )
                )
                return
            for i, (s, a) in enumerate(pairs, 1):
                _print_spec_and_artifact(i, len(pairs), s, a)
            typer.echo(f"# {len(pairs)} spec(s); nothing written (use `arcctl submit` to launch)")

    @app.command("submit")
    def submit_cmd(
        template: TemplateArg,
        param: ParamOpt = [],
        profile: ProfileOpt = "local",
        name: NameOpt = None,
        run_dir: RunDirOpt = None,
        quiet: bool = typer.Option(False, "-q", "--quiet", help="print only the job ids"),
        max_points: MaxPointsOpt = None,
        json_out: bool = typer.Option(False, "--json", help="print the launched jobs as one JSON list"),
        command: CommandArg = None,
    ) -> None:
        """Launch jobs (one per sweep point); prints the job ids. `arcctl submit command -- PROGRAM ARGS…`
        runs any program as a job."""
        with user_errors():
            from jobs.registry import Registry
            from jobs.submit import submit_specs

            existing = _registry_if_exists()
            # every point validated before anything (even the registry) is written
            specs, _ = _rendered(template, param, profile, name, run_dir, existing, max_points, command)
            reg = existing or Registry()

            launched: list[str] = []

            def said(jid: str, spec) -> None:
                launched.append(jid)
                if not json_out:
                    typer.echo(jid if quiet else f"{jid}  {shown(spec.name)}  {shown(spec.run_dir)}")

            try:
                submit_specs(specs, reg, on_submitted=said, rename_on_conflict=not (name or run_dir))
            finally:  # a sweep that fails half-way still reports the points it launched
                if json_out:
                    _echo_jobs(reg, launched)

    @app.command("ls")
    def ls_cmd(
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
        state: List[str] = typer.Option([], "--state", help="only jobs in this state (repeatable)"),
        limit: Optional[int] = count_option(None, "-n", "--limit", lo=0, help="only the newest N jobs (0: all)"),
        refresh: bool = typer.Option(True, "--refresh/--no-refresh", help="ask the backends first (rate-limited)"),
    ) -> None:
        """List jobs, newest first."""
        with user_errors():
            from jobs.registry import LIST_COLUMNS, check_states

            state = check_states(state)

            reg = _registry_if_exists()
            errors: list[str] = []
            actions: list[str] = []
            if reg is not None and reg.readonly:
                typer.echo(
                    f"note: {reg.path} is read-only ({reg.readonly_why}): states as last recorded, backends not asked",
                    err=True,
                )
            elif reg is not None and refresh:
                from jobs.watcher import refresh_all

                errors = refresh_all(reg, actions=actions)
            for a in actions:
                warn(a, "auto-resume")
            for e in errors:
                warn(e)
            progress = _Progresses()
            if json_out:
                rows = reg.rows(LIST_COLUMNS, state or None, limit) if reg else []
                out = [dict(zip(LIST_COLUMNS, r)) for r in rows]
                for d in out:
                    p = progress.of(d["state"], d["run_dir"], d["host"])
                    d["progress"] = p.as_dict() if p is not None else None
                typer.echo(json.dumps(out))
                return
            _print_table(reg.rows(TABLE_COLUMNS, state or None, limit) if reg else [], progress)

    @app.command("show")
    def show_cmd(
        job: str = typer.Argument(..., help="job id, unique id prefix, name or run dir", autocompletion=complete_job),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Everything about one job: state, backend ids, run dir and its spec."""
        with user_errors():
            from jobs.watcher import refresh_all

            reg = _registry_or_fail()
            if not reg.readonly:
                refresh_all(reg)
            j = reg.get(job)
            if json_out:
                typer.echo(json.dumps(j.as_dict(with_spec=True), indent=2))
                return
            now = time.time()
            for k in (
                "id",
                "name",
                "state",
                "exit_code",
                "reason",
                "detail",
                "kind",
                "template",
                "profile",
                "backend",
                "host",
                "backend_job_id",
                "run_dir",
                "parent",
                "restarts",
            ):
                v = getattr(j, k)
                if v is not None and v != "":
                    # reason / detail may quote a scheduler's or a remote host's words
                    typer.echo(f"{k + ':':<16}{shown(v)}")
            typer.echo(
                f"{'created:':<16}{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(j.created))} ({_age(j.created, now)} ago)"
            )
            typer.echo(f"{'updated:':<16}{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(j.updated))}")
            typer.echo("spec:")
            typer.echo(block(j.spec_json or ""))

    @app.command("cancel")
    def cancel_cmd(
        job: List[str] = typer.Argument(..., help="job id(s), prefix or name", autocompletion=complete_job),
        json_out: bool = typer.Option(False, "--json", help="print the cancelled jobs as one JSON list"),
    ) -> None:
        """Cancel jobs (local: SIGTERM to the job's process group, SIGKILL after the grace period)."""
        with user_errors():
            from jobs.submit import cancel_job

            reg = _registry_or_fail()
            done: list[str] = []
            try:
                for ref in job:
                    jid = cancel_job(reg, ref)
                    done.append(jid)
                    if not json_out:
                        j = reg.get(jid)
                        typer.echo(f"{jid}  {j.state if j.terminal else 'cancelling'}  {shown(j.name)}")
            finally:  # the ones cancelled before a bad id are still reported
                if json_out:
                    _echo_jobs(reg, done)

    @app.command("resume")
    def resume_cmd(
        job: str = typer.Argument(..., help="job id, prefix or name", autocompletion=complete_job),
        checkpoint: Optional[str] = typer.Option(
            None, "--checkpoint", "-c", help="checkpoint-N or N (default: newest valid)"
        ),
        json_out: bool = typer.Option(False, "--json", help="print the resumed job as JSON"),
    ) -> None:
        """Relaunch a stopped (or held) job in its own run dir from a checkpoint; after a memory
        hold it asks for more memory."""
        with user_errors():
            from jobs.submit import resume_job

            reg = _registry_or_fail()
            before = reg.get(job).spec().resources.memory
            jid = resume_job(reg, job, checkpoint)
            j = reg.get(jid)
            spec = j.spec()
            ck = spec.resume_from
            if json_out:
                typer.echo(
                    json.dumps(
                        j.as_dict()
                        | {
                            "resumed_from": ck.checkpoint if ck else None,
                            "memory_before": before,
                            "memory": spec.resources.memory,
                        }
                    )
                )
                return
            mem = f"  request_memory {before} -> {spec.resources.memory}" if spec.resources.memory != before else ""
            ck_name = shown(ck.checkpoint) if ck else "the start"
            typer.echo(f"{jid}  resumed from {ck_name}  {shown(j.name)}{shown(mem)}")

    @app.command("fork")
    def fork_cmd(
        job: str = typer.Argument(..., help="parent job id, prefix or name", autocompletion=complete_job),
        checkpoint: Optional[str] = typer.Option(
            None, "--checkpoint", "-c", help="checkpoint-N or N (default: newest valid)"
        ),
        param: List[str] = typer.Option([], "-p", "--param", help="KEY=VALUE changed in the fork"),
        name: Optional[str] = typer.Option(None, "--name", help="name of the new run"),
        json_out: bool = typer.Option(False, "--json", help="print the new job as JSON"),
    ) -> None:
        """A new run from a parent's checkpoint with some parameters changed."""
        with user_errors():
            from jobs.errors import SpecError
            from jobs.submit import fork_job

            overrides = {}
            for item in param:
                if "=" not in item:
                    raise SpecError(f"-p {item}: expected key=value")
                k, v = item.split("=", 1)
                overrides[k.strip().replace("-", "_") if not k.startswith("resources.") else k.strip()] = v
            reg = _registry_or_fail()
            jid = fork_job(reg, job, checkpoint, overrides, name)
            j = reg.get(jid)
            if json_out:
                parent = j.spec().parent
                typer.echo(
                    json.dumps(
                        j.as_dict()
                        | {
                            "parent_run_dir": parent.run_dir if parent else None,
                            "checkpoint": parent.checkpoint if parent else None,
                        }
                    )
                )
                return
            typer.echo(f"{jid}  {shown(j.name)}  {shown(j.run_dir)}")


def _echo_jobs(reg, ids: list[str]) -> None:
    """The jobs as one JSON list of `ls --json` rows."""
    typer.echo(json.dumps([reg.get(jid).as_dict() for jid in ids]))


def _type_name(ann) -> str:
    import typing

    if typing.get_origin(ann) is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(ann))
    return getattr(ann, "__name__", None) or str(ann).replace("typing.", "")


def _show_template(name: str, json_out: bool) -> None:
    """A template's parameters: the template's value, else the kind's default, with the type."""
    from jobs.params import PARAMS_BY_KIND
    from jobs.templates import load_template

    t = load_template(name)
    model = PARAMS_BY_KIND[t.kind]
    rows = []
    for key, field in model.model_fields.items():
        if key in t.params:
            value, src = t.params[key], "template"
        elif field.is_required():
            value, src = None, "required"
        else:
            value, src = field.get_default(call_default_factory=True), "default"
        ann = _type_name(field.annotation)
        rows.append({"name": key, "value": value, "source": src, "type": ann, "help": field.description or ""})
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "name": t.name,
                    "kind": t.kind,
                    "path": t.path,
                    "pattern": t.name_pattern,
                    "entry": t.entry,
                    "resources": t.resources,
                    "params": rows,
                },
                indent=2,
            )
        )
        return
    typer.echo(f"{shown(t.name)} ({t.kind}, {t.source}: {shown(t.path)})\n{block(t.description)}")
    typer.echo(f"name pattern: {shown(t.name_pattern)}")
    typer.echo(f"resources:    {shown(t.resources)}")
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        val = json.dumps(r["value"]) if r["source"] != "required" else "<required>"
        mark = "*" if r["source"] == "template" else " "
        line = f" {mark}{r['name']:<{w}}  {val:<28} {r['type']}" + (f"  # {r['help']}" if r["help"] else "")
        typer.echo(shown(line))
    typer.echo("(* set by the template; override any with -p NAME=VALUE, sweep with -p NAME=V1,V2)")


def _registry_if_exists():
    """The registry, or None when nothing was ever submitted (read-only commands create nothing)."""
    from jobs import config
    from jobs.registry import Registry

    return Registry() if config.registry_path().exists() else None


def _registry_or_fail():
    from jobs import config
    from jobs.errors import RegistryError

    reg = _registry_if_exists()
    if reg is None:
        raise RegistryError(f"no jobs yet (no registry at {config.registry_path()})")
    return reg


TABLE_COLUMNS = ("id", "state", "exit_code", "kind", "profile", "created", "name", "reason", "run_dir", "host")


class _Progresses:
    """Step / total and ETA of running jobs, read from the end of each one's metrics.jsonl
    (finished and queued jobs cost nothing; one SFTP connection per remote host)."""

    def __init__(self) -> None:
        self._fs: dict[str, object] = {}

    def of(self, state: str, run_dir: str | None, host: str | None):
        if state != "running" or not run_dir:
            return None
        from jobs.progress import read_progress

        if host and host in self._fs and self._fs[host] is None:
            return None  # this host failed once already: do not wait for it again
        try:
            fs = None
            if host:
                if host not in self._fs:
                    from jobs.ssh_transport import SFTPFS

                    self._fs[host] = SFTPFS(host)
                fs = self._fs[host]
            return read_progress(run_dir, fs)
        except Exception:  # noqa: BLE001 - an unreachable host leaves the column blank, the list is still shown
            if host:
                self._fs[host] = None
            return None


def _print_table(rows, progress: "_Progresses | None" = None) -> None:
    """Rows of TABLE_COLUMNS as aligned plain text (fast for 10,000 jobs)."""
    now = time.time()
    out = [("ID", "STATE", "EXIT", "KIND", "PROFILE", "AGE", "STEP", "ETA", "NAME")]
    add = out.append
    for jid, state, code, kind, profile, created, name, reason, run_dir, host in rows:
        p = progress.of(state, run_dir, host) if progress is not None else None
        add(
            (
                jid,
                state + "*" if reason == "cancelling" else state,
                "" if code is None else str(code),
                kind,
                shown(profile or "", 200),
                _age(created, now),
                p.step_text() if p and p.step is not None else "",
                p.eta_text() if p and p.step is not None else "",
                shown(name),  # a fork's name comes from its parent's spec, which another host wrote
            )
        )
    w = [max(len(r[i]) for r in out) for i in range(8)]
    fmt = "  ".join(f"{{:<{n}}}" for n in w) + "  {}"
    typer.echo("\n".join(fmt.format(*r) for r in out))
    if not rows:
        typer.echo("(no jobs)")
