"""Auto-resume on crashes the user names (auto_resume.crash_patterns): a local job that dies with
a CUDA "illegal memory access" in its stderr is run again, each time later (backoff_s, doubling),
until it succeeds or max_restarts is reached; other failures are left alone. The same delay
reaches Slurm (--begin) and HTCondor (deferral_time)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.clusters.conftest import cli, ls, make_spec, wait_for

CRASH = "RuntimeError: CUDA error: an illegal memory access was encountered"
# each attempt records when it started and ended; it crashes until its attempt number reaches OK_AT
SCRIPT = (
    "n=$(( $(cat attempts 2>/dev/null || echo 0) + 1 )); echo $n > attempts; date +%s.%N >> starts; "
    'if [ $n -lt $OK_AT ]; then echo "$MSG" >&2; date +%s.%N >> ends; exit 1; fi; echo done'
)
pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def env(tmp_path):
    cfg = tmp_path / "config"
    (cfg / "profiles").mkdir(parents=True)
    (cfg / "profiles" / "crashy.toml").write_text(
        '[profile]\nbackend = "local"\n[options]\ncancel_grace_s = 1\n'
        'auto_resume = { crash_patterns = ["illegal memory access", "NCCL error"], backoff_s = 2, max_restarts = 2 }\n'
    )
    return {**os.environ, "ARCCTL_CONFIG_DIR": str(cfg), "ARCCTL_HOME": str(tmp_path / "home")}


def submit(env, name: str, ok_at: int, msg: str) -> str:
    return cli(
        {**env, "OK_AT": str(ok_at), "MSG": msg},
        "submit",
        "command",
        "--profile",
        "crashy",
        "--name",
        name,
        "-q",
        "--",
        "/bin/sh",
        "-c",
        f"OK_AT={ok_at} MSG='{msg}'; {SCRIPT}",
    ).stdout.split()[0]


def _times(run_dir: str, name: str) -> list[float]:
    return [float(x) for x in Path(run_dir, name).read_text().split()]


def test_named_crashes_restart_with_backoff_until_the_cap(env):
    flaky = submit(env, "flaky", 3, CRASH)  # crashes twice, then succeeds
    doomed = submit(env, "doomed", 99, CRASH)  # crashes every time
    other = submit(env, "other", 99, "ValueError: a bug of the users own")

    def settled():
        js = ls(env)  # each ls polls (the watcher)
        done = js[flaky]["state"] == "completed" and js[doomed]["state"] == "failed" and js[doomed]["restarts"] == 2
        return done and js

    js = wait_for(settled, timeout=180, interval=0.5, what="flaky completed and doomed given up")
    assert js[flaky]["restarts"] == 2 and js[flaky]["exit_code"] == 0
    rd = js[flaky]["run_dir"]
    starts, ends = _times(rd, "starts"), _times(rd, "ends")
    assert len(starts) == 3 and len(ends) == 2
    assert starts[1] - ends[0] >= 2 and starts[2] - ends[1] >= 4  # backoff_s, doubled
    assert Path(rd, "stdout.log").read_text().strip().endswith("done")

    assert len(_times(js[doomed]["run_dir"], "starts")) == 3  # the first run + max_restarts
    js = ls(env)
    assert js[doomed]["state"] == "failed" and js[doomed]["restarts"] == 2
    assert js[other]["state"] == "failed" and js[other]["restarts"] == 0  # not a named crash
    assert len(_times(js[other]["run_dir"], "starts")) == 1


def test_bad_crash_settings_are_one_error(tmp_path):
    from jobs.errors import SpecError
    from jobs.recovery import ResumePolicy

    with pytest.raises(SpecError, match=r"crash_patterns: '\(' is not a regular expression"):
        ResumePolicy.from_options({"auto_resume": {"crash_patterns": ["("]}})
    with pytest.raises(SpecError, match="backoff_s must be seconds"):
        ResumePolicy.from_options({"auto_resume": {"backoff_s": -1}})


def test_the_backoff_reaches_slurm_and_htcondor():
    import htcondor2

    from jobs.backends.htcondor import HTCondorBackend, validate_submit
    from jobs.backends.slurm import SlurmBackend
    from jobs.recovery import with_start_delay

    spec = with_start_delay(make_spec("/scratch/run"), 120)
    assert "#SBATCH --begin=now+120\n" in SlurmBackend({}).render(spec).text
    text = HTCondorBackend({"universe": "vanilla"}).render(spec).text
    validate_submit(text)
    assert htcondor2.Submit(text)["deferral_time"] == "(CurrentTime + 120)"
    cleared = with_start_delay(spec, 0)  # a manual resume starts at once
    assert "--begin" not in SlurmBackend({}).render(cleared).text
