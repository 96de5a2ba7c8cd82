"""Where a decoded token's time goes in the `merged-cudagraph` loop (H200): a torch.profiler table of the
decode steps after warm-up, GPU kernel time against wall time, and torch.compile's perf hints
(e.g. "skipping cudagraphs due to ...").

    python3 benchmarks/gpu/decode_profile.py --out DIR [--shape 8b] [--tokens 64]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", default="8b")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--generations", type=int, default=16)
    ap.add_argument("--grouped", default="1")
    args = ap.parse_args()
    import torch
    from torch.profiler import ProfilerActivity, profile

    import generation_gpu as gg
    from trainer import fast_generation

    torch._logging.set_logs(perf_hints=True, recompiles=True, graph_breaks=True)
    gargs = argparse.Namespace(generations=args.generations, new_tokens=1024, prompt_tokens=2048, lora_r=32)
    out = Path(args.out)
    model_dir = gg.build_model(out, args.shape, "cuda")
    trainer, setup = gg.make_trainer(model_dir, out / f"run-prof-{args.shape}", gargs)
    prompt = gg.pick_prompt(trainer, setup, 2048)
    cfg = trainer.generation_config
    cfg.max_new_tokens = cfg.min_new_tokens = args.tokens
    gen = fast_generation.FastGenerator(
        "merged-cudagraph", trainer.processing_class, cfg, grouped_attention=args.grouped == "1"
    )
    prompts = [prompt] * args.generations
    trainer.model.train()
    for _ in range(2):  # compile + one warm call
        gen.generate(trainer.model, prompts)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    gen.generate(trainer.model, prompts)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    print(
        f"# plain call: {args.tokens} tokens x {args.generations} in {wall:.3f} s "
        f"({1000 * wall / args.tokens:.2f} ms per decode step incl. prefill)",
        flush=True,
    )
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        gen.generate(trainer.model, prompts)
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=30, max_name_column_width=70)
    print(table)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=70))
    (out / "profile.txt").write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
