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


FAKE_SMI = """#!/bin/sh
# index, memory.used MiB, memory.total MiB, utilization %: what `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` prints
cat <<'CSV'
0, 30000, 81559, 90
1, 100, 81559, 0
2, 75000, 81559, 5
3, 500, 81559, 10
CSV
"""


@pytest.mark.timeout(120)
def test_least_used_free_gpu_first_from_nvidia_smi(home, tmp_path):
    """Through the CLI with an `nvidia-smi` on PATH that reports four GPUs: the first job gets the
    least-used one (1), the next the least-used of the rest (3, then 0); GPU 2 is nearly full."""
    import json
    import os
    from pathlib import Path

    from tests.foundation.conftest import run_cli, wait_for

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(FAKE_SMI)
    (bin_dir / "nvidia-smi").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    jobs = [run_cli("submit", "fakeslow", "-p", f"learning_rate={lr}", "-p", "resources.gpus=1", "-q",
                    env=env, check=True).stdout.split()[0] for lr in (1e-6, 2e-6, 3e-6)]
    try:
        listed = {j["id"]: j for j in json.loads(run_cli("ls", "--json", env=env, check=True).stdout)}
        gpus_file = [Path(listed[j]["run_dir"]) / "gpus" for j in jobs]
        got = [wait_for(lambda p=p: p.exists() and p.read_text().strip(), timeout=30) for p in gpus_file]
        assert got == ["1", "3", "0"]
        # and the job itself sees only its GPU
        events = Path(listed[jobs[0]]["run_dir"]) / "events.jsonl"
        started = wait_for(lambda: events.exists() and json.loads(events.read_text().splitlines()[0]), timeout=30)
        assert started["event"] == "started" and started["cuda"] == "1"
    finally:
        run_cli("cancel", *jobs, env=env)
