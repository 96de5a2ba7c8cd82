"""Fixtures: the simulated traces (tests/health/make_traces.py, deterministic) generated once per
session, plus any real traces stored under tests/health/traces/real_*/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def load_make_traces():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_traces", HERE / "make_traces.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def traces_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("health-traces")
    load_make_traces().main(root)
    for real in sorted((HERE / "traces").glob("real_*")):
        if (real / "trace.json").exists():
            shutil.copytree(real, root / real.name)
    return root


def trace_names() -> list[str]:
    names = list(load_make_traces().TRACES)
    names += [p.name for p in sorted((HERE / "traces").glob("real_*")) if (p / "trace.json").exists()]
    return names


def trace_meta(path: Path) -> dict:
    return json.loads((path / "trace.json").read_text())


def add_checkpoints(run_dir: Path, every: int, last: int) -> None:
    """Checkpoint folders with the files list_checkpoints requires (a trainer_state.json and
    adapter weights); the health code only reads their names, steps and validity."""
    for step in range(every, last + 1, every):
        ck = run_dir / f"checkpoint-{step}"
        ck.mkdir(exist_ok=True)
        (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        (ck / "adapter_model.safetensors").write_bytes(b"")
