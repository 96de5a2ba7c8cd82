"""Nothing the trainer would refuse passes `arcctl render`/`submit`: batch arithmetic, sequence
lengths, the run a rollback would start, and (for jobs on this machine) the files a job reads."""

from __future__ import annotations

import pytest

from tests.cli_jobs.conftest import run_cli

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARCCTL_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path


def _render(*args):
    return run_cli("render", *args)


@pytest.fixture
def refine_file(tmp_path):
    from jobs.refine import Attempt, PairFeedback, RefineFile, write

    path = tmp_path / "refine.json.gz"
    write(
        path,
        RefineFile(
            dataset="kaggle2024/train",
            records=[
                Attempt(
                    task_id="007bbfb7",
                    program="x = 1\n",
                    # one per train pair of 007bbfb7, as the trainer requires (render checks it too)
                    pairs=[PairFeedback(output=None, correct=False, pixel_score=0)] * 5,
                )
            ],
        ),
    )
    return path


@pytest.mark.parametrize(
    "template, args, message",
    [
        ("grpo", ["-p", "num_generations=12"], "= 16 completions per step must be a multiple of num_generations (12)"),
        (
            "grpo",
            ["-p", "max_completion_length=9700"],
            "max_seq_length (9700) must exceed max_completion_length (9700)",
        ),
        (
            "grpo",
            ["-p", 'rollback_changes={"lerning_rate": 0.5}'],
            "rollback_changes: unknown parameter 'lerning_rate' (did you mean 'learning_rate'?)",
        ),
        (
            "grpo",
            ["-p", 'rollback_changes={"frequency_penalty": "=5"}'],
            "rollback_changes would start an invalid run: frequency_penalty: Input should be less than or equal to 2",
        ),
        ("grpo", ["-p", 'rollback_changes={"num_generations": 3}'], "rollback_changes would start an invalid run"),
        ("grpo", ["-p", "tie_break=longer"], "tie_break"),
        ("grpo-refine", [], "kind 'grpo-refine' needs refine_dataset"),
        (
            "grpo-refine",
            ["-p", "refine_dataset=/nonexistent/r.json.gz"],
            "refine_dataset /nonexistent/r.json.gz: no such file",
        ),
        (
            "grpo-refine",
            ["-p", "refine_dataset={refine}", "-p", "dataset=arc1/train"],
            "answers dataset 'kaggle2024/train', but dataset is 'arc1/train'",
        ),
        ("grpo", ["-p", "prompt_template={bad_template}"], "prompt_template {bad_template}: user: line 1:"),
        ("grpo", ["-p", "prompt_template={typo_template}"], "unknown key 'usr'"),
        ("eval", ["-p", "common_module={bad_module}"], "common_module {bad_module}: line 2: SyntaxError"),
        ("eval", ["-p", "common_module=/nonexistent/lib.py"], "common_module /nonexistent/lib.py: not a file"),
        ("eval", ["-p", 'sampling=[{"n": 2}]'], "Field required (sampling.0.temperature)"),
    ],
)
def test_render_refuses_in_one_line(home, tmp_path, refine_file, template, args, message):
    (tmp_path / "bad.toml").write_text('user = "{% if %}"')
    (tmp_path / "typo.toml").write_text('usr = "x"')
    (tmp_path / "lib.py").write_text("def f(:\n  pass\n".replace("def f(:\n", "x = 1\ndef f(:\n"))
    subs = dict(
        refine=refine_file,
        bad_template=tmp_path / "bad.toml",
        typo_template=tmp_path / "typo.toml",
        bad_module=tmp_path / "lib.py",
    )
    fill = lambda text: [text := text.replace("{" + k + "}", str(v)) for k, v in subs.items()][-1]  # noqa: E731
    res = _render(template, *map(fill, args))
    assert res.returncode == 2, res.stdout + res.stderr
    err = res.stderr.strip()
    assert fill(message) in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_good_inputs_render(home, tmp_path, refine_file):
    (tmp_path / "ok.toml").write_text('user = "{{ test_input }}"\nrefine_user = "{{ feedback_text }}"')
    res = _render(
        "grpo-refine",
        "-p",
        f"refine_dataset={refine_file}",
        "-p",
        f"prompt_template={tmp_path / 'ok.toml'}",
        "-p",
        'rollback_changes={"learning_rate": 0.5, "frequency_penalty": "=0.5", "tie_break": "shorter"}',
    )
    assert res.returncode == 0, res.stderr
    res = _render("eval", "-p", 'sampling=[{"n": 8, "temperature": 0.1}, {"n": 128, "temperature": 0.9}]')
    assert res.returncode == 0, res.stderr


def test_a_remote_profile_does_not_read_local_files(home):
    from jobs.errors import SpecError
    from jobs.submit import build_specs

    (home / "config" / "profiles").mkdir(parents=True)
    (home / "config" / "profiles" / "remote.toml").write_text('[profile]\nbackend = "slurm"\nhost = "login-node"\n')
    specs = build_specs("grpo-refine", ["refine_dataset=/on/the/cluster/refine.json.gz"], "remote")
    assert specs[0].params["refine_dataset"] == "/on/the/cluster/refine.json.gz"
    with pytest.raises(SpecError, match="needs refine_dataset"):
        build_specs("grpo-refine", [], "remote")
