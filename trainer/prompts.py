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
    _check_test_index(task, test_index)
    parts = [
        "Below are example pairs of input and output grids. The same hidden rule turns every input "
        "into its output. " + encoder.description,
        "",
        "Examples:",
    ]
    for i, pair in enumerate(task.train, 1):
        assert pair.output is not None  # load_tasks requires train outputs
        parts += [
            f"Example {i}",
            "Input:",
            encoder.encode(pair.input),
            "",
            "Output:",
            encoder.encode(pair.output),
            "",
            "",
        ]
    parts += [
        "Test input:",
        encoder.encode(task.test[test_index].input),
        "",
        "Write a Python function `transform(input_grid)` that takes an input grid as a numpy array "
        "of integers (the colours 0-9) and returns the output grid as a numpy array. It must "
        "reproduce every example output and solve the test input.",
    ]
    return "\n".join(parts)


def _check_test_index(task: Task, test_index: int) -> None:
    if not 0 <= test_index < len(task.test):
        raise IndexError(f"task {task.task_id} has {len(task.test)} test inputs, asked for {test_index}")


def feedback_text(attempt: Any, encoder: GridEncoder) -> str:
    """The execution feedback of an earlier program, one paragraph per train pair (built-in wording)."""
    if attempt.error:
        head = f"The program failed before producing outputs ({attempt.error})"
        return head + (f": {attempt.message}" if attempt.message else ".")
    lines = []
    for i, pair in enumerate(attempt.pairs, 1):
        if pair.correct:
            lines.append(f"Example {i}: correct.")
        elif pair.output is None:
            lines.append(f"Example {i}: no valid output grid.")
        else:
            lines += [
                f"Example {i}: wrong ({100 * pair.pixel_score:.0f}% of the cells match). The program returned:",
                encoder.encode(pair.output),
            ]
        lines.append("")
    return "\n".join(lines).rstrip()


REFINE_REQUEST = (
    "Above is an earlier program for this task and what it did on each example. Find what "
    "it gets wrong, then write a corrected `transform` that reproduces every example output."
)


def build_messages(
    task: Task, encoder: GridEncoder, test_index: int = 0, attempt: Any = None, prompter: "Prompter | None" = None
) -> list[dict[str, str]]:
    """The chat messages; with `attempt` (a refine record), the earlier program as the assistant's
    turn and its feedback as a second user turn."""
    return (prompter or BUILT_IN).messages(task, encoder, test_index, attempt)


def build_prompt_text(
    task: Task,
    encoder: GridEncoder,
    tokenizer: Any,
    test_index: int = 0,
    attempt: Any = None,
    prompter: "Prompter | None" = None,
) -> str:
    """The exact text the model sees: chat template with a generation prompt, then the prefix."""
    return (prompter or BUILT_IN).text(task, encoder, tokenizer, test_index, attempt)


class Prompter:
    """The built-in prompt. Subclasses (prompt template files) override `messages` and `prefix`."""

    source = "built-in"
    prefix = ASSISTANT_PREFIX

    def messages(
        self, task: Task, encoder: GridEncoder, test_index: int = 0, attempt: Any = None
    ) -> list[dict[str, str]]:
        msgs = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": _user_message(task, encoder, test_index)},
        ]
        if attempt is not None:
            msgs += [
                {"role": "assistant", "content": f"```python\n{attempt.program.rstrip()}\n```"},
                {"role": "user", "content": feedback_text(attempt, encoder) + "\n\n" + REFINE_REQUEST},
            ]
        return msgs

    def text(self, task: Task, encoder: GridEncoder, tokenizer: Any, test_index: int = 0, attempt: Any = None) -> str:
        text = tokenizer.apply_chat_template(
            self.messages(task, encoder, test_index, attempt), tokenize=False, add_generation_prompt=True
        )
        return text + self.prefix


BUILT_IN = Prompter()


def load_prompter(path: str | None) -> Prompter:
    """The built-in prompt (None) or a prompt template file (trainer.prompt_template)."""
    if not path:
        return BUILT_IN
    from trainer.prompt_template import TemplatePrompter

    return TemplatePrompter.load(path)


