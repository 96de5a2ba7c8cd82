"""A HER job on the CPU: the warm-started tiny model on a toy target, real sampling, sandbox,
relabelling and TRL fine-tuning; per-epoch telemetry, checkpoints, and resume at the next epoch."""

from __future__ import annotations

import json

import pytest

from jobs import her_report
from jobs.rundir import list_checkpoints, read_jsonl
from jobs.spec import JobSpec
from tests.pilot import until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EPOCH_KEYS = (
    "her/best_pixel_score",
    "her/mean_pixel_score",
    "her/solved",
    "her/unique_outputs",
    "her/valid_code",
    "her/valid_outputs",
    "her/programs_trained",
    "her/time_sampling",
    "her/time_execution",
    "her/time_finetune",
)


def _spec(run_dir, model, **over) -> JobSpec:
    params = dict(model_path=str(model), dataset="toy", task_ids=["2-squares"], grid_encoder="digits", seed=0)
    params.update(sampling=[{"n": 2, "temperature": 0.1}, {"n": 16, "temperature": 1.0}], her_epochs=2)
    params.update(keep_programs=4, max_new_tokens=80, max_seq_length=2048, batch_size=18)
    params.update(learning_rate=1e-3, per_device_train_batch_size=2, lora_r=8, lora_alpha=16)
    params.update(n_jobs=1, sandbox_timeout_s=2.0)
    params.update(over)
    return JobSpec(kind="her", name=run_dir.name, template="her", params=params, run_dir=str(run_dir))


def _run(spec: JobSpec) -> int:
    from trainer import her

    spec.write()
    return her.main(spec)


@pytest.fixture(scope="module")
def her_run(tmp_path_factory, warm_model):
    """A finished 2-epoch HER run of the warm-started model on one toy target."""
    run = tmp_path_factory.mktemp("her") / "her"
    assert _run(_spec(run, warm_model)) == 0
    return run


def test_her_epochs_relabel_finetune_and_checkpoint(her_run):
    run = her_run
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2] and [r["her/epoch"] for r in rows] == [1, 2]
    for r in rows:
        for key in EPOCH_KEYS:
            assert isinstance(r[key], (int, float)), key
        assert r["her/samples"] == 18
        assert 0 <= r["her/mean_pixel_score"] <= r["her/best_pixel_score"] <= 1
        assert r["her/solved"] == 0  # a blank canvas is not the picture
    # programs ran, were relabelled and trained on (with a loss) in at least one epoch
    trained = [r for r in rows if r["her/programs_trained"] > 0]
    assert trained and all(r["her/train_loss"] is not None and r["her/time_finetune"] > 0 for r in trained)
    assert all(r["her/programs_trained"] <= min(4, r["her/unique_outputs"]) for r in rows)

    comps = read_jsonl(run / "completions.jsonl")
    kept = [c for c in comps if c["error"] is None]
    assert len(kept) == sum(r["her/programs_trained"] for r in rows)
    assert {c["epoch"] for c in comps} == {1, 2} and all(c["task_id"] == "2-squares" for c in comps)
    for c in kept:
        assert "def transform" in c["program"] and 0 < c["pixel_score"] < 1

    assert [c.step for c in list_checkpoints(str(run)) if c.valid] == [1, 2]
    state = json.loads((run / "checkpoint-2" / "her_state.json").read_text())
    assert state["epoch"] == 2 and state["done"] is True and state["task_id"] == "2-squares"
    # fine-tuning moved the LoRA: its B matrices start at zero
    from safetensors.torch import load_file

    lora_b = [
        t
        for k, t in load_file(str(run / f"checkpoint-{trained[0]['step']}" / "adapter_model.safetensors")).items()
        if "lora_B" in k
    ]
    assert lora_b and any(float(t.abs().max()) > 0 for t in lora_b)

    targets = her_report.read_targets(str(run))
    assert [t.task_id for t in targets] == ["2-squares"] and targets[0].finished
    assert targets[0].epoch_reached == 2 and targets[0].solved_at is None
    assert targets[0].best_curve == [r["her/best_pixel_score"] for r in rows]


