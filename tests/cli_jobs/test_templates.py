"""Templates and profiles: a built-in grpo job gets the reference run's values; user files override by name;
every malformed or mistyped file gives one error naming the file (and line)."""

from __future__ import annotations

import pytest

from jobs.errors import TemplateError
from jobs.params import PARAMS_BY_KIND
from jobs.templates import load_profile, load_template, list_templates, profile_names, template_names

REFERENCE_GRPO = {  # every flag of the reference GRPO training script, with its runs' values
    "model_path": "barc0/Llama-3.1-ARC-Potpourri-Induction-8B",
    "dataset": "kaggle2024/train",
    "num_generations": 16,
    "gradient_accumulation_steps": 2,
    "learning_rate": 2e-6,
    "lr_scheduler_type": "constant_with_warmup",
    "warmup_ratio": 0.01,
    "epochs": 100,
    "lora_r": 32,
    "lora_alpha": 32,
    "use_rslora": False,
    "load_in_4bit": False,
    "beta": 0.01,
    "max_grad_norm": 0.1,
    "repetition_penalty": 1.02,
    "scale_rewards": "batch",
    "mask_truncated_completions": True,
    "reward_name": "arc-v2-no-pixel-score",
    "max_seq_length": 9700,
    "max_completion_length": 1024,
    "gpu_memory_utilization": 0.3,
    "n_jobs": 20,
    "save_steps": 200,
    "logging_steps": 1,
    "use_data_augmentation": True,
    "backend": "trl",
    "use_vllm": False,
}


def test_builtin_templates_and_profiles_exist(home):
    assert {"grpo", "sft", "eval", "grpo-refine"} <= set(template_names())
    assert {"local", "condor-example", "slurm-example"} <= set(profile_names())
    for name in ("grpo", "sft", "eval", "grpo-refine"):
        t = load_template(name)
        assert t.kind == name and t.source == "built-in" and t.name_pattern
        # defaults validate against the kind's typed model
        PARAMS_BY_KIND[t.kind].model_validate(t.params)


def test_grpo_exposes_every_reference_parameter_with_its_values(home):
    t = load_template("grpo")
    # the template overrides only what has no default; jobs.params holds the rest
    assert set(t.params) == {"model_path", "dataset"}
    got = PARAMS_BY_KIND["grpo"].model_validate(t.params).model_dump(mode="json")
    assert {k: got[k] for k in REFERENCE_GRPO} == REFERENCE_GRPO
    assert t.resources == {"gpus": 1, "cpus": 20, "memory": "128G"}
    assert "{reward_name}_lr{learning_rate}_epochs{epochs}" in t.name_pattern


def test_profiles_carry_backend_options(home):
    c = load_profile("condor-example")
    assert c.backend == "htcondor" and c.options["universe"] == "docker" and c.options["getenv"] is True
    grpo = c.resources_for("grpo")
    assert grpo["gpus"] == 1 and grpo["cpus"] == 20 and grpo["memory"] == "128G"
    assert "TARGET.Machine" in grpo["requirements"]
    s = load_profile("slurm-example")
    assert s.backend == "slurm" and s.options["partition"] and s.options["account"] and s.resources["time"]
    assert load_profile("local").backend == "local"


def test_user_template_overrides_builtin_by_name(home):
    cfg = home.parent / "config"
    (cfg / "templates" / "grpo.toml").write_text(
        '[template]\nkind = "grpo"\nname = "mine_{beta}"\n[params]\nmodel_path = "m"\ndataset = "d"\nbeta = 0.5\n'
    )
    t = load_template("grpo")
    assert t.source == "user" and t.name_pattern == "mine_{beta}" and t.params["beta"] == 0.5


def test_user_profile_overrides_builtin_by_name(home):
    cfg = home.parent / "config"
    (cfg / "profiles" / "local.toml").write_text('[profile]\nbackend = "local"\ndescription = "mine"\n')
    assert load_profile("local").description == "mine"


def test_malformed_toml_names_file_and_line(home):
    cfg = home.parent / "config"
    bad = cfg / "templates" / "broken.toml"
    bad.write_text('[template]\nkind = "grpo"\nname = "x"\n[params]\nlearning_rate = = 1\n')
    with pytest.raises(TemplateError) as e:
        load_template("broken")
    assert str(e.value).startswith(f"{bad}:5: malformed TOML")
    # one broken file does not hide the others
    listed = list_templates()
    assert any(isinstance(x, TemplateError) for x in listed)
    assert any(getattr(x, "name", None) == "grpo" for x in listed)


@pytest.mark.parametrize(
    "body,needle",
    [
        ('[template]\nkind = "grpo"\nname = "x"\n[params]\nlearnig_rate = 1e-6\n', "did you mean 'learning_rate'"),
        ('[template]\nkind = "grpoo"\nname = "x"\n', "did you mean 'grpo'"),
        ('[template]\nkind = "grpo"\nname = "x_{betta}"\n', "did you mean 'beta'"),
        ('[template]\nkind = "grpo"\nnmae = "x"\n', "did you mean 'name'"),
        ('[template]\nkind = "grpo"\nname = "x"\n[params]\nlearning_rate = "abc"\n', "learning_rate"),
        ('[template]\nkind = "grpo"\nname = "x"\n[resources]\ngpu = 1\n', "did you mean 'gpus'"),
        ('[template]\nkind = "sft"\nname = "x"\n[health]\nkl = 1.0\n', "not supported"),
        ('kind = "grpo"\n', "unknown key 'kind'"),
    ],
)
def test_bad_template_content_is_one_clear_error(home, body, needle):
    cfg = home.parent / "config"
    path = cfg / "templates" / "bad.toml"
    path.write_text(body)
    with pytest.raises(TemplateError) as e:
        load_template("bad")
    msg = str(e.value)
    assert str(path) in msg and needle in msg and "\n" not in msg


def test_bad_profile_content(home):
    cfg = home.parent / "config"
    (cfg / "profiles" / "p.toml").write_text('[profile]\nbackend = "slurmm"\n')
    with pytest.raises(TemplateError, match="did you mean 'slurm'"):
        load_profile("p")
    (cfg / "profiles" / "p.toml").write_text('[profile]\nbackend = "local"\nhost = "gpu1"\n')
    with pytest.raises(TemplateError, match="local backend"):
        load_profile("p")


def test_unknown_names_suggest_closest(home):
    with pytest.raises(TemplateError, match="did you mean 'grpo'"):
        load_template("grop")
    with pytest.raises(TemplateError, match="did you mean 'local'"):
        load_profile("lcoal")


def test_health_table_goes_into_params(home):
    from jobs.submit import build_specs

    cfg = home.parent / "config"
    (cfg / "templates" / "h.toml").write_text(
        '[template]\nkind = "grpo"\nname = "h"\n[params]\nmodel_path = "m"\ndataset = "synthetic"\n[health]\nclipped_warning = 0.4\n'
    )
    spec = build_specs("h", [], "local")[0]
    assert spec.params["health"] == {"clipped_warning": 0.4}


def test_unknown_health_threshold_is_refused_at_render_time(home):
    from jobs.errors import JobsError
    from jobs.submit import build_specs

    cfg = home.parent / "config"
    (cfg / "templates" / "h2.toml").write_text(
        '[template]\nkind = "grpo"\nname = "h2"\n[params]\nmodel_path = "m"\ndataset = "d"\n[health]\nclipped_warnin = 0.4\n'
    )
    with pytest.raises(JobsError) as e:
        build_specs("h2", [], "local")
    assert "clipped_warnin" in str(e.value) and "clipped_warning" in str(e.value)
