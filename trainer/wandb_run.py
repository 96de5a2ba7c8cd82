"""The Weights & Biases run of a GRPO or SFT job. TRL logs into it (`report_to="wandb"`, set by
jobs.trl_args): this module only starts the run the way a cluster job needs and finishes it.

- one W&B run per run dir: its id is kept in the run dir (jobs.wandb_files), so a requeued or
  resumed job continues the same W&B run; a fork or a rollback child starts its own;
- the job spec is the run's config (TRL adds its TrainingArguments to it);
- project / entity / group from the job's parameters;
- WANDB_MODE, when set, decides online/offline/disabled; otherwise online when wandb finds
  credentials (WANDB_API_KEY or a `wandb login` in ~/.netrc), offline when there are none; an
  online start that fails (no network on the GPU host) falls back to offline.
Offline runs stay in <run_dir>/wandb; `arcctl wandb-sync RUN` uploads them.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from jobs import wandb_files
from jobs.errors import SpecError


def has_credentials() -> bool:
    """What wandb itself would log in with: WANDB_API_KEY, an identity token file, or the netrc
    entry `wandb login` wrote for the server (WANDB_BASE_URL or the default one)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    try:
        import wandb
        from wandb.sdk.lib.wbauth import read_netrc_auth

        return read_netrc_auth(host=os.environ.get("WANDB_BASE_URL") or wandb.Settings().base_url) is not None
    except Exception:  # a malformed netrc, or a wandb older than the extra's: no usable login
        return False


def resolve_mode() -> tuple[str, str]:
    """(mode, why) for wandb.init."""
    mode = os.environ.get("WANDB_MODE", "").strip()
    if mode:
        return mode, "WANDB_MODE"
    if has_credentials():
        return "online", "credentials found"
    return "offline", "no WANDB_API_KEY and no `wandb login` (netrc) on this host"


def _record(run_dir: Path, p: Any) -> wandb_files.WandbRun:
    """The run dir's W&B run: the one it started before, or a new one (written now)."""
    run = wandb_files.read_run(run_dir)
    if run is None:
        run = wandb_files.WandbRun(
            id=wandb_files.new_run_id(),
            project=_project(p),
            entity=p.wandb_entity or os.environ.get("WANDB_ENTITY"),
            group=p.wandb_group,
        )
        wandb_files.write_run(run_dir, run)
    return run


def _project(p: Any) -> str:
    return p.wandb_project or os.environ.get("WANDB_PROJECT") or wandb_files.DEFAULT_PROJECT


def _init(wandb: Any, spec: Any, run_dir: Path, run: wandb_files.WandbRun, p: Any, mode: str):
    return wandb.init(
        id=run.id,
        resume="allow",
        mode=mode,
        dir=str(run_dir),
        project=_project(p),
        entity=p.wandb_entity or None,
        group=p.wandb_group or None,
        name=spec.name,
        job_type=spec.kind,
        config=wandb_files.run_config(spec),
    )


def _reason(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _guard_callback(trainer: Any, warn: Callable[..., None]) -> None:
    """Swap the W&B callback `report_to` gave the trainer for one whose failures never stop the
    training. A job killed by its scheduler (preemption, time limit) gets its signal in every
    process, wandb's service too: the trainer must still save its checkpoint after that. It goes
    last, so it logs what the other callbacks add to a step's logs (SFT's tokens_per_second)."""
    from transformers.integrations import WandbCallback

    class GuardedWandbCallback(WandbCallback):
        def _guarded(self, event: str, args, *rest, **kw):
            if self._wandb is None:
                return None
            try:
                return getattr(super(), event)(args, *rest, **kw)
            except Exception as e:
                self._wandb = None
                args.report_to = [r for r in args.report_to if r != "wandb"]  # TRL's completions table too
                warn(f"W&B stopped logging ({_reason(e)}); training goes on, metrics.jsonl keeps every step")
                return None

        def on_train_begin(self, args, state, control, **kw):
            return self._guarded("on_train_begin", args, state, control, **kw)

        def on_log(self, args, state, control, **kw):
            return self._guarded("on_log", args, state, control, **kw)

        def on_save(self, args, state, control, **kw):
            return self._guarded("on_save", args, state, control, **kw)

        def on_train_end(self, args, state, control, **kw):
            return self._guarded("on_train_end", args, state, control, **kw)

    if trainer.pop_callback(WandbCallback) is not None:
        trainer.add_callback(GuardedWandbCallback())


@contextmanager
def wandb_run(
    spec: Any, run_dir: Path, main_process: bool, warn: Callable[..., None], trainer: Any = None
) -> Iterator[Any]:
    """The W&B run the `trainer.train()` inside the block logs into (None when `wandb` is off or on
    a non-main process), finished on the way out: a rollback child starts its own. `trainer`
    (built with report_to="wandb") gets a W&B callback whose failures never stop it."""
    p = spec.typed_params()
    if not p.wandb or not main_process:
        yield None
        return
    import wandb

    run = _record(run_dir, p)
    mode, why = resolve_mode()
    later = f"W&B run {run.id} stays in the run dir until `arcctl wandb-sync` uploads it"
    try:
        active = _init(wandb, spec, run_dir, run, p, mode)
    except Exception as e:
        if mode != "online":
            raise SpecError(f"W&B ({mode} mode, from {why}): {_reason(e)}") from None
        warn(f"W&B could not start online ({_reason(e)}): logging offline; {later}")
        wandb.teardown()  # the failed start still holds the run id in wandb's service process
        active = _init(wandb, spec, run_dir, run, p, "offline")
    else:
        if mode == "offline" and why != "WANDB_MODE":
            warn(f"W&B offline ({why}): {later}")
    if trainer is not None:
        _guard_callback(trainer, warn)
    exit_code = 1
    try:
        yield active
        exit_code = 0
    finally:
        try:
            active.finish(exit_code=exit_code)
        except Exception as e:  # its service is gone (killed with the job): what it had is on disk
            warn(f"W&B run {run.id} did not finish cleanly ({_reason(e)})")
            try:
                wandb.teardown()  # a rollback child's W&B run starts a new service
            except Exception:
                pass
