"""Frequency and presence penalties for transformers `generate` (vLLM has them built in).

OpenAI/vLLM semantics: for every token already generated in this completion (the prompt does not
count), its logit drops by `frequency_penalty x count + presence_penalty`. Unlike
`repetition_penalty`, which divides a logit by a factor and so punishes a token by how confident
the model is, these subtract a constant per use, which hits loops (the same phrase again and again)
harder than the normal reuse of a few tokens.

`penalized_generate(model, ...)` wraps one model's `generate` for the duration of a `with` block,
so TRL's GRPOTrainer (which builds its generation config itself and takes no logits processor)
samples with the penalties on.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterator


def frequency_presence_processor(prompt_length: int, frequency_penalty: float, presence_penalty: float):
    """A transformers LogitsProcessor; `prompt_length` columns of input_ids are the (padded) prompt."""
    import torch
    from transformers import LogitsProcessor

    class FrequencyPresencePenalty(LogitsProcessor):
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            generated = input_ids[:, prompt_length:]
            if generated.shape[1] == 0:
                return scores
            counts = torch.zeros_like(scores)
            counts.scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
            penalty = frequency_penalty * counts + presence_penalty * (counts > 0).to(scores.dtype)
            return scores - penalty

    return FrequencyPresencePenalty()


def processors_for(input_ids, frequency_penalty: float, presence_penalty: float) -> list:
    """The processors one generate call needs (none when both penalties are 0)."""
    if not frequency_penalty and not presence_penalty:
        return []
    return [frequency_presence_processor(int(input_ids.shape[1]), frequency_penalty, presence_penalty)]


@contextlib.contextmanager
def penalized_generate(model: Any, frequency_penalty: float, presence_penalty: float) -> Iterator[None]:
    """Within the block, `model.generate(input_ids=..., ...)` applies the penalties."""
    if not frequency_penalty and not presence_penalty:
        yield
        return
    original = model.generate
    had_own = "generate" in vars(model)

    @functools.wraps(original)
    def generate(*args, **kwargs):
        from transformers import LogitsProcessorList

        input_ids = kwargs.get("input_ids", args[0] if args else None)
        extra = processors_for(input_ids, frequency_penalty, presence_penalty)
        given = kwargs.pop("logits_processor", None) or []
        return original(*args, logits_processor=LogitsProcessorList([*given, *extra]), **kwargs)

    model.generate = generate
    try:
        yield
    finally:
        if had_own:
            model.generate = original
        else:
            del model.generate
