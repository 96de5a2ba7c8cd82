"""Parameter values that render accepted but the GPU host refused after the job had queued and
loaded its model: scheduler and loss names TRL/transformers do not build, sandbox limits that
overflow setitimer/setrlimit, integers past 64 bits, infinite eval temperatures, task ids the data
set lacks, SFT on a set without programs. Each is now one error line at render, and the refusal is
checked against the library that would have failed."""

from __future__ import annotations

import json
import resource
import signal
import typing

import pytest

from jobs.errors import SpecError
from jobs.params import INT64_MAX, PARAMS_BY_KIND, LossType, SchedulerName
from jobs.sweep import coerce
from tests.cli_jobs.conftest import one_line_error, run_cli, tree

pytestmark = pytest.mark.timeout(120)


def test_only_schedulers_transformers_builds_unaided_are_accepted():
    torch = pytest.importorskip("torch")
    from transformers import get_scheduler
    from transformers.trainer_utils import SchedulerType

    ours = set(typing.get_args(SchedulerName))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    for name in (s.value for s in SchedulerType):
        if name in ours:
            get_scheduler(name, opt, num_warmup_steps=1, num_training_steps=10)
            continue
        # what the trainer would have hit: kwargs it never passes, or an eval strategy GRPO lacks
        with pytest.raises((ValueError, TypeError)):
            get_scheduler(name, opt, num_warmup_steps=1, num_training_steps=10)
            from transformers import TrainingArguments

            TrainingArguments(output_dir="/nonexistent", lr_scheduler_type=name, report_to="none")
        with pytest.raises(SpecError, match="lr_scheduler_type"):
            coerce("grpo", "lr_scheduler_type", name)
    assert ours <= {s.value for s in SchedulerType}
    with pytest.raises(SpecError, match="lr_scheduler_type"):
        coerce("sft", "lr_scheduler_type", "cosine_annealing")


def test_loss_types_are_trls():
    pytest.importorskip("trl")
    from trl import GRPOConfig

    doc = GRPOConfig.__dataclass_fields__["loss_type"].metadata["help"]
    for name in typing.get_args(LossType):
        assert f"'{name}'" in doc, name
    with pytest.raises(SpecError, match="loss_type"):
        coerce("grpo", "loss_type", "dapo2")
    # VESPO with vLLM: TRL's default importance-sampling mode is one VESPO refuses at start
    mode = GRPOConfig.__dataclass_fields__["vllm_importance_sampling_mode"].default
    assert mode not in ("token_truncate", "token_mask")


def test_vespo_with_vllm_is_one_line(home):
    res = run_cli("render", "grpo", "-p", "loss_type=vespo", "-p", "use_vllm=true")
    one_line_error(res, "vespo", "use_vllm")


SANDBOXED = [k for k, m in PARAMS_BY_KIND.items() if "sandbox_timeout_s" in m.model_fields]


@pytest.mark.parametrize("kind", SANDBOXED)
def test_sandbox_limits_that_overflow_the_kernel_calls_are_refused(kind):
    with pytest.raises(OverflowError):  # what the worker would hit on the GPU host
        signal.setitimer(signal.ITIMER_REAL, 1e300, 0)
    with pytest.raises(OverflowError):
        resource.setrlimit(resource.RLIMIT_AS, (10**13 * 1024 * 1024, 10**13 * 1024 * 1024))
    for key, value in [("sandbox_timeout_s", "1e300"), ("sandbox_memory_mb", str(10**13)), ("n_jobs", "100000")]:
        with pytest.raises(SpecError, match=key):
            coerce(kind, key, value)
    # the largest accepted values still fit the calls
    top_mb = PARAMS_BY_KIND[kind].model_fields["sandbox_memory_mb"].metadata
    assert max(m.le for m in top_mb if hasattr(m, "le")) * 1024 * 1024 * 2 < INT64_MAX
    assert coerce(kind, "sandbox_timeout_s", "86400") == 86400


def test_integers_past_64_bits_are_refused(home):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({"a": 0, "?": 1}, unk_token="?"))
    with pytest.raises(OverflowError):  # the trainer's tokenizer, truncating at max_seq_length
        tok.enable_truncation(max_length=2**64)
    tok.enable_truncation(max_length=INT64_MAX)
    res = run_cli("render", "grpo", "-p", f"max_seq_length={2**64}")
    one_line_error(res, "max_seq_length", "64 bits")
    res = run_cli("render", "grpo", "-p", f'rollback_changes={{"max_steps": {2**64}}}')
    one_line_error(res, "rollback_changes", "64 bits")
    assert run_cli("render", "grpo", "-p", f"save_steps={INT64_MAX}").returncode == 0


def test_an_infinite_eval_temperature_is_refused(home):
    for number in ("1e999", "Infinity", "NaN"):
        res = run_cli("render", "eval", "-p", f'sampling=[{{"n": 1, "temperature": {number}}}]')
        one_line_error(res, "sampling")


@pytest.mark.parametrize(
    "kind,dataset,known", [("grpo", "arc1/train", "007bbfb7"), ("eval", "kaggle2024/eval", "00576224")]
)
def test_task_ids_the_built_in_set_lacks_are_refused_before_launch(home, kind, dataset, known):
    res = run_cli("submit", kind, "-p", f"dataset={dataset}", "-p", 'task_ids=["007bbfc7", "nope"]')
    one_line_error(res, "task_ids: 007bbfc7, nope not in dataset", dataset)
    assert tree(home / "runs") == []
    ok = run_cli("render", kind, "-p", f"dataset={dataset}", "-p", f'task_ids=["{known}"]')
    assert ok.returncode == 0, ok.stderr


def test_task_ids_a_local_task_file_lacks_are_refused(home, tmp_path):
    tasks = tmp_path / "tasks.json"
    pair = {"input": [[1]], "output": [[1]]}
    tasks.write_text(json.dumps({"t1": {"train": [pair], "test": [pair]}}))
    one_line_error(run_cli("render", "grpo", "-p", f"dataset={tasks}", "-p", 'task_ids=["t2"]'), "t2", str(tasks))
    assert run_cli("render", "grpo", "-p", f"dataset={tasks}", "-p", 'task_ids=["t1"]').returncode == 0


def test_sft_on_a_set_without_programs_or_with_task_ids_is_refused(home):
    one_line_error(run_cli("render", "sft", "-p", "dataset=arc1/train"), "no solution programs")
    assert run_cli("render", "sft", "-p", "dataset=arc1/train", "-p", "synthetic_tasks=4").returncode == 0
    one_line_error(run_cli("render", "sft", "-p", 'task_ids=["t1"]'), "task_ids")


def test_fork_checks_the_inputs_submit_checks(home):
    """A fork went straight to the backend: a data set typo, a missing helper module or a task id
    the set lacks was found only by the trainer."""
    parent = run_cli("submit", "fake", "-q", "--profile", "quick", check=True).stdout.split()[0]
    for change, needle in [
        ("dataset=arc1/trian", "did you mean 'arc1/train'"),
        ("common_module=/nonexistent/helpers.py", "common_module /nonexistent/helpers.py"),
        ('task_ids=["nope"]', "task_ids: nope not in dataset"),
    ]:
        extra = ["-p", "dataset=arc1/train"] if "task_ids" in change else []
        one_line_error(run_cli("fork", parent, "-p", change, *extra), needle)
    assert [p.name for p in (home / "runs").iterdir()] == ["fake_lr1e-6"]
    assert len(run_cli("ls", "--json", "--no-refresh", check=True).stdout.split('"id"')) == 2  # the parent only
