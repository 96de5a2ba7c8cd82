"""`arcctl doctor PROFILE`: is this profile ready for a first job? Each check runs where the job
will be launched (this machine, or the profile's host over SSH) and says what to fix.

Checks, in order (a failed connection skips the rest): the host key is in known_hosts
(jobs.doctor_host_key), the login works, the scheduler's commands and versions, runs_root
writable, free disk under it, the profile's Python (after its setup lines) importing the trainer
with torch/transformers/trl/peft, GPUs (NVML in the profile's Python; Slurm: the partitions' GPUs),
and a dry-run submit with the profile's partition/account (`sbatch --test-only`,
`condor_submit -dry-run`). From an HTCondor submit host the execute nodes cannot be seen: a docker
or container universe's Python, and GPUs the submit host does not have itself, are "- not
checked" lines (with what to check where), never a ✗.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from jobs.backends.base import BackendError
from jobs.backends.environment import python_option, setup_block, setup_lines
from jobs.backends.units import human_memory, memory_mb
from jobs.doctor_python import judge, min_python
from jobs.doctor_python import script as probe_script
from jobs.errors import JobsError
from jobs.scheduler_shell import CmdResult, Shell, make_shell

if TYPE_CHECKING:
    from jobs.templates import Profile

MIN_FREE_MB = 20 * 1024  # checkpoints of a 8B LoRA run fill a few GB each; below this, say so


@dataclass
class Check:
    name: str
    ok: bool | None  # None: does not apply / for information
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "✓", False: "✗", None: "-"}[self.ok]
        return f"{mark} {self.name}: {self.detail}" + (f"  → {self.fix}" if self.fix and self.ok is False else "")


def as_json(checks: list[Check]) -> str:
    return json.dumps([asdict(c) for c in checks], indent=2, ensure_ascii=False)


class Doctor:
    def __init__(self, profile: "Profile", shell: Shell | None = None, timeout: float = 30):
        self.p = profile
        self.opts = dict(profile.options)
        self.host = profile.host
        self.where = profile.host or "this machine"
        self.shell = shell or make_shell(profile.host)
        self.timeout = timeout
        self.checks: list[Check] = []
        self.root: str | None = None
        self.probe: dict = {}  # what the profile's Python reported (PROBE)

    def add(self, name: str, ok: bool | None, detail: str, fix: str = "") -> bool | None:
        self.checks.append(Check(name, ok, detail, fix))
        return ok

    def sh(self, script: str, env: dict[str, str] | None = None) -> CmdResult:
        return self.shell.run(["/bin/bash", "-c", script], env=env, timeout=self.timeout)

    def env(self) -> dict[str, str]:
        conf = self.opts.get("slurm_conf")
        return {"SLURM_CONF": str(conf)} if conf and self.p.backend == "slurm" else {}

    # ------------------------------------------------------------------------------ checks
    def run(self) -> list[Check]:
        if not self.connection():
            return self.checks
        for step in (self.scheduler, self.runs_root, self.python, self.gpus, self.dry_run):
            try:
                step()
            except JobsError as e:  # one check failing to run is that check's ✗, not the end
                self.add(step.__name__.replace("_", " "), False, str(e))
        return self.checks

    def connection(self) -> bool:
        if not self.host:
            return bool(self.add("connection", True, "jobs run on this machine (no ssh)"))
        from jobs.doctor_host_key import check_host_key, from_login

        key = check_host_key(self.host, self.timeout)
        if key.ok is False:  # the login would be refused for the same reason
            return bool(self.add("host key", False, key.detail, key.fix))
        if key.ok:
            self.add("host key", True, key.detail)
        try:
            res = self.shell.run(["true"], timeout=self.timeout)
            failed = None if res.rc == 0 else f"`true` exited {res.rc} on {self.host}: {res.stderr.strip()}"
        except JobsError as e:
            failed = str(e)
        if failed is not None:
            # a login through a hop or the system ssh is where such a host's key is checked
            late = from_login(self.host, failed) if key.ok is None else key
            if late.ok is False:
                return bool(self.add("host key", False, late.detail, late.fix))
            return bool(
                self.add(
                    "connection", False, failed, f"fix the ssh access to {self.host} first (`arcctl hosts {self.host}`)"
                )
            )
        if key.ok is None:
            self.add("host key", True, from_login(self.host, None).detail)
        return bool(self.add("connection", True, f"ssh to {self.host} works (login accepted)"))

    def scheduler(self) -> None:
        if self.p.backend == "local":
            self.add("scheduler", None, "none needed: local jobs are processes on this machine")
            return
        if self.p.backend == "slurm":
            tools, version = ["sbatch", "squeue", "sacct", "scancel"], "sbatch --version"
        else:
            d = self.opts.get("bin_dir")
            prefix = f"{str(d).rstrip('/')}/" if d else ""
            tools = [prefix + t for t in ("condor_submit", "condor_q", "condor_history", "condor_rm")]
            version = f"{prefix}condor_version"
        res = self.sh(
            "for t in "
            + " ".join(shlex.quote(t) for t in tools)
            + '; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done; '
            + version
            + " 2>&1 | head -1",
            self.env(),
        )
        missing = [t for t in res.stdout.split() if t in tools]
        ver = " ".join(line for line in res.stdout.splitlines() if line.split()[:1] and line.split()[0] not in tools)
        if missing:
            self.add(
                "scheduler",
                False,
                f"{', '.join(missing)} not found on {self.where}",
                "put the scheduler's commands on PATH for non-interactive shells (or set bin_dir for HTCondor)",
            )
        else:
            self.add(
                "scheduler",
                True,
                f"{' '.join(t.rsplit('/', 1)[-1] for t in tools)} found; {ver.strip() or 'version unknown'}",
            )

    def runs_root(self) -> None:
        from jobs import config

        raw = self.p.runs_root or (None if self.host else str(config.runs_root()))
        if raw is None:
            self.add(
                "runs_root",
                False,
                "the profile sets no runs_root for the remote host",
                f'add runs_root = "/scratch/$USER/arcctl-runs" to [profile] of {self.p.path}',
            )
            return
        if self.host:
            from jobs.ssh_transport import expand_path

            root = expand_path(self.host, raw)
        else:
            import os

            root = os.path.abspath(os.path.expandvars(os.path.expanduser(raw)))
        q = shlex.quote(root)
        res = self.sh(f'mkdir -p {q} && t=$(mktemp {q}/.arcctl-doctor.XXXXXX) && rm -f "$t" && df -Pk {q} | tail -1')
        if res.rc != 0:
            self.add(
                "runs_root",
                False,
                f"{root} on {self.where} is not writable: {res.stderr.strip()[-200:]}",
                f"choose a writable runs_root in {self.p.path} (a scratch file system)",
            )
            return
        self.root = root
        self.add("runs_root", True, f"{root} is writable")
        fields = res.stdout.split()
        try:
            free_mb = int(fields[3]) // 1024
        except (IndexError, ValueError):
            self.add("disk", None, f"could not read `df` for {root}: {res.stdout.strip()!r}")
            return
        need = memory_mb(self.p.resources["disk"], "resources.disk") if self.p.resources.get("disk") else MIN_FREE_MB
        ok = free_mb >= need
        self.add(
            "disk",
            ok,
            f"{human_memory(free_mb)} free under {root}" + ("" if ok else f" (want ≥ {human_memory(need)})"),
            "free space or point runs_root at a larger file system",
        )

    def python(self) -> None:
        where = f"profile {self.p.name}"
        if self.p.backend == "htcondor" and str(
            self.opts.get("universe", "docker" if self.opts.get("docker_image") else "vanilla")
        ) in ("docker", "container"):
            image = self.opts.get("docker_image") or "(no docker_image set)"
            self.add(
                "python",
                None,
                f"not checked: jobs run inside the image {image} on the pool's execute nodes, which "
                f"{self.where} cannot look into; where the image is, check it with "
                f"`docker run --rm {image} python -c 'import trainer'` "
                "(the repository's containers/Dockerfile installs the trainer)",
            )
            return
        setup = setup_lines(self.opts, where)
        py = python_option(self.opts, where)
        if not py:
            py = "python" if (setup or self.host) else sys.executable
        minimum = min_python()
        res = self.sh(probe_script(setup_block(setup), py, minimum[1]))
        info, problem = judge(res, py, self.where, len(setup), minimum)
        fix = (
            f'set python = "/path/to/venv/bin/python" (Python {minimum[0]}) or '
            f'setup = ["source ~/venvs/arc/bin/activate"] in [options] of {self.p.path}'
        )
        if info is None:
            self.add("python", False, problem or "", fix)
            return
        self.probe = info
        if "error" in info:
            self.add(
                "python",
                False,
                f"{info['python']} on {self.where} cannot import the trainer: {info['error']}",
                fix + " (and install arcctl[train] into that environment)",
            )
            return
        versions = ", ".join(f"{m} {info.get(m) or 'missing'}" for m in ("torch", "transformers", "trl", "peft"))
        missing = [m for m in ("torch", "transformers", "trl", "peft") if not info.get(m)]
        self.add(
            "python",
            not missing,
            f"{info['python']} (Python {info['version']}) imports trainer; {versions}",
            "pip install 'arcctl[train]' into that environment",
        )

    def gpus(self) -> None:
        need = int(self.p.resources.get("gpus", 0) or 0)
        rows = self.probe.get("gpus")
        if isinstance(rows, list) and rows and all(isinstance(r, list) and len(r) == 2 for r in rows):
            mem = sum(float(r[1]) for r in rows if isinstance(r[1], (int, float))) / 1024
            self.add(
                "gpus",
                True,
                f"{len(rows)} on {self.where}: {rows[0][0]} ({mem:.0f} GiB in all), "
                f"driver {self.probe.get('driver', '?')}",
            )
            return
        if self.p.backend == "slurm":
            part = self.opts.get("partition")
            res = self.sh("sinfo -h -o '%P|%G'" + (f" -p {shlex.quote(str(part))}" if part else ""), self.env())
            gres = sorted({line.split("|", 1)[1] for line in res.stdout.splitlines() if "|" in line} - {"(null)"})
            if gres:
                self.add("gpus", True, f"none on {self.where} itself; the cluster offers {', '.join(gres)}")
                return
        detail = f"no GPU visible from {self.where}"
        if self.probe.get("nvml"):
            detail += f" (NVML: {self.probe['nvml']})"
        if self.p.backend == "htcondor":
            # the submit host is rarely a GPU machine: the pool's GPUs are on execute nodes that
            # only the schedd matches against; the dry run checks the request itself
            self.add(
                "gpus",
                None,
                f"not checked: the pool's GPUs are on its execute nodes, not on {self.where}"
                + (f"; request_gpus = {need} goes to the dry run" if need else ""),
            )
            return
        if need == 0:
            self.add("gpus", None, detail + " (the profile asks for none)")
        else:
            self.add(
                "gpus",
                False,
                detail + f" but the profile asks for {need}",
                "run on a GPU node/partition, or set resources.gpus = 0 for a CPU job",
            )

    def dry_run(self) -> None:
        from jobs.backends import get_backend
        from jobs.spec import JobSpec, Resources

        root = self.root or "/tmp"
        try:
            spec = JobSpec(
                kind="eval",
                name="arcctl-doctor",
                template="doctor",
                params={"model_path": "m", "dataset": "d"},
                profile=self.p.name,
                backend=self.p.backend,
                host=self.host,
                backend_options=self.opts,
                env=self.p.env,
                run_dir=f"{root}/.arcctl-doctor",
                resources=Resources(**self.p.resources),
            )
            backend = get_backend(self.p.backend, self.host, self.opts)
            art = backend.render(spec)
        except (BackendError, JobsError, ValueError) as e:
            self.add(
                "dry run", False, f"the profile does not render a job: {str(e).splitlines()[0]}", f"fix {self.p.path}"
            )
            return
        if self.p.backend == "local":
            self.add("dry run", True, "a job renders (local jobs need no scheduler)")
            return
        if self.p.backend == "slurm":
            sb = [line[len("#SBATCH ") :] for line in art.text.splitlines() if line.startswith("#SBATCH ")]
            keep = [
                a
                for a in sb
                if a.split("=")[0]
                in ("--partition", "--account", "--qos", "--constraint", "--cpus-per-task", "--mem", "--gres", "--time")
            ]
            res = self.sh(f"sbatch --test-only {' '.join(keep)} --wrap true", self.env())
            said = (res.stderr.strip() or res.stdout.strip()).splitlines()
            if res.rc == 0:
                self.add(
                    "dry run", True, f"sbatch --test-only accepts the profile's request: {said[-1] if said else 'ok'}"
                )
            else:
                self.add(
                    "dry run",
                    False,
                    f"sbatch --test-only refuses it: {said[-1] if said else f'exit {res.rc}'}",
                    f"check partition/account/qos and resources in {self.p.path} (`sinfo`, `sacctmgr show assoc user=$USER`)",
                )
            return
        path = f"{root}/.arcctl-doctor.sub"
        self.shell.write_text(path, art.text)
        d = self.opts.get("bin_dir")
        submit = f"{str(d).rstrip('/')}/condor_submit" if d else "condor_submit"
        res = self.sh(
            f"{shlex.quote(submit)} -dry-run - {shlex.quote(path)}; rc=$?; rm -f {shlex.quote(path)}; exit $rc"
        )
        said = (res.stderr.strip() or res.stdout.strip()).splitlines()
        if res.rc == 0:
            self.add("dry run", True, "condor_submit -dry-run accepts the profile's submit description")
        else:
            self.add(
                "dry run",
                False,
                f"condor_submit -dry-run refuses it: {said[-1] if said else f'exit {res.rc}'}",
                f"check accounting_group, requirements and resources in {self.p.path}",
            )


def diagnose(profile_name: str, timeout: float = 30) -> list[Check]:
    from jobs.templates import load_profile

    return Doctor(load_profile(profile_name), timeout=timeout).run()
