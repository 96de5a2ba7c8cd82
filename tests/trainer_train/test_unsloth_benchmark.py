"""What can be checked without a GPU of the one-call unsloth benchmark (benchmarks/gpu/unsloth_grpo.sh):
the script parses, its config renders through `arcctl render` for both backends into specs the
trainer accepts, its table reads metrics files as the trainer writes them, and the import checker
that chose the wheels it carries sorts imports as Python runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.spec import JobSpec
from trainer import fast_generation

REPO = Path(__file__).resolve().parents[2]
GPU = REPO / "benchmarks" / "gpu"
sys.path.insert(0, str(GPU))

import unsloth_grpo  # noqa: E402
import unsloth_imports  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def test_script_parses():
    done = subprocess.run(["bash", "-n", str(GPU / "unsloth_grpo.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("backend", ["unsloth", "trl"])
def test_config_renders_for_both_backends(tmp_path, monkeypatch, backend):
    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    run_dir = tmp_path / f"{backend}-0.9b"
    path = unsloth_grpo.write_spec(str(run_dir), "/models/m", backend, [])
    spec = JobSpec.read(path)
    assert spec.run_dir == str(run_dir) and spec.profile == "local"
    p = spec.typed_params()
    assert p.backend == backend and p.model_path == "/models/m"
    # every line of the params file reached the spec, typed
    for key, value in unsloth_grpo.config().items():
        assert str(getattr(p, key)).lower() == value.lower(), key
    assert (p.num_generations, p.max_completion_length, p.max_steps) == (8, 256, 3)
    # unsloth generates through TRL's hook (its patched `generate`); trl takes the fastest on a GPU
    want = "trl" if backend == "unsloth" else "merged-cudagraph"
    assert fast_generation.resolve(p, cuda=True) == want


def test_render_rejects_a_bad_override(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit) as e:
        unsloth_grpo.write_spec(str(tmp_path / "r"), "/models/m", "unsloth", ["generation_backend=merged"])
    assert e.value.code == 2
    assert "generation_backend" in capfd.readouterr().err
    assert not (tmp_path / "r" / "spec.json").exists()


def test_params_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "p.params"
    bad.write_text("# comment\n\nnum_generations=8\njust words\n")
    with pytest.raises(SystemExit, match=r"p\.params:4: expected KEY=VALUE"):
        unsloth_grpo.config(bad)


def test_table_reads_step_rows_and_skips_a_torn_line(tmp_path):
    run = tmp_path / "unsloth-8b"
    run.mkdir()
    rows = [
        {"step": 1, "time": 1.0, "loss": 0.1},  # a line without the time split is not a step row
        {
            "step": 1,
            "arc/time_step_s": 61.04,
            "arc/time_generation_s": 50.5,
            "arc/time_reward_s": 0.004,
            "arc/time_optimization_s": 10.5,
            "completions/mean_length": 256.0,
            "arc/gpu_peak_gib": 39.71,
        },
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 2, "arc/ti')
    (tmp_path / "trl-8b").mkdir()
    (tmp_path / "trl-8b" / "metrics.jsonl").write_text("")
    (tmp_path / "unsloth-0.9b").mkdir()  # crashed before its first step: a log, no metrics
    (tmp_path / "unsloth-0.9b" / "log").write_text("trainer: crashed: ...\n")
    (tmp_path / "notes").mkdir()  # not a run
    table = unsloth_grpo.table(tmp_path).splitlines()
    assert table[2] == "| trl-8b | - | no step logged | | | | | |"
    assert table[3] == "| unsloth-0.9b | - | no step logged | | | | | |"
    assert table[4] == "| unsloth-8b | 1 | 61.0 | 50.5 | 0.00 | 10.5 | 256 | 39.7 |"
    assert len(table) == 5


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_import_checker_sorts_imports_as_python_runs_them(tmp_path, capsys):
    site = _package(
        tmp_path / "site",
        {
            "pkg/__init__.py": "import os\nfrom .core import *\nfrom . import extras\n",
            "pkg/core.py": (
                "import needed_pkg.sub\n"
                "try:\n    import optional_pkg\nexcept ImportError:\n    optional_pkg = None\n"
                "if optional_pkg:\n    import conditional_pkg\n"
                "def f():\n    import lazy_pkg\n"
                "def g():\n    try:\n        import guarded_lazy_pkg\n    except ImportError:\n        pass\n"
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import typing_only_pkg\n"
            ),
            # reached only through a guarded import: what it needs is optional for `import pkg`
            "pkg/extras.py": "try:\n    from pkg import plugin\nexcept ImportError:\n    pass\n",
            "pkg/plugin.py": "import plugin_dep\nimport present_pkg\n",
            "pkg/unused.py": "import never_imported_pkg\n",
            "present_pkg/__init__.py": "",
        },
    )
    host = tmp_path / "host.txt"
    host.write_text("needed-pkg\n")
    assert unsloth_imports.main([str(site), "--root", "pkg", "--host", str(host)]) == 0
    out = capsys.readouterr().out
    assert "5 modules of ['pkg', 'present_pkg'] run on `import pkg`" in out  # site packages are followed
    assert "needed: 0 listed (none missing)" in out  # needed_pkg is on the host (as needed-pkg)
    assert "MISSING conditional_pkg: pkg.core" in out.split("conditional:")[1].split("optional:")[0]
    optional = out.split("optional:")[1].split("lazy:")[0]
    assert "MISSING optional_pkg: pkg.core" in optional and "MISSING plugin_dep: pkg.plugin" in optional
    assert "MISSING present_pkg" not in out  # in the site
    lazy, guarded = out.split("lazy:")[1].split("lazy-guarded:")
    assert "MISSING lazy_pkg: pkg.core" in lazy and "MISSING guarded_lazy_pkg: pkg.core" in guarded
    assert "typing_only_pkg" not in out and "never_imported_pkg" not in out

    host.write_text("")
    assert unsloth_imports.main([str(site), "--root", "pkg", "--host", str(host)]) == 1
    assert "MISSING needed_pkg: pkg.core" in capsys.readouterr().out.split("conditional:")[0]
