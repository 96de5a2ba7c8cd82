"""Shared fixtures. `tiny_model_dir`: the project's tiny Llama model, built once per test session
(or once per cache dir when ARCCTL_TEST_CACHE is set, so repeated local runs skip the build)."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

import pytest

# The tiny model is a function of these sources (builder, and the prompt/code corpus its tokenizer
# is trained on): a cache entry is keyed by their content, so an edit rebuilds it.
_TRAINER = Path(__file__).resolve().parents[1] / "trainer"
_SOURCES = ("tiny_model.py", "prompts.py", "encoders.py", "program_library.py", "data.py")


def tiny_model_key() -> str:
    h = hashlib.sha256()
    for name in _SOURCES:
        path = _TRAINER / name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    return h.hexdigest()[:12]


def _build_tiny_model(root: Path) -> Path:
    out = root / f"tiny-model-{tiny_model_key()}"
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
