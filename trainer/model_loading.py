"""Load the policy model and tokenizer for training: plain transformers + PEFT, or unsloth.

Heavy packages are imported inside functions, and a missing optional one (unsloth, vllm,
bitsandbytes) ends in one message naming the extra to install.
"""

from __future__ import annotations

from typing import Any

from jobs.errors import SpecError

# Tokens that some model families ship for padding; used before adding a new one.
_PAD_CANDIDATES = ("<|finetune_right_pad_id|>", "<|pad|>", "<pad>", "[PAD]", "<|reserved_special_token_0|>")


class MissingExtra(SpecError):
    """An optional package a parameter asks for is not installed."""


def require(module: str, extra: str, why: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(
            f"{why} needs the `{module}` package, which is not installed here ({e.msg}): pip install 'arcctl[{extra}]'"
        ) from None


def check_optional_backends(params) -> None:
    """Fail fast, before data or weights are loaded, when a requested backend is missing."""
    if getattr(params, "backend", "trl") == "unsloth":
        require("unsloth", "unsloth", 'backend = "unsloth"')
    if getattr(params, "use_vllm", False):
        require("vllm", "vllm", "use_vllm = true")
    if getattr(params, "wandb", False):
        require("wandb", "wandb", "wandb = true")
    if getattr(params, "load_in_4bit", False) and params.backend != "unsloth":
        require("bitsandbytes", "train", "load_in_4bit = true")


def fix_pad_token(tokenizer, model=None) -> str:
    """Make the pad token differ from EOS: padding with EOS teaches the model never to stop,
    because the padded EOS positions are masked out of the loss. Returns what was done."""
    eos = tokenizer.eos_token
    if tokenizer.pad_token is not None and tokenizer.pad_token != eos:
        return "kept"
    vocab = tokenizer.get_vocab()
    for cand in _PAD_CANDIDATES:
        if cand in vocab and cand != eos:
            tokenizer.pad_token = cand
            return f"set to existing {cand}"
    if tokenizer.unk_token is not None and tokenizer.unk_token != eos:
        tokenizer.pad_token = tokenizer.unk_token
        return "set to unk"
    tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
    if model is not None:
        model.resize_token_embeddings(len(tokenizer))
    return "added <|pad|>"


def resolve_bf16(bf16: bool | None) -> bool:
    import torch

    if bf16 is None:
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if bf16 and not torch.cuda.is_available():
        return False  # CPU runs (tests) train in float32 whatever the template says
    return bf16


def check_target_modules(model, targets: list[str]) -> None:
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in targets if t not in names]
    if missing:
        raise SpecError(
            f"lora_target_modules: {missing} not found in the model "
            f"(it has e.g. {sorted(n for n in names if n.endswith('proj'))[:8]})"
        )


def lora_config(params):
    from peft import LoraConfig

    return LoraConfig(
        r=params.lora_r,
        lora_alpha=params.lora_alpha,
        lora_dropout=params.lora_dropout,
        use_rslora=params.use_rslora,
        use_dora=params.use_dora,
        target_modules=list(params.lora_target_modules),
        task_type="CAUSAL_LM",
        bias="none",
    )


