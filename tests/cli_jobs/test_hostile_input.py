"""Hostile and clumsy input: non-finite numbers, broken user templates, paths out of the runs root,
impossible run dirs, a read-only home, a damaged registry, 100k-deep JSON and 1e400 numbers in run
dirs, torn JSONL lines, out-of-range arguments and oversized sweeps. Each one ends in one clear
line (exit 2) or is read around, never a traceback, never a file left behind."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from jobs import rundir
from jobs.errors import RegistryError, SpecError
from jobs.fork import fork_spec
from jobs.params import PARAMS_BY_KIND
from jobs.registry import Registry
from jobs.spec import JobSpec
from jobs.submit import build_specs, fork_job
from jobs.sweep import coerce
from tests.cli_jobs.conftest import ARCCTL, one_line_error, run_cli, tree

pytestmark = pytest.mark.timeout(300)
DEEP = "[" * 100_000 + "]" * 100_000
HUGE = "9" * 400  # an integer past float range


def _no_traceback(res) -> None:
    assert "Traceback" not in res.stderr + res.stdout, res.stderr[-2000:]


# ---- non-finite numbers -------------------------------------------------------------------------


def _has_float(ann) -> bool:
    return ann is float or any(_has_float(a) for a in typing.get_args(ann))


FLOAT_FIELDS = sorted(
    {
        (kind, name)
        for kind, model in PARAMS_BY_KIND.items()
        for name, f in model.model_fields.items()
        if _has_float(f.annotation) and typing.get_origin(f.annotation) is not dict
    }
)
DICT_FIELDS = sorted(
    {
        (kind, name)
        for kind, model in PARAMS_BY_KIND.items()
        for name, f in model.model_fields.items()
        if typing.get_origin(f.annotation) is dict
    }
)


def test_the_float_fields_are_found():
    assert ("grpo", "learning_rate") in FLOAT_FIELDS and ("eval", "temperature") in FLOAT_FIELDS
    assert ("sft", "eval_fraction") in FLOAT_FIELDS and ("grpo", "health") in DICT_FIELDS
    assert ("grpo", "rollback_changes") in DICT_FIELDS


@pytest.mark.parametrize("kind,field", FLOAT_FIELDS)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "NaN", "1e309", "-1e400", float("inf"), float("nan")])
def test_every_float_parameter_refuses_non_finite(kind, field, value):
    with pytest.raises(SpecError) as e:
        coerce(kind, field, value, where="-p ")
    assert str(e.value).startswith(f"-p {field}=") and "finite" in str(e.value)


@pytest.mark.parametrize("kind,field", DICT_FIELDS)
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_dict_parameters_refuse_json_non_finite(kind, field, number):
    key = "kl_max" if field == "health" else "beta"
    with pytest.raises(SpecError) as e:
        coerce(kind, field, f'{{"{key}": {number}}}')
    assert f"({field}.{key})" in str(e.value) and "finite" in str(e.value)


def test_spec_json_with_non_finite_is_refused(home):
    spec = build_specs("grpo", [], "local")[0]
    data = json.loads(spec.to_json())
    data["params"]["learning_rate"] = float("nan")
    with pytest.raises(ValidationError, match="finite"):
        JobSpec.model_validate(data)
    with pytest.raises(ValidationError, match="finite"):
        JobSpec.from_json(json.dumps(data))  # NaN as JSON writes it
    data["params"]["learning_rate"] = 1e-6
    data["params"]["health"] = {"kl_max": float("inf")}
    with pytest.raises(ValidationError, match="finite"):
        JobSpec.model_validate(data)


@pytest.mark.parametrize("value", ["inf", "nan", "1e309"])
def test_cli_refuses_non_finite_and_writes_nothing(home, value):
    before = tree(home)
    one_line_error(run_cli("submit", "grpo", "-p", f"learning_rate={value}"), "learning_rate=", "finite")
    one_line_error(run_cli("render", "grpo", "-p", 'health={"kl_max": NaN}'), "health.kl_max", "finite")
    assert tree(home) == before


def test_user_toml_inf_is_refused_naming_the_file(home):
    path = home.parent / "config" / "templates" / "infl.toml"
    path.write_text(
        '[template]\nkind = "grpo"\nname = "x"\n[params]\nmodel_path = "m"\ndataset = "d"\nlearning_rate = inf\n'
    )
    one_line_error(run_cli("render", "infl"), str(path), "learning_rate", "finite")
    path.write_text(
        '[template]\nkind = "sft"\nname = "x"\n[params]\nmodel_path = "m"\ndataset = "d"\nwarmup_ratio = nan\n'
    )
    one_line_error(run_cli("submit", "infl"), str(path), "warmup_ratio", "finite")


def test_fork_refuses_non_finite(home):
    parent = build_specs("grpo", [], "local")[0]
    parent.write()
    for value in ("nan", "inf", "1e309"):
        with pytest.raises(SpecError, match="fork: learning_rate=.*finite"):
            fork_spec(parent.run_dir, None, {"learning_rate": value})
    with pytest.raises(SpecError, match=r"rollback_changes\.beta"):
        fork_spec(parent.run_dir, None, {"rollback_changes": '{"beta": Infinity}'})


# ---- broken user templates -----------------------------------------------------------------------


def test_broken_user_templates_are_one_warning_each_and_skipped(home):
    cfg = home.parent / "config"
    binary = cfg / "templates" / "binary.toml"
    binary.write_bytes(b'[template]\nkind = "grpo"\nname = "\xff\xfe"\n')
    deep = cfg / "templates" / "deep.toml"
    deep.write_text("a = " + DEEP + "\n")
    deep_tables = cfg / "profiles" / "deep.toml"
    deep_tables.write_text("a = " + "{x = " * 3000 + "1" + "}" * 3000 + "\n")
    fifo = cfg / "templates" / "fifo.toml"
    os.mkfifo(fifo)  # reading it would block `arcctl templates` forever
    res = run_cli("templates", timeout=60)
    assert res.returncode == 0, res.stderr
    _no_traceback(res)
    warnings = res.stderr.strip().splitlines()
    assert len(warnings) == 4 and all(w.startswith("warning: ") and w.endswith("(skipped)") for w in warnings)
    assert f"{fifo}: not a regular file" in res.stderr
    assert f"{binary}: not UTF-8 text (byte 0xff" in res.stderr
    assert f"{deep}: malformed TOML: nested too deeply" in res.stderr
    assert f"{deep_tables}: malformed TOML: nested too deeply" in res.stderr
    listed = [line.split()[0] for line in res.stdout.splitlines() if line.startswith("  ")]
    assert {"grpo", "sft", "eval", "fake", "local", "quick"} <= set(listed)
    assert not {"binary", "deep", "fifo"} & set(listed)
    data = json.loads(run_cli("templates", "--json", check=True).stdout)
    assert sum("error" in t for t in data["templates"]) == 3 and sum("error" in p for p in data["profiles"]) == 1
    # commands that load other templates keep working; the broken ones are one clear error
    assert run_cli("render", "fake", check=True).stdout.count("# [1/1]") == 1
    one_line_error(run_cli("render", "binary"), str(binary), "not UTF-8")
    one_line_error(run_cli("render", "fake", "--profile", "deep"), str(deep_tables), "nested too deeply")


# ---- names and run dirs --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../x", "..", "a/b", "/abs", "a\nb", "tab\there", ""])
def test_fork_name_is_one_folder_name(home, name):
    parent = build_specs("grpo", [], "local")[0]
    parent.write()
    with pytest.raises(SpecError, match="--name"):
        fork_spec(parent.run_dir, None, {}, name=name)
    reg = Registry()
    reg.reserve(parent, state="completed")
    before = tree(home.parent)
    with pytest.raises(SpecError, match="--name"):
        fork_job(reg, parent.name, None, {}, name)
    assert tree(home.parent) == before


def test_fork_name_through_the_cli(home):
    parent = build_specs("fake", [], "local")[0]
    parent.write()
    Registry().reserve(parent, state="completed")

    def files() -> list[str]:  # SQLite's -wal/-shm come and go with the connections, whoever holds them
        return [p for p in tree(home.parent) if not p.endswith(("-wal", "-shm"))]

    before = files()
    one_line_error(run_cli("fork", parent.name, "--name", "../../escaped"), "'../../escaped'")
    assert files() == before and not (home.parent.parent / "escaped").exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--run-dir", "{tmp}/newline\nrun"], "control characters"),
        (["--name", "new\nline"], "control characters"),
        (["--name", "../outside"], "one folder name"),
    ],
)
def test_names_and_run_dirs_with_control_chars_or_slashes(home, tmp_path, args, needle):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    before = tree(tmp_path)
    one_line_error(run_cli("submit", "fake", *args), needle)
    one_line_error(run_cli("render", "fake", *args), needle)
    assert tree(tmp_path) == before


def test_profile_runs_root_with_newline(home):
    prof = home.parent / "config" / "profiles" / "nl.toml"
    prof.write_text('[profile]\nbackend = "local"\nruns_root = "/tmp/a\\nb"\n')
    one_line_error(run_cli("render", "fake", "--profile", "nl"), "runs_root", "control characters")


def _jobs_in_registry() -> int:
    from jobs import config

    return Registry().count() if config.registry_path().exists() else 0


def test_impossible_run_dirs(home, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    for rd, needle in (
        (f"/proc/arcctl-{os.getpid()}/run", "/proc/arcctl-"),
        (f"{a_file}/run", f"{a_file} is a file"),
        (f"{a_file}/deeper/run", f"{a_file} is a file"),
    ):
        one_line_error(run_cli("submit", "fake", "--run-dir", rd), f"run dir {rd}: cannot create it", needle)
    assert a_file.read_text() == "mine" and _jobs_in_registry() == 0


def _ro_mount_available() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-m", "--", "sh", "-c", "mount --bind / /mnt && mount -o remount,bind,ro /mnt"], capture_output=True
    )
    return probe.returncode == 0


def run_read_only(path: Path, *args: str) -> subprocess.CompletedProcess:
    """arcctl with `path` mounted read-only (a private mount namespace: nothing outlives the command).
    Root ignores file modes, so a mount is the one way to take write access away from it."""
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "--", "sh", "-c", script, "sh", str(path), ARCCTL, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


needs_ro_mount = pytest.mark.skipif(not _ro_mount_available(), reason="needs root and mount namespaces")


@needs_ro_mount
def test_read_only_home_keeps_read_commands_working(home):
    res = run_cli("submit", "fake", "-q", check=True)
    jid = res.stdout.strip()
    run_cli("ls", check=True)  # the fake job ends within a second or two; let ls record it
    ro = run_read_only(home, "ls")
    assert ro.returncode == 0, ro.stderr
    assert jid in ro.stdout and "fake_lr1e-6" in ro.stdout
    assert ro.stderr.startswith("note: ") and "read-only" in ro.stderr
    ro = run_read_only(home, "ls", "--json")
    assert ro.returncode == 0 and json.loads(ro.stdout)[0]["id"] == jid, ro.stderr
    ro = run_read_only(home, "show", jid)
    assert ro.returncode == 0 and f"id:             {jid}" in ro.stdout, ro.stderr
    ro = run_read_only(home, "templates")
    assert ro.returncode == 0 and "fake" in ro.stdout, ro.stderr
    ro = run_read_only(home, "render", "fake")
    assert ro.returncode == 0 and "fake_lr1e-6-2" in ro.stdout, ro.stderr
    ro = run_read_only(home, "submit", "fake")
    one_line_error(ro, "cannot create it", "Read-only file system")
    assert sorted(p.name for p in (home / "runs").iterdir()) == ["fake_lr1e-6"]


@needs_ro_mount
def test_read_only_registry_refuses_writes_in_one_line(home):
    reg = Registry()
    reg.reserve(build_specs("fake", [], "local")[0], state="completed")
    reg.close()
    code = (
        "from jobs.registry import Registry\nfrom jobs.errors import RegistryError\n"
        "r = Registry(); assert r.readonly and r.count() == 1\n"
        "try:\n    r.set_state(r.list()[0].id, 'failed')\nexcept RegistryError as e:\n    print(e)\n"
    )
    res = subprocess.run(
        [
            "unshare",
            "-m",
            "--",
            "sh",
            "-c",
            'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"',
            "sh",
            str(home),
            sys.executable,
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert "opened read-only" in res.stdout and "not writable" in res.stdout


def _damage_index(path: Path, index: str) -> None:
    """Overwrite the root page of one index: reads that avoid it work, the next insert fails."""
    db = sqlite3.connect(path)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (index,)).fetchone()[0]
    db.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xa5" * page_size)


def test_submit_on_a_damaged_registry_page(home):
    reg = Registry()
    for i in range(40):
        reg.reserve(build_specs("fake", [f"learning_rate={i + 1}e-6"], "local")[0], state="completed")
    reg.close()
    _damage_index(home / "registry.sqlite", "jobs_created")
    runs_before = tree(home / "runs")
    one_line_error(
        run_cli("submit", "fake", "-p", "learning_rate=0.5"),
        "registry.sqlite: database disk image is malformed",
        "damaged",
    )
    assert tree(home / "runs") == runs_before  # no orphan run dir


def test_registry_write_errors_are_registry_errors(home):
    reg = Registry()
    reg.reserve(build_specs("fake", [], "local")[0], state="completed")
    reg.close()
    _damage_index(home / "registry.sqlite", "jobs_created")
    reg = Registry()
    with pytest.raises(RegistryError, match="malformed"):
        reg.reserve(build_specs("fake", ["learning_rate=2e-6"], "local")[0])
    reg.close()


# ---- run dirs written by someone else ------------------------------------------------------------


@pytest.fixture
def hostile_run(tmp_path):
    run = tmp_path / "hostile"
    (run / "checkpoint-1").mkdir(parents=True)
    (run / "eval").mkdir()
    (run / "metrics.jsonl").write_text(
        '{"step":1,"reward":1e400,"kl":'
        + DEEP
        + "}\n"
        + '{"step":1e400,"reward":0.5,"time":1e400}\n'
        + DEEP
        + "\n"
        + '{"step":2,"reward":0.25,"kl":0.1}\n'
        + f'{{"step":{HUGE},"reward":{HUGE},"kl":-{HUGE},"entropy":{HUGE}}}\n'
    )
    (run / "completions.jsonl").write_text(
        '{"step":1e400,"completion":"x","reward":1e400,"tokens":1e400,"diag":{"ngram4_repeat_max":1e400}}\n'
        + DEEP
        + "\n"
        + '{"step":2,"completion":"y","reward":0,"tokens":3}\n'
        + f'{{"step":{HUGE},"completion":"z","reward":{HUGE},"tokens":{HUGE},'
        f'"diag":{{"ngram4_repeat_max":{HUGE},"unique_token_ratio":{HUGE}}}}}\n'
    )
    (run / "events.jsonl").write_text(
        '{"event":"started","time":1e400}\n'
        '{"event":"checkpoint_saved","step":1e400,"time":-1e400}\n'
        + DEEP
        + "\n"
        + f'{{"event":"stopped","time":{HUGE}}}\n'
    )
    (run / "checkpoint-1" / "trainer_state.json").write_text('{"global_step": 1e400}')
    (run / "checkpoint-1" / "model.safetensors").write_bytes(b"w")
    (run / "spec.json").write_text(DEEP)
    (run / "eval" / "metrics.json").write_text(DEEP)
    return run


def test_cli_readers_survive_deep_json_and_huge_numbers(home, hostile_run, tmp_path):
    for kind in ("--metrics", "--completions", "--events"):
        res = run_cli("tail", str(hostile_run), kind, "-n", "0")
        assert res.returncode == 0, res.stderr[-2000:]
        _no_traceback(res)
    assert "step 2  reward=0.25" in run_cli("tail", str(hostile_run), check=True).stdout
    # a step past float range is no integer step: shown as unknown and named, never as "step inf"
    out = run_cli("tail", str(hostile_run), check=True).stdout
    assert "step ?  reward=inf  kl=-inf  entropy=inf  [invalid: step=Infinity]" in out
    res = run_cli("health", str(hostile_run))  # a spec.json it cannot read: "could not look", exit 2
    _no_traceback(res)
    assert (
        res.returncode == 2
        and res.stderr == f"error: {hostile_run}/spec.json: JSON nested too deeply; cannot judge this run\n"
    )
    (hostile_run / "spec.json").write_text('{"kind": "grpo", "params": {}}')
    res = run_cli("health", str(hostile_run))
    _no_traceback(res)
    assert res.returncode == 0 and "skipped 2 malformed line(s)" in res.stdout, res.stdout
    one_line_error(run_cli("compare", str(hostile_run)), "metrics.json", "nested too deeply")
    one_line_error(run_cli("submission", "build", str(hostile_run)), "metrics.json", "nested too deeply")
    for body in (DEEP, '{"00576224": [{"attempt_1": [[1e400]], "attempt_2": [[1]]}]}'):
        sub = tmp_path / "sub.json"
        sub.write_text(body)
        res = run_cli("submission", "validate", str(sub), "--dataset", "arc1/eval")
        _no_traceback(res)
        assert res.returncode == 1 and "INVALID" in res.stderr, res.stderr[-2000:]
    assert "not valid JSON (JSON nested too deeply)" not in res.stdout  # the second body parsed
    assert "task 00576224 test 0 attempt_1: cell (0,0): inf is float, not int" in res.stdout
    challenges = tmp_path / "challenges.json"
    challenges.write_text(DEEP)
    res = run_cli("submission", "validate", str(sub), "--dataset", str(challenges))
    one_line_error(res, "challenges.json", "nested too deeply")


def test_run_view_and_checkpoints_survive_deep_json_and_huge_numbers(hostile_run):
    from jobs.runview import RunView

    view = RunView(str(hostile_run))
    assert {"metrics", "completions"} <= view.refresh(None)
    assert "nested too deeply" in view.spec_error
    rows = view.completions.read(list(range(len(view.completions))))
    assert [r.step for r in rows] == [None, None, 2, None] and rows[1].error == "malformed line"
    assert view.metrics.last_step() == 2  # rows without a finite step are not plotted
    view.alerts()
    [ck] = view.checkpoints()
    assert not ck.valid and "trainer_state.json" in ck.problem
    with pytest.raises(SpecError, match="not a valid spec"):
        fork_spec(str(hostile_run))


# ---- torn lines ---------------------------------------------------------------------------------


def test_record_glued_to_a_torn_line_is_read(tmp_path):
    path = tmp_path / "metrics.jsonl"
    # what a writer killed mid-line followed by a resumed writer appending at once leaves behind
    path.write_text(
        '{"step":1,"reward":0.1}\n{"step":2,"rew' + '{"step":3,"reward":0.3,"x":{"a":{"b":1}}}\n'
        '{"step":4,"reward":0.4}\n'
    )
    tail = rundir.JsonlTail(str(path))
    assert [r["step"] for r in tail.read_new()] == [1, 3, 4]
    assert tail.bad_lines == 1  # the torn record itself is gone, and counted


def test_resumed_writer_starts_on_a_fresh_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    w = rundir.JsonlWriter(path)
    for step in (1, 2):
        w.write({"step": step, "reward": step / 10})
    w.close()
    with open(path, "a") as f:
        f.write('{"step":3,"rew')  # killed mid-line
    w = rundir.JsonlWriter(path)  # the resumed trainer
    w.write({"step": 3, "reward": 0.3})
    w.write({"step": 4, "reward": 0.4})
    w.close()
    tail = rundir.JsonlTail(str(path))
    assert [r["step"] for r in tail.read_new()] == [1, 2, 3, 4] and tail.bad_lines == 1
    assert path.read_text().splitlines()[2] == '{"step":3,"rew'


def test_glued_line_search_is_bounded(tmp_path):
    path = tmp_path / "completions.jsonl"
    line = '{"completion":"' + '{\\"a\\":1}' * 20000 + '{"x":' * 5000 + "\n"
    path.write_text(line + '{"step":5}\n')
    assert rundir.JsonlTail(str(path)).read_new() == [{"step": 5}]


# ---- arguments and sweeps ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["tail", "x", "-n", "-1"],
        ["ls", "-n", "-1"],
        ["render", "fake", "--max-points", "0"],
    ],
)
def test_out_of_range_arguments_are_refused(home, args):
    # round 6b: one line naming the option and its range, no usage box (test_hostile_inputs_r6b_cli)
    res = run_cli(*args)
    assert res.returncode == 2 and "must be a whole number from" in res.stderr, (res.returncode, res.stderr)
    _no_traceback(res)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["tail", "x", "--poll", "-1"], "--poll '-1': must be from 0.01 s"),
        (["tail", "x", "--poll", "0"], "--poll '0': must be from 0.01 s"),
        (["tail", "x", "--max-seconds", "-5"], "--max-seconds '-5': must be from 0 s"),
    ],
)
def test_out_of_range_seconds_are_one_line(home, args, needle):
    one_line_error(run_cli(*args), needle)


def test_health_exit_codes(home, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step":1,"reward":0.5}\n')
    assert run_cli("health", str(run)).returncode == 0
    (run / "spec.json").write_text('{"kind": "grpo", "params": {"health": "high"}}')
    one_line_error(run_cli("health", str(run)), f"{run}: cannot read run dir")
    help_text = run_cli("health", "--help").stdout
    assert "1 warning or critical" in help_text and "2 the run could not be read" in help_text


def test_sweep_cap(home):
    many = ",".join(f"{i + 1}e-7" for i in range(1001))
    before = tree(home)
    one_line_error(
        run_cli("render", "fake", "-p", f"learning_rate={many}"),
        "sweep of 1001 points",
        "limit of 1000",
        "--max-points 1001",
    )
    one_line_error(
        run_cli("submit", "fake", "-p", "learning_rate=1e-6,2e-6,3e-6", "--max-points", "2"), "sweep of 3 points"
    )
    assert tree(home) == before
    res = run_cli("render", "fake", "-p", "learning_rate=1e-6,2e-6,3e-6", "--max-points", "3", check=True)
    assert "# 3 spec(s)" in res.stdout
    # 300 x 300 is refused before a single point is built
    from jobs.sweep import check_sweep_size

    big = {"learning_rate": list(range(300)), "beta": list(range(300))}
    with pytest.raises(SpecError, match="90000 points"):
        check_sweep_size(big)
    check_sweep_size(big, limit=90_000)