def test_resume_continues_at_the_next_epoch(her_run, tmp_path, warm_model):
    import shutil

    run = tmp_path / "her"
    shutil.copytree(her_run, run)
    # the target was finished at epoch 2 of 2: with a longer horizon it continues at epoch 3,
    # from checkpoint-2's adapter
    state = json.loads((run / "checkpoint-2" / "her_state.json").read_text())
    state["done"] = False
    (run / "checkpoint-2" / "her_state.json").write_text(json.dumps(state))
    assert _run(_spec(run, warm_model, her_epochs=3)) == 0
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[-1]["her/epoch"] == 3
    started = [e for e in read_jsonl(run / "events.jsonl") if e["event"] == "started"]
    assert started[-1]["step"] == 2 and started[-1]["resume_from"].endswith("checkpoint-2")
    assert [c.step for c in list_checkpoints(str(run)) if c.valid] == [1, 2, 3]
    assert her_report.read_targets(str(run))[0].epoch_reached == 3
    # a job whose targets differ from the checkpoint's is refused, naming both
    other = tmp_path / "other"
    shutil.copytree(her_run, other)
    assert _run(_spec(other, warm_model, task_ids=["3-squares"], her_epochs=3)) == 2
    err = [e for e in read_jsonl(other / "events.jsonl") if e["event"] == "error"][-1]
    assert "'2-squares'" in err["message"] and "checkpoint-2" in err["message"]
    # a target whose prompt cannot fit is refused before any sampling
    assert _run(_spec(tmp_path / "long", warm_model, max_seq_length=64)) == 2
    err = [e for e in read_jsonl(tmp_path / "long" / "events.jsonl") if e["event"] == "error"][-1]
    assert (
        err["message"].startswith("target 2-squares: its prompt is")
        and not (tmp_path / "long" / "metrics.jsonl").exists()
    )
    # a checkpoint without HER state (e.g. an SFT one) is refused before any model is loaded
    (other / "checkpoint-2" / "her_state.json").unlink()
    assert _run(_spec(other, warm_model, her_epochs=3)) == 2
    err = [e for e in read_jsonl(other / "events.jsonl") if e["event"] == "error"][-1]
    assert "not a HER checkpoint" in err["message"] and "adapter_path" in err["message"]


def test_fork_changes_the_sampling_mix_and_continues_from_the_checkpoint(her_run, tmp_path):
    import shutil

    from jobs.fork import fork_spec
    from trainer import her

    parent = tmp_path / "parent"
    shutil.copytree(her_run, parent)
    child = fork_spec(str(parent), "checkpoint-1", {"sampling": '[{"n": 6, "temperature": 0.5}]'})
    assert child.params["sampling"] == [{"n": 6, "temperature": 0.5}] and child.resume_from.checkpoint == "checkpoint-1"
    child.write()
    assert her.main(child) == 0
    rows = read_jsonl(f"{child.run_dir}/metrics.jsonl")
    # epoch 2 of the same target, from the parent's epoch-1 adapter, with the new mix
    assert [(r["step"], r["her/epoch"], r["her/samples"]) for r in rows] == [(2, 2, 6)]
    started = [e for e in read_jsonl(f"{child.run_dir}/events.jsonl") if e["event"] == "started"]
    assert started[0]["resume_from"] == str(parent / "checkpoint-1")
    assert not (parent / "checkpoint-3").exists()  # the parent is left as it was


def test_dashboard_shows_the_targets_and_best_programs(her_run, monkeypatch, tmp_path):
    import asyncio

    from textual.widgets import DataTable, Static

    from arcctl.tui.app import ArcApp
    from arcctl.tui.screens.her import HERScreen

    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARCCTL_CONFIG_DIR", str(tmp_path / "config"))
    rows = read_jsonl(her_run / "metrics.jsonl")
    best0 = next(c for c in read_jsonl(her_run / "completions.jsonl") if c["step"] == 1 and c["rank"] == 0)

    async def go():
        app = ArcApp(run_dir=str(her_run))
        async with app.run_test(size=(150, 44)) as pilot:
            await until(pilot, lambda: type(app.screen).__name__ == "RunScreen")
            await pilot.press("t")
            await until(
                pilot,
                lambda: (
                    isinstance(app.screen, HERScreen) and app.screen.query_one("#her-epochs", DataTable).row_count == 2
                ),
            )
            screen = app.screen
            targets = screen.query_one("#her-targets", DataTable)
            row = [str(c) for c in targets.get_row_at(0)]
            assert row[0] == "2-squares" and row[1] == "2" and row[2] == "no"
            assert row[3] == f"{100 * max(r['her/best_pixel_score'] for r in rows):.1f}%" and len(row[5]) == 2
            epochs = screen.query_one("#her-epochs", DataTable)
            assert [str(epochs.get_row_at(i)[0]) for i in range(epochs.row_count)] == ["1", "2"]
            program = screen.query_one("#her-program", Static)

            def shown() -> str:
                c = program.content
                return c.code if hasattr(c, "code") else str(c)

            # epoch 1's best program (a kept one, or, when none ran, the best sample's text)
            expected = (best0["program"] or best0["completion"] or "").strip()
            await until(pilot, lambda: shown().strip() == expected if expected else "no program" in shown())

    asyncio.run(go())
