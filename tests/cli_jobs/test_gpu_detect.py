"""GPU inventory through NVML (nvidia-ml-py): what it reports on a GPU host (`gpu` marker), why it
reports nothing on a machine without the NVIDIA driver, and how the local backend picks the
least-used free GPUs from an inventory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jobs.backends.local import LocalBackend
from jobs.gpus import Gpu, NvmlUnavailable, detect_gpus, nvml_gpus
from jobs.spec import JobSpec
from tests.cli_jobs.conftest import run_cli, wait_for


def _nvml_starts() -> bool:
    try:
        nvml_gpus()
        return True
    except NvmlUnavailable:
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _nvml_starts(), reason="NVML cannot start here (no NVIDIA driver)")
def test_detect_gpus_on_a_gpu_host():
    gpus = detect_gpus()
    assert len(gpus) > 0 and all(g.memory_total > 0 and g.name for g in gpus)
    assert [g.index for g in LocalBackend().gpus()] == [g.index for g in gpus]


def test_without_nvidia_ml_py_the_reason_is_named_and_there_are_no_gpus():
    """In a fresh interpreter where `import pynvml` fails (sys.modules[name] = None is Python's own
    way to make an import raise ImportError)."""
    code = (
        "import sys; sys.modules['pynvml'] = None\n"
        "from jobs.gpus import NvmlUnavailable, detect_gpus, nvml_gpus\n"
        "try:\n    nvml_gpus()\nexcept NvmlUnavailable as e:\n    print(e)\n"
        "print(detect_gpus())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.splitlines() == ["nvidia-ml-py is not installed (pip install nvidia-ml-py)", "[]"]


def test_without_the_driver_nvml_cannot_start_and_there_are_no_gpus():
    pytest.importorskip("pynvml", reason="nvidia-ml-py not installed here (the case above)")
    if _nvml_starts():
        pytest.skip("this machine has the NVIDIA driver")
    with pytest.raises(NvmlUnavailable, match=r"^NVML cannot start: .*\(is the NVIDIA driver installed\?\)$"):
        nvml_gpus()
    assert detect_gpus() == [] and LocalBackend().gpus() == []


def test_visible_gpus_option_overrides_detection():
    assert [g.index for g in LocalBackend({"visible_gpus": "2, 3"}).gpus()] == ["2", "3"]
    assert [g.index for g in LocalBackend({"visible_gpus": [0]}).gpus()] == ["0"]
    assert LocalBackend({"visible_gpus": ""}).gpus() == []


class FourGpus(LocalBackend):
    """The inventory NVML reports on a 4-GPU host (this machine has none): MiB used, MiB total, %."""

    def gpus(self) -> list[Gpu]:
        return [
            Gpu("0", 30000, 81559, 90),
            Gpu("1", 100, 81559, 0),
            Gpu("2", 75000, 81559, 5),
            Gpu("3", 500, 81559, 10),
        ]


@pytest.mark.timeout(120)
def test_least_used_free_gpu_first(tmp_path, monkeypatch):
    """Three 1-GPU jobs: the first gets the least-used GPU (1), the next the least-used of the rest
    (3, then 0); GPU 2 is nearly full. Each job sees only its GPU."""
    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    backend = FourGpus({"cancel_grace_s": 1}, state_dir=tmp_path / "state")
    runs = []
    for i in range(3):
        run = tmp_path / f"job{i}"
        run.mkdir()
        spec = JobSpec(
            kind="command",
            name=f"job{i}",
            template="command",
            params={},
            run_dir=str(run),
            entry=["/bin/sh", "-c", 'echo "$CUDA_VISIBLE_DEVICES" > cuda; exec sleep 60'],
            resources={"gpus": 1, "cpus": 1, "memory": "100M"},
        )
        spec.write()
        backend.submit(spec)
        runs.append(run)
    try:
        got = [
            wait_for(lambda r=r: (r / "gpus").exists() and (r / "gpus").read_text().strip(), timeout=30) for r in runs
        ]
        assert got == ["1", "3", "0"]
        assert [
            wait_for(lambda r=r: (r / "cuda").exists() and (r / "cuda").read_text().strip(), timeout=30) for r in runs
        ] == ["1", "3", "0"]
    finally:
        for r in runs:
            backend.cancel(str(r))


@pytest.mark.timeout(120)
@pytest.mark.skipif(_nvml_starts(), reason="this machine has the NVIDIA driver")
def test_doctor_says_why_the_jobs_python_sees_no_gpu(home, tmp_path):
    """`arcctl doctor` asks the profile's Python (NVML there) and names the reason it saw no GPU."""
    (home.parent / "config" / "profiles" / "onegpu.toml").write_text(
        '[profile]\nbackend = "local"\n[resources]\ngpus = 1\n'
    )
    res = run_cli("doctor", "onegpu", "--json")
    gpus = {c["name"]: c for c in json.loads(res.stdout)}["gpus"]
    try:
        import pynvml  # noqa: F401

        reason = "NVMLError_LibraryNotFound"
    except ImportError:
        reason = "No module named 'pynvml'"
    assert res.returncode == 1 and gpus["ok"] is False
    assert gpus["detail"].startswith("no GPU visible from this machine (NVML: ") and reason in gpus["detail"]
    assert "asks for 1" in gpus["detail"]
