"""How GRPO samples its completions: the `generation_backend` parameter.

Generation is nearly all of a GRPO step on one GPU, and its cost there is per-token overhead (kernel
launches, a LoRA detour through every adapted linear layer), not arithmetic. The backends:

  trl            TRL's padded `model.generate` through the PEFT model (the adapter runs beside every
                 adapted layer on each decoded token).
  paged          TRL's transformers continuous batching (paged attention, `generate_batch`).
  static         padded `generate` with a static KV cache, the decode step compiled (CUDA graphs).
  merged         a generation copy of the model whose adapted weights are W + scale·B·A, refreshed
                 before every generation; the training weights are never modified, so training is
                 exactly what it is without it (only the sampler sees the bf16 rounding of W + scale·B·A).
  merged-static  merged + static.
  merged-cudagraph  merged, sampled by our own decode loop: a static KV cache kept across calls, the
                 decode step compiled into one CUDA graph, sampling on the GPU and an EOS check every
                 16 tokens (transformers' `generate` adds host work and a device sync per token).
                 Supports temperature, top_k, top_p, repetition_penalty and min_new_tokens; a
                 generation config asking for more falls back to merged-static.
  auto           the fastest correct backend for the job: `trl` on a CPU, on a GPU `merged-cudagraph`
                 (fastest measured, benchmarks/RESULTS.md) unless the adapter cannot be merged
                 (4-bit base weights, DoRA), then `static`.

The trainer (trainer/grpo.py) runs every backend under `torch.no_grad()` with gradient checkpointing
switched off for the call, so the KV cache is used whatever the transformers version does for a
checkpointed model in training mode.

HER jobs (trainer/her.py) sample through the same backends, via `trainer.generation.TransformersGenerator.
for_model(..., backend=...)`: there `trl` means the plain `model.generate` of the PEFT model (HER has no
TRL sampler) and `paged` transformers' own continuous batching (`generate_batch`). Each HER sampling
group sets its temperature on the generator (`FastGenerator.set_sampling`); a merged copy is refreshed
from the adapter before every call (the adapter is fine-tuned between samplings), and the own decode
loop keeps one static cache and compiled step per batch size (a HER epoch alternates a small
exploitation batch and full exploration batches).
"""

from __future__ import annotations

from typing import Any

BACKENDS = ("auto", "trl", "paged", "static", "merged", "merged-static", "merged-cudagraph")
OWN_LOOP = ("static", "merged", "merged-static", "merged-cudagraph")
# Static caches are sized in these steps so prompts of similar length reuse one compiled graph.
PROMPT_BUCKET = 256


def can_merge(params) -> str | None:
    """Why the adapter cannot be merged for generation, or None when it can."""
    if getattr(params, "load_in_4bit", False):
        return "load_in_4bit: 4-bit base weights cannot hold W + B·A"
    if getattr(params, "use_dora", False):
        return "use_dora: a DoRA adapter rescales whole weight columns, not a low-rank sum"
    if getattr(params, "backend", "trl") == "unsloth":
        return 'backend = "unsloth" generates with its own fast path'
    return None


def resolve(params, cuda: bool) -> str:
    """The concrete backend a job runs with."""
    choice = getattr(params, "generation_backend", "auto")
    if getattr(params, "use_vllm", False) or getattr(params, "backend", "trl") == "unsloth":
        return "trl"  # vLLM / unsloth generate through TRL's own hooks
    if choice != "auto":
        return choice
    if not cuda:
        return "trl"
    return "static" if can_merge(params) else "merged-cudagraph"


def trl_config_kwargs(backend: str) -> dict[str, Any]:
    """The GRPOConfig fields a backend maps to (the rest run through `FastGenerator`)."""
    if backend == "paged":
        return {"use_transformers_continuous_batching": True}
    return {}


