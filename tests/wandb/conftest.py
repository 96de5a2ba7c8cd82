"""Every W&B test runs offline with nowhere to send anything: no credentials, no netrc, and a
server address on a closed loopback port, so even a bug that went online could not leave the
machine. wandb's own config, cache and data folders are in tmp."""

from __future__ import annotations

import pytest

from tests.cli_jobs.conftest import home  # noqa: F401 - a fixture (the CLI tests)


@pytest.fixture
def no_wandb_login(tmp_path, monkeypatch):
    for var in (
        "WANDB_API_KEY",
        "WANDB_IDENTITY_TOKEN_FILE",
        "WANDB_MODE",
        "WANDB_PROJECT",
        "WANDB_ENTITY",
        "WANDB_RUN_ID",
        "WANDB_RESUME",
        "WANDB_RUN_GROUP",
        "WANDB_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    wb = tmp_path / "wandb-home"
    monkeypatch.setenv("NETRC", str(wb / "netrc"))  # not there: no `wandb login`
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(wb / var.lower()))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return wb
