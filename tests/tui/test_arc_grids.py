"""ARC grids on screen: the compact grid form (jobs.arcgrids), the GRPO reward recording each
program's outputs in the original task's frame (real sandbox, real augmentation, real ARC task),
and the completions inspector drawing a task's pairs next to a program's outputs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from jobs.arcgrids import MAX_CELLS, decode, encode, encode_outputs, load_pairs, pixel_score
from tests.tui.pilot import until


pytestmark = pytest.mark.timeout(240)
MIRROR = "67a3c6ac"  # arc1/train: mirror left-right


def test_compact_grids_round_trip_real_tasks():
    train, test = load_pairs("arc1/train", MIRROR)
    grids = [g for p in train + test for g in p]
    assert all(decode(encode(g)) == g for g in grids)
    assert encode([[0, 1, 2], [3, 4, 0]]) == "012|340"
    import numpy as np

    assert encode(np.array([[7, 8]], dtype=np.uint8)) == "78"


@pytest.mark.parametrize("bad", [None, "", "12|3", "1a|22", "|", "1" * 31, "|".join(["1"] * 31), 5, ["1"]])
def test_decode_refuses_what_is_not_a_grid(bad):
    assert decode(bad) is None


def test_encode_outputs_caps_and_scores():
    assert encode([[1, 10]]) is None and encode([[1], [1, 2]]) is None and encode([]) is None
    assert encode_outputs([[[1]], "not a grid"]) == ["1", None]
    big = [[[1] * 30 for _ in range(30)]] * 5
    assert encode_outputs(big) is None and 4 * 900 <= MAX_CELLS  # four 30x30 grids still fit
    assert encode_outputs(None) is None
    assert pixel_score([[1, 2]], [[1, 3]]) == 0.5 and pixel_score([[1]], [[1, 2]]) == 0.0
    assert pixel_score(None, [[1]]) == 0.0 and pixel_score([[1]], None) is None
    assert load_pairs("synthetic", MIRROR) is None and load_pairs("arc1/train", "nope") is None


def test_pairs_of_a_kaggle_file_and_a_task_folder(tmp_path):
    """Grids for tasks from a Kaggle-format file (with its solutions beside it) or a folder of
    task files, as the trainer reads them, not only for built-in sets."""
    import json

    train, test = load_pairs("arc1/train", MIRROR)
    task = {"train": [{"input": i, "output": o} for i, o in train], "test": [{"input": i} for i, _ in test]}
    (tmp_path / "my_challenges.json").write_text(json.dumps({"t1": task}))
    (tmp_path / "my_solutions.json").write_text(json.dumps({"t1": [o for _, o in test]}))
    assert load_pairs(str(tmp_path / "my_challenges.json"), "t1") == (train, test)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "t2.json").write_text(json.dumps(task))
    assert load_pairs(str(tmp_path / "dir"), "t2") == (train, [(i, None) for i, _ in test])
    assert load_pairs(str(tmp_path / "dir"), "nope") is None
    (tmp_path / "bad.json").write_text('{"t1": {"train": [{"input": [[1, 10]]}]}}')  # colour 10
    assert load_pairs(str(tmp_path / "bad.json"), "t1") is None and load_pairs("/no/such/file.json", "t1") is None


@pytest.fixture(scope="module")
def reward_env(tiny_model_dir):
    from transformers import AutoTokenizer

    from trainer import data
    from trainer.sandbox import Sandbox

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    task = next(t for t in data.load_tasks("arc1/train") if t.task_id == MIRROR)
    with Sandbox(workers=2, timeout_s=2.0, memory_mb=512) as sb:
        yield SimpleNamespace(tok=tok, task=task, sandbox=sb)


def test_reward_records_outputs_in_the_original_frame(reward_env, tmp_path):
    from jobs import rundir
    from trainer import encoders, grpo_data
    from trainer.grpo_reward import ArcReward
    from trainer.telemetry import RunFiles

    flip = "\ndef transform(input_grid):\n    return np.fliplr(input_grid)\n```\n"
    rows = grpo_data.PromptRows(
        [reward_env.task], 4, encoders.get_encoder("digits"), reward_env.tok, seed=3, augment=True
    )
    augs = [rows[i].augmentation for i in range(4)]
    assert any(a and (a["rot90"] or a["flip"]) for a in augs)  # some prompts are really turned
    files = RunFiles(tmp_path, enabled=True)
    reward = ArcReward(rows, reward_env.sandbox, "arc-v2-no-pixel-score", files=files, eos_ids=[2])
    scores = reward(
        prompts=["p"] * 5,
        completions=[flip] * 4 + ["no code"],
        completion_ids=[[5, 2]] * 5,
        row_id=[0, 1, 2, 3, 0],
        trainer_state=SimpleNamespace(global_step=0),
        log_metric=None,
    )
    files.close()
    assert scores[:4] == [10.0] * 4
    recs = rundir.read_jsonl(tmp_path / rundir.COMPLETIONS)
    truth = [p.output for p in reward_env.task.train + reward_env.task.test]
    for r in recs[:4]:  # whatever the augmentation, the grids are the original task's outputs
        assert [decode(g) for g in r["outputs"]] == truth
    assert recs[4]["outputs"] is None and recs[4]["error"] == "parse"


def _write_spec(run: Path, kind: str) -> None:
    """A minimal spec.json on arc1/train, named after its run dir."""
    spec = {"kind": kind, "name": run.name, "template": kind, "run_dir": str(run), "params": {"dataset": "arc1/train"}}
    (run / "spec.json").write_text(json.dumps(spec))


def write_run(root: Path) -> Path:
    """A run on arc1/train whose completions keep outputs: one solving program, one wrong on train 2."""
    run = root / "grid-run"
    run.mkdir(parents=True)
    _write_spec(run, "grpo")
    train, test = load_pairs("arc1/train", MIRROR)
    right = [o for _, o in train + test]
    wrong = [g if i != 1 else [row[:-1] + [(row[-1] + 1) % 10] for row in g] for i, g in enumerate(right)]
    recs = [
        {
            "id": "1:0",
            "step": 1,
            "task_id": MIRROR,
            "reward": 10.0,
            "n_tokens": 20,
            "truncated": False,
            "error": None,
            "outputs": [encode(g) for g in right],
            "completion": "def transform(g):\n    return g\n",
        },
        {
            "id": "1:1",
            "step": 1,
            "task_id": MIRROR,
            "reward": 1.0,
            "n_tokens": 20,
            "truncated": False,
            "error": None,
            "outputs": [encode(g) for g in wrong],
            "completion": "def transform(g):\n    return g\n",
        },
        {
            "id": "1:2",
            "step": 1,
            "task_id": MIRROR,
            "reward": 0.0,
            "n_tokens": 3,
            "truncated": False,
            "error": "parse",
            "outputs": None,
            "completion": "oops",
        },
    ]
    (run / "completions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "time": 1.0, "reward": 3.6}) + "\n")
    return run


async def test_inspector_shows_pairs_outputs_and_the_failing_pair(tmp_path):
    from rich.console import Console

    from arcctl.tui.app import ArcApp
    from arcctl.tui.data import JobSource
    from arcctl.tui.screens.completions import CompletionsScreen
    from arcctl.tui.widgets.arc_grid import PairsView
    from jobs.runview import RunView

    run = write_run(tmp_path)
    app = ArcApp(source=JobSource(None))

    def shown() -> str:
        pv = app.screen.query_one(PairsView)
        con = Console(width=200, record=True, file=open("/dev/null", "w"))
        con.print(getattr(pv, "shown", ""))
        return con.export_text()

    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.2)
        app.push_screen(CompletionsScreen(RunView(str(run))))
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, CompletionsScreen)
                and app.screen.items
                and getattr(app.screen.query_one(PairsView), "pairs", None)
            ),
        )
        text = shown()
        assert text.count("✓ solved") == 4 and "train 3" in text and "test 1" in text and "▀" in text
        await pilot.press("down")
        await until(pilot, lambda: "✗ pixels" in shown())
        text = shown()
        assert "▶ train 2" in text and text.count("✓ solved") == 3
        score = float(text.split("✗ pixels ")[1].split()[0])
        assert score == pytest.approx(1 - 7 / 49, abs=0.005)  # one cell per row of the 7x7 grid changed
        await pilot.press("down")
        await until(pilot, lambda: "✗ parse" in shown())


def write_eval_run(root: Path) -> Path:
    """An eval run dir on arc1/train: two predictions for the mirror task (right, wrong on the
    test grid) and one that did not run, scored by jobs.evalmetrics as the eval job scores them."""
    from jobs.evalmetrics import score_predictions

    run = root / "eval-run"
    (run / "eval").mkdir(parents=True)
    _write_spec(run, "eval")
    train, test = load_pairs("arc1/train", MIRROR)
    right_train, right_test = [o for _, o in train], [o for _, o in test]
    wrong_test = [[[(v + 1) % 10 if i == 0 else v for i, v in enumerate(row)] for row in g] for g in right_test]
    preds = [
        {"task_id": MIRROR, "sample": 0, "error": None, "train_outputs": right_train, "test_outputs": right_test},
        {"task_id": MIRROR, "sample": 1, "error": None, "train_outputs": right_train, "test_outputs": wrong_test},
        {"task_id": MIRROR, "sample": 2, "error": "timeout", "train_outputs": None, "test_outputs": None},
    ]
    truth = {MIRROR: {"train": right_train, "test": right_test}}
    with open(run / "eval" / "predictions.jsonl", "w") as f:
        for p, s in zip(preds, score_predictions(preds, truth)):
            f.write(json.dumps({**p, **s}) + "\n")
    return run


async def test_eval_view_shows_predictions_against_expected_test_outputs(tmp_path):
    from rich.console import Console

    from arcctl.tui.app import ArcApp
    from arcctl.tui.data import JobSource
    from arcctl.tui.screens.eval_view import EvalScreen
    from arcctl.tui.screens.run import RunScreen
    from arcctl.tui.widgets.arc_grid import PairsView

    run = write_eval_run(tmp_path)
    src = JobSource(None)
    app = ArcApp(source=src)

    def shown() -> str:
        con = Console(width=200, record=True, file=open("/dev/null", "w"))
        con.print(getattr(app.screen.query_one(PairsView), "shown", ""))
        return con.export_text()

    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.2)
        app.push_screen(RunScreen(src.view(str(run))))
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, EvalScreen) and app.screen.records and "solved" in shown())
        t = app.screen.query_one("#eval-table")
        assert t.row_count == 3 and [str(c) for c in t.get_row_at(1)][3:] == ["0/1", "0.67"]
        assert shown().count("✓ solved") == 4
        await pilot.press("down")
        await until(pilot, lambda: "▶ test 1" in shown())
        assert shown().count("✓ solved") == 3 and "✗ pixels 0.67" in shown()
        await pilot.press("down")
        await until(pilot, lambda: "✗ timeout" in shown())