def _lora_layers(model) -> dict[str, Any]:
    """{module path in the base model: PEFT LoRA layer} for every adapted linear layer."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    out = {}
    for name, module in base.named_modules():
        if hasattr(module, "lora_A") and hasattr(module, "base_layer") and getattr(module, "lora_A"):
            out[name] = module
    return out


class MergedCopy:
    """A plain copy of the policy for sampling: adapted linear weights are W + scale·B·A in buffers
    of their own; everything else shares storage with the training model (frozen under LoRA)."""

    def __init__(self, peft_model, grouped_attention: bool = True):
        import copy

        import torch
        from transformers import AutoModelForCausalLM

        base = peft_model.get_base_model()
        self.layers = _lora_layers(peft_model)
        if not self.layers:
            raise ValueError("generation_backend merged: the model carries no LoRA adapter")
        with torch.device("meta"):  # a config of its own: the copy may switch attention functions
            gen = AutoModelForCausalLM.from_config(copy.deepcopy(base.config), dtype=base.dtype)
        state = base.state_dict()
        merged: dict[str, Any] = {}
        new_state = {}
        for key in gen.state_dict():
            mod, _, leaf = key.rpartition(".")
            if mod in self.layers and leaf == "weight":
                w = self.layers[mod].base_layer.weight
                merged[mod] = torch.empty_like(w, requires_grad=False)
                new_state[key] = merged[mod]
            elif key in state:
                new_state[key] = state[key].detach()
            elif f"{mod}.base_layer.{leaf}" in state:
                new_state[key] = state[f"{mod}.base_layer.{leaf}"].detach()
            else:
                raise ValueError(f"generation_backend merged: no weight for {key}")
        gen.load_state_dict(new_state, assign=True, strict=True)
        for name, buf in base.named_buffers():  # non-persistent buffers (rotary frequencies)
            owner, _, leaf = name.rpartition(".")
            owner = owner.replace(".base_layer", "")
            try:
                target = gen.get_submodule(owner)
            except AttributeError:
                continue
            if leaf in target._buffers:
                target._buffers[leaf] = buf
        gen.generation_config = base.generation_config
        gen.requires_grad_(False)
        if grouped_attention:
            from trainer import grouped_attention as grouped

            grouped.enable(gen)
        self.model = gen.eval()
        self.merged = merged

    def refresh(self) -> None:
        """Write W + scale·B·A of the current adapter into the copy (one addmm per layer)."""
        import torch

        with torch.no_grad():
            for name, layer in self.layers.items():
                adapter = layer.active_adapters[0]
                a = layer.lora_A[adapter].weight
                b = layer.lora_B[adapter].weight
                w = layer.base_layer.weight
                torch.addmm(w, b.to(w.dtype), a.to(w.dtype), alpha=layer.scaling[adapter], out=self.merged[name])


class FastGenerator:
    """Padded generation for the `static`, `merged` and `merged-static` backends; returns what
    TRL's `_generate_single_turn` returns: completion token ids cut after the first EOS."""

    def __init__(self, backend: str, tokenizer, generation_config, grouped_attention: bool = True):
        self.backend = backend
        self.grouped_attention = grouped_attention  # trainer.grouped_attention, on the merged copy
        self.tokenizer = tokenizer
        self.copy: MergedCopy | None = None
        cfg = generation_config.__class__.from_dict(generation_config.to_dict())
        self.loop: DecodeLoop | None = None  # the decode loop of the latest call's batch size
        self.loops: dict[int, DecodeLoop] = {}
        if backend == "merged-cudagraph":
            if DecodeLoop.unsupported(cfg):
                backend = self.backend = "merged-static"
            else:
                self.loop = DecodeLoop()
        if backend.endswith("static"):
            cfg.cache_implementation = "static"
            cfg.disable_compile = False
        self.config = cfg
        self.min_cache_len = 0  # see reserve()
        self.calls = 0
        self.penalties: tuple[float, float] = (0.0, 0.0)  # frequency, presence (trainer.logits)

    def reserve(self, max_prompt_tokens: int, max_new_tokens: int) -> None:
        """Size the decode loops' static caches for the longest call to come (HER knows all its
        prompts up front): a later, longer prompt then reuses the cache and its compiled step
        instead of growing it (each growth is a recompile; torch.compile stops compiling after a few)."""
        self.min_cache_len = -(-max_prompt_tokens // PROMPT_BUCKET) * PROMPT_BUCKET + max_new_tokens
        for loop in self.loops.values():
            loop.min_length = max(loop.min_length, self.min_cache_len)
        if self.loop is not None:
            self.loop.min_length = max(self.loop.min_length, self.min_cache_len)

    def set_sampling(self, max_new_tokens: int, temperature: float, top_p: float = 1.0, top_k: int = 0) -> None:
        """The sampling settings of the next calls (HER: one sampling group); temperature 0 is greedy."""
        cfg = self.config
        cfg.max_new_tokens = int(max_new_tokens)
        cfg.do_sample = temperature > 0
        if temperature > 0:
            cfg.temperature, cfg.top_p, cfg.top_k = float(temperature), float(top_p), int(top_k)
        else:  # greedy: unset, as transformers warns about sampling settings it would ignore
            cfg.temperature = cfg.top_p = cfg.top_k = None

    def _model(self, model):
        if not self.backend.startswith("merged"):
            return model
        if self.copy is None:
            self.copy = MergedCopy(model, grouped_attention=self.grouped_attention)
        self.copy.refresh()
        return self.copy.model

    def generate(self, model, prompt_ids: list[list[int]], eos_ids: list[int] | None = None) -> list[list[int]]:
        import torch

        device = next(model.parameters()).device
        pad = self.tokenizer.pad_token_id
        eos = set(eos_ids or [self.tokenizer.eos_token_id])
        if self.backend == "paged":
            return self._paged(model, prompt_ids, eos)
        width = max(len(p) for p in prompt_ids)
        if self.backend.endswith("static") or self.loop is not None:
            width = -(-width // PROMPT_BUCKET) * PROMPT_BUCKET
        ids = torch.full((len(prompt_ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
        for row, p in enumerate(prompt_ids):
            ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[row, width - len(p) :] = 1
        gen_model = self._model(model)
        if self.loop is not None:  # one static cache (and compiled step) per batch size
            self.loops.setdefault(len(prompt_ids), self.loop if not self.loops else DecodeLoop(self.min_cache_len))
            self.loop = self.loops[len(prompt_ids)]
        was_training = gen_model.training
        with torch.no_grad():
            gen_model.eval()
            try:
                if self.loop is not None and not any(self.penalties):
                    new = self.loop.run(gen_model, ids.to(device), mask.to(device), self.config, sorted(eos), pad)
                    out = torch.cat([ids.to(device), new], dim=1)
                else:
                    # frequency/presence penalties are a logits processor, which `generate` runs
                    # (the own decode loop does not)
                    from trainer.logits import processors_for

                    out = gen_model.generate(
                        input_ids=ids.to(device),
                        attention_mask=mask.to(device),
                        generation_config=self.config,
                        logits_processor=processors_for(ids, *self.penalties) or None,
                    )
            finally:
                if was_training:
                    gen_model.train()
        self.calls += 1
        completions = out[:, width:].cpu().tolist()
        result = []
        for toks in completions:
            cut = next((i for i, t in enumerate(toks) if t in eos), None)
            result.append(toks if cut is None else toks[: cut + 1])
        return result

    def _paged(self, model, prompt_ids: list[list[int]], eos: set[int]) -> list[list[int]]:
        """transformers' continuous batching (`generate_batch`, paged KV cache) on the model as it is
        (adapter unmerged); outputs in prompt order, cut after the first EOS."""
        import torch

        cfg = self.config.__class__.from_dict(self.config.to_dict())
        cfg.eos_token_id = sorted(eos)
        extra = _paged_cpu_sizing(model, prompt_ids, cfg.max_new_tokens or 0)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model.generate_batch(inputs=prompt_ids, generation_config=cfg, progress_bar=False, **extra)
        finally:
            if was_training:
                model.train()
        self.calls += 1
        ordered = [out[k] for k in sorted(out, key=_request_index)]
        result = []
        for r in ordered:
            toks = list(r.generated_tokens)
            cut = next((i for i, t in enumerate(toks) if t in eos), None)
            result.append(toks if cut is None else toks[: cut + 1])
        return result


def _paged_cpu_sizing(model, prompt_ids: list[list[int]], max_new_tokens: int) -> dict[str, Any]:
    """On a CPU, a paged cache sized to this call's requests. Left to itself, transformers sizes the
    cache from free memory, which on a CPU is the host's RAM: filling those tensors took 12 of the
    17 s of a 3-prompt, 10-token call on the tiny model. On a GPU its own sizing is kept."""
    import inspect

    if next(model.parameters()).device.type != "cpu":
        return {}
    try:
        from transformers import ContinuousBatchingConfig
    except ImportError:  # a transformers without the config object sizes the cache itself
        return {}
    if "continuous_batching_config" not in inspect.signature(model.generate_batch).parameters:
        return {}
    page = 256
    pages = sum(-(-(len(p) + max_new_tokens) // page) for p in prompt_ids)
    # one step's tokens: every prompt's prefill at most, so the first step is never split further
    batch_tokens = max(page, min(sum(len(p) for p in prompt_ids), 8192))
    return {
        "continuous_batching_config": ContinuousBatchingConfig(
            page_size=page, num_blocks=pages + len(prompt_ids), max_batch_tokens=batch_tokens
        )
    }


def _request_index(request_id: str) -> int:
    """generate_batch names its requests req_0, req_1, ... in input order."""
    return int(str(request_id).rsplit("_", 1)[-1])


class DecodeLoop:
    """Sampling with a static KV cache and one compiled (CUDA-graph) decode step per token.

    The cache lives as long as the batch shape does, so the graph recorded on the first call is
    replayed on every later one. Host and device meet only every `CHECK_EVERY` tokens (to stop once
    every sequence has ended)."""

    CHECK_EVERY = 16
    CACHE_STEP = 1024
    _SUPPORTED = {
        "temperature",
        "top_k",
        "top_p",
        "repetition_penalty",
        "min_new_tokens",
        "max_new_tokens",
        "do_sample",
        "remove_invalid_values",
    }

    def __init__(self, min_length: int = 0):
        self.cache = None
        self.shape: tuple[int, int] | None = None
        self.step = None
        self.min_length = min_length  # the cache is made at least this long (FastGenerator.reserve)

    @classmethod
    def unsupported(cls, cfg) -> list[str]:
        """Generation settings this loop does not implement (the caller then uses `generate`)."""
        default = cfg.__class__()
        out = []
        for key, value in cfg.to_diff_dict().items():
            if (
                key in cls._SUPPORTED
                or key.endswith("_token_id")
                or key
                in (
                    "cache_implementation",
                    "disable_compile",
                    "compile_config",
                    "transformers_version",
                    "use_cache",
                    "max_length",
                    "return_dict_in_generate",
                    "output_scores",
                    "output_logits",
                    "num_return_sequences",
                )
            ):
                continue
            if value not in (None, getattr(default, key, None)) and value != 1.0 and value != 0:
                out.append(key)
        return out

    def _cache_kwarg(self, model) -> str:
        import inspect

        params = inspect.signature(model.forward).parameters
        return "cache" if "cache" in params else "past_key_values"

    def run(self, model, ids, mask, cfg, eos_ids: list[int], pad: int):
        """New tokens (batch, max_new_tokens), `pad` after each row's first EOS."""
        import torch
        from transformers import StaticCache

        batch, width = ids.shape
        n_new = int(cfg.max_new_tokens)
        key = self._cache_kwarg(model)
        # The cache only grows (in CACHE_STEP steps): a shorter prompt reuses it, its tail masked, so a
        # run compiles a handful of decode graphs instead of one per prompt length.
        if self.shape is None or self.shape[0] != batch or self.shape[1] < width + n_new:
            old = self.shape[1] if self.shape and self.shape[0] == batch else 0
            length = -(-max(width + n_new, old, self.min_length) // self.CACHE_STEP) * self.CACHE_STEP
            self.cache = StaticCache(config=model.config, max_cache_len=length)
            self.shape = (batch, length)
            self.step = None
        else:
            self.cache.reset()
        length = self.shape[1]
        full_mask = torch.zeros((batch, length), dtype=mask.dtype, device=ids.device)
        full_mask[:, :width] = mask
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        out = model(
            input_ids=ids,
            attention_mask=full_mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{key: self.cache},
        )
        if self.step is None:

            def step(tok, att, pos):
                return model(
                    input_ids=tok, attention_mask=att, position_ids=pos, use_cache=True, **{key: self.cache}
                ).logits

            self.step = torch.compile(step, mode="reduce-overhead", dynamic=False) if ids.is_cuda else step
        eos = torch.tensor(eos_ids, device=ids.device)
        seen = None
        if cfg.repetition_penalty and cfg.repetition_penalty != 1.0:
            seen = torch.zeros((batch, model.config.vocab_size), dtype=torch.bool, device=ids.device)
            seen.scatter_(1, ids, True)
        done = torch.zeros(batch, dtype=torch.bool, device=ids.device)
        tokens = torch.full((batch, n_new), pad, dtype=torch.long, device=ids.device)
        pos = positions[:, -1:].clone()
        logits = out.logits[:, -1, :]
        for t in range(n_new):
            nxt = self._sample(logits.float(), cfg, seen, eos, t)
            nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
            tokens[:, t] = nxt
            done |= torch.isin(nxt, eos)
            if seen is not None:
                seen.scatter_(1, nxt[:, None], True)
            if t + 1 == n_new or ((t + 1) % self.CHECK_EVERY == 0 and bool(done.all())):
                break
            full_mask[:, width + t] = 1
            pos += 1
            if ids.is_cuda:
                torch.compiler.cudagraph_mark_step_begin()
            logits = self.step(nxt[:, None], full_mask, pos)[:, -1, :]
        return tokens

    @staticmethod
    def _sample(logits, cfg, seen, eos, t: int):
        import torch

        if getattr(cfg, "remove_invalid_values", False):
            logits = torch.nan_to_num(
                logits, nan=0.0, posinf=torch.finfo(logits.dtype).max, neginf=torch.finfo(logits.dtype).min
            )
        if seen is not None:  # as transformers' RepetitionPenaltyLogitsProcessor
            pen = cfg.repetition_penalty
            logits = torch.where(seen, torch.where(logits > 0, logits / pen, logits * pen), logits)
        if cfg.min_new_tokens and t < cfg.min_new_tokens:
            logits[:, eos] = float("-inf")
        if not cfg.do_sample:
            return logits.argmax(-1)
        if cfg.temperature and cfg.temperature != 1.0:
            logits = logits / cfg.temperature
        if cfg.top_k and cfg.top_k < logits.shape[-1]:
            kth = torch.topk(logits, cfg.top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if cfg.top_p is not None and cfg.top_p < 1.0:
            sorted_logits, order = torch.sort(logits, descending=False)
            cum = sorted_logits.softmax(-1).cumsum(-1)
            drop = cum <= (1 - cfg.top_p)
            drop[:, -1] = False
            logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
        return torch.multinomial(logits.softmax(-1), 1)[:, 0]
