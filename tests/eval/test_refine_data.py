"""`arcctl refine-data`: an eval run's predictions (real ARC tasks, real sandbox, programs whose
behaviour we know) become refine records with the right feedback; the file is deterministic and
validated on load; then a refine evaluation of those records reports before and after."""

from __future__ import annotations

import gzip
import json

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app
from jobs import refine
from jobs.params import EvalParams
from jobs.spec import JobSpec
from tests.tiny_params import job_spec
from trainer.data import load_tasks
from trainer.generation import Completion

pytestmark = pytest.mark.timeout(300)

ROT180 = " rotation\n\ndef transform(input_grid):\n    return np.rot90(input_grid, 2)\n```"
FLIPLR = " mirror\n\ndef transform(input_grid):\n    return np.fliplr(input_grid)\n```"
IDENTITY = " none\n\ndef transform(input_grid):\n    return input_grid\n```"
CRASH = " crash\n\ndef transform(input_grid):\n    raise RuntimeError('no idea')\n```"
COMPLETIONS = {"6150a2bd": [ROT180, CRASH, IDENTITY, ""], "67a3c6ac": [FLIPLR, IDENTITY, IDENTITY, CRASH]}


class FixedGenerator:
    """Gives the completions in prompt order (the model is the only thing replaced)."""

    def __init__(self, tokenizer, texts):
        self.tokenizer, self.texts, self.prompts = tokenizer, list(texts), []

    def generate(self, prompts, max_new_tokens, temperature=1.0, top_p=1.0, seed=0, **_):
        self.prompts += list(prompts)
        out, self.texts = self.texts[: len(prompts)], self.texts[len(prompts) :]
        return [Completion(t, n_tokens=len(t) // 4, truncated=False) for t in out]


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory, tok, tiny_model_dir):
    from trainer.evaluate import run_eval

    run = tmp_path_factory.mktemp("eval") / "run"
    params = dict(
        model_path=str(tiny_model_dir), dataset="arc1/train", task_ids=list(COMPLETIONS), grid_encoder="digits"
    )
    params.update(n_predictions=4, use_data_augmentation=False, seed=3, n_jobs=2)
    job_spec("eval", run, params).write()
    texts = [t for tid in sorted(COMPLETIONS) for t in COMPLETIONS[tid]]
    run_eval(EvalParams(**params), run, generator=FixedGenerator(tok, texts), log=lambda *a: None)
    return run


def _refine_data(*args):
    return CliRunner().invoke(app, ["refine-data", *map(str, args)])


def test_records_carry_the_programs_feedback(eval_run, tmp_path):
    out = tmp_path / "refine.json.gz"
    r = _refine_data(eval_run, "-o", out)
    assert r.exit_code == 0, r.output
    assert "6 records for 2 tasks of arc1/train" in r.output  # "" has no code; IDENTITY twice in 67a3c6ac
    doc = refine.load(out)
    assert doc.dataset == "arc1/train" and doc.sources == [str(eval_run.absolute())]
    by = {(a.task_id, a.source["sample"]): a for a in doc.records}
    assert list(by) == [
        ("6150a2bd", 0),
        ("6150a2bd", 1),
        ("6150a2bd", 2),
        ("67a3c6ac", 0),
        ("67a3c6ac", 1),
        ("67a3c6ac", 3),
    ]
    tasks = {t.task_id: t for t in load_tasks("arc1/train")}
    ident = by[("67a3c6ac", 1)]
    assert ident.error is None and ident.program.startswith("from common import *")
    assert [p.output for p in ident.pairs] == [p.input for p in tasks["67a3c6ac"].train]
    assert not any(p.correct for p in ident.pairs) and all(0 <= p.pixel_score < 1 for p in ident.pairs)
    crash = by[("6150a2bd", 1)]
    assert crash.error == "exception" and "no idea" in crash.message
    assert all(p.output is None and not p.correct for p in crash.pairs)
    solved = by[("6150a2bd", 0)]
    assert solved.solved_train and solved.test_outputs == [tasks["6150a2bd"].test[0].output]


def test_wrong_only_per_task_and_determinism(eval_run, tmp_path):
    a, b = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    assert _refine_data(eval_run, "-o", a, "--wrong-only", "--per-task", "1").exit_code == 0
    assert _refine_data(eval_run, "-o", b, "--wrong-only", "--per-task", "1").exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    doc = refine.load(a)
    assert [(r.task_id, r.source["sample"]) for r in doc.records] == [("6150a2bd", 1), ("67a3c6ac", 1)]
    assert not any(r.solved_train for r in doc.records)


def _broken(tmp_path, eval_run, edit):
    good = tmp_path / "good.json"
    assert _refine_data(eval_run, "-o", good).exit_code == 0
    doc = json.loads(good.read_text())
    edit(doc)
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(gzip.compress(json.dumps(doc).encode()))
    return bad


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda d: d["records"][3]["pairs"][0].update(output=[[1, 2], [3]]),
            r"record 3 \(task 67a3c6ac\): pairs\.0\.output: .*not a grid",
        ),
        (lambda d: d["records"][1].pop("program"), r"record 1 \(task 6150a2bd\): program: Field required"),
        (lambda d: d["records"][0].update(pairs="x"), r"record 0 \(task 6150a2bd\): pairs: "),
        (lambda d: d.update(format="v0"), r"format 'v0' is not 'arcctl-refine/1'"),
        (lambda d: d.update(records=[]), r"records: List should have at least 1 item"),
    ],
)
def test_a_broken_file_names_record_and_field(eval_run, tmp_path, edit, message):
    bad = _broken(tmp_path, eval_run, edit)
    with pytest.raises(refine.RefineDataError, match=message):
        refine.load(bad)


