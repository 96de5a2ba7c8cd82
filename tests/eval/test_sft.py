"""SFT jobs on the tiny model with real TRL: the loss falls, telemetry files, LoRA variants, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.records import check_run_dir
from jobs.rundir import list_checkpoints, read_jsonl
from jobs.spec import JobSpec
from tests.tiny_params import CONSTANT_LR, job_spec, tiny_sft_params

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _spec(run_dir: Path, model: Path, **over) -> JobSpec:
    params = tiny_sft_params(model, max_steps=24, save_steps=12, learning_rate=3e-3, seed=0, lora_alpha=16)
    params.update(CONSTANT_LR, use_rslora=False, use_dora=False)
    return job_spec("sft", run_dir, {**params, **over})


def _run(spec: JobSpec) -> int:
    from trainer import sft

    spec.write()
    return sft.main(spec)


def test_sft_lowers_loss_and_writes_telemetry(tmp_path, tiny_model_dir):
    run = tmp_path / "sft"
    assert _run(_spec(run, tiny_model_dir)) == 0
    metrics = [m for m in read_jsonl(run / "metrics.jsonl") if "loss" in m]
    assert [m["step"] for m in metrics] == list(range(1, 25))
    first = sum(m["loss"] for m in metrics[:4]) / 4
    last = sum(m["loss"] for m in metrics[-4:]) / 4
    assert last < first - 0.2, (first, last)
    for key in ("learning_rate", "grad_norm", "num_tokens"):
        assert all(key in m for m in metrics), key
    assert all(m["tokens_per_second"] > 0 for m in metrics[1:])
    events = [e["event"] for e in read_jsonl(run / "events.jsonl")]
    assert events[0] == "started" and events.count("checkpoint_saved") == 2 and events[-1] == "stopped"
    assert [c.step for c in list_checkpoints(str(run)) if c.valid] == [12, 24]
    assert (run / "final" / "adapter_model.safetensors").is_file()
    assert check_run_dir(str(run)) == []  # every record the trainer wrote matches jobs.records


def test_sft_resume_continues_at_the_next_step(tmp_path, tiny_model_dir):
    run = tmp_path / "sft"
    assert _run(_spec(run, tiny_model_dir, max_steps=4, save_steps=4)) == 0
    # same run dir, longer horizon: the run restarts from its own newest checkpoint
    assert _run(_spec(run, tiny_model_dir, max_steps=6, save_steps=4)) == 0
    steps = [m["step"] for m in read_jsonl(run / "metrics.jsonl") if "loss" in m]
    assert steps == [1, 2, 3, 4, 5, 6]
    started = [e for e in read_jsonl(run / "events.jsonl") if e["event"] == "started"]
    assert started[1]["step"] == 4 and started[1]["resume_from"].endswith("checkpoint-4")


def test_an_sft_fork_trains_at_its_own_learning_rate(tmp_path, tiny_model_dir):
    """The checkpoint's scheduler carries the parent's rate; the fork must use the one it asks for."""
    from jobs.fork import fork_spec

    parent = tmp_path / "sft"
    assert _run(_spec(parent, tiny_model_dir, max_steps=4, save_steps=4)) == 0
    child = fork_spec(str(parent), "checkpoint-4", {"learning_rate": 1e-3, "max_steps": 6})
    assert _run(child) == 0
    rates = [m["learning_rate"] for m in read_jsonl(Path(child.run_dir) / "metrics.jsonl") if "loss" in m]
    assert [m["step"] for m in read_jsonl(Path(child.run_dir) / "metrics.jsonl") if "loss" in m] == [5, 6]
    assert rates == [pytest.approx(1e-3)] * 2
    assert all(m["learning_rate"] == pytest.approx(3e-3) for m in read_jsonl(parent / "metrics.jsonl") if "loss" in m)


def test_dora_rslora_packing_eval_loss(tmp_path, tiny_model_dir):
    run = tmp_path / "sft"
    spec = _spec(
        run,
        tiny_model_dir,
        max_steps=2,
        save_steps=2,
        use_dora=True,
        use_rslora=True,
        eval_fraction=0.25,
        lora_target_modules=["q_proj", "v_proj"],
        packing=True,
    )
    assert _run(spec) == 0
    cfg = json.loads((run / "final" / "adapter_config.json").read_text())
    assert cfg["use_dora"] is True and cfg["use_rslora"] is True
    assert sorted(cfg["target_modules"]) == ["q_proj", "v_proj"]
    assert any("eval_loss" in m for m in read_jsonl(run / "metrics.jsonl"))


def test_program_dataset_file_and_errors(tmp_path, tiny_model_dir):
    from trainer.data import load_tasks

    task = load_tasks("arc1/train")[0]
    line = {"task_id": task.task_id, **task.to_dict(), "program": "def transform(input_grid):\n    return input_grid\n"}
    f = tmp_path / "programs.jsonl"
    f.write_text(json.dumps(line) + "\n")
    run = tmp_path / "sft"
    assert _run(_spec(run, tiny_model_dir, synthetic_tasks=0, dataset=str(f), max_steps=1, save_steps=1)) == 0
    f.write_text(json.dumps({k: v for k, v in line.items() if k != "program"}) + "\n")
    run2 = tmp_path / "sft2"
    assert _run(_spec(run2, tiny_model_dir, synthetic_tasks=0, dataset=str(f), max_steps=1)) == 2
    err = [e for e in read_jsonl(run2 / "events.jsonl") if e["event"] == "error"][0]
    assert f"task {task.task_id}: no program" in err["message"]


def test_completion_rebuilds_the_program():
    from trainer.extract import extract_program
    from trainer.sft import completion_for
    from trainer.synthetic import generate_tasks

    for _task, program in generate_tasks(6, seed=1):
        # what the model should produce after the prompt's prefix extracts back to the program
        assert extract_program(completion_for(program)) == program.rstrip() + "\n"


def test_data_parallel_two_processes_match_one(tmp_path, tiny_model_dir):
    """A job given 2 devices relaunches itself data-parallel (torchrun + gloo on CPU here,
    accelerate on GPUs); with the same global batch its losses equal the 1-process run's."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    losses = {}
    for n, accum in ((1, 2), (2, 1)):
        run = tmp_path / f"dp{n}"
        _spec(run, tiny_model_dir, max_steps=4, save_steps=4, gradient_accumulation_steps=accum).write()
        env = dict(os.environ, PYTHONPATH=str(root), ARCCTL_DATA_PARALLEL=str(n))
        r = subprocess.run(
            [sys.executable, "-m", "trainer", "run", str(run)],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        started = [e for e in read_jsonl(run / "events.jsonl") if e["event"] == "started"]
        assert len(started) == 1 and started[0]["world_size"] == n  # rank 0 alone writes telemetry
        assert started[0]["global_batch"] == 4
        losses[n] = [m["loss"] for m in read_jsonl(run / "metrics.jsonl") if "loss" in m]
    assert len(losses[1]) == len(losses[2]) == 4
    assert losses[2] == pytest.approx(losses[1], rel=1e-3)


def test_completion_only_loss_masks_the_prompt(tmp_path, tiny_model_dir):
    """The labels TRL's SFTTrainer really trains on, from its own data loader: with
    completion_only_loss the prompt tokens are ignored (-100) and exactly the completion's tokens
    count; without it every token does."""
    from datasets import Dataset
    from trl import SFTTrainer

    from trainer import model_loading, sft

    spec = _spec(tmp_path / "mask", tiny_model_dir, synthetic_tasks=4, per_device_train_batch_size=1)
    p = spec.typed_params()
    model, tokenizer, peft_config = model_loading.load_for_training(p)
    examples = sft.build_examples(sft.task_program_pairs(p), p, tokenizer)[:1]
    prompt_ids = tokenizer(examples[0]["prompt"], add_special_tokens=False)["input_ids"]
    whole_ids = tokenizer(examples[0]["prompt"] + examples[0]["completion"], add_special_tokens=False)["input_ids"]
    assert whole_ids[: len(prompt_ids)] == prompt_ids  # the prompt tokenizes the same inside the example
    counted = {}
    for only in (True, False):
        q = JobSpec(**{**spec.model_dump(), "params": {**spec.params, "completion_only_loss": only}}).typed_params()
        trainer = SFTTrainer(
            model=model,
            args=sft.sft_config(q, tmp_path / f"out-{only}", False, has_eval=False),
            train_dataset=Dataset.from_list(examples),
            processing_class=tokenizer,
            peft_config=None,
        )  # the labels do not depend on the adapter
        batch = next(iter(trainer.get_train_dataloader()))
        ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
        start = next(i for i in range(len(ids)) if ids[i : i + len(prompt_ids)] == prompt_ids)
        end = start + len(prompt_ids)
        counted[only] = [i for i, lab in enumerate(labels) if lab != -100]
        assert all(labels[i] == ids[i] for i in counted[only])
        if only:
            assert all(lab == -100 for lab in labels[:end])  # nothing of the prompt is learned
            assert counted[only][0] == end  # the loss starts at the first completion token
        else:
            assert counted[only][0] <= start  # the prompt is learned too
    assert len(counted[True]) < len(counted[False]) - len(prompt_ids) // 2
