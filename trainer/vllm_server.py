"""vLLM in server mode, as the research runs used it: generation on a GPU of its own.

With `use_vllm = true`, `vllm_mode = "server"` and no `vllm_server_url`, the job starts
`trl vllm-serve` itself on the LAST visible GPU (so a 2-GPU allocation trains on GPU 0 and generates
on GPU 1), waits until the server answers `/health`, hands its host and port to TRL, and stops it when
training ends, whatever the exit. With `vllm_server_url` set, an already running server is used.

The server's stdout/stderr go to `vllm-server.log` in the run dir.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from jobs.errors import SpecError

HEALTH_TIMEOUT_S = 900.0  # loading an 8B model and capturing CUDA graphs takes minutes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def split_gpus(visible: str | None) -> tuple[str, str]:
    """(GPUs for training, GPU for the server) from CUDA_VISIBLE_DEVICES (or every GPU NVML sees)."""
    if visible is None or visible.strip() == "":
        n = _gpu_count()
        ids = [str(i) for i in range(n)]
    else:
        ids = [x.strip() for x in visible.split(",") if x.strip()]
    if len(ids) < 2:
        raise SpecError(
            f"vllm_mode = 'server' starts its own vLLM server on a second GPU, but this job sees "
            f"{len(ids)} GPU(s): ask for resources.gpus = 2 or more, set vllm_server_url to a "
            "running server, or use vllm_mode = 'colocate'"
        )
    return ",".join(ids[:-1]), ids[-1]


def _gpu_count() -> int:
    from jobs.gpus import detect_gpus

    return len(detect_gpus())


def serve_command(params, port: int) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "trl.cli",
        "vllm-serve",
        "--model",
        params.model_path,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--gpu-memory-utilization",
        str(params.vllm_server_gpu_memory_utilization),
    ]
    if params.max_seq_length:
        cmd += ["--max-model-len", str(params.max_seq_length)]
    return cmd


class VLLMServer:
    """Context manager: the server process, up and healthy inside the `with` block."""

    def __init__(
        self,
        params,
        run_dir: str | Path,
        server_gpu: str,
        command: list[str] | None = None,
        health_timeout_s: float = HEALTH_TIMEOUT_S,
    ):
        self.port = free_port()
        self.command = command or serve_command(params, self.port)
        self.run_dir = Path(run_dir)
        self.server_gpu = server_gpu
        self.health_timeout_s = health_timeout_s
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "VLLMServer":
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=self.server_gpu, ARCCTL_VLLM_PORT=str(self.port))
        log = open(self.run_dir / "vllm-server.log", "ab")
        try:
            self.proc = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        except OSError as e:
            raise SpecError(f"vllm server: cannot start {self.command[0]}: {e.strerror}") from None
        finally:
            log.close()
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.health_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SpecError(
                    f"vllm server exited with code {self.proc.returncode} before it was ready; "
                    f"see {self.run_dir / 'vllm-server.log'}"
                )
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise SpecError(
            f"vllm server not healthy after {self.health_timeout_s:.0f} s; see {self.run_dir / 'vllm-server.log'}"
        )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass

    def __exit__(self, *exc) -> None:
        self.stop()
