"""HTCondor backend: a complete submit description per job, checked with the real
`htcondor2.Submit` parser (plus ClassAd parsing of its expressions) before anything is submitted.

Submitting: through the `htcondor2` bindings when a schedd is reachable from this machine (a
configured pool: Collector locate -> Schedd.submit); otherwise `condor_submit` on the submit host
over SSH (or locally when it is on PATH). No pool runs in CI, so the bindings path is best-effort
and exercised only where a pool exists; the CLI path is tested against a stand-in.

Status: one `condor_q -json` call for all jobs, one `condor_history -json` for those that left the
queue, and the job event log (htcondor2.JobEventLog, read through SFTP for remote run dirs) for the
details the ads lack: eviction counts, peak memory of a job held for exceeding its request.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from jobs.backends.base import BackendError, JobState, JobStatus, LaunchArtifact, SchedulerBackend, check_env
from jobs.backends.base import check_labels, check_option_types, job_number
from jobs.backends.condor_events import ad_int, history_status, is_memory_hold, memory_detail, read_event_log
from jobs.backends.environment import WRAPPER_NAME, python_option, setup_lines, wrapper_script
from jobs.backends.units import format_memory, job_argv, memory_mb, time_seconds
from jobs.rundir import STDERR, STDOUT
from jobs.scheduler_shell import CommandError, Shell
from jobs.spec import SPEC_FILE, JobSpec

SUBMIT_NAME = "job.sub"
LOG_NAME = "condor.log"
_AD_ATTRS = [
    "ClusterId",
    "ProcId",
    "JobStatus",
    "HoldReason",
    "HoldReasonCode",
    "HoldReasonSubCode",
    "MemoryUsage",
    "RequestMemory",
    "ExitCode",
    "ExitBySignal",
    "ExitSignal",
    "NumJobStarts",
    "UserLog",
    "RemoteHost",
    "LastRemoteHost",
]
_EXPR_KEYS = (
    "requirements",
    "on_exit_hold",
    "on_exit_remove",
    "periodic_hold",
    "periodic_remove",
    "periodic_release",
    "rank",
)
_OPTION_KEYS = {
    "universe",
    "docker_image",
    "getenv",
    "requirements",
    "should_transfer_files",
    "when_to_transfer_output",
    "max_retries",
    "accounting_group",
    "submit_commands",
    "python",
    "setup",
    "submit_method",
    "bin_dir",
    "transfer_input_files",
    "hold_on_oom",
    "auto_resume",
    "env",
    "host",
    "backend",
    "max_restarts",
    "start_delay_s",
}
_OPTION_TYPES = {
    **dict.fromkeys(
        ("universe", "docker_image", "requirements", "should_transfer_files", "when_to_transfer_output"), "text"
    ),
    **dict.fromkeys(("accounting_group", "submit_method", "bin_dir"), "text"),
    "getenv": "flag_or_text",
    "hold_on_oom": "flag",
    "transfer_input_files": "texts",
    "max_retries": "count",
    "start_delay_s": "seconds",
    "submit_commands": "table",
    "env": "table",
}
# JobStatus attribute of a job ad
_AD_STATE = {
    1: JobState.QUEUED,
    2: JobState.RUNNING,
    3: JobState.CANCELLED,
    4: JobState.COMPLETED,
    5: JobState.HELD,
    6: JobState.RUNNING,
    7: JobState.EVICTED,
}


# submit commands whose values come from run dirs, names, parameters and [env] values; the
# profile's own expressions (requirements, submit_commands) may use macros on purpose
_LITERAL_KEYS = {
    "executable",
    "arguments",
    "environment",
    "initialdir",
    "log",
    "output",
    "error",
    "batch_name",
    "+ArcctlRunDir",
    "+ArcctlProfile",
    "docker_image",
    "container_image",
}
_MACRO_START = re.compile(r"\$(?=[A-Za-z_]*\()")
_UNESCAPABLE = re.compile(r"\$\$|\$\(DOLLAR\)", re.I)


# ------------------------------------------------------------------------------ quoting
def no_macros(value: str, where: str = "htcondor submit value") -> str:
    """VALUE with every macro start (`$(`, `$ENV(`, `$RANDOM_CHOICE(`...) written as `$(DOLLAR)`,
    which condor_submit expands to a plain `$`; `$USER` without parentheses is no macro and stays
    as written. `$$` (a match-time macro) and a literal `$(DOLLAR)` cannot be written so that
    they survive expansion: refused."""
    if _UNESCAPABLE.search(value):
        raise BackendError(
            f"{where}: {value!r} contains `$$` or `$(DOLLAR)`, which HTCondor would "
            "expand; choose a name/path/value without them"
        )
    return _MACRO_START.sub("$(DOLLAR)", value)


def _condor_arg(a: str) -> str:
    """One argument in the 'new' syntax: ' and " are doubled, spaces need single quotes."""
    a = str(a).replace('"', '""')
    if a == "" or any(c in a for c in " \t'"):
        return "'" + a.replace("'", "''") + "'"
    return a


