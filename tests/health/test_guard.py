"""The guard callback driven by real transformers TrainerState/TrainerControl objects while a
collapsing run's files grow (a replay of the simulated truncation-collapse trace): events, stop,
rollback child run dir, max_rollbacks. A real tiny TRL run is in test_guard_trl.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs import rundir
from jobs.spec import JobSpec
from jobs.lineage import rollback_chain, rollback_child
from trainer.guard import apply_changes, make_guard_callback, rollbacks_in_ancestry

from .conftest import add_checkpoints

pytestmark = pytest.mark.timeout(180)


def make_run(root: Path, name: str, **params) -> JobSpec:
    run = root / name
    run.mkdir(parents=True)
    spec = JobSpec(
        kind="grpo",
        name=name,
        template="grpo",
        run_dir=str(run),
        params={
            "model_path": "tiny",
            "dataset": "arc1/train",
            "max_completion_length": 1024,
            "learning_rate": 2e-6,
            "beta": 0.01,
            "save_steps": 200,
            **params,
        },
    )
    spec.write()
    return spec


def replay(trace: Path, spec: JobSpec, cb, start: int = 0):
    """Append the trace's rows step by step into the run dir (as the telemetry would), save a
    checkpoint every save_steps, and call the guard's hooks with real Trainer objects. Returns the
    control and the step the trainer would stop at."""
    from transformers import TrainerControl, TrainerState, TrainingArguments

    run = Path(spec.run_dir)
    args = TrainingArguments(output_dir=str(run), report_to="none", use_cpu=True)
    state, control = TrainerState(), TrainerControl()
    metrics = rundir.read_jsonl(trace / "metrics.jsonl")
    comps = rundir.read_jsonl(trace / "completions.jsonl")
    ci = 0
    with open(run / "metrics.jsonl", "a") as fm, open(run / "completions.jsonl", "a") as fc:
        for row in metrics:
            step = row["step"]
            if step <= start:
                continue
            while ci < len(comps) and comps[ci]["step"] <= step:
                fc.write(json.dumps(comps[ci]) + "\n")
                ci += 1
            fc.flush()
            state.global_step = step
            cb.on_step_end(args, state, control)
            fm.write(json.dumps(row) + "\n")
            fm.flush()
            control.should_save = False
            cb.on_log(args, state, control, logs=row)
            if control.should_save or step % 200 == 0:
                add_checkpoints(run, every=step, last=step)
            if control.should_training_stop:
                break
    cb.on_train_end(args, state, control)
    return control, state.global_step


def events(spec: JobSpec) -> list[dict]:
    return rundir.read_jsonl(Path(spec.run_dir) / rundir.EVENTS)


def test_off_gives_no_callback(tmp_path):
    assert make_guard_callback(make_run(tmp_path, "r", guard="off"), tmp_path / "r") is None


def test_warn_writes_events_and_never_stops(tmp_path, traces_root):
    spec = make_run(tmp_path, "r", guard="warn")
    cb = make_guard_callback(spec, spec.run_dir, is_main=True)
    control, step = replay(traces_root / "collapse_truncation", spec, cb)
    assert step == 5000 and not control.should_training_stop and cb.stop_reason is None
    ev = [e for e in events(spec) if e["event"] == rundir.EV_COLLAPSE]
    trunc = [(e["severity"], e["step"]) for e in ev if e["rule"] == "truncation"]
    # the live guard agrees with a one-shot diagnosis of the finished files
    from jobs.health import diagnose

    want = next(a for a in diagnose(spec.run_dir).alerts if a.rule == "truncation").steps
    assert trunc == sorted(want.items(), key=lambda kv: kv[1])
    assert [s for s, _ in trunc] == ["watch", "warning", "critical"]
    assert all(e["action"] == "none" and e["first_step"] == want["watch"] for e in ev if e["rule"] == "truncation")
    crit = next(e for e in ev if e["rule"] == "truncation" and e["severity"] == "critical")
    assert crit["evidence"]["examples"] and crit["evidence"]["signals"]["clipped_ratio"]["level"] == 3


def test_stop_saves_and_stops_at_the_first_critical(tmp_path, traces_root):
    spec = make_run(tmp_path, "r", guard="stop")
    cb = make_guard_callback(spec, spec.run_dir, is_main=True)
    control, step = replay(traces_root / "collapse_truncation", spec, cb)
    assert control.should_training_stop and control.should_save
    assert cb.stop_reason == "collapse"
    ev = [e for e in events(spec) if e["event"] == rundir.EV_COLLAPSE]
    crit = [e for e in ev if e["severity"] == "critical"]
    assert crit[0]["action"] == "stop" and crit[0]["step"] == step
    assert all(e["step"] <= step for e in ev)  # nothing after the stop
    assert all(e["action"] == "none" for e in ev if e is not crit[0])
    assert step < 4300  # the first critical, long before the run ends at 5000
    assert (Path(spec.run_dir) / f"checkpoint-{step}").is_dir()
    assert not any(e["event"] == rundir.EV_ROLLBACK for e in events(spec))


def test_rollback_writes_a_child_run_dir_from_the_last_healthy_checkpoint(tmp_path, traces_root):
    spec = make_run(tmp_path, "r", guard="rollback")
    cb = make_guard_callback(spec, spec.run_dir, is_main=True)
    control, step = replay(traces_root / "collapse_truncation", spec, cb)
    assert control.should_training_stop and cb.stop_reason == "collapse"
    first_warning = cb.monitor.first_step("warning")
    assert 3400 < first_warning < 3600
    child = JobSpec.read(cb.child.run_dir)  # written for the runner to go on in
    assert child.parent.run_dir == spec.run_dir and child.parent.name == "r"
    assert child.parent.checkpoint == "checkpoint-3400"  # newest saved before the first warning
    assert child.resume_from == child.parent
    assert child.params["learning_rate"] == pytest.approx(1e-6)  # x0.5
    assert child.params["beta"] == pytest.approx(0.02)  # x2
    assert Path(child.run_dir).parent == Path(spec.run_dir).parent and child.run_dir != spec.run_dir
    [rb] = [e for e in events(spec) if e["event"] == rundir.EV_ROLLBACK]
    assert rb["status"] == "continued" and "job_id" not in rb
    assert rb["child_run_dir"] == child.run_dir and rb["checkpoint"] == "checkpoint-3400"
    assert rb["first_warning_step"] == first_warning and rb["rollbacks_before"] == 0
    assert rollback_child(spec.run_dir) == child.run_dir
    assert rollback_chain(spec.run_dir) == [spec.run_dir, child.run_dir]

    # the child collapses too: max_rollbacks=1 is already used up by its parent
    assert rollbacks_in_ancestry(child.run_dir) == 1
    cb2 = make_guard_callback(child, child.run_dir, is_main=True)
    control2, _ = replay(traces_root / "collapse_truncation", child, cb2, start=3400)
    assert control2.should_training_stop and cb2.child is None
    [refused] = [e for e in events(child) if e["event"] == rundir.EV_ROLLBACK]
    assert refused["status"] == "refused" and "max_rollbacks=1" in refused["reason"]
    assert rollback_child(child.run_dir) is None
    assert rollback_chain(spec.run_dir) == [spec.run_dir, child.run_dir]


def test_a_rollback_that_cannot_fork_is_recorded_and_stops_cleanly(tmp_path, traces_root):
    spec = make_run(tmp_path, "r", guard="rollback")
    cb = make_guard_callback(spec, spec.run_dir, is_main=True)
    (Path(spec.run_dir) / "spec.json").unlink()  # the fork reads the parent's spec.json: gone
    control, _ = replay(traces_root / "collapse_truncation", spec, cb)
    assert control.should_training_stop and cb.child is None
    [rb] = [e for e in events(spec) if e["event"] == rundir.EV_ROLLBACK]
    assert rb["status"] == "failed" and "spec.json" in rb["reason"]
    assert rollback_child(spec.run_dir) is None


def test_apply_changes():
    params = {"learning_rate": 2e-6, "beta": 0.01, "save_steps": 200, "loss_type": "dapo", "use_vllm": True}
    out = apply_changes(
        params,
        {
            "learning_rate": 0.5,
            "beta": 2,
            "save_steps": 0.5,
            "loss_type": "grpo",
            "use_vllm": False,
            "temperature": 0.7,
        },
    )
    assert out == {
        "learning_rate": 1e-6,
        "beta": 0.02,
        "save_steps": 100,
        "loss_type": "grpo",
        "use_vllm": False,
        "temperature": 0.7,
    }


def test_a_resumed_run_is_judged_from_its_resume_step(tmp_path, traces_root):
    """The run collapsed and was stopped at 4300; the user resumes from checkpoint-4200 with the
    guard on. The old critical must not stop it at once, rows after 4200 (the abandoned
    continuation) are ignored, and a collapse that goes on is caught again within a few rows."""
    from transformers import TrainerControl, TrainerState, TrainingArguments

    src = traces_root / "collapse_truncation"
    spec = make_run(tmp_path, "r", guard="stop")
    run = Path(spec.run_dir)
    for name in ("metrics.jsonl", "completions.jsonl"):
        rows = [r for r in rundir.read_jsonl(src / name) if r["step"] <= 4300]
        (run / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    cb = make_guard_callback(spec, spec.run_dir, is_main=True)
    state, control = TrainerState(), TrainerControl()
    state.global_step = 4200
    cb.on_train_begin(TrainingArguments(output_dir=str(run), report_to="none", use_cpu=True), state, control)
    assert cb.monitor.status == "healthy" and cb.monitor.step == 4200
    assert not control.should_training_stop and not (run / rundir.EVENTS).exists()
    control2, step = replay(src, spec, cb, start=4300)
    assert control2.should_training_stop and cb.stop_reason == "collapse"
    assert 4300 < step <= 4340  # persist (3 rows) after the resume, not at once and not never
    crit = [e for e in events(spec) if e["severity"] == "critical"]
    assert crit[0]["action"] == "stop" and crit[0]["step"] == step
