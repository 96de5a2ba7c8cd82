"""Sampling completions for evaluation: transformers `generate` everywhere, vLLM when asked for
and installed. Both take the same list of prompt texts (chat template already applied) and give
back one Completion per prompt, so the eval job does not care which one ran.

A model may come with a LoRA adapter (a checkpoint-N of a LoRA run, or any adapter folder) or be
a full checkpoint (checkpoint-N of a full fine-tune): `resolve_model` tells which.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from jobs.errors import JobsError


class GenerationError(JobsError):
    pass


@dataclass
class Completion:
    text: str
    n_tokens: int
    truncated: bool  # stopped by max_new_tokens, not by EOS


def resolve_model(model_path: str, adapter_path: str | None) -> tuple[str, str | None]:
    """(base model, adapter or None). A full-model checkpoint given as adapter replaces the base."""
    if not adapter_path:
        return model_path, None
    p = Path(adapter_path)
    if not p.is_dir():
        raise GenerationError(f"adapter_path {adapter_path}: not a directory")
    if (p / "adapter_config.json").is_file():
        return model_path, str(p)
    if (p / "config.json").is_file():
        return str(p), None
    raise GenerationError(
        f"adapter_path {adapter_path}: neither a LoRA adapter (adapter_config.json) nor a model (config.json)"
    )


MAX_LORA_RANK = 4096  # far past any adapter vLLM serves; a rank of 10**300 is a broken file


def adapter_rank(adapter: str, default: int) -> int:
    """The LoRA rank `r` of an adapter's adapter_config.json (DEFAULT without one), read through
    the bounded regular-file reader: a FIFO there would block the job, /dev/zero never end.
    GenerationError with one line naming the file for anything else than an integer 1..4096."""
    from jobs.runfs import read_regular_text
    from jobs.rundir import loads

    path = Path(adapter) / "adapter_config.json"
    try:
        config = loads(read_regular_text(path))
    except OSError as e:
        raise GenerationError(f"{path}: cannot read ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise GenerationError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise GenerationError(f"{path}: not a JSON object")
    r = config.get("r", default)
    if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= MAX_LORA_RANK:
        raise GenerationError(f"{path}: r {str(r)[:40]!r} is not a LoRA rank (an integer 1..{MAX_LORA_RANK})")
    return r


class TransformersGenerator:
    """`model.generate` in length-sorted batches (less padding), left padding, sampling when
    temperature > 0 and greedy at temperature 0."""

    def __init__(
        self,
        model_path: str,
        adapter_path: str | None = None,
        batch_size: int = 8,
        dtype: str | None = None,
        max_seq_length: int | None = None,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        base, adapter = resolve_model(model_path, adapter_path)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype is None:
            torch_dtype = torch.bfloat16 if self.device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        tok_src = adapter if adapter and (Path(adapter) / "tokenizer_config.json").is_file() else base
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(tok_src)
            model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype)
        except (OSError, ValueError) as e:
            raise GenerationError(f"model_path: cannot load {base!r}: {str(e).strip().splitlines()[0]}") from None
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if adapter:
            from peft import PeftModel

            try:
                # merged weights generate faster than the adapter applied on every forward pass
                model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
            except (OSError, ValueError, RuntimeError) as e:
                raise GenerationError(
                    f"adapter_path: cannot load {adapter!r} onto {base!r}: {str(e).strip().splitlines()[0]}"
                ) from None
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length

    fast = None  # trainer.fast_generation.FastGenerator when a fast backend samples

    @classmethod
    def for_model(
        cls, model, tokenizer, batch_size: int = 8, max_seq_length: int | None = None, backend: str = "trl"
    ) -> "TransformersGenerator":
        """A generator over a model already in memory (HER samples from the LoRA it fine-tunes);
        the caller puts the model in eval mode before generating. `backend`: a concrete
        `generation_backend` (trainer.fast_generation.resolve); `trl` is plain `model.generate`,
        the others sample through trainer.fast_generation.FastGenerator (a merged copy is
        re-merged from the adapter on every call, so it follows the fine-tuning)."""
        self = cls.__new__(cls)
        self.model, self.tokenizer = model, tokenizer
        self.device = next(model.parameters()).device
        self.batch_size, self.max_seq_length = batch_size, max_seq_length
        if backend != "trl":
            from transformers import GenerationConfig

            from trainer import fast_generation

            if backend not in fast_generation.BACKENDS or backend == "auto":
                raise ValueError(f"generation backend {backend!r}: expected one of {fast_generation.BACKENDS[1:]}")
            cfg = GenerationConfig(
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=sorted(self._eos_ids()),
                bos_token_id=model.generation_config.bos_token_id,
                max_new_tokens=1,
                do_sample=False,
            )
            self.fast = fast_generation.FastGenerator(backend, tokenizer, cfg)
        return self

    def reserve(self, max_prompt_tokens: int, max_new_tokens: int) -> None:
        """The longest prompt and completion the coming calls will have (a fast backend sizes its
        static caches once, so no later call recompiles); a no-op for plain generate."""
        if self.fast is not None:
            if self.max_seq_length:
                max_new_tokens = max(1, min(max_new_tokens, self.max_seq_length - max_prompt_tokens))
            self.fast.reserve(max_prompt_tokens, max_new_tokens)

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        return {e for e in (eos if isinstance(eos, list) else [eos]) if e is not None} | {self.tokenizer.eos_token_id}

    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        penalties: tuple[float, float] = (0.0, 0.0),
    ) -> list[Completion]:
        """`seeds` (one per prompt): each batch is seeded by the seed of its first prompt, so a
        batch's draws depend only on which predictions it holds (rows of a batch draw apart).
        `penalties`: (frequency, presence), see trainer.logits."""
        import torch

        from trainer.logits import processors_for

        torch.manual_seed(seed)
        enc = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        out: list[Completion | None] = [None] * len(prompts)
        fits = _fitting(enc, self.max_seq_length, out)
        order = sorted(fits, key=lambda i: len(enc[i]))
        eos_ids = self._eos_ids()
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(len(enc[i]) for i in idx)
            if self.fast is not None:
                new_tokens = max_new_tokens
                if self.max_seq_length:
                    new_tokens = max(1, min(max_new_tokens, self.max_seq_length - width))
                if seeds is not None:
                    torch.manual_seed(int(seeds[idx[0]]))
                self.fast.penalties = penalties
                self.fast.set_sampling(new_tokens, temperature, top_p)
                with torch.no_grad():
                    cut = self.fast.generate(self.model, [enc[i] for i in idx], sorted(eos_ids))
                for i, toks in zip(idx, cut):
                    stopped = bool(toks) and toks[-1] in eos_ids
                    text = self.tokenizer.decode(toks, skip_special_tokens=True)
                    out[i] = Completion(
                        text=text, n_tokens=len(toks), truncated=not stopped and len(toks) >= new_tokens
                    )
                continue
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, width - len(enc[i]) :] = torch.tensor(enc[i])
                mask[row, width - len(enc[i]) :] = 1
            new_tokens = max_new_tokens
            if self.max_seq_length:
                new_tokens = max(1, min(max_new_tokens, self.max_seq_length - width))
            if seeds is not None:
                torch.manual_seed(int(seeds[idx[0]]))
            kwargs = dict(do_sample=temperature > 0, max_new_tokens=new_tokens, pad_token_id=pad)
            if any(penalties):
                kwargs["logits_processor"] = processors_for(ids, *penalties)
            if temperature > 0:
                kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
            with torch.no_grad():
                gen = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kwargs)
            for row, i in enumerate(idx):
                toks = gen[row, width:].tolist()
                n = len(toks)
                for j, t in enumerate(toks):  # cut at the first EOS; what follows is padding
                    if t in eos_ids:
                        n = j + 1
                        break
                stopped = n < len(toks) or (toks and toks[n - 1] in eos_ids)
                text = self.tokenizer.decode(toks[:n], skip_special_tokens=True)
                out[i] = Completion(text=text, n_tokens=n, truncated=not stopped and n >= new_tokens)
        return out  # type: ignore[return-value]


def _fitting(enc: list[list[int]], max_seq_length: int | None, out: list) -> list[int]:
    """Indices of the prompts that leave room for a completion within `max_seq_length`; each other
    one gets an empty, truncated completion in `out` (scored as no code) and is never generated:
    vLLM refused it and stopped the job, and in a padded batch it cut every other prompt's
    completion to one token (new tokens are what the longest prompt leaves)."""
    fits = []
    for i, ids in enumerate(enc):
        if max_seq_length and len(ids) >= max_seq_length:
            out[i] = Completion(text="", n_tokens=0, truncated=True)
        else:
            fits.append(i)
    return fits


def vllm_requests(
    n: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    seed: int,
    seeds: Sequence[int] | None = None,
    penalties: tuple[float, float] = (0.0, 0.0),
) -> list[dict[str, Any]]:
    """vLLM SamplingParams keyword arguments, one per prompt. vLLM seeds each request on its
    own: one seed for all would give identical samples of identical prompts (a GRPO group, an
    eval's n samples of one task), so every prompt gets its own."""
    per_prompt = list(seeds) if seeds is not None else [seed + i for i in range(n)]
    if len(per_prompt) != n:
        raise ValueError(f"{len(per_prompt)} seeds for {n} prompts")
    return [
        dict(
            n=1,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_new_tokens,
            seed=int(s),
            frequency_penalty=penalties[0],
            presence_penalty=penalties[1],
        )
        for s in per_prompt
    ]


class VLLMGenerator:
    """vLLM offline engine; LoRA adapters through LoRARequest (no merge needed)."""

    def __init__(
        self,
        model_path: str,
        adapter_path: str | None = None,
        gpu_memory_utilization: float = 0.9,
        max_seq_length: int | None = None,
        lora_r: int = 64,
    ):
        try:
            from vllm import LLM
        except ImportError:
            raise GenerationError(
                "use_vllm=true needs the `vllm` package, which is not installed here: "
                "pip install 'arcctl[vllm]' (or set use_vllm=false to use transformers generate)"
            ) from None
        base, adapter = resolve_model(model_path, adapter_path)
        self.adapter = adapter
        kwargs = dict(model=base, gpu_memory_utilization=gpu_memory_utilization, enable_prefix_caching=True)
        self.max_seq_length = max_seq_length
        if max_seq_length:
            kwargs["max_model_len"] = max_seq_length
        if adapter:
            kwargs.update(enable_lora=True, max_lora_rank=max(8, adapter_rank(adapter, lora_r)))
        self.llm = LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()

    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        penalties: tuple[float, float] = (0.0, 0.0),
    ) -> list[Completion]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        sp = [
            SamplingParams(**kw)
            for kw in vllm_requests(len(prompts), max_new_tokens, temperature, top_p, seed, seeds, penalties)
        ]
        lora = None
        if self.adapter:
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("adapter", 1, self.adapter)
        # token ids, so the chat template's BOS is not added a second time
        enc = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        out: list[Completion | None] = [None] * len(prompts)
        fits = _fitting(enc, self.max_seq_length, out)  # vLLM raises on one past max_model_len
        inputs = [TokensPrompt(prompt_token_ids=enc[i]) for i in fits]
        results = self.llm.generate(inputs, [sp[i] for i in fits], lora_request=lora) if fits else []
        for i, r in zip(fits, results):
            out[i] = Completion(
                text=r.outputs[0].text,
                n_tokens=len(r.outputs[0].token_ids),
                truncated=r.outputs[0].finish_reason == "length",
            )
        return out  # type: ignore[return-value]


def make_generator(params, model_path: str | None = None, adapter_path: str | None = None):
    """The generator an EvalParams asks for."""
    model_path = model_path or params.model_path
    adapter_path = adapter_path if adapter_path is not None else params.adapter_path
    if params.use_vllm:
        return VLLMGenerator(model_path, adapter_path, params.gpu_memory_utilization, params.max_seq_length)
    return TransformersGenerator(
        model_path, adapter_path, batch_size=params.batch_size, max_seq_length=params.max_seq_length
    )
