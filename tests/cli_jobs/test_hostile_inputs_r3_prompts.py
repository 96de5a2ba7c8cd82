"""Prompt template files whose fields the trainer cannot fill: a misspelt field (`{{ test_inptu }}`),
a refine field in the first-turn `user` message, a refine job's template without `refine_user`.
Render checked only the Jinja syntax; the trainer refused the file once the job had waited in the
queue. Each is now refused at render, and the trainer refuses the same files."""

from __future__ import annotations

import pytest

from jobs.errors import JobsError, SpecError
from jobs.submit import build_specs
from tests.cli_jobs.conftest import one_line_error, run_cli
from tests.cli_jobs.test_hostile_inputs_r3_refine import _refine_file

pytestmark = pytest.mark.timeout(120)

BAD = {
    "typo": ('user = "{{ test_inptu }}"', "user: unknown field 'test_inptu'"),
    "refine_field_first_turn": ('user = "{{ program }}"', "user: unknown field 'program'"),
    "system_typo": ('system = "{{ encoder }}"\nuser = "{{ test_input }}"', "system: unknown field 'encoder'"),
    "refine_typo": ('user = "x"\nrefine_user = "{{ feedbak }}"', "refine_user: unknown field 'feedbak'"),
}
GOOD = (
    'system = "{{ encoder_description }}"\n'
    'user = """{% for p in train %}{{ loop.index }} {{ p.input }} -> {{ p.output }}\n{% endfor %}'
    '{% set n = n_train %}{{ n }} {{ range(2) | list }} {{ task_id }} {{ test_index }} {{ test_input }}"""\n'
    'refine_user = "{{ feedback_text }} {% for f in feedback %}{{ f.index }}{% endfor %} {{ error }} {{ message }}"\n'
    'refine_assistant = "{{ program }}"\n'
)


@pytest.mark.parametrize("name", list(BAD))
def test_a_field_the_trainer_does_not_give_is_refused_at_render(home, tmp_path, name):
    text, needle = BAD[name]
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=f"prompt_template {path}: {needle}"):
        build_specs("grpo", [f"prompt_template={path}"], "local")
    pytest.importorskip("jinja2")
    from trainer.prompt_template import PromptTemplateError, TemplatePrompter

    with pytest.raises(PromptTemplateError):  # the trainer, rendering its sample task
        TemplatePrompter.load(str(path))


def test_every_field_and_jinja_local_still_renders(home, tmp_path):
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    build_specs("grpo", [f"prompt_template={path}"], "local")
    refine = _refine_file(tmp_path)
    build_specs("grpo-refine", [f"prompt_template={path}", f"refine_dataset={refine}", "dataset=arc1/eval"], "local")
    from trainer.prompt_template import TemplatePrompter

    TemplatePrompter.load(str(path))


def test_a_refine_job_needs_refine_user(home, tmp_path):
    path = tmp_path / "first-turn.toml"
    path.write_text('user = "{{ test_input }}"')
    refine = _refine_file(tmp_path)
    res = run_cli(
        "render",
        "grpo-refine",
        "-p",
        f"prompt_template={path}",
        "-p",
        f"refine_dataset={refine}",
        "-p",
        "dataset=arc1/eval",
    )
    one_line_error(res, str(path), "'refine_user' is required")
    with pytest.raises(JobsError, match="'refine_user' is required"):
        build_specs("eval", [f"prompt_template={path}", f"refine_dataset={refine}", "dataset=arc1/eval"], "local")
    build_specs("eval", [f"prompt_template={path}", "dataset=arc1/eval"], "local")  # first attempts need no refine_user
