"""`arcctl` and `jobs` load without the heavy training stack; `jobs` also without textual.
Each check runs in a fresh interpreter, so nothing imported by other tests can hide a leak."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ["torch", "transformers", "trl", "peft", "datasets", "accelerate", "vllm", "unsloth"]
# The extras a `jobs` module may lack (the `condor` and `wandb` extras); any other ImportError is a bug.
OPTIONAL = {"htcondor2", "classad2", "htcondor", "classad", "wandb"}

PROBE = r"""
import importlib, json, pkgutil, sys
import jobs
failed = {}
for m in pkgutil.walk_packages(jobs.__path__, "jobs."):
    try:
        importlib.import_module(m.name)
    except ImportError as e:
        failed[m.name] = [e.name, str(e)]
jobs_mods = sorted(sys.modules)
import arcctl.cli.main
print(json.dumps({"jobs": jobs_mods, "all": sorted(sys.modules), "failed": failed}))
"""


@pytest.mark.timeout(120)
def test_jobs_and_cli_stay_light():
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=100)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    top = lambda mods: {m.split(".")[0] for m in mods}  # noqa: E731
    assert not top(got["all"]) & set(HEAVY), sorted(top(got["all"]) & set(HEAVY))
    assert "textual" not in top(got["jobs"]), "jobs.* must not import textual"
    # only a missing optional extra may stop a module from importing
    assert {m: why for m, (name, why) in got["failed"].items() if name not in OPTIONAL} == {}
    assert {"jobs.registry", "jobs.submit", "jobs.runview", "jobs.backends.slurm"} <= set(got["jobs"])


@pytest.mark.parametrize(
    "args,says", [(["--help"], "Usage"), (["ls"], ""), (["templates"], "grpo"), (["render", "grpo"], "learning_rate")]
)
def test_read_only_commands_do_not_load_heavy_modules(args, says, tmp_path):
    code = (
        "import sys\nsys.argv = ['arcctl', *%r]\ncode = 0\n"
        "try:\n    from arcctl.cli.main import app\n    app()\nexcept SystemExit as e:\n    code = e.code\n"
        "print('EXIT', code or 0)\n"
        "print('MODS', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    ) % (args,)
    env = {
        "ARCCTL_HOME": str(tmp_path / "h"),
        "ARCCTL_CONFIG_DIR": str(tmp_path / "c"),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    # the command itself worked: a crash before its imports would pass the module check vacuously
    assert "EXIT 0" in res.stdout.splitlines(), res.stdout[-2000:] + res.stderr[-2000:]
    assert says in res.stdout
    line = [l for l in res.stdout.splitlines() if l.startswith("MODS ")][-1]
    mods = set(line.split()[1:])
    assert "arcctl" in mods
    assert not mods & set(HEAVY + ["textual"]), sorted(mods & set(HEAVY + ["textual"]))
