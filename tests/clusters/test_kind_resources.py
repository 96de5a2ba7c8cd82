"""Per-kind resources: a profile's [resources] apply to every kind, [resources.<kind>] to one, so
an SFT or eval job keeps its template's own numbers instead of GRPO's 20 CPUs/128G/machine pin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ARCCTL = str(Path(sys.executable).parent / "arcctl")


def _render(tmp_path: Path, kind: str, profile: str, *extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ARCCTL_CONFIG_DIR": str(tmp_path / "config"),
        "ARCCTL_HOME": str(tmp_path / "home"),
        "USER": "someone",
    }
    return subprocess.run(
        [ARCCTL, "render", kind, "--profile", profile, "-p", "model_path=/m", "--json", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def _resources(tmp_path, kind, profile, *extra) -> dict:
    res = _render(tmp_path, kind, profile, *extra)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)[0]["spec"]["resources"]


@pytest.fixture
def profiles(tmp_path):
    d = tmp_path / "config" / "profiles"
    d.mkdir(parents=True)
    (d / "mixed.toml").write_text(
        '[profile]\nbackend = "slurm"\n[resources]\ngpus = 1\ntime = "1-00:00:00"\n'
        '[resources.grpo]\ncpus = 20\nmemory = "128G"\nrequirements = \'(TARGET.Machine == "big")\'\n'
        "[resources.sft]\ncpus = 12\n"
    )
    (d / "typo.toml").write_text('[profile]\nbackend = "slurm"\n[resources.stf]\ncpus = 12\n')
    (d / "badvalue.toml").write_text('[profile]\nbackend = "slurm"\n[resources.sft]\ncpus = "many"\n')
    return d


def test_each_kind_gets_its_own_numbers(profiles, tmp_path):
    grpo = _resources(tmp_path, "grpo", "mixed")
    assert (grpo["gpus"], grpo["cpus"], grpo["memory"], grpo["time"]) == (1, 20, "128G", "1-00:00:00")
    assert grpo["requirements"] == '(TARGET.Machine == "big")'
    sft = _resources(tmp_path, "sft", "mixed")
    assert (sft["gpus"], sft["cpus"], sft["memory"], sft["time"], sft["requirements"]) == (
        1,
        12,
        "64G",
        "1-00:00:00",
        None,
    )
    ev = _resources(tmp_path, "eval", "mixed")
    assert ev["memory"] == "64G" and ev["requirements"] is None  # the eval template's own numbers
    assert _resources(tmp_path, "sft", "mixed", "-p", "resources.cpus=4")["cpus"] == 4  # -p still wins


def test_the_example_profiles_pin_only_grpo(tmp_path):
    for profile in ("condor-example", "slurm-example"):
        grpo = _resources(tmp_path, "grpo", profile)
        sft = _resources(tmp_path, "sft", profile)
        assert grpo["cpus"] >= 16 and grpo["memory"] == "128G"
        assert (sft["cpus"], sft["memory"], sft["requirements"]) == (12, "64G", None)


@pytest.mark.parametrize(
    "profile, words", [("typo", "[resources.stf]: no job kind 'stf'"), ("badvalue", "resources.cpus")]
)
def test_bad_kind_tables_are_one_error(profiles, tmp_path, profile, words):
    res = _render(tmp_path, "sft", profile)
    assert res.returncode == 2 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert words in res.stderr and f"{profile}.toml" in res.stderr, res.stderr
