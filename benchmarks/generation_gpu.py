"""GRPO generation on one GPU: generated tokens/s and peak memory of every `generation_backend`.

    python benchmarks/generation_gpu.py --out DIR                      # H200: both shapes, all backends
    python benchmarks/generation_gpu.py --out DIR --shapes tiny --new-tokens 16   # smoke run on a CPU

For each model shape a random-init Llama (our tokenizer) is built on the GPU, then ONE GRPO trainer is
built through the product path (`trainer.grpo.setup_training` + `build_trainer`: LoRA on all linear
layers, gradient checkpointing on, as a job runs) and its generation hook (`_generate_single_turn`,
what TRL calls inside each step) is timed for every backend with the same prompt: a real ARC-AGI-1
prompt of about --prompt-tokens tokens, repeated --generations times (one GRPO group), each sampling
exactly --new-tokens tokens (EOS is suppressed so every backend does the same work).

Compiled backends get one untimed call first (compilation); the others one short warm-up call.
The baseline (`trl`, TRL's own padded generate) is timed over --baseline-tokens new tokens when
that is shorter (its tokens/s only falls with length, so the ratios are conservative).
"Bound" is the memory-bandwidth limit: every decode step reads all weights once, so
tokens/s <= generations x bandwidth / weight bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHAPES = {
    "tiny": dict(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=256),
    "0.9b": dict(hidden=2048, layers=16, heads=16, kv_heads=8, intermediate=8192),
    "8b": dict(hidden=4096, layers=32, heads=32, kv_heads=8, intermediate=14336),
}
BACKENDS = ["trl", "paged", "static", "merged", "merged-static", "merged-cudagraph:repeat-kv", "merged-cudagraph"]
BANDWIDTH = 4.8e12  # H200 HBM3e, bytes/s (vendor figure)


def build_model(out: Path, shape: str, device: str) -> Path:
    from trainer import tiny_model

    s = SHAPES[shape]
    path = out / f"model-{shape}"
    if not (path / "config.json").exists():
        tiny_model.build(
            path,
            hidden_size=s["hidden"],
            layers=s["layers"],
            heads=s["heads"],
            kv_heads=s["kv_heads"],
            intermediate_size=s["intermediate"],
            dtype="bfloat16" if device == "cuda" else "float32",
            device=device,
        )
    return path


def make_trainer(model_dir: Path, run_dir: Path, args):
    from jobs.params import GRPOParams
    from trainer import grpo
    from trainer.grpo_reward import Timing

    p = GRPOParams(
        model_path=str(model_dir),
        dataset="arc1/train",
        num_generations=args.generations,
        per_device_train_batch_size=args.generations,
        gradient_accumulation_steps=1,
        max_completion_length=args.new_tokens,
        max_seq_length=args.prompt_tokens + args.new_tokens + 512,
        lora_r=args.lora_r,
        lora_alpha=args.lora_r,
        grid_encoder="color_names",
        max_steps=1,
        generation_backend="trl",
        use_data_augmentation=False,
        n_jobs=1,
        repetition_penalty=1.0,
        scale_rewards="group",
        mask_truncated_completions=False,
    )  # as measured in RESULTS.md
    setup = grpo.setup_training(p, run_dir, lambda *a, **k: None)

    def reward(completions, **kw):
        return [0.0] * len(completions)

    reward.__name__ = "zero"
    trainer = grpo.build_trainer(setup, reward, [], Timing(), p.learning_rate)
    return trainer, setup


def pick_prompt(trainer, setup, target: int) -> list[int]:
    best = None
    for i in range(min(len(setup.dataset), 400)):
        ids = trainer._tokenize_prompts([setup.dataset[i]["prompt"]])[0][0]
        if best is None or abs(len(ids) - target) < abs(len(best) - target):
            best = ids
    return list(best)


def time_backend(trainer, backend: str, prompt: list[int], args, tokens: int) -> dict:
    import torch
    from trainer import fast_generation

    cfg = trainer.generation_config
    cfg.max_new_tokens = tokens
    cfg.min_new_tokens = tokens
    trainer.use_transformers_continuous_batching = backend == "paged"
    if backend == "paged" and getattr(trainer, "continuous_batching_config", None) is None:
        from transformers import ContinuousBatchingConfig

        trainer.continuous_batching_config = ContinuousBatchingConfig()
    # "NAME:repeat-kv" measures NAME with transformers' own SDPA path (K/V repeated per query head)
    name, _, variant = backend.partition(":")
    trainer.arc_generator = (
        fast_generation.FastGenerator(name, trainer.processing_class, cfg, grouped_attention=variant != "repeat-kv")
        if name in fast_generation.OWN_LOOP
        else None
    )
    prompts = [prompt] * args.generations
    trainer.model.train()  # as inside a training step

    def call():
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        t0 = time.perf_counter()
        ids, _ = trainer._generate_single_turn(prompts, None, {}, args.generations)
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        return time.perf_counter() - t0, ids

    if name.endswith("static") or name.endswith("cudagraph"):
        warm, _ = call()  # compiles the decode step for this cache shape
    else:
        cfg.max_new_tokens = cfg.min_new_tokens = min(16, tokens)
        warm, _ = call()
        cfg.max_new_tokens = cfg.min_new_tokens = tokens
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    secs, ids = call()
    n = sum(len(x) for x in ids)
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    return dict(
        backend=backend, tokens=n, new_tokens=tokens, seconds=secs, tokens_per_s=n / secs, warmup_s=warm, peak_gib=peak
    )


def weight_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def logit_gap(trainer, prompt: list[int]) -> float:
    """Largest |logit| difference between the adapter model and the merged copy (one forward)."""
    import torch
    from trainer import fast_generation

    model = trainer.model
    with torch.no_grad():
        for name, p in model.named_parameters():  # a non-zero adapter, as after some training
            if "lora_B" in name:
                p.normal_(0, 1e-3)
        copy = fast_generation.MergedCopy(model)
        copy.refresh()
        ids = torch.tensor([prompt[-512:]], device=next(model.parameters()).device)
        model.eval()
        a = model(input_ids=ids).logits.float()
        b = copy.model(input_ids=ids).logits.float()
        model.train()
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.zero_()
    return float((a - b).abs().max())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default="0.9b,8b")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--generations", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=1024)
    ap.add_argument("--baseline-tokens", type=int, default=1024)
    ap.add_argument("--prompt-tokens", type=int, default=2048)
    ap.add_argument("--lora-r", type=int, default=32)
    ap.add_argument("--results", help="append each row here as JSON lines (default: OUT/generation.jsonl)")
    args = ap.parse_args()
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for shape in args.shapes.split(","):
        t0 = time.perf_counter()
        model_dir = build_model(out, shape, device)
        trainer, setup = make_trainer(model_dir, out / f"run-{shape}", args)
        prompt = pick_prompt(trainer, setup, args.prompt_tokens)
        wbytes = weight_bytes(trainer.model)
        bound = args.generations * BANDWIDTH / wbytes
        print(
            f"# {shape}: {wbytes / 1e9:.2f} GB of weights, prompt {len(prompt)} tokens, "
            f"ready in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        for backend in args.backends.split(","):
            tokens = min(args.baseline_tokens, args.new_tokens) if backend == "trl" else args.new_tokens
            try:
                r = time_backend(trainer, backend, prompt, args, tokens)
            except Exception as e:  # one backend failing must not hide the others' numbers
                r = dict(backend=backend, error=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
            r.update(shape=shape, prompt_tokens=len(prompt), weight_gb=wbytes / 1e9, bound_tokens_per_s=bound)
            rows.append(r)
            print(json.dumps(r), flush=True)
            with open(args.results or out / "generation.jsonl", "a") as f:
                f.write(json.dumps(r) + "\n")
        try:
            gap = logit_gap(trainer, prompt)
            print(json.dumps({"shape": shape, "merged_max_logit_gap": gap}), flush=True)
        except Exception as e:
            print(json.dumps({"shape": shape, "merged_max_logit_gap_error": str(e)[:200]}), flush=True)
        del trainer, setup
        torch.cuda.empty_cache() if device == "cuda" else None
    print_table(rows)
    return 0


def print_table(rows: list[dict]) -> None:
    base = {r["shape"]: r["tokens_per_s"] for r in rows if r["backend"] == "trl" and "tokens_per_s" in r}
    print("\n| shape | backend | new tokens | tokens/s | × trl | % of bandwidth bound | peak GiB | warm-up s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['shape']} | {r['backend']} | – | failed: {r['error']} | | | | |")
            continue
        ratio = r["tokens_per_s"] / base[r["shape"]] if r["shape"] in base else float("nan")
        print(
            f"| {r['shape']} | {r['backend']} | {r['new_tokens']} | {r['tokens_per_s']:.0f} | {ratio:.2f} | "
            f"{100 * r['tokens_per_s'] / r['bound_tokens_per_s']:.1f} | "
            f"{r['peak_gib'] if r['peak_gib'] is None else round(r['peak_gib'], 1)} | {r['warmup_s']:.1f} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
