"""Stand-in for `python -m trainer run` until the launch path is proven with the real trainer:
reads spec.json, appends metrics/events like the trainer does, sleeps, exits with a chosen code.

usage: fake_trainer.py [--steps N] [--sleep S] [--exit CODE] [--ignore-term] SPEC_JSON
"""

import argparse
import json
import os
import signal
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--sleep", type=float, default=0.2)
ap.add_argument("--exit", type=int, default=0)
ap.add_argument("--ignore-term", action="store_true")
ap.add_argument("spec")
a = ap.parse_args()

spec = json.load(open(a.spec))
run_dir = spec["run_dir"]


def event(name, **kw):
    with open(os.path.join(run_dir, "events.jsonl"), "a") as f:
        f.write(json.dumps({"time": time.time(), "event": name, **kw}) + "\n")


def on_term(signum, frame):
    if a.ignore_term:
        event("ignored_sigterm")
        return
    event("stopped", reason="sigterm")
    sys.exit(143)


signal.signal(signal.SIGTERM, on_term)
event(
    "started",
    pid=os.getpid(),
    cuda=os.environ.get("CUDA_VISIBLE_DEVICES"),
    learning_rate=spec["params"]["learning_rate"],
)
print("cuda", repr(os.environ.get("CUDA_VISIBLE_DEVICES")), "cwd", os.getcwd(), flush=True)
for i in range(a.steps):
    with open(os.path.join(run_dir, "metrics.jsonl"), "a") as f:
        f.write(json.dumps({"step": i + 1, "time": time.time(), "reward": 0.5 * i, "kl": 0.001 * i}) + "\n")
    time.sleep(a.sleep)
print("bye", file=sys.stderr, flush=True)
event("stopped", reason="done")
sys.exit(a.exit)
