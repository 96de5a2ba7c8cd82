"""Induction prompts: show the train pairs and one test input, ask for a Python `transform`.

The layout follows the BARC induction models (system message, examples, test input, request for
`transform`, assistant turn pre-filled with the opening of a ```python block importing `common`),
so those models can be trained and evaluated as they are; the wording is our own.
"""
from __future__ import annotations

from typing import Any, Iterable

from trainer.data import Task
from trainer.encoders import GridEncoder

SYSTEM_PROMPT = (
    "You are an expert puzzle solver who explains visual patterns by writing short, correct "
    "Python programs. You study examples carefully and write code that generalises."
)

# The assistant turn starts with this text; the model continues inside the python block.
# It ends with the `# concepts:` header that BARC-style programs open with.
ASSISTANT_PREFIX = (
    "I will find the rule that maps each input grid to its output grid, then write a Python "
    "function `transform` that applies it, using helpers from the `common` library where they "
    "help.\n"
    "```python\n"
    "from common import *\n"
    "\n"
    "import numpy as np\n"
    "from typing import *\n"
    "\n"
    "# concepts:"
)


def _user_message(task: Task, encoder: GridEncoder, test_index: int) -> str:
    if not 0 <= test_index < len(task.test):
        raise IndexError(f"task {task.task_id} has {len(task.test)} test inputs, asked for {test_index}")
    parts = [
        "Below are example pairs of input and output grids. The same hidden rule turns every input "
        "into its output. " + encoder.description,
        "",
        "Examples:",
    ]
    for i, pair in enumerate(task.train, 1):
        assert pair.output is not None  # load_tasks requires train outputs
        parts += [f"Example {i}", "Input:", encoder.encode(pair.input), "", "Output:",
                  encoder.encode(pair.output), "", ""]
    parts += [
        "Test input:",
        encoder.encode(task.test[test_index].input),
        "",
        "Write a Python function `transform(input_grid)` that takes an input grid as a numpy array "
        "of integers (the colours 0-9) and returns the output grid as a numpy array. It must "
        "reproduce every example output and solve the test input.",
    ]
    return "\n".join(parts)


def build_messages(task: Task, encoder: GridEncoder, test_index: int = 0) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": _user_message(task, encoder, test_index)},
    ]


def build_prompt_text(task: Task, encoder: GridEncoder, tokenizer: Any, test_index: int = 0) -> str:
    """The exact text the model sees: chat template with a generation prompt, then the prefix."""
    text = tokenizer.apply_chat_template(
        build_messages(task, encoder, test_index), tokenize=False, add_generation_prompt=True)
    return text + ASSISTANT_PREFIX


def longest_prompt_tokens(tasks: Iterable[Task], encoder: GridEncoder, tokenizer: Any) -> tuple[str, int]:
    """(task id, token count) of the longest prompt over all tasks and their test inputs."""
    best = ("", -1)
    for task in tasks:
        for i in range(len(task.test)):
            text = build_prompt_text(task, encoder, tokenizer, test_index=i)
            # the template already contains the special tokens: do not add BOS twice
            n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
            if n > best[1]:
                best = (task.task_id, n)
    return best


def main(argv: list[str] | None = None) -> int:
    """`python -m trainer.prompts DATASET --tokenizer DIR`: print the longest prompt in tokens."""
    import argparse

    from jobs.errors import JobsError
    from trainer.data import load_tasks
    from trainer.encoders import get_encoder

    ap = argparse.ArgumentParser(prog="python -m trainer.prompts", description=main.__doc__)
    ap.add_argument("dataset")
    ap.add_argument("--tokenizer", required=True, help="model or tokenizer folder")
    ap.add_argument("--encoder", default="color_names", choices=["color_names", "digits"])
    ap.add_argument("--max-tasks", type=int, default=None)
    args = ap.parse_args(argv)
    try:
        tasks = load_tasks(args.dataset, args.max_tasks)
    except JobsError as e:
        print(f"error: {e}")
        return 2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    task_id, n = longest_prompt_tokens(tasks, get_encoder(args.encoder), tok)
    print(f"{args.dataset}: {len(tasks)} tasks, longest prompt {n} tokens (task {task_id}, encoder {args.encoder})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
