"""A completions.jsonl `reward` of 1e999 (an integer or exponent past float range, which JSON
reads as infinity) is not finite: docs/run-dir.md says it reads as absent. It sorted first under
"best" and passed every `reward >=` filter; now it is absent like a missing reward (last under
"best"), in the byte index and in the parsed completion alike."""

from __future__ import annotations

import pytest

from jobs.completions import CompletionFilter, CompletionIndex
from jobs.rundir import LocalFS

pytestmark = pytest.mark.timeout(60)


def _index(tmp_path, rewards: list[str]) -> CompletionIndex:
    p = tmp_path / "completions.jsonl"
    lines = [
        f'{{"id": "1:{i}", "step": 1, "task_id": "t{i}", "reward": {r}, "completion": "c{i}"}}'
        for i, r in enumerate(rewards)
    ]
    p.write_text("\n".join(lines) + "\n")
    idx = CompletionIndex(LocalFS(), str(p))
    idx.update(None)
    return idx


@pytest.mark.parametrize("huge", ["1e999", "-1e999", "1" + "0" * 400])
def test_a_non_finite_reward_reads_as_absent_and_never_sorts_first(tmp_path, huge):
    idx = _index(tmp_path, ["0.5", huge, "0.9"])
    page, _ = idx.page(CompletionFilter(order="best"), size=3)
    assert [c.task for c in page] == ["t2", "t0", "t1"]
    assert page[2].reward is None and page[0].reward == pytest.approx(0.9)
    page, _ = idx.page(CompletionFilter(reward_min=0.0), size=3)
    assert [c.task for c in page] == ["t0", "t2"]
    page, _ = idx.page(CompletionFilter(reward_max=1.0), size=3)
    assert [c.task for c in page] == ["t0", "t2"]


def test_a_finite_reward_past_float32_still_sorts_as_the_largest(tmp_path):
    idx = _index(tmp_path, ["0.5", "1e300", "0.9"])
    page, _ = idx.page(CompletionFilter(order="best"), size=3)
    assert [c.task for c in page] == ["t1", "t2", "t0"] and page[0].reward == 1e300
    assert page[0].raw["reward"] == 1e300  # the line itself is shown as written
