"""Round 5: a prompt longer than max_seq_length in a sampling call (an eval of a refine file whose
earlier programs are long, a task past the context). It gets an empty, truncated completion and
is never generated: vLLM refused it and stopped the job; in a padded transformers batch the new
tokens are what the longest prompt leaves, so every other prompt of its batch got one token."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)


def test_a_prompt_past_the_context_leaves_its_batch_mates_whole(tiny_model_dir):
    from trainer.generation import Completion, TransformersGenerator

    gen = TransformersGenerator(str(tiny_model_dir), batch_size=2, max_seq_length=160)
    short = "def transform(grid):\n    return grid\n" * 2
    long = "def transform(grid):\n    return grid\n" * 40
    n_short, n_long = (len(gen.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in (short, long))
    assert n_short < 60 and n_long > 160
    alone = gen.generate([short], 24, temperature=0.0)
    both = gen.generate([long, short], 24, temperature=0.0)
    assert both[0] == Completion(text="", n_tokens=0, truncated=True)
    assert both[1] == alone[0] and alone[0].n_tokens > 1
    assert gen.generate([long], 24, temperature=0.0) == [Completion(text="", n_tokens=0, truncated=True)]
