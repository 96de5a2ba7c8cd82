"""GPU inventory on a real GPU host (skipped elsewhere): what the local backend schedules on."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from jobs.backends.local import LocalBackend, detect_gpus


@pytest.mark.gpu
@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="no nvidia-smi on this host")
def test_detect_gpus_matches_nvidia_smi():
    listed = [l for l in subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.splitlines() if l.startswith("GPU ")]
    gpus = detect_gpus()
    assert len(gpus) == len(listed) > 0
    assert all(g.memory_total > 0 for g in gpus)
    assert [g.index for g in LocalBackend().gpus()] == [g.index for g in gpus]


def test_visible_gpus_option_overrides_detection():
    assert [g.index for g in LocalBackend({"visible_gpus": "2, 3"}).gpus()] == ["2", "3"]
    assert [g.index for g in LocalBackend({"visible_gpus": [0]}).gpus()] == ["0"]
    assert LocalBackend({"visible_gpus": ""}).gpus() == []
