"""Write the SIMULATED run traces under tests/health/traces/ (deterministic; re-run to regenerate).

    /work/venv/bin/python tests/health/make_traces.py [OUT_DIR]

No real collapsed run directory existed when these detectors were written, so each trace is a
simulation of one, shaped after real long runs: a GRPO run of 5000 steps logging every 10 steps
that learns normally, shows slow signs of trouble from step 2400 ("there were signs after step
2400") and collapses from step 4000 ("training has collapsed after 4k steps"). Each collapse trace
emphasises one kind; the share of bad completions `bad(t)` drives both that kind's signal and the
reward (bad completions earn 0), so "caught before the reward halved" is a real race. Healthy
traces carry the noise a real run has (single grad-norm spikes, KL creeping up, a reward dip).
Per-step variants (logging_steps=1, 600 steps, collapse at 400) check the windows at that rate.

Each trace folder: spec.json (a valid JobSpec), metrics.jsonl, completions.jsonl, trace.json
(what was simulated and which rule must catch it). Replace or extend with real traces when they exist.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from jobs.spec import JobSpec  # noqa: E402
from jobs.textstats import text_diagnostics  # noqa: E402

MAX_LEN = 1024
CHARS_PER_TOKEN = 3.2

CONCEPTS = [
    "symmetry, mirroring",
    "color mapping",
    "connected components, counting",
    "flood fill, enclosure",
    "sprites, translation",
    "cropping, bounding box",
    "lines, drawing",
    "patterns, repetition",
]
COLORS = [
    "Color.RED",
    "Color.BLUE",
    "Color.GREEN",
    "Color.YELLOW",
    "Color.GREY",
    "Color.PINK",
    "Color.ORANGE",
    "Color.TEAL",
]
BODIES = [
    """    output_grid = np.copy(input_grid)
    objects = find_connected_components(input_grid, background=Color.BLACK, monochromatic=True)
    for obj in objects:
        x, y, w, h = bounding_box(obj, background=Color.BLACK)
        if w * h > {n}:
            output_grid[obj != Color.BLACK] = {c1}
    return output_grid""",
    """    output_grid = np.zeros_like(input_grid)
    for x in range(input_grid.shape[0]):
        for y in range(input_grid.shape[1]):
            if input_grid[x, y] == {c1}:
                output_grid[x, y] = {c2}
            else:
                output_grid[x, y] = input_grid[x, y]
    return output_grid""",
    """    sprite = crop(input_grid, background=Color.BLACK)
    output_grid = np.full((sprite.shape[0] * {n}, sprite.shape[1]), Color.BLACK)
    for i in range({n}):
        blit_sprite(output_grid, sprite, x=i * sprite.shape[0], y=0, background=Color.BLACK)
    return output_grid""",
    """    output_grid = input_grid.copy()
    mirrored = output_grid[::-1, :]
    mask = mirrored != Color.BLACK
    output_grid[mask] = {c2}
    # keep the original colors where both halves agree
    output_grid[(input_grid == mirrored) & mask] = input_grid[(input_grid == mirrored) & mask]
    return output_grid""",
]
WORDS = [
    "pattern",
    "grid",
    "color",
    "object",
    "input",
    "output",
    "shape",
    "line",
    "the",
    "a",
    "of",
    "in",
    "each",
    "vertical",
    "alternating",
    "sequence",
    "3x1",
    "pixel",
    "border",
]
JUNK = [
    "ationsGrid",
    "调整",
    "}{",
    "weltexpo",
    "Ã©",
    "$$",
    "']]",
    "ocols",
    "»",
    "agosto",
    "::;",
    "Blöcke",
    "\\x0",
    "覆盖",
    "@@",
    "ufact",
    "`",
    "rowsá",
    "?!",
    "ннн",
    "){(",
    "ndef",
    "→",
    "##'",
]


def program(rng: random.Random, extra_lines: int = 0) -> str:
    body = rng.choice(BODIES).format(n=rng.randint(2, 4), c1=rng.choice(COLORS), c2=rng.choice(COLORS))
    lines = [
        "from common import *",
        "",
        "import numpy as np",
        "from typing import *",
        "",
        "# concepts:",
        f"# {rng.choice(CONCEPTS)}",
        "",
        "# description:",
        f"# In the input you will see {rng.choice(['a grid', 'several objects', 'a pattern', 'colored pixels'])}. "
        f"To make the output, {rng.choice(['recolor', 'mirror', 'copy', 'extend', 'fill'])} them.",
        "",
        "def transform(input_grid):",
    ]
    lines += body.splitlines()
    code = "\n".join(lines)
    # a drifting model writes longer programs: more helper statements before returning
    for i in range(extra_lines):
        v = rng.choice(["mask", "tmp", "region", "border", "count"])
        code = code.replace(
            "    return output_grid",
            f"    {v}_{i} = np.sum(output_grid == {rng.choice(COLORS)})\n    return output_grid",
            1,
        )
    return code + "\n```"


def repetitive(rng: random.Random) -> str:
    head = program(rng).split("def transform")[0]
    phrase = rng.choice(["in a pattern", "of alternating patterns", "pattern in a 3x1"])
    return head + "from the input, you will see a vertical sequence of " + " ".join([phrase] * 400)


def gibberish(rng: random.Random) -> str:
    head = "from common import *\n\nimport numpy as np\n"
    return head + " ".join(rng.choice(JUNK + WORDS[:4]) for _ in range(rng.randint(80, 300)))


def clip(text: str) -> tuple[str, int, bool]:
    tokens = int(len(text) / CHARS_PER_TOKEN)
    if tokens >= MAX_LEN:
        return text[: int(MAX_LEN * CHARS_PER_TOKEN)], MAX_LEN, True
    return text, max(tokens, 1), False


class Sim:
    """One simulated run; `kind` picks which collapse happens (or none)."""

    def __init__(
        self,
        kind: str,
        seed: int,
        steps: int = 5000,
        log_every: int = 10,
        signs: int = 2400,
        collapse: int = 4000,
        comp_every: int = 25,
        comps: int = 4,
    ):
        self.kind, self.rng = kind, random.Random(seed)
        self.steps, self.log_every, self.signs, self.collapse = steps, log_every, signs, collapse
        self.comp_every, self.comps = comp_every, comps
        self.scale = (collapse - signs) / 1600  # per-step variants compress the timeline
        self.spike_at = signs + (collapse - signs) * 7 // 8

    # share of bad completions (reward 0) at step t
    def bad(self, t: int) -> float:
        if self.kind.startswith("healthy"):
            return 0.0
        if self.kind in ("kl_spike", "grad_norm_spike"):
            return 0.0 if t < self.spike_at else 0.95 * (1 - math.exp(-(t - self.spike_at) / (200 * self.scale)))
        if t < self.signs:
            return 0.0
        if t < self.collapse:
            return 0.25 * (t - self.signs) / (self.collapse - self.signs)
        return 0.25 + 0.7 * (1 - math.exp(-(t - self.collapse) / (150 * self.scale)))

    def quality(self, t: int) -> float:
        q = 0.05 + 0.08 * (1 - math.exp(-t / (1500 * self.scale)))  # solved share of good completions
        if self.kind == "healthy_b":  # a temporary plateau-and-dip that must not alarm
            q *= 1 - 0.12 * math.exp(-(((t - 3000 * self.scale) / (300 * self.scale)) ** 2))
        return q

    def completion(self, t: int) -> dict:
        rng, b = self.rng, self.bad(t)
        k = self.kind
        drift = 0.0 if t < self.signs else min(1.0, (t - self.signs) / (self.collapse - self.signs))
        error = None
        if rng.random() < b and k in ("truncation", "repetition", "gibberish", "entropy_explosion"):
            if k == "truncation":
                text = program(rng, extra_lines=400)
            elif k == "repetition":
                text = repetitive(rng)
            else:
                text = gibberish(rng)
                error = "parse" if rng.random() < 0.8 else "exception"
        else:
            extra = rng.randint(0, 4) + (int(drift * 25 * rng.random()) if k == "truncation" else 0)
            text = program(rng, extra_lines=extra)
            if rng.random() < 0.03:
                text, error = text.replace("def transform(input_grid):", "def transform(input_grid)"), "parse"
        text, n_tokens, truncated = clip(text)
        if truncated:
            error = error or "parse"
        bad = error is not None or rng.random() < b  # other kinds: wrong or degenerate in ways text can't show
        if error is None and rng.random() < 0.35:
            error = rng.choice(["exception", "invalid_output"])
        solved = not bad and error is None and rng.random() < self.quality(t) / 0.65
        reward = 0.0 if (bad or error) else 1 + 9 * float(solved)
        return {
            "step": t,
            "task_id": f"{rng.randrange(16**8):08x}",
            "completion": text,
            "reward": reward,
            "n_tokens": n_tokens,
            "truncated": truncated,
            "error": error,
            "diag": text_diagnostics(text),
        }

    def metrics(self, t: int) -> dict:
        rng, b, k = self.rng, self.bad(t), self.kind
        valid = 0.62
        reward = valid * (1 - b) * (1 + 9 * self.quality(t))
        reward *= math.exp(rng.gauss(0, 0.12))
        clipped_base = 0.15 if k == "healthy_b" else 0.03
        clipped = clipped_base + (b if k == "truncation" else 0.6 * b if k == "repetition" else 0.0)
        clipped = min(1.0, max(0.0, clipped + rng.gauss(0, 0.02)))
        drift = 0.0 if t < self.signs else min(1.0, (t - self.signs) / (self.collapse - self.signs))
        untrunc_len = 300 + (250 * drift if k == "truncation" else 0)
        mean_len = (1 - clipped) * untrunc_len * math.exp(rng.gauss(0, 0.05)) + clipped * MAX_LEN
        zero_std = 0.3 + (0.7 * b if k in ("zero_std", "truncation", "repetition") else 0.3 * b)
        zero_std = min(1.0, max(0.0, zero_std + rng.gauss(0, 0.08)))
        entropy = 0.55 * math.exp(rng.gauss(0, 0.05))
        if k == "entropy_collapse":
            entropy *= max(0.05, 1 - 2.4 * b)
        elif k == "entropy_explosion":
            entropy *= 1 + 5 * b
        kl = (0.002 + 0.004 * t / self.steps * (5 if k == "healthy_b" else 1)) * math.exp(rng.gauss(0, 0.3))
        grad = 0.3 * math.exp(rng.gauss(0, 0.35))
        if k.startswith("healthy") and rng.random() < 0.01:
            grad *= 6  # a lone spike: healthy runs have them
        if k == "kl_spike":
            if self.signs <= t < self.spike_at and rng.random() < 0.03:
                kl *= 6
            if t >= self.spike_at:
                kl *= 15 * (1 + (t - self.spike_at) / (100 * self.scale))
        if k == "grad_norm_spike":
            if self.signs <= t < self.spike_at and rng.random() < 0.03:
                grad *= 6
            if t >= self.spike_at:
                grad *= 20 * math.exp(rng.gauss(0, 0.3))
        rep_share = b if k == "repetition" else 0.0
        unique = (0.42 * (1 - rep_share) + 0.02 * rep_share) * math.exp(rng.gauss(0, 0.03))
        repeat_max = 4 * (1 - rep_share) + 130 * rep_share + rng.gauss(0, 0.5)
        parse = 0.03 + (0.8 * b if k in ("gibberish", "entropy_explosion") else clipped - clipped_base)
        return {
            "step": t,
            "time": 1760000000 + t * 9.5,
            "epoch": t / 400,
            "reward": round(reward, 5),
            "reward_std": round(0.8 * reward + 0.1, 5),
            "frac_reward_zero_std": round(zero_std, 5),
            "kl": round(kl, 7),
            "entropy": round(entropy, 5),
            "grad_norm": round(grad, 5),
            "learning_rate": 2e-6,
            "completions/mean_length": round(mean_len, 2),
            "completions/clipped_ratio": round(clipped, 5),
            "completions/max_length": MAX_LEN if clipped > 0.02 else round(untrunc_len * 1.8),
            "arc/truncated_ratio": round(clipped, 5),
            "arc/unique_token_ratio": round(unique, 5),
            "arc/ngram4_repeat_max": round(max(1.0, repeat_max), 3),
            "arc/solved_ratio": round(valid * (1 - b) * self.quality(t), 5),
            "arc/error_share/parse": round(max(0.0, min(1.0, parse + rng.gauss(0, 0.015))), 5),
        }

    def write(self, out: Path, expect: str | None) -> None:
        out.mkdir(parents=True, exist_ok=True)
        JobSpec(
            kind="grpo",
            name=f"simulated-{out.name}",
            template="grpo",
            run_dir=str(out),
            profile="local",
            created="2026-01-01T00:00:00Z",
            params={
                "model_path": "simulated",
                "dataset": "arc1/train",
                "max_completion_length": MAX_LEN,
                "learning_rate": 2e-6,
                "logging_steps": self.log_every,
            },
        ).write(out)
        n = 0
        with open(out / "metrics.jsonl", "w") as fm, open(out / "completions.jsonl", "w") as fc:
            for t in range(self.log_every, self.steps + 1, self.log_every):
                if t % self.comp_every < self.log_every:
                    for _ in range(self.comps):
                        row = {"id": n, **self.completion(t)}
                        fc.write(json.dumps(row) + "\n")
                        n += 1
                fm.write(json.dumps(self.metrics(t)) + "\n")
        (out / "trace.json").write_text(
            json.dumps(
                {
                    "simulated": True,
                    "kind": self.kind,
                    "expected_rule": expect,
                    "steps": self.steps,
                    "logging_steps": self.log_every,
                    "signs_at": None if expect is None else self.signs,
                    "collapse_at": None if expect is None else self.collapse,
                    "generator": "tests/health/make_traces.py",
                },
                indent=2,
            )
            + "\n"
        )


TRACES = {
    # name: (kind, expected rule, seed, per-step?)
    "healthy_a": ("healthy_a", None, 1, False),
    "healthy_b": ("healthy_b", None, 2, False),
    "healthy_perstep": ("healthy_a", None, 3, True),
    "collapse_truncation": ("truncation", "truncation", 11, False),
    "collapse_repetition": ("repetition", "repetition", 12, False),
    "collapse_gibberish": ("gibberish", "gibberish", 13, False),
    "collapse_entropy": ("entropy_collapse", "entropy", 14, False),
    "collapse_entropy_explosion": ("entropy_explosion", "entropy", 15, False),
    "collapse_kl_spike": ("kl_spike", "kl_spike", 16, False),
    "collapse_grad_norm_spike": ("grad_norm_spike", "grad_norm_spike", 17, False),
    "collapse_zero_std": ("zero_std", "zero_std", 18, False),
    "collapse_reward_fall": ("reward_fall", "reward_fall", 19, False),
    "collapse_truncation_perstep": ("truncation", "truncation", 20, True),
}


def main(out_dir: Path) -> None:
    for name, (kind, expect, seed, perstep) in TRACES.items():
        if perstep:
            sim = Sim(kind, seed, steps=600, log_every=1, signs=240, collapse=400, comp_every=1, comps=1)
        else:
            sim = Sim(kind, seed)
        sim.write(out_dir / name, expect)
        print(f"{name}: {kind}, expect {expect}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "traces")
