"""Model completions the reward loop must survive (round 4): pathological fences, NUL bytes,
surrogates, bidi characters, a megabyte of text, `transform` that is no function, several
definitions. Extraction is bounded in time and every completion gets a clean per-sample result
from the real sandbox; nothing raises into the loop.

Holes these found: "```" followed by 16k blanks and no newline took 7 s to extract (quadratic
backtracking in the fence pattern; a megabyte of them would take hours), a completion that was
bytes raised TypeError, and a megabyte-long program held one reward batch for about two minutes in
the sandbox."""

from __future__ import annotations

import time

import pytest

from trainer.data import load_tasks
from trainer.extract import extract_program
from trainer.grid_scoring import score_completions
from trainer.prompts import ASSISTANT_PREFIX

pytestmark = pytest.mark.timeout(120)

# A blank run after a fence, in every spelling the fence pattern reads: each must be linear.
PATHOLOGICAL = {
    "spaces": "```" + " " * 200_000,
    "tabs": "```" + "\t" * 200_000 + "x",
    "after_tag": "```python" + " " * 200_000 + "x",
    "mixed": "```" + " \t" * 100_000 + "python",
    "many_fences": ("```" + " " * 50 + "x") * 20_000,
    "fences_and_tags": "```py " * 100_000,
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
@pytest.mark.parametrize("prefix", [None, ASSISTANT_PREFIX])
def test_extraction_of_pathological_fences_is_fast(name, prefix):
    text = PATHOLOGICAL[name]
    t0 = time.perf_counter()
    extract_program(text, prefix)
    extract_program("```python\n" + text, prefix)  # inside an open block, then the same text
    assert time.perf_counter() - t0 < 1.0  # was 7 s for 16k blanks, growing with their square


def test_fences_are_still_read_as_before():
    assert extract_program("text\n```  Python3 \t\r\nx = 1\n```", prefix=None) == "x = 1\n"
    assert extract_program("```\ny = 2\n```", prefix=None) == "y = 2\n"
    assert extract_program("```pythonx\nz\n```", prefix=None) is None  # no block opened
    assert extract_program("``` \nfirst\n```\n```py\nsecond\n```", prefix=None) == "second\n"  # a tagged block wins


@pytest.mark.parametrize("value", [b"```python\nx = 1\n```", 17, ["```python\nx\n```"]])
def test_a_completion_that_is_not_text_has_no_code(value):
    assert extract_program(value, prefix=None) is None  # bytes raised TypeError in startswith


@pytest.fixture(scope="module")
def sandbox():
    from trainer.sandbox import Sandbox

    with Sandbox(workers=2, timeout_s=2.0, memory_mb=512) as sb:
        yield sb


@pytest.fixture(scope="module")
def task():
    return load_tasks("arc1/train", 1)[0]  # real ARC task


IDENTITY = "\ndef transform(input_grid):\n    return input_grid\n```"

# completion (continuing the default prefix) -> the error kind it must get
HOSTILE = {
    "nul_byte": ("\ndef transform(g):\n    return g\x00\n```", "parse"),
    "lone_surrogate_in_comment": ("\ndef transform(g):\n    return g  # \ud800\n```", "parse"),
    "lone_surrogate_in_string": ("\ndef transform(g):\n    s = '\udcff'\n    return g\n```", "parse"),
    "bidi_in_identifier": ("\ndef transform(g\u202e):\n    return g\n```", "parse"),
    "transform_is_a_number": ("\ntransform = 5\n```", "parse"),
    "transform_is_a_string": ("\ntransform = 'def transform(g): return g'\n```", "parse"),
    "nested_fences": ("```python\n```python\ndef transform(g):\n    return g\n```\n```", "parse"),
    "deep_parentheses": ("\ndef transform(g):\n    return " + "(" * 5000 + "g" + ")" * 5000 + "\n```", "parse"),
    "returns_a_float_grid": ("\ndef transform(g):\n    return g * 1.0\n```", "invalid_output"),
    "returns_bools": ("\ndef transform(g):\n    return g == g\n```", "invalid_output"),
    "returns_a_huge_int": ("\ndef transform(g):\n    return [[10**30]]\n```", "invalid_output"),
    "megabyte_of_comment": (
        "\ndef transform(input_grid):\n    return input_grid\n" + "#" * 1_000_000 + "\n```",
        "parse",
    ),
}


def test_each_hostile_completion_is_a_clean_per_sample_failure(sandbox, task):
    names = sorted(HOSTILE)
    texts = [HOSTILE[n][0] for n in names] + [IDENTITY]
    t0 = time.perf_counter()
    results = score_completions(texts, [task] * len(texts), sandbox, "arc-v1")
    elapsed = time.perf_counter() - t0
    got = {n: (r.error, r.reward) for n, r in zip(names, results)}
    assert got == {n: (HOSTILE[n][1], 0.0) for n in names}
    # the batch's good completion is scored as usual next to them
    assert results[-1].error is None and results[-1].reward > 1.0
    big = results[names.index("megabyte_of_comment")]
    assert big.detail == f"program of {len(big.program)} characters, longer than 200000"
    assert elapsed < 30  # the megabyte program alone held the batch for about two minutes


def test_bidi_text_in_a_string_and_several_definitions_run_normally(sandbox, task):
    texts = [
        "\ndef transform(g):\n    s = '\u202eabc\u2066'\n    return g\n```",
        "\ndef transform(g):\n    return g * 0 + 11\ndef transform(g):\n    return g\n```",  # the last one counts
    ]
    results = score_completions(texts, [task] * 2, sandbox, "arc-v1")
    identity = score_completions([IDENTITY], [task], sandbox, "arc-v1")[0]
    assert [(r.error, r.reward) for r in results] == [(None, identity.reward)] * 2
