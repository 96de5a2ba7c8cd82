"""The vLLM path reads the adapter's LoRA rank from adapter_config.json before the engine starts
(vLLM is not installed here: the reading function is tested directly). A FIFO there blocked the
job forever (a plain read_text waits for a writer), /dev/zero never ended, a rank of `true`, "x"
or 10**300 became a crash or an absurd max_lora_rank: now one line naming the file."""

from __future__ import annotations

import json
import os

import pytest

from trainer.generation import GenerationError, adapter_rank

pytestmark = pytest.mark.timeout(60)  # the old read blocked on the FIFO: a hang fails here


def _adapter(tmp_path):
    d = tmp_path / "adapter"
    d.mkdir()
    return d


def test_rank_from_a_real_config_and_the_default_without_r(tmp_path):
    d = _adapter(tmp_path)
    (d / "adapter_config.json").write_text(json.dumps({"r": 16, "lora_alpha": 32}))
    assert adapter_rank(str(d), 64) == 16
    (d / "adapter_config.json").write_text(json.dumps({"lora_alpha": 32}))
    assert adapter_rank(str(d), 64) == 64


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_fifo_device_or_folder_is_one_line_not_a_hang(tmp_path, kind):
    d = _adapter(tmp_path)
    cfg = d / "adapter_config.json"
    if kind == "fifo":
        os.mkfifo(cfg)
    elif kind == "device":
        cfg.symlink_to("/dev/zero")
    else:
        cfg.mkdir()
    with pytest.raises(GenerationError) as e:
        adapter_rank(str(d), 64)
    msg = str(e.value)
    assert str(cfg) in msg and "\n" not in msg


@pytest.mark.parametrize(
    "text", ['{"r": true}', '{"r": "x"}', '{"r": 0}', '{"r": ' + "9" * 300 + "}", "[1]", "{not json", '{"r": 1e999}']
)
def test_a_bad_rank_or_file_is_one_line_naming_the_file(tmp_path, text):
    d = _adapter(tmp_path)
    (d / "adapter_config.json").write_text(text)
    with pytest.raises(GenerationError) as e:
        adapter_rank(str(d), 64)
    assert "adapter_config.json" in str(e.value) and "\n" not in str(e.value)
