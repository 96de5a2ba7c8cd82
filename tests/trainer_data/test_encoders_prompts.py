"""Grid encoders, induction prompts, the longest-prompt report and program extraction."""

from __future__ import annotations

import pytest

from trainer.data import Pair, Task, load_tasks
from trainer.encoders import ColorNameEncoder, DigitEncoder, get_encoder
from trainer.extract import extract_program, open_block_code
from trainer.prompts import ASSISTANT_PREFIX, build_messages, build_prompt_text, longest_prompt_tokens


def test_color_name_encoder():
    enc = get_encoder("color_names")
    assert isinstance(enc, ColorNameEncoder)
    text = enc.encode([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 9, 0]])
    assert text == "Black Blue Red\nGreen Yellow Gray\nPink Orange Purple\nBrown Brown Black"
    assert enc.decode(text) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 9, 0]]
    assert enc.decode("grey BLACK") == [[5, 0]]
    with pytest.raises(ValueError, match="unknown colour name 'Teal'"):
        enc.decode("Teal Black")


def test_digit_encoder():
    enc = get_encoder("digits")
    assert isinstance(enc, DigitEncoder)
    assert enc.encode([[0, 1], [9, 8]]) == "01\n98"
    assert enc.decode("01\n98\n") == [[0, 1], [9, 8]]
    spaced = DigitEncoder(" ")
    assert spaced.encode([[0, 1], [9, 8]]) == "0 1\n9 8"
    assert spaced.decode("0 1\n9 8") == [[0, 1], [9, 8]]
    with pytest.raises(ValueError):
        enc.decode("0a")
    with pytest.raises(ValueError, match="unknown grid encoder 'hex'.*color_names, digits"):
        get_encoder("hex")


def _task():
    return Task(
        "t1",
        [Pair([[1, 0]], [[0, 1]]), Pair([[2, 2, 0]], [[0, 2, 2]])],
        [Pair([[3, 0, 0]], [[0, 0, 3]]), Pair([[4], [0]], [[4], [0]])],
    )


def test_messages_show_train_pairs_and_one_test_input_only():
    msgs = build_messages(_task(), get_encoder("color_names"), test_index=1)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    for text in ["Blue Black", "Black Blue", "Red Red Black", "Black Red Red", "Yellow\nBlack"]:
        assert text in user
    assert "Green Black Black" not in user  # the other test input is not shown
    assert "Black Black Green" not in user  # nor any test output
    assert user.index("Example 1") < user.index("Example 2") < user.index("Test input") < user.index("transform")
    assert "0=Black" in user  # the encoding is explained
    with pytest.raises(IndexError, match="task t1 has 2 test inputs"):
        build_messages(_task(), get_encoder("digits"), test_index=2)


def test_prefix_opens_a_python_block_that_imports_common():
    head = open_block_code(ASSISTANT_PREFIX)
    assert head is not None and head.startswith("from common import *")
    assert ASSISTANT_PREFIX.count("```python") == 1 and ASSISTANT_PREFIX.count("```") == 1


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_prompt_text_applies_the_chat_template_and_ends_with_the_prefix(tokenizer):
    text = build_prompt_text(_task(), get_encoder("digits"), tokenizer)
    assert text.endswith(ASSISTANT_PREFIX)
    expected_head = tokenizer.apply_chat_template(
        build_messages(_task(), get_encoder("digits")), tokenize=False, add_generation_prompt=True
    )
    assert text == expected_head + ASSISTANT_PREFIX


@pytest.mark.timeout(300)
def test_longest_prompt_is_reported(tokenizer):
    tasks = load_tasks("arc1/eval", max_tasks=60)
    enc = get_encoder("color_names")
    task_id, n = longest_prompt_tokens(tasks, enc, tokenizer)
    # brute force over every (task, test input) agrees
    counts = {}
    for t in tasks:
        for i in range(len(t.test)):
            ids = tokenizer(build_prompt_text(t, enc, tokenizer, i), add_special_tokens=False)["input_ids"]
            counts[(t.task_id, i)] = len(ids)
    best = max(counts.values())
    assert n == best and counts[max(counts, key=counts.get)] == n
    assert any(tid == task_id and c == n for (tid, _), c in counts.items())
    # colour names cost more tokens than digits
    assert longest_prompt_tokens(tasks, get_encoder("digits"), tokenizer)[1] < n


# --- extraction -------------------------------------------------------------------------------

BODY = "\n# flipping\n\ndef transform(input_grid):\n    return input_grid[:, ::-1]\n"


def test_continuation_of_the_prefix():
    head = open_block_code(ASSISTANT_PREFIX)
    prog = extract_program(BODY + "```\nThat mirrors the grid.```python\nother()\n```")
    assert prog == head + BODY
    # a full transcript (prefix included) gives the same program
    assert extract_program(ASSISTANT_PREFIX + BODY + "```") == prog


def test_no_closing_fence_keeps_the_rest():
    head = open_block_code(ASSISTANT_PREFIX)
    assert extract_program(BODY) == head + BODY


def test_completion_that_restarts_a_block_is_read_from_its_own_fence():
    text = "```python\ndef transform(input_grid):\n    return input_grid\n```\n"
    assert extract_program(text) == "def transform(input_grid):\n    return input_grid\n"


def test_without_prefix_the_first_python_block_wins():
    text = (
        "Plan:\n```\nnot code\n```\n```python\ndef transform(g):\n    return g\n```\n"
        "```python\ndef transform(g):\n    return 0\n```"
    )
    assert extract_program(text, prefix=None) == "def transform(g):\n    return g\n"
    assert extract_program("```py\nx = 1\n```", prefix=None) == "x = 1\n"
    assert extract_program("no code here", prefix=None) is None
    assert extract_program("```python\n\n```", prefix=None) is None
    # an untagged block is used when there is no python-tagged one
    assert extract_program("```\ny = 2\n```", prefix=None) == "y = 2\n"


def test_empty_and_gibberish_completions():
    assert extract_program("") is None
    assert extract_program(None) is None
    collapse = "import pattern detection as pattern\nfrom the input, you will see\n```patterns in a 3x1"
    prog = extract_program(collapse)
    assert prog.endswith("from the input, you will see\n") and "```" not in prog
