"""Bad input through the real binary: one line on stderr naming the problem, a non-zero exit, no
traceback, nothing written."""

from __future__ import annotations

import pytest

from jobs.registry import Registry
from tests.cli_jobs.conftest import run_cli, tree


def _assert_one_line_error(res, needle: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    err = res.stderr.strip()
    assert "\n" not in err and "Traceback" not in res.stderr, res.stderr
    assert err.startswith("error: ") and needle in err, err
    assert res.stdout == ""


@pytest.mark.parametrize(
    "args,needle",
    [
        (["render", "grpx"], "unknown template 'grpx' (did you mean 'grpo'?)"),
        (["submit", "grpo", "--profile", "locl"], "unknown profile 'locl' (did you mean 'local'?)"),
        (
            ["submit", "grpo", "-p", "learnig_rate=1e-6"],
            "unknown parameter 'learnig_rate' for kind grpo (did you mean 'learning_rate'?)",
        ),
        (["submit", "grpo", "-p", "learning_rate=abc"], "learning_rate='abc'"),
        (["render", "grpo", "-p", "num_generations=1"], "num_generations"),
        (["submit", "grpo", "-p", "beta=0.1", "-p", "beta=0.2"], "given twice"),
        (["submit", "grpo", "-p", "learning_rate=1e-6,2e-6", "--run-dir", "/tmp/x"], "sweep"),
        (["submit", "broken"], "broken.toml:4: malformed TOML"),
        (["tail", "nosuchjob"], "nosuchjob"),
    ],
)
def test_bad_input_cli(home, args, needle):
    (home.parent / "config" / "templates" / "broken.toml").write_text('[template]\nkind = "grpo"\nname = "x"\nlr = \n')
    before = tree(home)
    res = run_cli(*args)
    _assert_one_line_error(res, needle)
    assert tree(home) == before  # nothing written (not even a registry)


@pytest.mark.parametrize("cmd", ["show", "cancel", "resume", "fork"])
def test_unknown_job_id(home, cmd):
    Registry().close()  # an existing, empty registry
    before = tree(home)
    res = run_cli(cmd, "deadbeef")
    _assert_one_line_error(res, "no job 'deadbeef'")
    assert tree(home) == before


def test_no_registry_yet(home):
    res = run_cli("show", "abc")
    _assert_one_line_error(res, "no jobs yet")
    res = run_cli("ls", check=True)
    assert "(no jobs)" in res.stdout
    assert not home.exists()  # read-only commands create nothing


def test_existing_run_dir_is_never_overwritten(home, tmp_path):
    existing = tmp_path / "mine"
    existing.mkdir()
    (existing / "precious.txt").write_text("keep")
    res = run_cli("submit", "fake", "--run-dir", str(existing))
    _assert_one_line_error(res, f"run dir {existing} already exists")
    assert (existing / "precious.txt").read_text() == "keep" and sorted(p.name for p in existing.iterdir()) == [
        "precious.txt"
    ]
    runs = home / "runs"
    (runs / "taken").mkdir(parents=True)
    res = run_cli("submit", "fake", "--name", "taken")
    _assert_one_line_error(res, "already exists")
    assert list((runs / "taken").iterdir()) == []


def test_auto_names_get_suffixes_not_overwrites(home):
    runs = home / "runs"
    (runs / "fake_lr1e-6").mkdir(parents=True)
    res = run_cli("render", "fake", "-p", "learning_rate=1e-6", "--json", check=True)
    import json

    [item] = json.loads(res.stdout)
    assert item["spec"]["name"] == "fake_lr1e-6-2"
    # two points whose names are the same (values apart only past the 12 digits a name keeps) still
    # get distinct dirs; the same value twice is refused (tests/cli_jobs/test_hostile_inputs_cli.py)
    res = run_cli("render", "fake", "-p", "learning_rate=1e-6,1.00000000000001e-6", "--json", check=True)
    names = [i["spec"]["name"] for i in json.loads(res.stdout)]
    assert names == ["fake_lr1e-6-2", "fake_lr1e-6-3"]


def test_submit_of_sweep_with_one_bad_point_launches_none(home):
    res = run_cli("submit", "fake", "-p", "learning_rate=1e-6,-1")
    _assert_one_line_error(res, "greater than 0")
    assert not (home / "runs").exists()


def test_resume_of_a_running_job_is_refused(home):
    from tests.cli_jobs.conftest import wait_for

    jid = run_cli("submit", "fakeslow", "-q", check=True).stdout.strip()
    res = run_cli("resume", jid)
    _assert_one_line_error(res, f"is running; cancel it before resuming (arcctl cancel {jid})")
    run_cli("cancel", jid, check=True)
    wait_for(lambda: '"cancelled"' in run_cli("ls", "--json", check=True).stdout)


def test_runs_root_with_unset_variable(home):
    (home.parent / "config" / "profiles" / "scratch.toml").write_text(
        '[profile]\nbackend = "local"\nruns_root = "/scratch/$ARCCTL_TEST_UNSET_VAR/runs"\n'
    )
    res = run_cli("render", "fake", "--profile", "scratch")
    _assert_one_line_error(res, "uses an unset environment variable")
    res = run_cli("render", "fake", "--profile", "scratch", "--json", env={"ARCCTL_TEST_UNSET_VAR": "bob"}, check=True)
    import json

    assert json.loads(res.stdout)[0]["spec"]["run_dir"] == "/scratch/bob/runs/fake_lr1e-6"


def test_remote_runs_root_keeps_its_home_and_user_for_the_host(home):
    """`~` and $USER of a profile with a host are the remote user's: render (no connection)
    shows them as written, not this machine's expansion."""
    import json

    (home.parent / "config" / "profiles" / "cluster.toml").write_text(
        '[profile]\nbackend = "slurm"\nhost = "login-node"\nruns_root = "~/arc/$USER/runs/"\n'
    )
    res = run_cli("render", "fake", "--profile", "cluster", "--json", env={"USER": "localuser"}, check=True)
    [out] = json.loads(res.stdout)
    assert out["spec"]["run_dir"] == "~/arc/$USER/runs/fake_lr1e-6"
    assert out["spec"]["host"] == "login-node"
    text = run_cli("render", "fake", "--profile", "cluster", env={"USER": "localuser"}, check=True).stdout
    assert "~/arc/$USER/runs/fake_lr1e-6" in text and "localuser" not in text
