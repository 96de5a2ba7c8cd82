"""A user's own prompt template (Jinja in the sandbox) that loops or grows without bound: nested
loops, a recursive macro, string repetition, a value doubled in a loop, a padding filter, a format
width, a replace that inserts everywhere. Each stopped the trainer's prompt building (a hang) or
built a prompt of 100 MB; now it is one line naming the template file and key, at load time
(the sample render) within seconds, while ordinary templates render as before."""

from __future__ import annotations

import time

import pytest

from trainer.prompt_sandbox import MAX_CHARS
from trainer.prompt_template import PromptTemplateError, TemplatePrompter

pytestmark = pytest.mark.timeout(120)  # the old sandbox ran these for hours: a hang fails here

HOSTILE = {
    "nested loops": "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
    "recursive macro": (
        "{% macro f(n) %}{% if n %}{% for i in range(100) %}{{ f(n - 1) }}{% endfor %}{% endif %}"
        "{% endmacro %}{{ f(6) }}"
    ),
    "repetition": '{{ "x" * 100000000 }}',
    "list repetition": "{{ ([0] * 100000000)|length }}",
    "doubling": (
        '{% set ns = namespace(s="x") %}{% for i in range(27) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}'
        "{{ ns.s|length }}"
    ),
    "doubling with +": (
        '{% set ns = namespace(s="x") %}{% for i in range(27) %}{% set ns.s = ns.s + ns.s %}{% endfor %}'
        "{{ ns.s|length }}"
    ),
    "padding filter": '{{ "x"|center(100000000)|length }}',
    "padding method": '{{ "x".ljust(100000000)|length }}',
    "format width": '{{ "{:>100000000}".format(1)|length }}',
    "percent width": '{{ "%100000000d"|format(1)|length }}',
    "replace everywhere": '{{ ("x" * 1000)|replace("", "y" * 100000)|length }}',
    "huge power": "{{ (7 ** 10000000) % 10 }}",
    "rendered output": '{% for i in range(100000) %}{{ "y" * 1000 }}{% endfor %}',
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_unbounded_templates_stop_in_one_line_naming_the_file(tmp_path, name):
    path = tmp_path / "mine.toml"
    path.write_text(f"user = '''{HOSTILE[name]}'''\n")
    t0 = time.monotonic()
    with pytest.raises(PromptTemplateError) as e:
        TemplatePrompter.load(str(path))
    took = time.monotonic() - t0
    msg = str(e.value)
    assert str(path) in msg and "user" in msg and "\n" not in msg, msg
    assert took < 30, f"{name}: {took:.1f} s"


def test_ordinary_loops_and_long_prompts_still_render(tmp_path):
    path = tmp_path / "ok.toml"
    body = (
        "{% for p in train %}Example {{ loop.index }}:\n{{ p.input }}\n->\n{{ p.output }}\n{% endfor %}"
        "{% for r in range(300) %}{% for c in range(300) %}.{% endfor %}{% endfor %}"
        '{{ "=" * 1000 }}{{ test_input|replace("|", "\\n") }}{{ "{:>5}".format(n_train) }}'
    )
    path.write_text(f"user = '''{body}'''\n")
    prompter = TemplatePrompter.load(str(path))
    from trainer.encoders import get_encoder
    from trainer.prompt_template import SAMPLE_TASK

    user = prompter.messages(SAMPLE_TASK, get_encoder("digits"), 0)[0]["content"]
    assert user.startswith("Example 1:") and user.count(".") >= 90_000 and "=" * 1000 in user
    assert len(user) < MAX_CHARS


# review round: `%` formatting was not bounded; 7-digit literals and big ints to any filter were refused
HOSTILE_PERCENT = {
    "percent operator width": '{% set x = "%3000000s" % 1 %}{{ x|length }}',
    "percent operator huge width": '{{ ("%9999999999s" % 1)|length }}',
    "percent operator precision": '{{ ("%.3000000f" % 1.0)|length }}',
    "percent operator star width": '{{ ("%*d" % (3000000, 1))|length }}',
    "percent filter star width": '{{ "%*d"|format(3000000, 1)|length }}',
    "format nested width": '{{ "{:>{}}".format(1, 3000000)|length }}',
    "format_map width": '{{ "{a:>3000000}".format_map({"a": 1})|length }}',
    "zfill method": '{{ "1".zfill(3000000)|length }}',
    "indent filter": '{{ "a\\nb"|indent(3000000)|length }}',
}


@pytest.mark.parametrize("name", list(HOSTILE_PERCENT))
def test_percent_and_resolved_format_widths_are_bounded(tmp_path, name):
    path = tmp_path / "mine.toml"
    path.write_text(f"user = '''{HOSTILE_PERCENT[name]}'''\n")
    with pytest.raises(PromptTemplateError) as e:
        TemplatePrompter.load(str(path))
    msg = str(e.value)
    assert str(path) in msg and "user" in msg and "\n" not in msg, msg


ORDINARY = {
    "7-digit literal in str.format": ('{{ "task 1234567: {}".format(n_train) }}', "task 1234567: "),
    "7-digit literal in % format": ('{{ "task 1234567: %d" % n_train }}', "task 1234567: "),
    "7-digit literal in |format": ('{{ "task 1234567: %s"|format(n_train) }}', "task 1234567: "),
    "big int piped to a filter": ("{{ 5000000 | string }}", "5000000"),
    "big int as a format value": ('{{ "id {}".format(5000000) }}', "id 5000000"),
    "big int as a % value": ('{{ "id %d" % 5000000 }}', "id 5000000"),
    "big int through |format": ('{{ "id %d"|format(5000000) }}', "id 5000000"),
    "small % width": ('{{ "[%5s]" % "ab" }}', "[   ab]"),
    "percent sign": ('{{ "%d%% done" % 50 }}', "50% done"),
}


@pytest.mark.parametrize("name", list(ORDINARY))
def test_ordinary_numbers_and_formats_still_render(tmp_path, name):
    from trainer.encoders import get_encoder
    from trainer.prompt_template import SAMPLE_TASK

    body, expected = ORDINARY[name]
    path = tmp_path / "ok.toml"
    path.write_text(f"user = '''{body}'''\n")
    prompter = TemplatePrompter.load(str(path))
    user = prompter.messages(SAMPLE_TASK, get_encoder("digits"), 0)[0]["content"]
    assert expected in user, user
