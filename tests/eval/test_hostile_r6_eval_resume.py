"""Round 6: an eval job resumes from its own eval/predictions.jsonl and takes back, line by line,
the fields its metrics are computed from. A complete line it did not write as it is (edited by
hand, merged from another run, written by another tool) was a KeyError / TypeError traceback at
start, or, for a score of the wrong type, a crash in the metrics after every missing prediction
had been generated. Now the job stops before sampling anything, in one line naming the file, the
line and the field, and the file is left as it was. A predictions file or progress.json that is
a FIFO or a device no longer hangs the start."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from jobs.params import EvalParams
from jobs.predictions import PredictionError
from tests.eval.test_eval_scaling import Recorder
from tests.tiny_params import job_spec, tiny_eval_params
from tests.trainer_train.helpers import run_trainer

pytestmark = [pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_model_dir, tok):
    """A finished eval of 2 tasks x 2 predictions, and its parameters."""
    from trainer.evaluate import run_eval

    params = EvalParams(
        **tiny_eval_params(tiny_model_dir, n_predictions=2, max_tasks=2, seed=2, n_jobs=1, grid_encoder="digits")
    )
    run = tmp_path_factory.mktemp("eval") / "done"
    run_eval(params, run, generator=Recorder(tok), log=lambda *a: None)
    return run, params


def _edit(line: str, field: str, value) -> str:
    rec = json.loads(line)
    if value is KeyError:
        del rec[field]
    else:
        rec[field] = value
    return json.dumps(rec)


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("task_id", KeyError, "task_id: Field required"),
        ("task_id", [1], "task_id: Input should be a valid string (got [1])"),
        ("sample", "0", "sample: Input should be a valid integer (got '0')"),
        ("train_correct", ["x"], "train_correct.0: Input should be a valid boolean (got 'x')"),
        ("train_pixel", [2.5], "train_pixel.0: Input should be less than or equal to 1 (got 2.5)"),
        ("n_tokens", "10", "n_tokens: Input should be a valid integer (got '10')"),
        ("valid_code", 1, "valid_code: Input should be a valid boolean (got 1)"),
        ("error", ["parse"], "error: Input should be a valid string (got ['parse'])"),
    ],
)
def test_a_line_the_job_did_not_write_stops_it_before_sampling(tmp_path, finished, tok, field, value, says):
    from trainer.evaluate import run_eval

    src, params = finished
    run = tmp_path / "run"
    shutil.copytree(src, run)
    pred = run / "eval" / "predictions.jsonl"
    lines = pred.read_text().splitlines()
    lines[1] = _edit(lines[1], field, value)
    lines = lines[:3]  # one prediction is still missing: nothing may be generated for it
    pred.write_text("".join(x + "\n" for x in lines))
    before = pred.read_bytes()
    gen = Recorder(tok)
    with pytest.raises(PredictionError) as e:
        run_eval(params, run, generator=gen, log=lambda *a: None)
    assert str(e.value) == f"{pred}:2: {says}; the job resumes from this file: fix or remove that line"
    assert gen.calls == [] and pred.read_bytes() == before


def test_a_line_that_is_no_object_is_named(tmp_path, finished, tok):
    from trainer.evaluate import run_eval

    src, params = finished
    run = tmp_path / "run"
    shutil.copytree(src, run)
    pred = run / "eval" / "predictions.jsonl"
    lines = pred.read_text().splitlines()
    pred.write_text("".join(x + "\n" for x in [lines[0], "[1, 2]", *lines[2:]]))
    with pytest.raises(
        PredictionError, match=r"predictions.jsonl:2: not a prediction \(expected an object, got list\)"
    ):
        run_eval(params, run, generator=Recorder(tok), log=lambda *a: None)


def test_the_trainer_says_it_in_one_line_before_the_model_loads(tmp_path, finished):
    src, params = finished
    run = tmp_path / "run"
    shutil.copytree(src, run)
    job_spec("eval", run, params.model_dump(exclude_defaults=True)).write()
    pred = run / "eval" / "predictions.jsonl"
    lines = pred.read_text().splitlines()
    pred.write_text("".join(x + "\n" for x in [_edit(lines[0], "sample", "0"), *lines[1:]]))
    proc = run_trainer("run", str(run), timeout=200)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert [x for x in proc.stderr.splitlines() if x.startswith("trainer:")] == [
        f"trainer: error: {pred}:1: sample: Input should be a valid integer (got '0');"
        " the job resumes from this file: fix or remove that line"
    ]


@pytest.mark.parametrize("name", ["predictions.jsonl", "progress.json"])
def test_a_fifo_in_eval_does_not_hold_the_job(tmp_path, finished, tok, name):
    from trainer.evaluate import run_eval

    src, params = finished
    run = tmp_path / "run"
    shutil.copytree(src, run)
    (run / "eval" / name).unlink()
    os.mkfifo(run / "eval" / name)
    if name == "predictions.jsonl":
        with pytest.raises(Exception, match="a FIFO, not a regular file"):
            run_eval(params, run, generator=Recorder(tok), log=lambda *a: None)
    else:  # the settings cannot be told: predicted again from the start, as without the file
        gen = Recorder(tok)
        run_eval(params, run, generator=gen, log=lambda *a: None)
        assert sum(c["n"] for c in gen.calls) == 4