def condor_arguments(args: list[str]) -> str:
    return '"' + " ".join(_condor_arg(a) for a in args) + '"'


def condor_environment(env: dict[str, str], where: str = "htcondor profile") -> str:
    env = check_env(env, where, user=False)  # the profile's part was checked; the rest is arcctl's
    return '"' + " ".join(f"{k}={_condor_arg(v)}" for k, v in env.items()) + '"'


def classad_string(text: str) -> str:
    """TEXT as a ClassAd string literal. JSON's was wrong past ASCII: ClassAds read `\\u00e9` as
    `u00e9`, so a run dir `/runs/été` was stored as `/runs/u00e9tu00e9` (and crash recovery could
    confirm the job of a run dir that really is named so). ClassAds are UTF-8: only the
    backslash and the quote are escaped (control characters never reach here: jobs.naming)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _and(*exprs: str | None) -> str | None:
    parts = [e.strip() for e in exprs if e and e.strip()]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else " && ".join(f"({p})" if not p.startswith("(") else p for p in parts)


# ------------------------------------------------------------------------------ validation
def validate_submit(text: str, where: str = "submit description"):
    """Parse with htcondor2.Submit and every expression with classad2; BackendError names the key."""
    try:
        import classad2
        import htcondor2
    except ImportError:
        raise BackendError(
            "HTCondor submit validation needs the htcondor bindings: pip install 'arcctl[condor]'"
        ) from None
    try:
        sub = htcondor2.Submit(text)
    except Exception as e:
        raise BackendError(f"{where}: HTCondor cannot parse it: {e}") from None
    keys = {k.lower(): v for k, v in sub.items()}
    for need in ("executable", "log"):
        if need not in keys:
            raise BackendError(f"{where}: missing `{need}`")
    if not any(re.match(r"^\s*queue\b", line, re.I) for line in text.splitlines()):
        raise BackendError(f"{where}: no `queue` statement")
    for key in _EXPR_KEYS:
        if key in keys:
            try:
                classad2.ExprTree(keys[key])
            except Exception:
                raise BackendError(f"{where}: `{key}` is not a valid ClassAd expression: {keys[key]}") from None
    for key in ("request_memory", "request_disk"):
        if key in keys and not re.match(r"^\d+(\.\d+)?\s*[KMGT]?B?$", keys[key], re.I):
            raise BackendError(f"{where}: `{key} = {keys[key]}` is not a size (e.g. 128G)")
    for key in ("request_cpus", "request_gpus", "max_retries"):
        if key in keys and not (keys[key].isascii() and keys[key].isdigit()):
            raise BackendError(f"{where}: `{key} = {keys[key]}` is not a whole number")
    for key in ("arguments", "environment"):
        v = keys.get(key)
        if v is not None and not (len(v) >= 2 and v[0] == v[-1] == '"'):
            raise BackendError(f"{where}: `{key}` must be one double-quoted string")
    return sub


class HTCondorBackend(SchedulerBackend):
    name = "htcondor"

    def __init__(self, options: dict[str, Any] | None = None, host: str | None = None, shell: Shell | None = None):
        super().__init__(options, host, shell)
        self.binding_submits = 0

    def _bin(self, name: str) -> str:
        d = self.options.get("bin_dir")
        return posixpath.join(str(d), name) if d else name

    # ------------------------------------------------------------------------------ render
    def describe(self, spec: JobSpec) -> list[tuple[str, str]]:
        """The submit commands in order (the golden files pin this exact text)."""
        o = {**self.options, **spec.backend_options}
        check_labels(spec)
        check_option_types(o, _OPTION_TYPES, f"profile {spec.profile}")
        r = spec.resources
        run_dir = spec.run_dir.rstrip("/") or "/"
        universe = str(o.get("universe", "docker" if o.get("docker_image") else "vanilla")).lower()
        if universe not in ("vanilla", "docker", "container"):
            raise BackendError(f"htcondor profile: universe {universe!r} is not supported (vanilla, docker, container)")
        if universe in ("docker", "container") and not o.get("docker_image"):
            raise BackendError(f"htcondor profile: universe {universe} needs `docker_image`")
        where = f"profile {spec.profile}"
        python = python_option(o, where)
        if python and python.startswith("~"):
            raise BackendError(f"{where}: python {python!r}: HTCondor does not expand ~; give the absolute path")
        entry = job_argv(spec, posixpath.join(run_dir, SPEC_FILE), python)
        wrapped = bool(setup_lines(o, where))
        if wrapped:
            # the setup lines run in a script (written next to job.sub, transferred to the
            # sandbox or container) that then execs the job, which finds `python` on its PATH
            entry = [posixpath.join(run_dir, WRAPPER_NAME)] + entry
        elif universe == "vanilla" and not entry[0].startswith("/"):
            # a bare `python` is resolved on the execute node, not transferred from here
            entry = ["/usr/bin/env"] + entry
        env = {
            **check_env({**o.get("env", {}), **spec.env}, f"profile {spec.profile}"),
            "ARCCTL_RUN_DIR": run_dir,
            "PYTHONUNBUFFERED": "1",
            # an evicted job restarts from scratch: the trainer picks up its newest checkpoint
            "ARCCTL_RESUME": "newest",
        }
        cmds: list[tuple[str, str]] = [("universe", universe)]
        if universe == "docker":
            cmds.append(("docker_image", str(o["docker_image"])))
        elif universe == "container":
            cmds.append(("container_image", str(o["docker_image"])))
        cmds += [
            ("executable", entry[0]),
            ("transfer_executable", "true" if wrapped else "false"),
            ("arguments", condor_arguments(entry[1:])),
            ("environment", condor_environment(env, f"profile {spec.profile}")),
        ]
        getenv = o.get("getenv", False)
        cmds.append(("getenv", ("true" if getenv else "false") if isinstance(getenv, bool) else str(getenv)))
        cmds += [
            ("initialdir", run_dir),
            ("log", posixpath.join(run_dir, LOG_NAME)),
            ("output", posixpath.join(run_dir, STDOUT)),
            ("error", posixpath.join(run_dir, STDERR)),
            ("should_transfer_files", str(o.get("should_transfer_files", "IF_NEEDED"))),
            ("when_to_transfer_output", str(o.get("when_to_transfer_output", "ON_EXIT_OR_EVICT"))),
        ]
        if o.get("transfer_input_files"):
            cmds.append(("transfer_input_files", ",".join(o["transfer_input_files"])))
        cmds.append(("request_cpus", str(r.cpus)))
        if r.gpus > 0:
            cmds.append(("request_gpus", str(r.gpus)))
        cmds.append(("request_memory", format_memory(memory_mb(r.memory))))
        if r.disk:
            cmds.append(("request_disk", format_memory(memory_mb(r.disk, "resources.disk"))))
        req = _and(r.requirements, o.get("requirements"))
        if req:
            cmds.append(("requirements", req))
        if r.time:
            cmds.append(("allowed_execute_duration", str(time_seconds(r.time))))
        if o.get("hold_on_oom", True):
            # a kernel OOM kill (signal 9) would otherwise just end the job; held, it keeps its
            # place and `arcctl resume` can raise request_memory and carry on from a checkpoint
            cmds += [
                ("on_exit_hold", "(ExitBySignal =?= true) && (ExitSignal =?= 9)"),
                ("on_exit_hold_reason", '"killed by signal 9: probably out of memory"'),
                ("on_exit_hold_subcode", "9"),
            ]
        if o.get("start_delay_s"):  # an auto-resume backoff: the schedd starts it no earlier
            cmds.append(("deferral_time", f"(CurrentTime + {int(o['start_delay_s'])})"))
        if int(o.get("max_retries", 0)):
            cmds.append(("max_retries", str(int(o["max_retries"]))))
        if o.get("accounting_group"):
            cmds.append(("accounting_group", str(o["accounting_group"])))
        cmds += [
            ("batch_name", spec.name),
            ("+ArcctlRunDir", classad_string(run_dir)),
            ("+ArcctlProfile", classad_string(spec.profile)),
        ]
        for k, v in (o.get("submit_commands") or {}).items():
            cmds.append((str(k), str(v)))
        for k, v in cmds:
            if "\n" in k or "\n" in v:
                raise BackendError(f"htcondor submit command {k!r} of job {spec.name} contains a newline")
            if v.rstrip().endswith("\\"):
                # condor_submit reads a trailing backslash as a line continuation: the next command
                # (+ArcctlRunDir after batch_name, log after initialdir) became part of this value
                raise BackendError(
                    f"htcondor submit command {k!r} of job {spec.name} ends with a backslash ({v!r}), "
                    "which HTCondor reads as a line continuation"
                )
        # values from names, paths and parameters are literal text: no $(macro) or $ENV() expansion
        return [(k, no_macros(v, f"htcondor `{k}` of job {spec.name}") if k in _LITERAL_KEYS else v) for k, v in cmds]

    def render(self, spec: JobSpec) -> LaunchArtifact:
        cmds = self.describe(spec)
        head = f"# arcctl job {spec.name} (template {spec.template}, profile {spec.profile})"
        text = "\n".join([head] + [f"{k} = {v}" for k, v in cmds] + ["queue", ""])
        script = self.wrapper(spec)
        if script:  # shown with the description it belongs to (`arcctl render`)
            text += f"# {WRAPPER_NAME} (the executable above, written next to this file at submit):\n"
            text += "".join(f"#   {line}\n" for line in script.splitlines())
        return LaunchArtifact("condor_submit", text, SUBMIT_NAME)

    def wrapper(self, spec: JobSpec) -> str | None:
        lines = setup_lines({**self.options, **spec.backend_options}, f"profile {spec.profile}")
        return wrapper_script(lines) if lines else None

    # ------------------------------------------------------------------------------ submit
    def submit(self, spec: JobSpec) -> str:
        art = self.render(spec)
        sub = validate_submit(art.text, f"submit description for {spec.name}")
        run_dir = spec.run_dir.rstrip("/")
        path = posixpath.join(run_dir, SUBMIT_NAME)
        self.shell.makedirs(run_dir)
        self.shell.write_text(posixpath.join(run_dir, SPEC_FILE), spec.to_json() + "\n")
        script = self.wrapper(spec)
        if script:
            self.shell.write_text(posixpath.join(run_dir, WRAPPER_NAME), script, mode=0o755)
        self.shell.write_text(path, art.text)
        schedd = self._bindings_schedd()
        if schedd is not None:
            result = schedd.submit(sub)
            self.binding_submits += 1
            return f"{result.cluster()}.0"
        if self.options.get("submit_method") == "bindings":
            raise BackendError(
                "no HTCondor schedd reachable from this machine through the bindings "
                "(is CONDOR_CONFIG set?); set `host` in the profile to submit over SSH"
            )
        res = self.shell.run([self._bin("condor_submit"), path])
        res.check(self.where)
        return parse_cluster_id(res.stdout, self.where)

    # ------------------------------------------------------------------------------ status
    def status(self, job_ids: list[str]) -> dict[str, JobStatus]:
        ids = [_norm(j) for j in dict.fromkeys(job_ids)]
        if not ids:
            return {}
        schedd = self._bindings_schedd()
        if schedd is not None:
            ads = _query_bindings(schedd, ids)
        else:
            attrs = ",".join(_AD_ATTRS)
            res = self.shell.run([self._bin("condor_q"), *ids, "-json", "-attributes", attrs])
            res.check(self.where)
            ads = {f"{a['ClusterId']}.{a.get('ProcId', 0)}": a for a in _json_ads(res.stdout, "condor_q", self.where)}
            missing = [j for j in ids if j not in ads]
            if missing:
                res = self.shell.run([self._bin("condor_history"), *missing, "-json", "-attributes", attrs])
                if res.rc == 0:
                    for a in _json_ads(res.stdout, "condor_history", self.where):
                        ads.setdefault(f"{a['ClusterId']}.{a.get('ProcId', 0)}", a)
        out: dict[str, JobStatus] = {}
        logs: dict[str, dict] = {}  # one parse per event log, even when many jobs share it
        for j in ids:
            ad = ads.get(j)
            if ad is None:
                out[j] = JobStatus(
                    JobState.UNKNOWN,
                    reason="not_found",
                    detail=f"HTCondor on {self.where} knows no job {j} (condor_q, condor_history)",
                )
                continue
            out[j] = self._from_ad(j, ad, logs)
        return out

    def _from_ad(self, job_id: str, ad: dict, logs: dict) -> JobStatus:
        state = _AD_STATE.get(ad_int(ad, "JobStatus"), JobState.UNKNOWN)
        starts = ad_int(ad, "NumJobStarts")
        needs_log = state is JobState.HELD or (state is JobState.QUEUED and starts > 0)
        hist = None
        if needs_log and ad.get("UserLog"):
            path = ad["UserLog"]
            if path not in logs:
                try:
                    logs[path] = read_event_log(path, self.shell.fs())
                except Exception:  # an unreadable log only costs details, never the status
                    logs[path] = {}
            hist = logs[path].get(job_id)
        extra: dict[str, Any] = {"condor_status": ad_int(ad, "JobStatus"), "starts": starts}
        host = ad.get("RemoteHost") or ad.get("LastRemoteHost")
        if host:
            extra["host"] = str(host).split("@")[-1]
        if state is JobState.HELD:
            reason, code = ad.get("HoldReason"), ad.get("HoldReasonCode")
            extra.update(hold_reason=reason, hold_code=code, hold_subcode=ad.get("HoldReasonSubCode"))
            if is_memory_hold(reason, code):
                used = ad_int(ad, "MemoryUsage", None)
                if hist is not None and hist.memory_used_mb:
                    used = max(used or 0, hist.memory_used_mb)
                detail, mem = memory_detail(reason, used, ad_int(ad, "RequestMemory", None))
                extra.update({k: v for k, v in mem.items() if v is not None})
                return JobStatus(JobState.HELD, reason="memory_exceeded", detail=detail, extra=extra)
            return JobStatus(JobState.HELD, reason="held", detail=f"held: {reason}", extra=extra)
        if state is JobState.QUEUED and starts > 0:
            # idle again after having run: evicted (or preempted) and waiting to restart
            if hist is not None:
                extra["evictions"] = hist.evictions
            return JobStatus(
                JobState.EVICTED,
                reason="evicted",
                detail=f"evicted after {starts} start(s); waiting to run again, will resume from its newest checkpoint",
                extra=extra,
            )
        if state in (JobState.COMPLETED,):
            if ad.get("ExitBySignal"):
                code = 128 + ad_int(ad, "ExitSignal")
            else:
                code = ad_int(ad, "ExitCode")
            if code != 0:
                return JobStatus(
                    JobState.FAILED, exit_code=code, reason="nonzero_exit", detail=f"exit code {code}", extra=extra
                )
            return JobStatus(JobState.COMPLETED, exit_code=0, extra=extra)
        if state is JobState.CANCELLED:
            return JobStatus(JobState.CANCELLED, reason="removed", detail="removed (condor_rm)", extra=extra)
        return JobStatus(state, extra=extra)

    def find(self, spec: JobSpec) -> str | None:
        """The queued job of this spec (same run dir, submitted after the spec was made), for
        jobs.submit.recover after a crash between condor_submit and the registry update."""
        run_dir = spec.run_dir.rstrip("/") or "/"
        constraint = f"ArcctlRunDir == {classad_string(run_dir)}"
        res = self.shell.run(
            [
                self._bin("condor_q"),
                "-constraint",
                constraint,
                "-json",
                "-attributes",
                "ClusterId,ProcId,QDate,ArcctlRunDir",
            ]
        )
        if res.rc != 0:
            return None
        created = self.since(spec.created.timestamp())  # on the host's clock
        try:
            # the run dir checked here too, as Slurm's find does: a condor_q that ignores -constraint
            # (a site's wrapper) listed every queued job, and the newest, anyone's, was confirmed
            # as this one (then `arcctl cancel` removed it)
            ads = [
                a
                for a in _json_ads(res.stdout, "condor_q", self.where)
                if a.get("ArcctlRunDir") == run_dir and float(a.get("QDate", 0)) >= created
            ]
        except (CommandError, TypeError, ValueError):  # output we cannot read: cannot tell
            return None
        # ids that are not whole numbers (a broken or hostile condor_q) were a ValueError out of
        # crash recovery, i.e. out of `arcctl ls`: such an ad cannot be confirmed as this job
        ads = [a for a in ads if _whole(a["ClusterId"]) and _whole(a.get("ProcId", 0))]
        if not ads:
            return None
        newest = max(ads, key=lambda a: (int(a["ClusterId"]), int(a.get("ProcId", 0))))
        return f"{newest['ClusterId']}.{newest.get('ProcId', 0)}"

    def status_from_log(self, log_path: str) -> dict[str, JobStatus]:
        """Status straight from an event log (works with the schedd unreachable)."""
        return {j: history_status(h) for j, h in read_event_log(log_path, self.shell.fs()).items()}

    # ------------------------------------------------------------------------------ cancel
    def cancel(self, job_id: str) -> None:
        schedd = self._bindings_schedd()
        if schedd is not None:
            import htcondor2

            schedd.act(htcondor2.JobAction.Remove, [_norm(job_id)], reason="arcctl cancel")
            return
        self.shell.run([self._bin("condor_rm"), _norm(job_id)]).check(self.where)

    def _bindings_schedd(self):
        """The local pool's schedd when the bindings can reach one and the profile allows it
        (submit_method auto/bindings, no ssh host); None means: use the command-line tools."""
        if self.host is not None or self.options.get("submit_method", "auto") not in ("auto", "bindings"):
            return None
        if not hasattr(self, "_schedd"):
            self._schedd = _local_schedd()
        return self._schedd


def _whole(v: Any) -> bool:
    return job_number(v) is not None  # past 64 bits: int() of 5000 digits raised


def _norm(job_id: str) -> str:
    job_id = str(job_id).strip()
    return job_id if "." in job_id else f"{job_id}.0"


def _json_ads(text: str, cmd: str, where: str) -> list[dict]:
    text = text.strip()
    if not text:
        return []  # condor_q -json prints nothing when no job matches
    from jobs.rundir import loads  # json.loads that turns too-deep nesting into ValueError

    try:
        ads = loads(text)
    except ValueError:
        raise CommandError(f"{cmd} on {where} printed something that is not JSON: {text[:120]!r}") from None
    if not isinstance(ads, list):
        raise CommandError(f"{cmd} on {where} printed JSON that is not a list of job ads: {text[:120]!r}")
    return [a for a in ads if isinstance(a, dict) and "ClusterId" in a]


def parse_cluster_id(stdout: str, where: str) -> str:
    """'1 job(s) submitted to cluster 237770.' (or -terse '237770.0 - 237770.0') -> '237770.0'."""
    m = re.search(r"submitted to cluster (\d+)", stdout) or re.search(r"^(\d+)\.\d+\s*-", stdout, re.M)
    if not m or job_number(m.group(1)) is None:
        raise CommandError(f"condor_submit on {where} printed no cluster id: {stdout.strip()[:200]!r}")
    return f"{m.group(1)}.0"


def _query_bindings(schedd, ids: list[str]) -> dict[str, dict]:
    """Queue + history through the bindings: one query for all jobs, one history for the rest."""
    clusters = sorted({int(j.split(".")[0]) for j in ids})
    constraint = "member(ClusterId, {" + ",".join(map(str, clusters)) + "})"

    def as_dict(ad) -> dict:
        return {k: ad.get(k) for k in _AD_ATTRS if ad.get(k) is not None}

    ads = {}
    for ad in schedd.query(constraint=constraint, projection=_AD_ATTRS):
        d = as_dict(ad)
        ads[f"{d['ClusterId']}.{d.get('ProcId', 0)}"] = d
    missing = [j for j in ids if j not in ads]
    if missing:
        gone = sorted({int(j.split(".")[0]) for j in missing})
        hist = "member(ClusterId, {" + ",".join(map(str, gone)) + "})"
        for ad in schedd.history(constraint=hist, projection=_AD_ATTRS, match=len(missing)):
            d = as_dict(ad)
            ads.setdefault(f"{d['ClusterId']}.{d.get('ProcId', 0)}", d)
    return ads


def _local_schedd():
    """The schedd of this machine's pool, or None (no CONDOR_CONFIG / no pool: the normal case here)."""
    try:
        import htcondor2

        ad = htcondor2.Collector().locate(htcondor2.DaemonTypes.Schedd)
        return htcondor2.Schedd(ad)
    except Exception:
        return None


def make_backend(options: dict[str, Any], host: str | None) -> HTCondorBackend:
    unknown = set(options) - _OPTION_KEYS
    if unknown:
        raise BackendError(
            f"htcondor profile: unknown backend option(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_OPTION_KEYS - {'backend', 'host'}))}"
        )
    return HTCondorBackend(options, host or options.get("host"))
