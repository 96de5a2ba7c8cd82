"""`python -m trainer ...`: the entry point jobs run on the GPU host.

    python -m trainer run SPEC.json|RUN_DIR   run the job the spec describes (dispatch on kind)
    python -m trainer eval SPEC.json          same as run, for eval specs
    python -m trainer tiny-model DIR          build the tiny test/demo model into DIR

Exit codes: trainer.runner's (0 done or stopped cleanly, 2 user error, 1 crash). After a guard
rollback the same process goes on in the child run dir.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from jobs import rundir
from trainer import runner

ENTRY_BY_KIND = {
    "grpo": "trainer.grpo",
    "grpo-refine": "trainer.grpo",
    "sft": "trainer.sft",
    "eval": "trainer.evaluate",
    "her": "trainer.her",
}


def load_spec(arg: str):
    """(spec, run_dir). A directory means its spec.json, and the job runs in that directory
    (the spec's run_dir may name the path on the machine that launched it)."""
    from pydantic import ValidationError

    from jobs.errors import SpecError
    from jobs.spec import JobSpec

    path = Path(arg)
    run_dir = path if path.is_dir() else None
    file = path / rundir.SPEC if path.is_dir() else path
    if not file.exists():
        raise SpecError(f"{file}: no such spec file")
    if not file.is_file():  # a FIFO held the job forever, a folder was a traceback
        raise SpecError(f"{file}: not a regular file")
    try:
        spec = JobSpec.read(file)
    except OSError as e:
        raise SpecError(f"{file}: cannot be read ({e.strerror or e})") from None
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ()))
        raise SpecError(f"{file}: {where}: {err.get('msg')}") from None
    except ValueError as e:  # malformed JSON
        raise SpecError(f"{file}: not a valid spec: {str(e).splitlines()[0]}") from None
    if run_dir is not None and Path(spec.run_dir).resolve() != run_dir.resolve():
        spec = spec.model_copy(update={"run_dir": str(run_dir)})
    return spec, Path(spec.run_dir)


def cmd_run(arg: str, only_kind: str | None = None) -> int:
    from jobs.errors import JobsError

    try:
        spec, run_dir = load_spec(arg)
        if only_kind and spec.kind != only_kind:
            raise JobsError(f"{arg}: kind is {spec.kind!r}, this command runs {only_kind!r} specs")
        _trainable(spec, arg)
    except JobsError as e:
        _error(Path(arg), e)
        return runner.EXIT_USER_ERROR

    def run_one(current: Path) -> int:
        if current == run_dir:
            return _run_spec(spec)
        try:
            child, _ = load_spec(str(current))
            _trainable(child, str(current))
        except JobsError as e:
            _error(current, e)
            return runner.EXIT_USER_ERROR
        return _run_spec(child)

    return runner.run_chain(run_dir, run_one)


def _trainable(spec, arg: str) -> None:
    """A `command` spec runs its own program (params.args) through the backend's job script; the
    trainer has no entry for it (it was a KeyError traceback)."""
    from jobs.errors import JobsError

    if spec.kind not in ENTRY_BY_KIND:
        raise JobsError(
            f"{arg}: kind {spec.kind!r} is not run by the trainer (it runs {', '.join(sorted(ENTRY_BY_KIND))})"
        )


def _run_spec(spec) -> int:
    if spec.params.get("backend") == "unsloth":
        # unsloth patches transformers/trl when imported first; if missing, the job's own check
        # reports it with the extra to install.
        try:
            importlib.import_module("unsloth")
        except ImportError:
            pass
    module = importlib.import_module(ENTRY_BY_KIND[spec.kind])
    return int(module.main(spec) or 0)


def _error(path: Path, e: Exception) -> None:
    """One stderr line, and an `error` event when the argument names a run dir or its spec.json."""
    run_dir = path if path.is_dir() else path.parent if path.name == rundir.SPEC else None
    if run_dir is not None:
        runner.error_event(run_dir, str(e))
    print(f"trainer: error: {e}", file=sys.stderr)


def cmd_tiny_model(out: str, hidden: int, layers: int, **shape) -> int:
    from trainer import tiny_model

    path = tiny_model.build(out, hidden_size=hidden, layers=layers, **shape)
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer", description="arcctl trainer (runs on the GPU host)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a job from its spec.json (or its run dir)")
    r.add_argument("spec", help="spec.json or a run dir holding one")
    e = sub.add_parser("eval", help="run an eval spec")
    e.add_argument("spec")
    t = sub.add_parser("tiny-model", help="build the tiny Llama model + tokenizer into DIR")
    t.add_argument("dir")
    t.add_argument("--hidden", type=int, default=64)
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--heads", type=int, default=4)
    t.add_argument("--kv-heads", type=int, default=None, help="default: heads // 2")
    t.add_argument("--intermediate", type=int, default=None, help="default: 4 x hidden")
    t.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    t.add_argument("--device", default="cpu", help="build on this device (cuda for large shapes)")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        return cmd_run(args.spec)
    if args.cmd == "eval":
        return cmd_run(args.spec, only_kind="eval")
    return cmd_tiny_model(
        args.dir,
        args.hidden,
        args.layers,
        heads=args.heads,
        kv_heads=args.kv_heads,
        intermediate_size=args.intermediate,
        dtype=args.dtype,
        device=args.device,
    )
