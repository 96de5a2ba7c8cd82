"""Prompt template files: the user's own prompt, for a base model trained on a different one.

A template is a TOML file whose values are Jinja templates (rendered in Jinja's sandbox, with
undefined names an error), except `assistant_prefix`, which is plain text:

    system = "You are ..."              # optional: no system message when absent
    user = \"\"\"...{{ test_input }}...\"\"\"  # required: the first user message
    assistant_prefix = "```python\\n"    # optional: text the assistant turn starts with
    refine_user = "..."                 # refine jobs: the second user message (feedback)
    refine_assistant = "..."            # refine jobs: the earlier answer (default: the program in a
                                        # ```python block)

Fields every template may use:
    task_id, test_index, n_train
    encoder_description   how grids are written (the grid_encoder's own sentence)
    train                 list of {"input": text, "output": text}, grids in the chosen encoder
    test_input            the test input grid, in the chosen encoder
Refine jobs add:
    program               the earlier program
    error, message        its error kind (or none) and message
    feedback              list of {"index", "correct", "pixel_score", "output" (text or none)}
                          per train pair, in the same order as `train`
    feedback_text         the built-in wording of that feedback

The chat template of the tokenizer is applied to the messages, then `assistant_prefix` follows.
Every template is rendered once on a sample task when loaded, so a misspelt field fails before
the model loads, naming the file, the key and the field.
"""

from __future__ import annotations

from typing import Any

from jobs.errors import SpecError
from jobs.inputs import read_prompt_template
from trainer.data import Pair, Task
from trainer.encoders import GridEncoder, get_encoder
from trainer.prompt_sandbox import BoundedEnvironment, render_bounded
from trainer.prompts import Prompter, _check_test_index, feedback_text

DEFAULT_REFINE_ASSISTANT = "```python\n{{ program }}\n```"


class PromptTemplateError(SpecError):
    pass


class _SampleFeedback:
    def __init__(self, output, correct, pixel_score):
        self.output, self.correct, self.pixel_score = output, correct, pixel_score


class _SampleAttempt:
    program = "def transform(input_grid):\n    return input_grid\n"
    error = None
    message = ""
    pairs = [_SampleFeedback([[0, 1]], False, 0.5)]


SAMPLE_TASK = Task("sample", [Pair([[0, 1]], [[1, 0]])], [Pair([[1, 1]])])


class TemplatePrompter(Prompter):
    def __init__(self, source: str, sections: dict[str, Any]):
        from jinja2 import StrictUndefined

        self.source = source
        # bounded: a user's nested loops or "x" * 10**10 stop in one line instead of hanging
        env = BoundedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
        self._compiled = {}
        # plain text, the same for every task: the reward needs it to cut the program out
        self.prefix = sections.get("assistant_prefix", "")
        for key, text in sections.items():
            if key == "assistant_prefix":
                continue
            try:
                self._compiled[key] = env.from_string(text)
            except Exception as e:  # jinja2.TemplateSyntaxError carries the line
                raise PromptTemplateError(f"{source}: {key}: line {getattr(e, 'lineno', '?')}: {e}") from None
        if "refine_user" in sections and "refine_assistant" not in sections:
            self._compiled["refine_assistant"] = env.from_string(DEFAULT_REFINE_ASSISTANT)
        # render everything once on a sample: unknown fields fail now, not after the model loaded
        self.messages(SAMPLE_TASK, get_encoder("digits"), 0)
        if "refine_user" in self._compiled:
            self.messages(SAMPLE_TASK, get_encoder("digits"), 0, _SampleAttempt())

    @classmethod
    def load(cls, path: str) -> "TemplatePrompter":
        raw = read_prompt_template(path, PromptTemplateError)
        return cls(str(path), raw)

    @property
    def supports_refine(self) -> bool:
        return "refine_user" in self._compiled

    def context(self, task: Task, encoder: GridEncoder, test_index: int, attempt: Any = None) -> dict[str, Any]:
        _check_test_index(task, test_index)
        ctx: dict[str, Any] = {
            "task_id": task.task_id,
            "test_index": test_index,
            "n_train": len(task.train),
            "encoder_description": encoder.description,
            "train": [{"input": encoder.encode(p.input), "output": encoder.encode(p.output)} for p in task.train],
            "test_input": encoder.encode(task.test[test_index].input),
        }
        if attempt is not None:
            ctx.update(
                program=attempt.program.rstrip(),
                error=attempt.error,
                message=attempt.message,
                feedback=[
                    {
                        "index": i,
                        "correct": f.correct,
                        "pixel_score": f.pixel_score,
                        "output": None if f.output is None else encoder.encode(f.output),
                    }
                    for i, f in enumerate(attempt.pairs, 1)
                ],
                feedback_text=feedback_text(attempt, encoder),
            )
        return ctx

    def _render(self, key: str, ctx: dict[str, Any]) -> str:
        try:
            return render_bounded(self._compiled[key], ctx)
        except Exception as e:  # jinja2.UndefinedError, SecurityError, a filter's TypeError, ...
            raise PromptTemplateError(f"{self.source}: {key}: {e} (fields: {', '.join(sorted(ctx))})") from None

    def messages(
        self, task: Task, encoder: GridEncoder, test_index: int = 0, attempt: Any = None
    ) -> list[dict[str, str]]:
        ctx = self.context(task, encoder, test_index, attempt)
        msgs = []
        if "system" in self._compiled:
            msgs.append({"role": "system", "content": self._render("system", ctx)})
        msgs.append({"role": "user", "content": self._render("user", ctx)})
        if attempt is not None:
            if not self.supports_refine:
                raise PromptTemplateError(f"{self.source}: refine prompts need the key 'refine_user'")
            msgs += [
                {"role": "assistant", "content": self._render("refine_assistant", ctx)},
                {"role": "user", "content": self._render("refine_user", ctx)},
            ]
        return msgs