def load_for_training(params) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft_config or None). With peft_config None the model already carries
    its trainable adapter (unsloth, or an `adapter_path` to continue from)."""
    if params.backend == "unsloth":
        return _load_unsloth(params)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    bf16 = resolve_bf16(params.bf16)
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if bf16 else torch.float32}
    if params.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=kwargs["dtype"], bnb_4bit_quant_type="nf4"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(params.model_path)
        model = AutoModelForCausalLM.from_pretrained(params.model_path, **kwargs)
    except OSError as e:
        raise SpecError(f"model_path: cannot load {params.model_path!r}: {str(e).splitlines()[0]}") from None
    fix_pad_token(tokenizer, model)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    if params.adapter_path:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, params.adapter_path, is_trainable=True)
        except (OSError, ValueError) as e:
            raise SpecError(f"adapter_path: cannot load {params.adapter_path!r}: {str(e).splitlines()[0]}") from None
        return model, tokenizer, None
    check_target_modules(model, params.lora_target_modules)
    return model, tokenizer, lora_config(params)


def _load_unsloth(params):
    """FastLanguageModel (unsloth 2026.10): 16-bit LoRA unless load_in_4bit; without use_vllm it
    generates with its own patched `generate`, which TRL's GRPOTrainer (patched by `import unsloth`)
    calls. A local model dir is loaded as it is: unsloth maps only hub names to its own repos."""
    unsloth = require("unsloth", "unsloth", 'backend = "unsloth"')
    import torch

    flm = unsloth.FastLanguageModel
    model, tokenizer = flm.from_pretrained(
        model_name=params.model_path,
        max_seq_length=params.max_seq_length,
        # None: unsloth picks bfloat16 where the GPU has it, else float16
        dtype=torch.bfloat16 if resolve_bf16(params.bf16) else None,
        load_in_4bit=params.load_in_4bit,  # unsloth's default is True: always pass ours
        fast_inference=params.use_vllm,  # unsloth runs its own vLLM engine for generation
        gpu_memory_utilization=params.gpu_memory_utilization,
        max_lora_rank=params.lora_r,
    )
    fix_pad_token(tokenizer, model)
    if params.adapter_path:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, params.adapter_path, is_trainable=True)
        return model, tokenizer, None
    model = flm.get_peft_model(
        model,
        r=params.lora_r,
        lora_alpha=params.lora_alpha,
        lora_dropout=params.lora_dropout,
        target_modules=list(params.lora_target_modules),
        use_rslora=params.use_rslora,
        use_dora=params.use_dora,
        use_gradient_checkpointing="unsloth",
        random_state=params.seed,
    )
    return model, tokenizer, None


def check_checkpoint_fits(model, checkpoint: str | None) -> None:
    """SpecError naming `checkpoint` when its weights are not this run's trainable ones: a fork or
    resume that changed `lora_r`, `lora_target_modules`, `use_dora`, `use_lora` or `model_path`
    from its checkpoint's run. Loading it failed after `started`, as a traceback (a size mismatch,
    or the optimizer's "parameter group that doesn't match")."""
    if not checkpoint:
        return
    from pathlib import Path

    from peft import PeftModel

    ck = Path(checkpoint)
    adapter = ck / "adapter_model.safetensors"
    has_adapter = adapter.exists() or (ck / "adapter_model.bin").exists()
    if not isinstance(model, PeftModel):
        if has_adapter:
            raise SpecError(f"{checkpoint}: holds a LoRA adapter, but this run trains every weight (use_lora = false)")
        return
    if not has_adapter:
        raise SpecError(f"{checkpoint}: holds no LoRA adapter (a whole model), but this run trains one")
    if not adapter.exists():
        return  # an old .bin adapter: PEFT checks it
    from peft.utils import get_peft_model_state_dict
    from safetensors import safe_open

    try:
        with safe_open(str(adapter), "pt") as f:
            saved = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # a truncated or foreign file: safetensors' own error types
        raise SpecError(f"{adapter}: unreadable ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    want = {k: list(v.shape) for k, v in get_peft_model_state_dict(model).items()}
    missing = sorted(want.keys() - saved.keys())
    extra = sorted(saved.keys() - want.keys())
    shape = sorted(k for k in want.keys() & saved.keys() if want[k] != saved[k])
    if shape:
        why = f"{shape[0]} is {saved[shape[0]]} there, {want[shape[0]]} here"
    elif missing:
        why = f"{len(missing)} weights of this run are not in it, e.g. {missing[0]}"
    elif extra:
        why = f"{len(extra)} of its weights are not in this run, e.g. {extra[0]}"
    else:
        return
    raise SpecError(
        f"{checkpoint}: its adapter does not fit this run ({why}); a run continuing from it keeps the "
        "model_path, lora_r, lora_target_modules and use_dora of the run that saved it"
    )
