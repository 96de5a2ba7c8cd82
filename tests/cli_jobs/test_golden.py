"""Golden files for rendered specs and launch artifacts (tests/cli_jobs/golden/).

Regenerate after an intended change with: ARCCTL_UPDATE_GOLDEN=1 pytest tests/cli_jobs/test_golden.py
Machine-specific parts are normalised: the runs root -> <RUNS>, this interpreter -> <python>,
the creation time -> <created>. Params are pinned as far as the template and the overrides set
them: a new default in jobs/params.py (another module's business) does not break these files.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from tests.cli_jobs.conftest import run_cli
from tests.golden import check_golden

GOLDEN = Path(__file__).parent / "golden"


def normalise(text: str, home: Path) -> str:
    text = text.replace(str(home / "runs"), "<RUNS>").replace(str(GOLDEN), "<GOLDEN>")
    # The CLI runs under its console script's interpreter (python3) while pytest may run under
    # `python`: any interpreter of this environment is <python>.
    text = re.sub(re.escape(os.path.dirname(sys.executable)) + r"/python3?(\.\d+)?\b", "<python>", text)
    return re.sub(r'"created": "[^"]+"', '"created": "<created>"', text)


def check(name: str, text: str) -> None:
    check_golden(GOLDEN / name, text)


CLI_CASES = {
    "grpo_sweep_local.json": ["grpo", "-p", "learning_rate=1e-6,2e-6", "-p", "beta=0.01,0.02", "--profile", "local"],
    "grpo_2gpus_local.json": ["grpo", "-p", "resources.gpus=2"],
    "sft_local.json": ["sft"],
    "eval_local.json": ["eval", "-p", "adapter_path=/models/adapter"],
    # render reads a local job's refine file: a small valid one
    "grpo-refine_local.json": ["grpo-refine", "-p", f"refine_dataset={GOLDEN / 'refine-sample.json'}"],
}


def pinned_params(items: list[dict], template: str, args: list[str]) -> list[dict]:
    """Keep only the params the template file or a -p sets (defaults belong to jobs.params)."""
    from jobs.templates import load_template

    keys = set(load_template(template).params) | {a.split("=")[0] for a in args if "=" in a}
    for it in items:
        spec = it["spec"] if "spec" in it else it
        spec["params"] = {k: v for k, v in spec["params"].items() if k in keys}
    return items


@pytest.mark.parametrize("golden", sorted(CLI_CASES))
def test_rendered_specs_and_artifacts(home, golden):
    args = CLI_CASES[golden]
    res = run_cli("render", *args, "--json", check=True)
    items = pinned_params(json.loads(res.stdout), args[0], args[1:])
    check(golden, normalise(json.dumps(items, indent=2) + "\n", home))


@pytest.mark.parametrize("profile", ["condor-example", "slurm-example"])
def test_cluster_profile_specs(home, profile, monkeypatch):
    """Specs only: the artifacts (submit file, sbatch script) are pinned by the cluster backends."""
    from jobs.submit import build_specs

    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("HOME", "/home/alice")
    specs = build_specs("grpo", ["learning_rate=1e-6,2e-6"], profile)
    items = pinned_params([json.loads(s.to_json()) for s in specs], "grpo", [])
    check(f"grpo_{profile}_specs.json", normalise(json.dumps(items, indent=2) + "\n", home))


def test_render_output_shape(home):
    """The human `render` output: 4 specs and 4 artifacts for the issue's example sweep."""
    res = run_cli(
        "render", "grpo", "-p", "learning_rate=1e-6,2e-6", "-p", "beta=0.01,0.02", "--profile", "local", check=True
    )
    out = res.stdout
    assert out.count("# launch artifact (command -> launch.sh):") == 4
    assert [l for l in out.splitlines() if l.startswith("# [")][3].startswith("# [4/4] arc-v2-no-pixel-score_lr2e-6_")
    assert out.count('"kind": "grpo"') == 4 and "nothing written" in out
    assert out.count("-m trainer run") == 4
    data = json.loads(run_cli("render", "grpo", "-p", "resources.gpus=2", "--json", check=True).stdout)
    assert "-m accelerate.commands.launch --num_processes 2 -m trainer run" in data[0]["artifact"]["text"]


def test_golden_check_fails_on_missing_or_changed_files_and_rewrites_only_with_1(tmp_path, monkeypatch):
    path = tmp_path / "case.txt"
    monkeypatch.delenv("ARCCTL_UPDATE_GOLDEN", raising=False)
    with pytest.raises(pytest.fail.Exception, match="missing golden file"):
        check_golden(path, "a\n")
    assert not path.exists()
    path.write_text("a\nb\n")
    check_golden(path, "a\nb\n")
    with pytest.raises(pytest.fail.Exception, match=r"differs at line 2:\n  golden: b\n  now:    c"):
        check_golden(path, "a\nc\n")
    for value in ("0", "true", "yes"):
        monkeypatch.setenv("ARCCTL_UPDATE_GOLDEN", value)
        with pytest.raises(pytest.fail.Exception, match="set it to 1"):
            check_golden(path, "a\nc\n")
        with pytest.raises(pytest.fail.Exception, match="set it to 1"):
            check_golden(tmp_path / "new.txt", "x\n")
    assert path.read_text() == "a\nb\n" and not (tmp_path / "new.txt").exists()
    monkeypatch.setenv("ARCCTL_UPDATE_GOLDEN", "1")
    check_golden(path, "a\nc\n")
    check_golden(tmp_path / "sub" / "new.txt", "x\n")
    assert path.read_text() == "a\nc\n" and (tmp_path / "sub" / "new.txt").read_text() == "x\n"
