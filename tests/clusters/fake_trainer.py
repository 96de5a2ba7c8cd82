"""A stand-in for `python -m trainer run SPEC` used by the cluster tests: it writes a real run dir
(metrics.jsonl, events.jsonl, checkpoint-N/ with trainer_state.json), checkpoints and exits on
USR1/TERM, and resumes from the newest valid checkpoint when ARCCTL_RESUME=newest (the contract
the Slurm/HTCondor job scripts set on a restart). Knobs come from the spec's env:
FAKE_STEPS (default 5), FAKE_STEP_S (0.2), FAKE_SAVE_EVERY (2), FAKE_EXIT (0), FAKE_SAVE_S (0: seconds
a checkpoint takes to write, as a real model's does)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from jobs.rundir import EVENTS, METRICS, JsonlWriter, newest_valid_checkpoint  # noqa: E402

spec_path = Path(sys.argv[1])
run_dir = spec_path.parent
env = json.loads(spec_path.read_text()).get("env", {})
steps = int(os.environ.get("FAKE_STEPS", env.get("FAKE_STEPS", 5)))
step_s = float(os.environ.get("FAKE_STEP_S", env.get("FAKE_STEP_S", 0.2)))
save_every = int(os.environ.get("FAKE_SAVE_EVERY", env.get("FAKE_SAVE_EVERY", 2)))
exit_code = int(os.environ.get("FAKE_EXIT", env.get("FAKE_EXIT", 0)))
save_s = float(os.environ.get("FAKE_SAVE_S", env.get("FAKE_SAVE_S", 0)))

metrics = JsonlWriter(run_dir / METRICS)
events = JsonlWriter(run_dir / EVENTS)
stop = {"sig": None}


def save(step: int) -> None:
    ck = run_dir / f"checkpoint-{step}"
    ck.mkdir(exist_ok=True)
    (ck / "adapter_model.safetensors").write_bytes(b"fake weights")
    time.sleep(save_s)  # trainer_state.json last: a save cut short leaves an invalid checkpoint
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    events.write({"event": "checkpoint_saved", "time": time.time(), "step": step, "path": str(ck)})


def on_signal(signum, frame):
    stop["sig"] = signal.Signals(signum).name


signal.signal(signal.SIGUSR1, on_signal)
signal.signal(signal.SIGTERM, on_signal)

start = 0
resumed = None
if os.environ.get("ARCCTL_RESUME") == "newest":
    ck = newest_valid_checkpoint(str(run_dir))
    if ck is not None:
        start, resumed = ck.step, ck.name
events.write(
    {
        "event": "started",
        "time": time.time(),
        "step": start,
        "resumed_from": resumed,
        "restart_count": int(os.environ.get("ARCCTL_RESTART_COUNT", "0")),
    }
)
step = start
while step < steps:
    if stop["sig"]:
        save(step)
        events.write({"event": "stopped", "time": time.time(), "step": step, "signal": stop["sig"]})
        sys.exit(0)
    time.sleep(step_s)
    step += 1
    metrics.write({"step": step, "time": time.time(), "reward": step / steps})
    if step % save_every == 0:
        save(step)
events.write({"event": "stopped", "time": time.time(), "step": step, "signal": None})
sys.exit(exit_code)
