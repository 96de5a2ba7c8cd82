"""fork_spec / resume_spec on run dirs with real checkpoint folders."""

from __future__ import annotations

import json

import pytest

from jobs.errors import SpecError
from jobs.fork import fork_spec, resume_spec
from jobs.submit import build_specs


@pytest.fixture
def parent(home):
    spec = build_specs("grpo", [], "local")[0]
    rd = home / "runs" / spec.name
    rd.mkdir(parents=True)
    spec.write()
    for step, ok in ((200, True), (400, True), (600, False)):
        ck = rd / f"checkpoint-{step}"
        ck.mkdir()
        (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        if ok:
            (ck / "adapter_model.safetensors").write_bytes(b"w")
    return spec


def test_fork_newest_valid_checkpoint(parent):
    child = fork_spec(parent.run_dir, None, {"learning_rate": "1e-6", "beta": 0.04})
    assert child.parent.checkpoint == "checkpoint-400"  # 600 has no weights
    assert child.resume_from == child.parent
    assert child.params["learning_rate"] == 1e-6 and child.params["beta"] == 0.04
    assert child.params["num_generations"] == parent.params["num_generations"]
    assert child.name == f"{parent.name}_fork400_learning_rate1e-6_beta0.04"
    assert child.run_dir.endswith("/" + child.name) and child.run_dir != parent.run_dir
    assert child.created > parent.created


def test_fork_explicit_and_bad_checkpoints(parent):
    assert fork_spec(parent.run_dir, "200", {}).parent.checkpoint == "checkpoint-200"
    with pytest.raises(SpecError, match="missing model/adapter weights"):
        fork_spec(parent.run_dir, "checkpoint-600", {})
    with pytest.raises(SpecError, match="no checkpoint-7 "):
        fork_spec(parent.run_dir, "7", {})
    with pytest.raises(SpecError, match="did you mean 'learning_rate'"):
        fork_spec(parent.run_dir, None, {"lerning_rate": 1})
    with pytest.raises(SpecError, match="not found"):
        fork_spec(parent.run_dir + "-nope", None, {})


def test_fork_name_collision_gets_suffix(parent, home):
    first = fork_spec(parent.run_dir, "200", {"beta": 0.1})
    (home / "runs" / first.name).mkdir()
    assert fork_spec(parent.run_dir, "200", {"beta": 0.1}).name == first.name + "-2"


def test_resume_spec(parent):
    r = resume_spec(parent.run_dir)
    assert r.run_dir == parent.run_dir and r.name == parent.name
    assert r.resume_from.checkpoint == "checkpoint-400" and r.parent is None
    assert resume_spec(parent.run_dir, "checkpoint-200").resume_from.checkpoint == "checkpoint-200"
