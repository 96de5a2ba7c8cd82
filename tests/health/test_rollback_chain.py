"""trainer.runner.run_chain: after a rollback the same process goes on in the child run dir; a
requeued job starts at the newest child; a run stopped by a signal does not go on (its requeue
will). The jobs themselves are stand-ins that write the events a real run writes."""

from __future__ import annotations

from pathlib import Path

from jobs import lineage, records
from jobs.spec import JobSpec
from tests.tiny_params import job_spec
from trainer import runner
from trainer.runfiles import RunFiles


def _spec(run: Path, parent: Path | None = None) -> JobSpec:
    from jobs.spec import CheckpointRef

    ref = CheckpointRef(run_dir=str(parent), checkpoint="checkpoint-2", name=parent.name) if parent else None
    spec = job_spec("grpo", run, {"model_path": "tiny", "dataset": "arc1/train"}, parent=ref, resume_from=ref)
    spec.write()
    return spec


def _rolled_back(run: Path, child: Path, signal: str | None = None) -> int:
    """What a collapsed run leaves: a stopped event and, when it rolled back, the child's spec."""
    files = RunFiles(run, enabled=True)
    files.started(step=0)
    _spec(child, parent=run)
    files.event(
        records.EV_ROLLBACK,
        step=3,
        status=records.ROLLBACK_CONTINUED,
        child_run_dir=str(child),
        child_name=child.name,
        checkpoint="checkpoint-2",
    )
    files.event(records.EV_STOPPED, reason="collapse", signal=signal, step=3)
    files.close()
    return 0


def _completed(run: Path) -> int:
    files = RunFiles(run, enabled=True)
    files.started(step=2)
    files.event(records.EV_STOPPED, reason="completed", step=8)
    files.close()
    return 0


def test_the_process_goes_on_in_each_child(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "a_fork2", tmp_path / "a_fork2_fork2"
    _spec(a)
    ran = []

    def run_one(run: Path) -> int:
        ran.append(run.name)
        return {
            "a": lambda: _rolled_back(a, b),
            "a_fork2": lambda: _rolled_back(b, c),
            "a_fork2_fork2": lambda: _completed(c),
        }[run.name]()

    assert runner.run_chain(a, run_one) == 0
    assert ran == ["a", "a_fork2", "a_fork2_fork2"]
    assert lineage.rollback_chain(str(a)) == [str(a), str(b), str(c)]
    assert lineage.rollbacks_in_ancestry(str(c)) == 2
    # a requeue of the job (same run dir) starts where training went on, never in a collapsed run
    again = []
    assert runner.run_chain(a, lambda run: again.append(run.name) or 0) == 0
    assert again == ["a_fork2_fork2"]


def test_a_signal_or_a_failure_ends_the_chain(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _spec(a)
    ran = []
    assert runner.run_chain(a, lambda run: ran.append(run.name) or _rolled_back(a, b, signal="SIGTERM")) == 0
    assert ran == ["a"]  # preempted: the requeued job goes on in b
    assert runner.run_chain(a, lambda run: ran.append(run.name) or 3) == 3
    assert ran == ["a", "b"]
    assert runner.run_chain(b, lambda run: runner.EXIT_CRASH) == runner.EXIT_CRASH


def test_a_child_without_spec_is_not_followed(tmp_path):
    a = tmp_path / "a"
    _spec(a)
    files = RunFiles(a, enabled=True)
    files.event(records.EV_ROLLBACK, step=3, status=records.ROLLBACK_CONTINUED, child_run_dir=str(tmp_path / "gone"))
    files.close()
    assert lineage.rollback_child(str(a)) is None and lineage.rollback_chain(str(a)) == [str(a)]
