"""vLLM server mode: the job's own server on its last GPU. vLLM cannot be installed where these tests
run, so the server process here is a stand-in HTTP server answering `/health` (it is the process
management — start, GPU split, health wait, failure, stop — that is under test, plus the exact
`trl vllm-serve` command line and the render-time checks)."""

from __future__ import annotations

import json
import sys
import time

import pytest

from jobs.errors import SpecError
from jobs.params import GRPOParams
from trainer import vllm_server

STANDIN = r"""
import http.server, json, os, sys
json.dump({"gpu": os.environ.get("CUDA_VISIBLE_DEVICES")}, open(sys.argv[1], "w"))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["ARCCTL_VLLM_PORT"])), H).serve_forever()
"""


def _params(**kw):
    return GRPOParams(model_path="/models/m", dataset="arc1/train", use_vllm=True, vllm_mode="server", **kw)


def test_server_starts_on_its_gpu_becomes_healthy_and_is_stopped(tmp_path):
    seen = tmp_path / "env.json"
    cmd = [sys.executable, "-c", STANDIN, str(seen)]
    with vllm_server.VLLMServer(_params(), tmp_path, "3", command=cmd, health_timeout_s=30) as server:
        assert server.proc.poll() is None
        assert json.loads(seen.read_text()) == {"gpu": "3"}
        assert server.base_url == f"http://127.0.0.1:{server.port}"
    assert server.proc.poll() is not None  # stopped with the block


def test_a_server_that_dies_while_loading_is_one_error_naming_its_log(tmp_path):
    cmd = [sys.executable, "-c", "import sys; print('CUDA out of memory'); sys.exit(3)"]
    t0 = time.monotonic()
    with pytest.raises(SpecError, match=r"exited with code 3.*vllm-server.log"):
        with vllm_server.VLLMServer(_params(), tmp_path, "1", command=cmd, health_timeout_s=60):
            pass
    assert time.monotonic() - t0 < 30
    assert "CUDA out of memory" in (tmp_path / "vllm-server.log").read_text()


def test_gpu_split_keeps_the_last_gpu_for_the_server():
    assert vllm_server.split_gpus("0,1") == ("0", "1")
    assert vllm_server.split_gpus("2,5,7") == ("2,5", "7")
    with pytest.raises(SpecError, match="resources.gpus = 2"):
        vllm_server.split_gpus("0")


def test_serve_command_is_trl_vllm_serve_for_the_model():
    cmd = vllm_server.serve_command(_params(max_seq_length=9700, vllm_server_gpu_memory_utilization=0.8), 8123)
    assert cmd[1:4] == ["-m", "trl.cli", "vllm-serve"]
    joined = " ".join(cmd)
    assert "--model /models/m" in joined and "--port 8123" in joined and "--max-model-len 9700" in joined
    assert "--gpu-memory-utilization 0.8" in joined


def test_render_time_checks_for_server_mode():
    from pydantic import ValidationError

    from jobs.spec import JobSpec

    base = dict(kind="grpo", name="x", template="grpo", run_dir="/tmp/x")
    with pytest.raises(ValidationError, match="resources.gpus is 1"):
        JobSpec(**base, params=_params().model_dump(), resources={"gpus": 1})
    JobSpec(**base, params=_params().model_dump(), resources={"gpus": 2})
    JobSpec(**base, params=_params(vllm_server_url="http://gpu7:8000").model_dump(), resources={"gpus": 1})
    with pytest.raises(ValidationError, match="only used with use_vllm"):
        GRPOParams(model_path="m", dataset="arc1/train", vllm_server_url="http://h:1")
    with pytest.raises(ValidationError, match="expected http"):
        _params(vllm_server_url="gpu7:8000")
