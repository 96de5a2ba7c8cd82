"""Prompt template files: a user's own prompt (here a BARC-style one) rendered on real ARC tasks,
used by the reward's program extraction, printed by `arcctl prompt`; every mistake in a template
is one error naming the file, the key and the field."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app
from jobs.errors import SpecError
from trainer.data import load_tasks
from trainer.encoders import get_encoder
from trainer.prompt_template import PromptTemplateError, TemplatePrompter
from trainer.prompts import BUILT_IN, build_prompt_text, load_prompter

BARC_LIKE = '''
system = "You are a world-class puzzle solver with exceptional pattern recognition skills."
user = """The following is a puzzle. {{ encoder_description }}
{% for pair in train %}Example {{ loop.index }}
Input:
{{ pair.input }}

Output:
{{ pair.output }}

{% endfor %}Here is the input grid for the test example:
Input:
{{ test_input }}

Write a Python function `transform` that can convert any given input grid to its corresponding output grid."""
assistant_prefix = """Let's solve this puzzle using Python code with the common library functions.

```python
from common import *

import numpy as np
"""
refine_user = """Your program gave:
{% for f in feedback %}Example {{ f.index }}: {{ "correct" if f.correct else "wrong" }}
{% endfor %}Fix it."""
'''


@pytest.fixture(scope="module")
def task():
    return next(t for t in load_tasks("arc1/train") if t.task_id == "67a3c6ac")


@pytest.fixture
def barc(tmp_path):
    path = tmp_path / "barc.toml"
    path.write_text(BARC_LIKE)
    return path


class Tok:
    """The tiny model's chat template shape, without loading a tokenizer."""

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        text = "".join(f"<|{m['role']}|>\n{m['content']}<|end|>\n" for m in messages)
        return text + ("<|assistant|>\n" if add_generation_prompt else "")


def test_template_renders_the_users_prompt_exactly(barc, task):
    prompter = load_prompter(str(barc))
    enc = get_encoder("digits")
    msgs = prompter.messages(task, enc, 0)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    expected_first = (
        f"Example 1\nInput:\n{enc.encode(task.train[0].input)}\n\nOutput:\n{enc.encode(task.train[0].output)}\n"
    )
    assert user.startswith("The following is a puzzle. " + enc.description + "\n" + expected_first)
    assert f"Example {len(task.train)}\n" in user and f"Example {len(task.train) + 1}" not in user
    assert user.endswith(
        enc.encode(task.test[0].input) + "\n\nWrite a Python function `transform` that can "
        "convert any given input grid to its corresponding output grid."
    )
    text = prompter.text(task, enc, Tok())
    assert text.endswith(
        "<|assistant|>\nLet's solve this puzzle using Python code with the common library "
        "functions.\n\n```python\nfrom common import *\n\nimport numpy as np\n"
    )
    # the built-in prompt is unchanged and still the default
    assert load_prompter(None) is BUILT_IN
    assert build_prompt_text(task, enc, Tok()) != text and "concepts:" in build_prompt_text(task, enc, Tok())


def test_reward_extracts_the_program_after_the_templates_prefix(barc, task):
    from trainer.grid_scoring import score_completions
    from trainer.sandbox import Sandbox

    prompter = load_prompter(str(barc))
    completion = "\ndef transform(input_grid):\n    return np.fliplr(input_grid)\n```\nDone."
    with Sandbox(workers=1, timeout_s=2.0, memory_mb=512) as sb:
        ours = score_completions([completion], [task], sb, "arc-v2-no-pixel-score", prompter.prefix)
        builtin = score_completions([completion], [task], sb, "arc-v2-no-pixel-score")
    assert ours[0].solved and ours[0].program.startswith("from common import *\n\nimport numpy as np\n")
    # the built-in prefix's code head ends in `# concepts:`: the same text is still a program there
    assert builtin[0].program.startswith("from common import *")


def test_refine_turns_show_the_program_and_feedback(barc, task):
    from jobs.refine import Attempt, PairFeedback

    att = Attempt(
        task_id=task.task_id,
        program="def transform(g):\n    return g\n",
        pairs=[PairFeedback(output=p.input, correct=i == 0, pixel_score=0.5) for i, p in enumerate(task.train)],
    )
    msgs = load_prompter(str(barc)).messages(task, get_encoder("digits"), 0, att)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[2]["content"] == "```python\ndef transform(g):\n    return g\n```"
    assert msgs[3]["content"].startswith("Your program gave:\nExample 1: correct\nExample 2: wrong\n")
    builtin = BUILT_IN.messages(task, get_encoder("digits"), 0, att)
    assert "Example 1: correct." in builtin[3]["content"]
    assert "Example 2: wrong (50% of the cells match)" in builtin[3]["content"]
    assert get_encoder("digits").encode(task.train[1].input) in builtin[3]["content"]


@pytest.mark.parametrize(
    "text, message",
    [
        ('user = "{{ test_inptu }}"', r"bad\.toml: user: 'test_inptu' is undefined \(fields: .*test_input"),
        ('user = "{% for x in train %}"', r"bad\.toml: user: line 1: .*"),
        ('user = "x"\nsytem = "y"', r"bad\.toml: unknown key 'sytem' \(keys: system, user"),
        ('system = "x"', r"bad\.toml: the key 'user' is required"),
        ("user = 3", r"bad\.toml: 'user' must be a string"),
        ('user = "unterminated', r"bad\.toml: not valid TOML"),
        ("user = \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"", r"bad\.toml: user: .*unsafe"),
        ('user = "x"\nrefine_user = "{{ feedbak }}"', r"bad\.toml: refine_user: 'feedbak' is undefined"),
    ],
)
def test_template_mistakes_are_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PromptTemplateError, match=message) as e:
        TemplatePrompter.load(str(path))
    assert isinstance(e.value, SpecError) and "\n" not in str(e.value)