def test_not_json_at_all(tmp_path):
    bad = tmp_path / "x.json.gz"
    bad.write_bytes(gzip.compress(b"{nope"))
    with pytest.raises(refine.RefineDataError, match=r"x\.json\.gz: not a \(gzipped\) JSON file"):
        refine.load(bad)


def test_cli_mistakes_are_one_line(eval_run, tmp_path):
    other = tmp_path / "other"
    JobSpec(
        kind="eval", name="o", template="eval", run_dir=str(other), params={"model_path": "m", "dataset": "arc1/eval"}
    ).write()
    (other / "eval").mkdir()
    (other / "eval" / "predictions.jsonl").write_text('{"task_id": "x"}\n{torn')
    cases = [
        ([tmp_path / "nothing", "-o", tmp_path / "o.json"], "no eval/predictions.jsonl"),
        ([eval_run, other, "-o", tmp_path / "o.json"], "different datasets (arc1/eval, arc1/train)"),
        ([other, "-o", tmp_path / "o.json"], "predictions.jsonl:2: not valid JSON"),
        ([eval_run, "-o", tmp_path / "no" / "dir" / "o.json"], "cannot write"),
    ]
    for args, message in cases:
        r = _refine_data(*args)
        assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_refine_eval_reports_before_and_after(eval_run, tmp_path, tok, tiny_model_dir):
    """The refine evaluation on the wrong programs: the 'model' repairs the crash of 6150a2bd and
    fails on 67a3c6ac; compare shows the earlier programs' row and the refined one."""
    from trainer.evaluate import run_eval

    data = tmp_path / "wrong.json.gz"
    assert _refine_data(eval_run, "-o", data, "--wrong-only", "--per-task", "1").exit_code == 0
    params = EvalParams(
        model_path=str(tiny_model_dir),
        dataset="arc1/train",
        refine_dataset=str(data),
        n_predictions=2,
        seed=1,
        n_jobs=2,
        grid_encoder="digits",
    )
    gen = FixedGenerator(tok, [ROT180, CRASH, IDENTITY, IDENTITY])
    doc = run_eval(params, tmp_path / "refine-eval", generator=gen, log=lambda *a: None)
    assert len(gen.prompts) == 4
    assert "raise RuntimeError('no idea')" in gen.prompts[0] and "no idea" in gen.prompts[0]  # program + its error
    before, after = doc["refine_before"]["aggregate"], doc["aggregate"]
    assert before["is_correct"] == 0.0 and before["n_preds"] == 1
    assert after["n_preds"] == 2 and after["is_correct"] == 0.5 and after["pass_rate"] == 0.25
    assert after["pass_at_k"] == {"1": 0.25, "2": 0.5}
    preds = [json.loads(x) for x in (tmp_path / "refine-eval" / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert [p["attempt"] for p in preds] == [0, 0, 1, 1]
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "refine-eval"), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["rows"]
    assert [x["experiment"] for x in rows] == ["refine-eval (before refine)", "refine-eval (after refine)"]
    assert [x["values"]["is_correct"] for x in rows] == [0.0, 0.5]


def test_a_job_id_or_name_stands_for_its_local_run_dir(eval_run, tmp_path, monkeypatch):
    """refine-data, compare and submission build take the job `arcctl submit` printed, as the other
    RUN arguments do (they said 'no eval/predictions.jsonl' for a job id); a job of another host is
    refused, naming it."""
    from jobs.registry import Registry

    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    spec = JobSpec.read(eval_run)
    reg = Registry()
    jid = reg.reserve(spec)
    reg.set_state(jid, "completed", exit_code=0)
    by_path, by_job = tmp_path / "path.json.gz", tmp_path / "job.json.gz"
    assert _refine_data(eval_run, "-o", by_path).exit_code == 0
    r = _refine_data(jid, "-o", by_job)
    assert r.exit_code == 0, r.output
    assert refine.load(by_job).records == refine.load(by_path).records
    r = CliRunner().invoke(app, ["compare", spec.name, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["rows"][0]["source"].startswith(str(eval_run))
    out = tmp_path / "submission.json"
    r = CliRunner().invoke(app, ["submission", "build", jid[:6], "-o", str(out)])
    assert r.exit_code == 0 and set(json.loads(out.read_text())) == set(COMPLETIONS), r.output
    remote = spec.model_copy(update={"host": "login", "run_dir": "/runs/elsewhere", "name": "remote-eval"})
    rid = reg.reserve(remote)
    r = _refine_data("remote-eval", "-o", tmp_path / "r.json")
    assert r.exit_code == 2
    assert r.output.strip() == (
        f"error: remote-eval: job {rid} ran on login; this command reads files on this machine "
        "(copy /runs/elsewhere here first)"
    )
