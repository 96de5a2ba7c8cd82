"""The GRPO trainer on top of unsloth's rewritten TRL trainer, on a CPU: what the H200 run of
benchmarks/gpu/unsloth_grpo.sh executes, short of unsloth's GPU-only model code.

    UNSLOTH_ALLOW_CPU=1 HF_HUB_OFFLINE=1 PYTHONPATH=SITE_U:SITE_HOST:$PWD python benchmarks/gpu/unsloth_cpu_sim.py RUN_DIR

SITE_U holds the carried set (`pip install --no-deps --target SITE_U .whl-unsloth/*.whl`), SITE_HOST the
GPU host's versions of what unsloth checks (transformers 5.17.0, huggingface_hub 1.33.0, accelerate
1.15.0) and the host's packages this interpreter lacks (pillow, sentencepiece, einops, msgpack, wheel).
RUN_DIR holds a spec with backend = "trl" (`unsloth_grpo.py spec RUN_DIR MODEL trl ...`).

`import unsloth` runs as on the GPU (UNSLOTH_ALLOW_CPU=1 keeps its CUDA code path), then its GRPO
trainer rewrite, which that flag skips, is applied by hand. What differs from the GPU run: the model
is loaded by transformers + PEFT (FastLanguageModel needs CUDA), its unsloth-only `for_training` /
`for_inference` are no-ops, and the optimizer is `adamw_torch` (unsloth's GRPO default `adamw_8bit`
needs bitsandbytes on CUDA).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if os.environ.get("UNSLOTH_ALLOW_CPU") != "1":
        print("set UNSLOTH_ALLOW_CPU=1 (unsloth's CUDA import path on a CPU)", file=sys.stderr)
        return 2
    import unsloth  # noqa: F401  (first, as trainer.cli does for backend = "unsloth")

    del os.environ["UNSLOTH_ALLOW_CPU"]  # the flag also disables the trainer rewrite: do it now
    from unsloth.models import rl

    rl.patch_trl_disable_gradient_checkpointing()
    rl._patch_trl_rl_trainers_impl("grpo_trainer")
    import transformers
    import trl

    print(f"GRPOTrainer: {trl.GRPOTrainer.__module__}.{trl.GRPOTrainer.__qualname__}", flush=True)
    transformers.PreTrainedModel.for_training = lambda self, *a, **k: self
    transformers.PreTrainedModel.for_inference = lambda self, *a, **k: self
    from jobs import trl_args

    base = trl_args.training_args
    trl_args.training_args = lambda *a, **k: {**base(*a, **k), "optim": "adamw_torch"}
    from trainer import cli

    return cli.main(["run", *argv])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