def test_a_missing_template_names_the_path(tmp_path):
    with pytest.raises(PromptTemplateError, match=r"prompt_template .*nope\.toml: cannot read"):
        load_prompter(str(tmp_path / "nope.toml"))
    (tmp_path / "latin1.toml").write_bytes('user = "caf\u00e9"'.encode("latin-1"))
    with pytest.raises(PromptTemplateError, match=r"prompt_template .*latin1\.toml: not UTF-8 text$"):
        load_prompter(str(tmp_path / "latin1.toml"))
    (tmp_path / "deep.toml").write_text("user = " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(PromptTemplateError, match=r"deep\.toml: not valid TOML"):
        load_prompter(str(tmp_path / "deep.toml"))
    os.mkfifo(tmp_path / "fifo.toml")  # reading it would block for ever
    with pytest.raises(PromptTemplateError, match=r"fifo\.toml: not a regular file$"):
        load_prompter(str(tmp_path / "fifo.toml"))


def test_refine_prompt_without_refine_user_is_refused(tmp_path, task):
    from jobs.refine import Attempt, PairFeedback

    path = tmp_path / "first-turn.toml"
    path.write_text('user = "{{ test_input }}"')
    att = Attempt(task_id=task.task_id, program="x", pairs=[PairFeedback(output=None, correct=False, pixel_score=0)])
    with pytest.raises(PromptTemplateError, match="refine prompts need the key 'refine_user'"):
        load_prompter(str(path)).messages(task, get_encoder("digits"), 0, att)


# -- arcctl prompt --------------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_arcctl_prompt_prints_the_rendered_prompt_and_its_tokens(barc, tiny_model_dir):
    from transformers import AutoTokenizer

    r = CliRunner().invoke(
        app,
        [
            "prompt",
            "grpo",
            "-p",
            f"model_path={tiny_model_dir}",
            "-p",
            "dataset=arc1/train",
            "-p",
            "grid_encoder=digits",
            "-p",
            f"prompt_template={barc}",
            "--task",
            "67a3c6ac",
        ],
    )
    assert r.exit_code == 0, r.output
    text, _, summary = r.output.rstrip("\n").rpartition("\n")
    task = next(t for t in load_tasks("arc1/train") if t.task_id == "67a3c6ac")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    expected = load_prompter(str(barc)).text(task, get_encoder("digits"), tok)
    assert text == expected
    n = len(tok(expected, add_special_tokens=False)["input_ids"])
    assert summary.startswith(f"# {n} tokens: task 67a3c6ac, prompt {barc}, encoder digits")
    # without --task: the first task of the dataset
    first = CliRunner().invoke(
        app, ["prompt", "eval", "-p", f"model_path={tiny_model_dir}", "-p", "dataset=arc1/train"]
    )
    assert first.exit_code == 0 and f"task {load_tasks('arc1/train')[0].task_id}," in first.output


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "args, message",
    [
        (["-p", "prompt_template={bad}"], "user: unknown field 'nope'"),  # found at render
        (["--task", "00000000"], "task '00000000' is not in arc1/train"),
        (["--task", " "], "--task: empty task id"),  # it showed the first task instead
        (["-p", "learning_rate=abc"], "learning_rate"),
    ],
)
def test_arcctl_prompt_errors_are_one_line(tmp_path, tiny_model_dir, args, message):
    bad = tmp_path / "bad.toml"
    bad.write_text('user = "{{ nope }}"')
    args = [a.format(bad=bad) for a in args]
    r = CliRunner().invoke(
        app, ["prompt", "grpo", "-p", f"model_path={tiny_model_dir}", "-p", "dataset=arc1/train", *args]
    )
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


@pytest.mark.timeout(180)
def test_arcctl_prompt_of_a_her_job_shows_its_toy_target(tiny_model_dir):
    """The HER template's default targets are toy drawings: `arcctl prompt her` said
    "unknown dataset 'toy'" (it loaded the targets as an ARC data set)."""
    from transformers import AutoTokenizer

    from jobs.submit import build_specs
    from trainer.prompts import build_prompt_text
    from trainer.synthetic import toy_targets

    r = CliRunner().invoke(app, ["prompt", "her", "-p", f"model_path={tiny_model_dir}", "--task", "12-squares"])
    assert r.exit_code == 0, r.output
    text, _, summary = r.output.rstrip("\n").rpartition("\n")
    p = build_specs("her", [f"model_path={tiny_model_dir}"], "local")[0].typed_params()
    (target,) = toy_targets(["12-squares"], seed=p.seed)  # the picture the job would draw
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert text == build_prompt_text(target, get_encoder(p.grid_encoder), tok)
    assert summary.startswith("# ") and "task 12-squares," in summary
    first = CliRunner().invoke(app, ["prompt", "her", "-p", f"model_path={tiny_model_dir}"])
    assert first.exit_code == 0 and "task 9-vertical-lines," in first.output, first.output


# -- common_module ---------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_common_module_that_fails_to_import_is_one_error_before_the_model_loads(tmp_path, tiny_model_dir):
    from tests.trainer_train.helpers import events, grpo_spec, run_trainer

    broken = tmp_path / "mylib.py"
    broken.write_text("import numpy as np\nimport not_installed_anywhere\n")
    run_dir = tmp_path / "run"
    grpo_spec(run_dir, tiny_model_dir, common_module=str(broken), max_steps=1).write()
    proc = run_trainer("run", str(run_dir))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("trainer: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert f"common_module {broken}: ModuleNotFoundError: No module named 'not_installed_anywhere'" in lines[0]
    assert "Loading weights" not in proc.stderr  # refused before the model was loaded
    assert events(run_dir)[-1]["event"] == "error"
