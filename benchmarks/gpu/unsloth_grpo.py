"""Helpers of benchmarks/gpu/unsloth_grpo.sh: the run specs and the result table.

    python3 benchmarks/gpu/unsloth_grpo.py spec RUN_DIR MODEL BACKEND [KEY=VALUE ...]
        render the config in unsloth_grpo.params (plus model_path, backend and the extra overrides)
        through `arcctl render grpo --profile local` and write RUN_DIR/spec.json; a spec the CLI
        rejects ends here, with its message and exit code 2
    python3 benchmarks/gpu/unsloth_grpo.py table OUT
        one markdown row per logged step of every OUT/<run>/metrics.jsonl (a run with a log and no
        step logged gets one row that says so)
    python3 benchmarks/gpu/unsloth_grpo.py versions [--import-unsloth]
        one line of package versions (from their metadata, nothing imported); with --import-unsloth,
        `from unsloth import FastLanguageModel` first, as the trainer does for backend = "unsloth"

The trainer runs the spec with `python3 -m trainer run RUN_DIR`, under a `timeout` of the script's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PARAMS = Path(__file__).with_name("unsloth_grpo.params")


def config(path: Path = PARAMS) -> dict[str, str]:
    """{parameter: value} of a params file: KEY=VALUE lines, `#` comments and blank lines skipped."""
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"{path}:{n}: expected KEY=VALUE, got {line!r}")
        out[key.strip()] = value.strip()
    return out


def render(run_dir: str, model: str, backend: str, extra: list[str], python: str = sys.executable) -> dict:
    """The spec `arcctl render` resolves for this run (validated as `arcctl submit` would)."""
    params = config()
    params.update(model_path=model, backend=backend)
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"override {item!r}: expected KEY=VALUE")
        params[key] = value
    cmd = [python, "-m", "arcctl.cli.main", "render", "grpo", "--profile", "local", "--json"]
    cmd += ["--run-dir", run_dir, "--name", Path(run_dir).name]
    for key, value in params.items():
        cmd += ["-p", f"{key}={value}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr or done.stdout)
        raise SystemExit(2)
    return json.loads(done.stdout)[0]["spec"]


def write_spec(run_dir: str, model: str, backend: str, extra: list[str]) -> Path:
    spec = render(run_dir, model, backend, extra)
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    (path / "spec.json").write_text(json.dumps(spec, indent=1))
    return path / "spec.json"


def step_rows(metrics: Path) -> list[dict]:
    """The per-step lines of a metrics.jsonl (those with the time split); a torn last line is skipped."""
    rows = []
    for line in metrics.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if "arc/time_step_s" in row:
            rows.append(row)
    return rows


def _num(row: dict, key: str, fmt: str) -> str:
    value = row.get(key)
    return format(value, fmt) if isinstance(value, (int, float)) else "-"


def table(out: Path) -> str:
    lines = [
        "| run | step | step s | generation s | reward s | optimisation s | mean length | peak GiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs = sorted(d for d in out.iterdir() if (d / "metrics.jsonl").exists() or (d / "log").exists())
    for run in runs:
        rows = step_rows(run / "metrics.jsonl") if (run / "metrics.jsonl").exists() else []
        if not rows:
            lines.append(f"| {run.name} | - | no step logged | | | | | |")
        for r in rows:
            lines.append(
                f"| {run.name} | {r.get('step', '-')} | {_num(r, 'arc/time_step_s', '.1f')} | "
                f"{_num(r, 'arc/time_generation_s', '.1f')} | {_num(r, 'arc/time_reward_s', '.2f')} | "
                f"{_num(r, 'arc/time_optimization_s', '.1f')} | {_num(r, 'completions/mean_length', '.0f')} | "
                f"{_num(r, 'arc/gpu_peak_gib', '.1f')} |"
            )
    return "\n".join(lines)


VERSIONS = (
    "torch",
    "triton",
    "transformers",
    "trl",
    "datasets",
    "peft",
    "accelerate",
    "bitsandbytes",
    "unsloth",
    "unsloth_zoo",
)


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def one(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "absent"

    return " ".join(f"{name} {one(name)}" for name in VERSIONS)


def main(argv: list[str]) -> int:
    if len(argv) >= 4 and argv[0] == "spec":
        print(write_spec(argv[1], argv[2], argv[3], argv[4:]))
        return 0
    if len(argv) == 2 and argv[0] == "table":
        print(table(Path(argv[1])))
        return 0
    if argv and argv[0] == "versions":
        if "--import-unsloth" in argv[1:]:
            import time

            t0 = time.perf_counter()
            from unsloth import FastLanguageModel  # noqa: F401  (raises on a missing module)

            print(f"import unsloth: ok in {time.perf_counter() - t0:.1f} s")
        print(versions())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
