"""The collapse guard: a TrainerCallback that runs jobs.health on the run's own files while it trains.

It tails metrics.jsonl / completions.jsonl (what the telemetry callback just wrote; the guard is
registered after it, so a step's row is there by the guard's on_log) and feeds a HealthMonitor.
Every severity rise writes a `collapse_warning` event. On a critical alert:
  warn      events only;
  stop      save a checkpoint and stop (`stop_reason = "collapse"`; trainer.grpo writes the
            `stopped` event with that reason);
  rollback  stop, then (in on_train_end, once the checkpoint is saved) write a child run dir
            forked from the newest checkpoint saved before the first warning with
            `rollback_changes` applied (numbers multiply the parent's value, "=V" sets V, other
            values replace it) and a `rollback` event naming it; the trainer's runner
            (trainer.runner) then reloads that checkpoint and trains on in the child, in the same
            process and allocation — unless the run's ancestry already holds `max_rollbacks`
            rollbacks (then it only stops). The trainer never submits jobs.
A resumed run (same run dir) first learns its baselines silently from the rows up to the resume
step, then is judged afresh: an old critical does not stop it at once; a collapse that goes on is
raised again after `persist` rows.
Only this module imports transformers, and only inside make_guard_callback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from jobs import records, rundir
from jobs.health import CRITICAL, HealthMonitor, Thresholds, healthy_checkpoint
from jobs.lineage import rollbacks_in_ancestry
from jobs.params import apply_changes  # the same rule render-time checks use
from jobs.rundir import JsonlTail, LocalFS
from jobs.spec import CheckpointRef, JobSpec
from trainer.runfiles import RunFiles

__all__ = ["apply_changes", "make_guard_callback", "rollback_spec", "rollbacks_in_ancestry"]


def rollback_spec(spec: JobSpec, run_dir: str, first_warning_step: int | None) -> JobSpec:
    """The child spec: from the newest checkpoint before the first warning (or from the start
    when none was saved in time), with rollback_changes applied, parent = this run + checkpoint."""
    from jobs.fork import fork_spec

    p = spec.typed_params()
    overrides = apply_changes(spec.params, dict(p.rollback_changes))
    ck = healthy_checkpoint(rundir.list_checkpoints(run_dir), first_warning_step)
    child = fork_spec(run_dir, ck.name if ck else None, overrides)
    if ck is None:  # every saved checkpoint is already past the first warning: start over
        child = child.model_copy(
            update={
                "resume_from": None,
                "parent": CheckpointRef(run_dir=run_dir, checkpoint=None, name=spec.name),
            }
        )
    return child


def _step_of(row: dict[str, Any]) -> float:
    v = row.get("step")
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


def make_guard_callback(spec: JobSpec, run_dir: str | Path, is_main: bool | None = None):
    """A transformers.TrainerCallback guarding this run, or None when params.guard is "off"."""
    p = spec.typed_params()
    if p.guard == "off":
        return None
    from transformers import TrainerCallback

    run_dir = str(run_dir)
    files = RunFiles(run_dir, enabled=is_main)
    main = files.enabled
    thresholds = Thresholds.from_overrides(p.health, source=f"{run_dir}/spec.json: params.health")
    max_len = getattr(p, "max_completion_length", None)

    class CollapseGuard(TrainerCallback):
        def __init__(self):
            self.mode = p.guard
            self.monitor = HealthMonitor(
                thresholds, max_len, mask_truncated=getattr(p, "mask_truncated_completions", None)
            )
            self._metrics = JsonlTail(f"{run_dir}/{rundir.METRICS}", LocalFS())
            self._completions = JsonlTail(f"{run_dir}/{rundir.COMPLETIONS}", LocalFS())
            self.stop_reason: str | None = None
            self.critical_alert = None
            self.child: JobSpec | None = None
            self._rolled = False

        # -- helpers ---------------------------------------------------------------------------
        def event(self, event: str, **fields: Any) -> None:
            files.event(event, **fields)

        def poll(self, state) -> None:
            try:
                raised = self.monitor.update(self._metrics.read_new(), self._completions.read_new())
            except Exception as e:  # a detector bug must never kill the training it watches
                self.event(records.EV_WARNING, step=state.global_step, message=f"guard: health check failed: {e!r}")
                return
            for alert in raised:
                action = "none"
                if alert.level >= CRITICAL and self.mode in ("stop", "rollback") and self.stop_reason is None:
                    action = self.mode
                    self.stop_reason = "collapse"
                    self.critical_alert = alert
                # the alert's own fields at the top (rule, severity, first_step, steps, message,
                # evidence with example completion ids), plus the step it rose at and what we did
                self.event(
                    records.EV_COLLAPSE, step=state.global_step, action=action, guard=self.mode, **alert.to_dict()
                )
                if main:
                    print(
                        f"guard: {alert.severity} {alert.rule} at step {state.global_step}: {alert.message}"
                        + (f" -> {action}" if action != "none" else ""),
                        file=sys.stderr,
                        flush=True,
                    )

        def _act(self, state, control) -> None:
            self.poll(state)
            if self.stop_reason is not None and not control.should_training_stop:
                control.should_save = True
                control.should_training_stop = True

        # -- trainer hooks ---------------------------------------------------------------------
        def on_train_begin(self, args, state, control, **kw):
            # A resumed run: its files already hold rows. Learn baselines from those up to the
            # resume step (rows after it belong to the abandoned continuation), silently.
            start = state.global_step
            metrics = [r for r in self._metrics.read_new() if _step_of(r) <= start]
            completions = [r for r in self._completions.read_new() if _step_of(r) <= start]
            if metrics or completions:
                self.monitor.update(metrics, completions)
                self.monitor.reset_alerts()

        def on_log(self, args, state, control, **kw):
            self._act(state, control)

        def on_step_end(self, args, state, control, **kw):
            self._act(state, control)

        def on_train_end(self, args, state, control, **kw):
            try:
                if self.mode == "rollback" and self.stop_reason is not None and not self._rolled and main:
                    self._rolled = True
                    self.rollback(state)
            finally:
                files.close()  # reopened on a later write

        def rollback(self, state) -> None:
            first_warning = self.monitor.first_step("warning")
            done = rollbacks_in_ancestry(run_dir)
            if done >= p.max_rollbacks:
                self.event(
                    records.EV_ROLLBACK,
                    step=state.global_step,
                    status=records.ROLLBACK_REFUSED,
                    reason=f"max_rollbacks={p.max_rollbacks} reached ({done} in this run's ancestry)",
                )
                return
            try:
                child = rollback_spec(spec, run_dir, first_warning)
                child.write()
            except Exception as e:  # a rollback must never turn a clean stop into a crash
                self.event(
                    records.EV_ROLLBACK, step=state.global_step, status=records.ROLLBACK_FAILED, reason=f"fork: {e}"
                )
                return
            self.child = child
            self.event(
                records.EV_ROLLBACK,
                step=state.global_step,
                status=records.ROLLBACK_CONTINUED,
                child_run_dir=child.run_dir,
                child_name=child.name,
                checkpoint=child.parent.checkpoint if child.parent else None,
                first_warning_step=first_warning,
                changes=apply_changes(spec.params, dict(p.rollback_changes)),
                rule=self.critical_alert.rule if self.critical_alert else None,
                rollbacks_before=done,
            )
            print(
                f"guard: rolling back to {child.parent.checkpoint if child.parent else 'the start'}"
                f" as {child.name}; training goes on in {child.run_dir}",
                file=sys.stderr,
                flush=True,
            )

    return CollapseGuard()
