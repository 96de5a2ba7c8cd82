"""HER jobs at render time through the real binary: the template renders, bad targets and sampling
groups are one error line (exit 2, no traceback, nothing written), toy targets are what the
trainer draws."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.her_targets import TOY_LADDER, toy_names

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path):
    env = dict(
        os.environ,
        ARCCTL_HOME=str(tmp_path / "home"),
        ARCCTL_CONFIG_DIR=str(tmp_path / "config"),
        PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "arcctl.cli.main", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )

    return run


def test_her_template_renders_the_toy_ladder(cli, tmp_path):
    res = cli("render", "her", "-p", 'sampling=[{"n": 4, "temperature": 0.9}]')
    assert res.returncode == 0, res.stderr
    spec = json.loads(res.stdout[res.stdout.index("{") : res.stdout.index("\n}\n") + 2])
    assert spec["kind"] == "her" and spec["params"]["dataset"] == "toy"
    assert spec["params"]["sampling"] == [{"n": 4, "temperature": 0.9}]
    assert not (tmp_path / "home").exists() or not list((tmp_path / "home").rglob("spec.json"))


def _kaggle(tmp_path: Path) -> Path:
    from trainer.data import load_tasks

    task = load_tasks("arc1/train")[0].to_dict()
    f = tmp_path / "targets_challenges.json"
    f.write_text(json.dumps({"good": task, "empty": {"train": [], "test": task["test"]}}))
    return f


@pytest.mark.parametrize(
    "overrides,needle",
    [
        (["dataset=arc1/train", 'task_ids=["nope1"]'], "task_ids: nope1 not in dataset 'arc1/train'"),
        (["dataset=KAGGLE", 'task_ids=["good", "empty"]'], "target empty has no train pairs"),
        (["dataset=KAGGLE", 'task_ids=["missing"]'], "task_ids: missing not in dataset"),
        (['sampling=[{"n": 0, "temperature": 0.1}, {"n": 0, "temperature": 0.9}]'], "sampling groups sum to 0"),
        (["sampling=[]"], "sampling"),
        (['sampling=[{"n": 4, "temp": 0.9}]'], "sampling"),
        (['task_ids=["3-cats"]'], "'3-cats' is not a toy target"),
        (['task_ids=["99-squares"]'], "N must be 1..40"),
        (["dataset=toy:9"], "toy:N with N 1..5"),
        (["dataset=toy:"], "toy:N with N 1..5"),  # an empty N read as the whole ladder
        (["dataset=/no/such/targets.json"], "no such file"),
    ],
)
def test_bad_targets_are_one_error_at_render(cli, tmp_path, overrides, needle):
    kaggle = str(_kaggle(tmp_path))
    args = [a for o in overrides for a in ("-p", o.replace("KAGGLE", kaggle))]
    res = cli("render", "her", *args)
    err = res.stderr.strip()
    assert res.returncode == 2, (res.stdout, err)
    assert "\n" not in err and "Traceback" not in err and err.startswith("error: ") and needle in err, err
    assert not (tmp_path / "home" / "runs").exists()


def test_a_folder_of_task_files_is_a_target_set(cli, tmp_path):
    """The trainer loads a folder of one-task-per-file JSON; render said "not a file"."""
    from trainer.data import load_tasks

    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "mine.json").write_text(json.dumps(load_tasks("arc1/train")[0].to_dict()))
    res = cli("render", "her", "-p", f"dataset={folder}", "-p", 'task_ids=["mine"]')
    assert res.returncode == 0, res.stderr
    res = cli("render", "her", "-p", f"dataset={folder}", "-p", 'task_ids=["other"]')
    assert res.returncode == 2 and "task_ids: other not in dataset" in res.stderr


def test_toy_targets_grow_in_difficulty():
    from trainer.program_library import find_connected_components
    from trainer.synthetic import toy_targets

    assert toy_names("toy", None, None) == list(TOY_LADDER) and toy_names("toy:2", None, 1) == [TOY_LADDER[0]]
    tasks = toy_targets(list(TOY_LADDER) + ["3-horizontal-lines"], seed=3)
    import numpy as np

    shapes = []
    for t in tasks:
        n = int(t.task_id.split("-")[0])
        picture = np.array(t.train[0].output)
        assert t.train[0].input == t.test[0].input and not np.array(t.train[0].input).any()  # a blank canvas
        assert t.test[0].output == t.train[0].output
        assert len(find_connected_components(picture, monochromatic=False)) == n  # shapes never touch
        shapes.append(picture.size)
    assert shapes[1:5] == sorted(shapes[1:5])  # more squares, bigger canvas
    assert toy_targets(["12-squares"], seed=3)[0].train == tasks[1].train  # same seed, same picture
    assert toy_targets(["12-squares"], seed=4)[0].train != tasks[1].train


def test_target_checks_of_files(tmp_path):
    import gzip

    from jobs.errors import SpecError
    from jobs.her_targets import check_targets

    # a path only the job's host has is checked there (remote profiles), refused for a local one
    assert check_targets("/only/on/the/cluster.json", ["t1"], None, local=False) is None
    with pytest.raises(SpecError, match="no such file"):
        check_targets("/only/on/the/cluster.json", ["t1"], None, local=True)
    kaggle = _kaggle(tmp_path)
    gz = tmp_path / "targets_challenges.json.gz"
    gz.write_bytes(gzip.compress(kaggle.read_bytes()))
    check_targets(str(gz), ["good"], None)
    with pytest.raises(SpecError, match="target empty has no train pairs"):
        check_targets(str(gz), None, None)  # every task of the file is a target
    assert check_targets(str(gz), None, 1) is None  # only the first one
    for bad, needle in (
        ("[1, 2]", "expected an object"),
        ('{"a": ', "not readable JSON"),
        ("[" * 100000, "not readable JSON"),
    ):
        (tmp_path / "bad.json").write_text(bad)
        with pytest.raises(SpecError, match=needle):
            check_targets(str(tmp_path / "bad.json"), None, None)


def test_render_keeps_a_backend_and_refuses_a_bad_one_in_one_line(cli, tmp_path):
    ok = cli("render", "her", "-p", "generation_backend=merged-cudagraph")
    assert ok.returncode == 0, ok.stderr
    spec = json.loads(ok.stdout[ok.stdout.index("{") : ok.stdout.index("\n}\n") + 2])
    assert spec["params"]["generation_backend"] == "merged-cudagraph"
    for args, needle in [
        (["generation_backend=fastest"], "generation_backend"),
        (["generation_backend=merged", "use_dora=true"], "cannot merge the adapter with use_dora"),
        (["generation_backend=static", "backend=unsloth"], "unsloth patches generation itself"),
    ]:
        res = cli("render", "her", *[a for o in args for a in ("-p", o)])
        err = res.stderr.strip()
        assert res.returncode == 2, (args, res.stdout, err)
        assert "\n" not in err and "Traceback" not in err and err.startswith("error: ") and needle in err, err
    assert not (tmp_path / "home" / "runs").exists()