def longest_prompt_tokens(
    tasks: Iterable[Task], encoder: GridEncoder, tokenizer: Any, prompter: Prompter | None = None
) -> tuple[str, int]:
    """(task id, token count) of the longest prompt over all tasks and their test inputs."""
    best = ("", -1)
    for task in tasks:
        for i in range(len(task.test)):
            text = build_prompt_text(task, encoder, tokenizer, test_index=i, prompter=prompter)
            # the template already contains the special tokens: do not add BOS twice
            n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
            if n > best[1]:
                best = (task.task_id, n)
    return best


def show_prompt(p: Any, task_id: str | None = None, kind: str | None = None) -> tuple[str, int, str]:
    """(prompt text, token count, task id) of the job's first task (or `task_id`) exactly as the
    trainer would build it: its dataset (or refine file), encoder, prompt template and tokenizer.
    A HER job's targets may be toy drawings (`toy[:N]`), which only its own loader draws."""
    from jobs.errors import SpecError
    from trainer.encoders import get_encoder
    from trainer.task_select import select_tasks

    prompter = load_prompter(getattr(p, "prompt_template", None))
    if getattr(p, "refine_dataset", None):
        from trainer.refine import refine_tasks

        tasks, attempts = refine_tasks(p)
    elif kind == "her":
        from trainer.her import load_targets

        tasks = load_targets(p)
        attempts = [None] * len(tasks)
    else:
        tasks = select_tasks(p.dataset, p.max_tasks, p.task_ids)
        attempts = [None] * len(tasks)
    pick = [i for i, t in enumerate(tasks) if task_id is None or t.task_id == task_id]
    if not pick:
        raise SpecError(f"task {task_id!r} is not in {getattr(p, 'refine_dataset', None) or p.dataset}")
    task, attempt = tasks[pick[0]], attempts[pick[0]]
    from transformers import AutoTokenizer

    tok = None
    for src in dict.fromkeys([getattr(p, "adapter_path", None), p.model_path]):  # an adapter may carry its own
        if not src:
            continue
        try:
            tok = AutoTokenizer.from_pretrained(src)
            break
        except (OSError, ValueError) as e:
            err = f"model_path {p.model_path}: cannot load its tokenizer ({str(e).strip().splitlines()[0]})"
    if tok is None:
        raise SpecError(err)
    text = prompter.text(task, get_encoder(p.grid_encoder), tok, attempt.test_index if attempt else 0, attempt)
    return text, len(tok(text, add_special_tokens=False)["input_ids"]), task.task_id


def main(argv: list[str] | None = None) -> int:
    """`python -m trainer.prompts DATASET --tokenizer DIR`: print the longest prompt in tokens.
    `python -m trainer.prompts --spec SPEC.json [--task ID]`: print the prompt a job would see."""
    import argparse

    from jobs.errors import JobsError
    from trainer.data import load_tasks
    from trainer.encoders import get_encoder

    ap = argparse.ArgumentParser(prog="python -m trainer.prompts", description=main.__doc__)
    ap.add_argument("dataset", nargs="?")
    ap.add_argument("--tokenizer", help="model or tokenizer folder")
    ap.add_argument("--encoder", default="color_names", choices=["color_names", "digits"])
    ap.add_argument("--max-tasks", type=int, default=None)
    ap.add_argument("--spec", help="a job spec: print the prompt of its first task")
    ap.add_argument("--task", help="with --spec: this task instead of the first")
    args = ap.parse_args(argv)
    if args.spec:
        import sys

        from jobs.spec import JobSpec

        try:
            spec = JobSpec.read(args.spec)
            p = spec.typed_params()
            text, n, task_id = show_prompt(p, args.task, spec.kind)
        except JobsError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(text)
        room = getattr(p, "max_completion_length", None) or getattr(p, "max_new_tokens", 0)
        print(
            f"# {n} tokens: task {task_id}, prompt {getattr(p, 'prompt_template', None) or 'built-in'}, "
            f"encoder {p.grid_encoder}; max_seq_length {p.max_seq_length} leaves "
            f"{p.max_seq_length - n} tokens (the job asks for {room})"
        )
        return 0
    if not args.dataset or not args.tokenizer:
        ap.error("DATASET and --tokenizer are required without --spec")
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
