"""Steps whose every completion was truncated and masked out of the loss.

With `mask_truncated_completions` on, TRL drops truncated completions from the loss mask. When a
logging step has only truncated completions (`completions/clipped_ratio` = 1), no token is left to
average over: TRL logs `entropy` 0, `kl` 0, `loss` 0 and `grad_norm` 0. Those zeros mean "not
measured", not an entropy collapse. Charts draw such steps as gaps, `arcctl tail` says so, and the
health rules never take them into a baseline or a rolling mean. The generation metrics of the step
(reward, lengths, clipped ratio, our arc/ metrics) are real and stay.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

# Metrics computed over the loss mask: on an all-masked step they are placeholders.
MASKED_METRICS = frozenset({"entropy", "kl", "loss", "grad_norm"})
MASKED_PREFIXES = ("clip_ratio/",)
LABEL = "all masked"
EXPLANATION = "every completion truncated and masked out of the loss: entropy, kl, loss, grad_norm not measured"


def is_masked_metric(name: str) -> bool:
    return name in MASKED_METRICS or name.startswith(MASKED_PREFIXES)


def masking_of(spec: Mapping[str, Any] | None) -> bool | None:
    """The run's `mask_truncated_completions` from its spec.json (None: not known)."""
    params = spec.get("params") if isinstance(spec, Mapping) else None
    value = params.get("mask_truncated_completions") if isinstance(params, Mapping) else None
    return value if isinstance(value, bool) else None


def run_masking(run_dir: str, fs) -> bool | None:
    """`masking_of` the run dir's spec.json, read through `fs` (a jobs.rundir RunFS); None when unreadable."""
    from jobs import rundir

    try:
        spec = rundir.loads(fs.read_text(f"{run_dir.rstrip('/')}/{rundir.SPEC}"))
    except (OSError, ValueError):
        return None
    return masking_of(spec)


def all_masked(row: Mapping[str, Any], masking: bool | None) -> bool:
    """True when every completion of this metrics row was truncated and masked out of the loss.

    `masking` is the run's `mask_truncated_completions`; when it is not known (no spec), a row counts
    as all masked when it is fully clipped and TRL's entropy (or, without entropy, kl) is exactly 0,
    which TRL logs only when no token is left in the mask."""
    clipped = _number(row.get("completions/clipped_ratio"))
    if clipped is None:
        clipped = _number(row.get("arc/truncated_ratio"))
    if clipped is None or clipped < 1.0 or masking is False:
        return False
    if masking:
        return True
    probe = _number(row.get("entropy"))
    if probe is None:
        probe = _number(row.get("kl"))
    return probe == 0.0


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def with_breaks(
    xs: Sequence[float], ys: Sequence[float], spans: Sequence[tuple[float, float]]
) -> tuple[list[float], list[float]]:
    """xs/ys with a NaN point inside every masked span that lies between two plotted points: plotext
    breaks its line at a NaN (a masked row has no value, so no plotted step lies inside a span)."""
    if len(xs) < 2 or not spans:
        return list(xs), list(ys)
    import numpy as np

    x = np.asarray(xs, dtype=np.float64)
    starts = np.asarray([a for a, _ in spans], dtype=np.float64)
    ends = np.asarray([b for _, b in spans], dtype=np.float64)
    at = np.searchsorted(x, starts)
    inner = (at > 0) & (at < len(x))
    out_x = np.insert(x, at[inner], (starts[inner] + ends[inner]) / 2)
    out_y = np.insert(np.asarray(ys, dtype=np.float64), at[inner], np.nan)
    return out_x.tolist(), out_y.tolist()
