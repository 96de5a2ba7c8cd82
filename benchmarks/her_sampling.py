"""HER sampling, seconds per epoch for each `generation_backend` (trainer/fast_generation.py), against
the plain `model.generate` baseline (`trl`) measured in the same run.

What one HER epoch's sampling does, through the product code (trainer.her.sample over
trainer.generation.TransformersGenerator.for_model(..., backend=...)): the tiny model
(trainer.tiny_model, random init) with a fresh LoRA, the prompt of a toy target
(trainer.synthetic.toy_targets, as trainer/her.py builds it), each sampling group at its own
temperature and seed. Between epochs the model is left as HER's fine-tuning leaves it: training
mode, gradient checkpointing on, the KV cache off, and the adapter moved in place (a merged copy
must be re-merged, a compiled graph must see the new weights). EOS is suppressed (min_new_tokens)
so every backend samples exactly epochs x samples x tokens tokens. The first epoch (merge, compile,
CUDA-graph capture) is reported apart; s/epoch is the mean of the later epochs.

    # CPU (the 2-core VM; small so that it finishes in minutes)
    python benchmarks/her_sampling.py --hidden 128 --layers 2 --mix 2@0.1,16@0.9 --tokens 64 --epochs 3
    # H200: the gpu preset's model and sampling (384x6, 8 @ 0.1 + 128 @ 0.9, 640 tokens)
    python benchmarks/her_sampling.py --device cuda --epochs 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BACKENDS = ["trl", "merged", "static", "merged-static", "merged-cudagraph", "paged"]


def parse_mix(text: str) -> list[dict]:
    """ "8@0.1,128@0.9" -> HER sampling groups."""
    groups = []
    for part in text.split(","):
        n, _, t = part.partition("@")
        groups.append({"n": int(n), "temperature": float(t)})
    return groups


def build_model(args, work: Path):
    from trainer import tiny_model

    folder = work / f"tiny-{args.hidden}x{args.layers}"
    if not (folder / "config.json").exists():
        tiny_model.build(folder, hidden_size=args.hidden, layers=args.layers, heads=args.heads)
    return folder


def peft_model(folder: Path, args):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    tok.padding_side = "left"
    dtype = getattr(torch, args.dtype)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    torch.manual_seed(0)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=args.lora_r, lora_alpha=args.lora_r, target_modules=targets))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    return model.to(args.device), tok


def fine_tune_stand_in(model, epoch: int) -> None:
    """What HER's fine-tuning leaves behind, without its cost: training mode, checkpointing on, the
    KV cache off, the adapter moved in place."""
    import torch

    model.train()
    model.gradient_checkpointing_enable()
    model.config.use_cache = False
    g = torch.Generator(device="cpu").manual_seed(epoch)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_((torch.randn(p.shape, generator=g) * 0.01).to(p.device, p.dtype))


def run_backend(backend: str, folder: Path, args, prompt_of) -> dict:
    import torch

    from jobs.params import HERParams
    from trainer import her
    from trainer.generation import TransformersGenerator

    model, tok = peft_model(folder, args)
    prompt = prompt_of(tok)
    groups = parse_mix(args.mix)
    n = sum(g["n"] for g in groups)
    p = HERParams(model_path=str(folder), sampling=groups, max_new_tokens=args.tokens, max_seq_length=8192, top_p=1.0)
    model.generation_config.min_new_tokens = args.tokens  # the plain generate path reads it from here
    gen = TransformersGenerator.for_model(
        model, tok, batch_size=args.batch or max(g["n"] for g in groups), backend=backend
    )
    if gen.fast is not None:
        gen.fast.config.min_new_tokens = args.tokens
    times, tokens = [], []
    for epoch in range(1, args.epochs + 1):
        fine_tune_stand_in(model, epoch)
        if args.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        comps, _ = her.sample(gen, prompt, p, seed=1000 * epoch)
        if args.device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        tokens.append(sum(c.n_tokens for c in comps))
        print(f"  {backend} epoch {epoch}: {times[-1]:.2f} s, {tokens[-1]} tokens ({n} samples)", flush=True)
        if args.backend_budget_s and sum(times) > args.backend_budget_s and epoch < args.epochs:
            print(f"  {backend}: over --backend-budget-s after {epoch} epochs, next backend", flush=True)
            break
    steady = times[1:] or times
    del model, gen
    if args.device == "cuda":
        torch.cuda.empty_cache()
    return {
        "backend": backend,
        "first_epoch_s": times[0],
        "s_per_epoch": statistics.mean(steady),
        "tokens_per_epoch": statistics.mean(tokens[1:] or tokens),
        "epochs": len(times),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated; trl (the baseline) always runs")
    ap.add_argument("--epochs", type=int, default=3, help="sampling epochs per backend (the first is reported apart)")
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--lora-r", type=int, default=32)
    ap.add_argument("--mix", default="8@0.1,128@0.9", help="sampling groups, n@temperature")
    ap.add_argument("--tokens", type=int, default=640, help="new tokens per program")
    ap.add_argument("--batch", type=int, default=0, help="prompts per call (0: the largest group, as her_gpu.py)")
    ap.add_argument("--target", default="2-squares", help="toy target whose prompt is sampled")
    ap.add_argument("--dtype", default=None, help="default: bfloat16 on cuda, float32 on cpu")
    ap.add_argument("--out", default="/tmp/her-sampling", help="work dir (the tiny model)")
    ap.add_argument("--results", help="append one JSON line per backend here")
    ap.add_argument(
        "--backend-budget-s", type=float, default=0, help="a backend stops after the epoch that takes it past this"
    )
    args = ap.parse_args()
    args.dtype = args.dtype or ("bfloat16" if args.device == "cuda" else "float32")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no GPU here")
    from trainer.encoders import get_encoder
    from trainer.prompts import build_prompt_text
    from trainer.synthetic import toy_targets

    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    folder = build_model(args, work)
    task = toy_targets([args.target], seed=0)[0]

    def prompt_of(tok):
        return build_prompt_text(task, get_encoder("color_names"), tok, test_index=0)

    backends = ["trl"] + [b for b in args.backends.split(",") if b and b != "trl"]
    print(
        f"HER sampling: {args.hidden}x{args.layers} tiny model, LoRA r{args.lora_r}, {args.dtype} on {args.device}, "
        f"groups {args.mix}, {args.tokens} tokens, {args.epochs} epochs, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}",
        flush=True,
    )
    rows = []
    for b in backends:
        try:
            rows.append(run_backend(b, folder, args, prompt_of))
        except KeyboardInterrupt:  # the table of what ran so far
            print(f"  {b}: interrupted", flush=True)
            break
        except Exception as e:  # one backend failing does not lose the others' numbers
            print(f"  {b}: failed: {type(e).__name__}: {e}", flush=True)
            rows.append({"backend": b, "error": f"{type(e).__name__}: {e}"})
        if args.results:
            with open(args.results, "a") as f:
                f.write(json.dumps({**rows[-1], **{k: v for k, v in vars(args).items() if k != "results"}}) + "\n")
    if not rows:
        return 1
    base = rows[0].get("s_per_epoch")
    print("\n| backend | first epoch s | s/epoch (later epochs) | tokens/s | x trl (same run) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['backend']} | failed: {r['error'][:80]} | | | |")
            continue
        ratio = base / r["s_per_epoch"] if base else float("nan")
        print(
            f"| {r['backend']} | {r['first_epoch_s']:.2f} | {r['s_per_epoch']:.2f} | "
            f"{r['tokens_per_epoch'] / r['s_per_epoch']:.0f} | {ratio:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
