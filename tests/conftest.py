"""Shared fixtures. `tiny_model_dir`: the project's tiny Llama model, built once per test session
(or once per cache dir when ARCCTL_TEST_CACHE is set, so repeated local runs skip the build)."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

# Bump when trainer/tiny_model.py changes what it builds, so a stale cache is rebuilt.
TINY_MODEL_VERSION = "1"


def _build_tiny_model(root: Path) -> Path:
    out = root / f"tiny-model-v{TINY_MODEL_VERSION}"
    done = out / ".complete"
    if done.exists():
        return out
    root.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers or parallel sessions may share the cache: build under a lock.
    with open(root / ".tiny-model.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            from trainer import tiny_model

            tiny_model.build(out)
            done.write_text("ok\n")
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    cache = os.environ.get("ARCCTL_TEST_CACHE")
    root = Path(cache) if cache else tmp_path_factory.mktemp("tiny-model-cache")
    return _build_tiny_model(root)
