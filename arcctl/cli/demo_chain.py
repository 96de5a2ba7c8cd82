"""The demo's second stage: wait for the SFT warm-start job to finish, then submit the GRPO job that
starts from its final model (on the real ARC tasks a warm-started tiny model can reach).

Runs detached from `arcctl demo` (`python -m arcctl.cli.demo_chain ...`), so the dashboard can open
on the SFT run at once and the GRPO run appears in its jobs list when SFT is done. Only the run dir's
`exit_code` file is read (the contract every backend writes), never torch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def wait_for_exit(run_dir: Path, timeout_s: float, poll_s: float = 1.0) -> int | None:
    """The job's exit code, or None if it has not finished within timeout_s."""
    deadline = time.monotonic() + timeout_s
    marker = run_dir / "exit_code"
    while time.monotonic() < deadline:
        if marker.exists():
            text = marker.read_text().strip()
            if text:  # written but maybe not flushed yet: read again on the next poll
                try:
                    return int(text)
                except ValueError:
                    return -1
        time.sleep(poll_s)
    return None


def submit_grpo(sft_run_dir: Path, name: str, overrides: list[str]) -> tuple[str, str]:
    """(job id, run dir) of the GRPO job started from the SFT run's final model."""
    from jobs.spec import CheckpointRef
    from jobs.submit import build_specs, submit_specs

    final = sft_run_dir / "final"
    specs = build_specs("grpo", [f"model_path={final}", *overrides], "local", name=name)
    sft_name = json.loads((sft_run_dir / "spec.json").read_text()).get("name")
    spec = specs[0].model_copy(
        update={"parent": CheckpointRef(run_dir=str(sft_run_dir), checkpoint="final", name=sft_name)}
    )
    ids = submit_specs([spec])
    return ids[0], spec.run_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sft-run-dir", required=True)
    ap.add_argument("--name", required=True, help="name of the GRPO job")
    ap.add_argument("--timeout-s", type=float, default=3600.0)
    ap.add_argument("overrides", nargs="*", help="GRPO parameters, key=value")
    args = ap.parse_args(argv)
    sft = Path(args.sft_run_dir)
    code = wait_for_exit(sft, args.timeout_s)
    if code is None:
        print(f"demo: SFT run {sft} did not finish within {args.timeout_s:.0f}s; GRPO not submitted", flush=True)
        return 1
    if code != 0 or not (sft / "final" / "config.json").exists():
        print(f"demo: SFT run {sft} ended with exit code {code} (see its stderr.log); GRPO not submitted", flush=True)
        return 1
    from jobs.errors import JobsError

    try:
        jid, run_dir = submit_grpo(sft, args.name, args.overrides)
    except JobsError as e:
        print(f"demo: submitting the GRPO job failed: {e}", flush=True)
        return 2
    print(f"demo: submitted GRPO job {jid} from {sft / 'final'}\nrun dir: {run_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
