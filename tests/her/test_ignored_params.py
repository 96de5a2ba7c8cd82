"""Shared parameters a HER (or eval) job has no use for are refused at render when set, naming the
parameter and why; they used to be accepted and silently change nothing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARCCTL_CONFIG_DIR", str(tmp_path / "config"))


def render(*args):
    return CliRunner().invoke(app, ["render", *args])


@pytest.mark.parametrize(
    "param, why",
    [
        ("wandb=true", "they do not log to W&B"),
        ("save_total_limit=3", "every epoch's checkpoint-N is kept"),
        ("save_steps=10", "a checkpoint is saved after every HER epoch"),
        ("max_steps=5", "`epochs` passes over the kept programs make an epoch's fine-tuning"),
        ("use_data_augmentation=true", "relabelled programs are trained as written"),
    ],
)
def test_her_refuses_what_it_ignores(param, why):
    res = render("her", "-p", param)
    assert res.exit_code == 2, res.output
    name = param.split("=")[0]
    assert res.output.strip().endswith(f"{name}: not used by HER jobs ({why}); leave it unset"), res.output


def test_eval_refuses_wandb_and_both_render_by_default():
    res = render("eval", "-p", "model_path=/m", "-p", "wandb=true")
    assert res.exit_code == 2 and "wandb: not used by eval jobs (they do not log to W&B)" in res.output
    assert render("her").exit_code == 0
    assert render("eval", "-p", "model_path=/m").exit_code == 0
