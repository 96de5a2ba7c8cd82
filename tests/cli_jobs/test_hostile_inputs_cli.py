"""Hostile and clumsy command-line values and profiles: a run name that is also another job's id
prefix, sweeps that repeat a point, seeds the trainer cannot take, profile values of the wrong
type, ssh host names that are options. Each one is one error line (exit 2) before anything runs,
or acts on exactly the job the user named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from jobs.errors import RegistryError, SpecError
from jobs.openssh import OpenSSH
from jobs.params import PARAMS_BY_KIND
from jobs.registry import Registry
from jobs.sweep import coerce
from tests.cli_jobs.conftest import fake_template, one_line_error, run_cli, tree, wait_for

pytestmark = pytest.mark.timeout(120)


# ---- a name that is also an id prefix ------------------------------------------------------------


def test_cancel_by_a_name_that_is_another_jobs_id_prefix_touches_neither(home):
    """`--name 1` or `--name beef` is a fine run name, but also the start of some job's id: the
    lookup used to prefer the id, so `cancel beef` stopped a different, running job."""
    running = run_cli("submit", "fakeslow", "--profile", "quick", "-q", check=True).stdout.strip()
    named = running[:3]
    other = run_cli("submit", "fake", "--profile", "quick", "--name", named, "-q", check=True).stdout.strip()
    assert other != running
    one_line_error(run_cli("cancel", named), "ambiguous", running, other, "full id")
    one_line_error(run_cli("show", named), "ambiguous")
    assert not (home / "runs" / "fake_lr1e-6" / "cancelled").exists()  # what a local cancel writes first
    assert json.loads(run_cli("show", running, "--json", check=True).stdout)["state"] == "running"
    assert f"name:           {named}" in run_cli("show", other, check=True).stdout
    run_cli("cancel", running, check=True)
    wait_for(lambda: json.loads(run_cli("show", running, "--json").stdout)["state"] == "cancelled", 30)


def test_registry_lookup_by_id_name_and_prefix(tmp_path):
    from jobs.spec import JobSpec

    reg = Registry(tmp_path / "r.sqlite")

    def add(name: str) -> str:
        params = {"model_path": "m", "dataset": "d"}
        return reg.reserve(JobSpec(kind="grpo", name=name, template="t", params=params, run_dir=f"/runs/{name}"))

    first = add("alpha")
    second = add(first[:2])  # a name that is the first job's id prefix
    with pytest.raises(RegistryError, match=f"ambiguous.*{second}.*{first}"):
        reg.get(first[:2])
    third = add(first)  # a name that is the first job's whole id: the whole id wins
    assert reg.get(first).id == first
    assert reg.get(second).name == first[:2] and reg.get(third).name == first
    assert reg.get("alpha").id == first  # names and ids that meet nothing else still resolve


# ---- sweeps that repeat a point ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "learning_rate=1e-6,0.000001",
        "learning_rate=2e-6,1e-6,2E-6",
        "resources.cpus=1,01",
        "use_data_augmentation=true,True",
    ],
)
def test_a_sweep_that_repeats_a_value_launches_nothing(home, value):
    res = run_cli("submit", "fake", "-p", value)
    one_line_error(res, "-p", "same value", "twice")
    assert tree(home / "runs") == []
    assert Registry().count() == 0


def test_distinct_values_still_sweep(home):
    res = run_cli("render", "fake", "-p", "learning_rate=1e-6,1e-5", check=True)
    assert "# 2 spec(s)" in res.stdout


# ---- seeds ----------------------------------------------------------------------------------------

SEEDED = [k for k, m in PARAMS_BY_KIND.items() if "seed" in m.model_fields]


@pytest.mark.parametrize("kind", SEEDED)
@pytest.mark.parametrize("seed", [-1, 2**32, 10**30])
def test_a_seed_the_trainer_cannot_take_is_refused_at_render(kind, seed):
    with pytest.raises(ValueError):  # what transformers' set_seed would hit on the GPU host
        np.random.seed(seed)
    with pytest.raises(SpecError, match="seed"):
        coerce(kind, "seed", str(seed))


@pytest.mark.parametrize("seed", [0, 2**32 - 1])
def test_seeds_numpy_takes_are_accepted(seed):
    np.random.seed(seed)
    assert all(coerce(kind, "seed", str(seed)) == seed for kind in SEEDED)


# ---- profiles with values of the wrong type ------------------------------------------------------

# a local profile's [options]: (the table's body, what the error names)
BAD_LOCAL_OPTIONS = {
    "grace_text": ('cancel_grace_s = "abc"', "cancel_grace_s = 'abc'"),
    "grace_negative": ("cancel_grace_s = -5", "cancel_grace_s = -5"),
    "grace_inf": ("cancel_grace_s = inf", "cancel_grace_s = inf"),
    "busy_text": ('gpu_busy_fraction = "half"', "gpu_busy_fraction = 'half'"),
    "option_typo": ("cancel_grace = 3", "did you mean 'cancel_grace_s'"),
}
# the runs root and the auto-resume policy, which used to fail only when a job failed
BAD_ROOT_OR_POLICY = [
    ("runs_root = 5\n", "runs_root must be a non-empty string, not 5"),
    ('runs_root = ["/a"]\n', "runs_root must be a non-empty string"),
    ("[options]\nauto_resume = 5\n", "auto_resume must be true/false or a table"),
    ('[options]\nauto_resume = {reasons = "evicted"}\n', "auto_resume.reasons must be a list"),
    ("[options]\nauto_resume = {memory_factor = nan}\n", "auto_resume.memory_factor"),
]


def test_profile_values_of_the_wrong_type_are_one_line_each(home):
    profiles = home.parent / "config" / "profiles"
    cases = {name: (f"[options]\n{body}\n", needle) for name, (body, needle) in BAD_LOCAL_OPTIONS.items()}
    cases.update({f"root_or_policy_{i}": case for i, case in enumerate(BAD_ROOT_OR_POLICY)})
    for name, (body, needle) in cases.items():
        (profiles / f"{name}.toml").write_text(f'[profile]\nbackend = "local"\n{body}')
        err = one_line_error(run_cli("submit", "fake", "--profile", name), needle)
        assert name in err or "local profile" in err, err
    assert tree(home / "runs") == []


@pytest.mark.parametrize("host", ["-oProxyCommand=touch /tmp/x", "login node", "a\tb"])
def test_an_ssh_host_that_is_an_option_or_has_blanks_is_refused(home, tmp_path, host):
    profiles = home.parent / "config" / "profiles"
    (profiles / "bad.toml").write_text(f'[profile]\nbackend = "slurm"\nhost = {json.dumps(host)}\n')
    one_line_error(run_cli("render", "fake", "--profile", "bad"), "bad.toml", "not an ssh host name")
    with pytest.raises(Exception, match="not a host name"):
        OpenSSH(tmp_path / "ssh_config").argv(host, "true")


# ---- names and data sets -------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["../../etc/x", ".-.-x", "-{learning_rate}"])
def test_a_name_pattern_never_makes_a_name_that_reads_as_an_option(home, pattern):
    (home.parent / "config" / "templates" / "odd.toml").write_text(fake_template("odd", pattern=pattern))
    [item] = json.loads(run_cli("render", "odd", "--json", check=True).stdout)
    name = item["spec"]["name"]
    assert name and not name.startswith(("-", ".")), name
    assert Path(item["spec"]["run_dir"]).parent == home / "runs"


@pytest.mark.parametrize(
    "value, needle",
    [
        ("arc1/trian", "did you mean 'arc1/train'"),
        ("synthetic:0", "synthetic:N"),
        ("pipe", "not a file or folder"),
        ("missing_challenges.json", "no such file"),
    ],
)
def test_a_dataset_the_trainer_cannot_load_is_refused_before_launch(home, tmp_path, value, needle):
    if value == "pipe":
        value = str(tmp_path / "pipe")
        os.mkfifo(value)
    one_line_error(run_cli("submit", "fake", "-p", f"dataset={value}"), "dataset", needle)
    assert tree(home / "runs") == []


def test_datasets_the_trainer_loads_pass(home, tmp_path):
    task = '{"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]]}]}'
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "t1.json").write_text(task)  # an empty folder or `{}` the trainer refuses
    (tmp_path / "x_challenges.json").write_text('{"t1": ' + task + "}")
    for value in ("arc1/eval", "synthetic:3", str(tmp_path / "tasks"), str(tmp_path / "x_challenges.json")):
        run_cli("render", "fake", "-p", f"dataset={value}", check=True)


# ---- values that would break the one error line ---------------------------------------------------

ODD = "a\nb\t\x1b[31mred"


@pytest.mark.parametrize(
    "args",
    [
        ["tail", ODD],
        ["health", ODD],
        ["compare", ODD],
        ["render", ODD],
        ["render", "fake", "--profile", ODD],
        ["render", "fake", "-p", f"{ODD}=1"],
    ],
)
def test_newlines_and_terminal_escapes_in_values_stay_in_one_escaped_line(home, args):
    err = one_line_error(run_cli(*args), "a\\nb\\t\\x1b[31mred")
    assert "\x1b" not in err


def test_a_template_saved_with_a_byte_order_mark_loads(home):
    (home.parent / "config" / "templates" / "bom.toml").write_bytes(b"\xef\xbb\xbf" + fake_template("bom").encode())
    assert "# 1 spec(s)" in run_cli("render", "bom", check=True).stdout


@pytest.mark.parametrize("template, value", [("fake", "dataset=synthetic:²"), ("her", "dataset=toy:²")])
def test_a_count_written_with_a_superscript_digit_is_one_line(home, template, value):
    one_line_error(run_cli("render", template, "-p", value), "dataset", "²")


LORA_KINDS = [k for k, m in PARAMS_BY_KIND.items() if "lora_target_modules" in m.model_fields]


@pytest.mark.parametrize("value", ["[]", '[""]', '["q_proj", ""]'])
def test_lora_target_modules_peft_would_refuse_are_refused_at_render(value):
    for kind in LORA_KINDS:
        with pytest.raises(SpecError, match="lora_target_modules"):
            coerce(kind, "lora_target_modules", value)


def test_a_her_data_set_named_with_the_kaggle_split_word_is_refused_like_the_trainer_does(home):
    """The trainer loads `kaggle2024/eval`, not `kaggle2024/evaluation`; HER's render check took both."""
    one_line_error(run_cli("render", "her", "-p", "dataset=kaggle2024/evaluation"), "kaggle2024/evaluation")
    run_cli("render", "her", "-p", "dataset=kaggle2024/eval", "-p", 'task_ids=["00576224"]', check=True)


def test_a_string_with_commas_can_be_given_as_json(home):
    """A comma makes a sweep; a path with a comma in it is written as a JSON string."""
    [item] = json.loads(run_cli("render", "fake", "-p", 'model_path="/data/a,b"', "--json", check=True).stdout)
    assert item["spec"]["params"]["model_path"] == "/data/a,b"
    one_line_error(run_cli("render", "fake", "-p", 'model_path="/data/a'), "model_path", "not valid JSON")


@pytest.mark.parametrize(
    "value", ["resources.memory=0", "resources.memory=0.0G", "resources.disk=0M", "resources.gpu_memory=0G"]
)
def test_a_size_of_zero_is_refused(home, value):
    """Slurm reads --mem=0 as all the memory of the node; a profile's `memory = "0"` asked for that."""
    one_line_error(run_cli("render", "fake", "-p", value), value.split("=")[0], "more than 0")
    assert "Value error" not in run_cli("render", "fake", "-p", value).stderr
