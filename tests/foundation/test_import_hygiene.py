"""`arcctl` and `jobs` load without the heavy training stack; `jobs` also without textual.
Each check runs in a fresh interpreter, so nothing imported by other tests can hide a leak."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["torch", "transformers", "trl", "peft", "datasets", "accelerate", "vllm", "unsloth"]

PROBE = r"""
import importlib, json, pkgutil, sys
import jobs
failed = {}
for m in pkgutil.walk_packages(jobs.__path__, "jobs."):
    try:
        importlib.import_module(m.name)
    except ImportError as e:   # optional extras (e.g. htcondor2) may be missing: that is allowed
        failed[m.name] = str(e)
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


@pytest.mark.parametrize("args", [["--help"], ["ls"], ["templates"], ["render", "grpo"]])
def test_read_only_commands_do_not_load_heavy_modules(args, tmp_path):
    code = ("import sys, runpy\nsys.argv = ['arcctl', *%r]\n"
            "try:\n    from arcctl.cli.main import app\n    app()\nexcept SystemExit:\n    pass\n"
            "print('MODS', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n") % (args,)
    env = {"ARCCTL_HOME": str(tmp_path / "h"), "ARCCTL_CONFIG_DIR": str(tmp_path / "c"), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    line = [l for l in res.stdout.splitlines() if l.startswith("MODS ")][-1]
    mods = set(line.split()[1:])
    assert not mods & set(HEAVY + ["textual"]), sorted(mods & set(HEAVY + ["textual"]))
