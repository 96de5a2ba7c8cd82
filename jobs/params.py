"""Typed trainer parameters, one pydantic model per job kind.

Each parameter is declared here once, with its type, its default and its doc. A template's
[params] only override values (a template repeating a default is refused by its test), so what
the new-job form shows, what a spec holds and what the trainer uses come from this one place; the
mapping to TRL's GRPOConfig / SFTConfig is in jobs.trl_args. A wrong type or an unknown parameter
fails before anything is launched. Field names are the flags of the training scripts users ran
before, with dashes turned into underscores.
"""

from __future__ import annotations

import json
import typing
from typing import Annotated, Any, Literal

from jobs.param_types import TaskIds, WandbName
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12


# The sandbox's limits go to setitimer and setrlimit, which overflow past these (and a worker per
# program beyond a few thousand is a fork bomb, not a setting).
SandboxWorkers = Annotated[int, Field(ge=1, le=4096)]
SandboxTimeout = Annotated[float, Field(gt=0, le=86_400)]
SandboxMemory = Annotated[int, Field(ge=64, le=2**30, description="MB a program may allocate")]

# Shared parameters whose default differs by kind: type and limits once here, defaults in the models.
LearningRate = Annotated[float, Field(gt=0)]
Epochs = Annotated[float, Field(gt=0)]


# One set of sampling backends for GRPO and HER (trainer/fast_generation.py).
GenerationBackend = Literal["auto", "trl", "paged", "static", "merged", "merged-static", "merged-cudagraph"]


def _check_backend_combination(gb: str, backend: str, load_in_4bit: bool, use_dora: bool) -> None:
    """What only the GPU host would refuse, after queueing: refused at render time instead."""
    if gb not in ("auto", "trl") and backend == "unsloth":
        raise ValueError(
            f"generation_backend = {gb!r} with backend = 'unsloth': unsloth patches "
            "generation itself; use generation_backend = 'auto' or 'trl'"
        )
    if gb.startswith("merged") and (load_in_4bit or use_dora):
        why = (
            "load_in_4bit = true (4-bit weights cannot hold W + B·A)"
            if load_in_4bit
            else "use_dora = true (DoRA rescales weight columns)"
        )
        raise ValueError(f"generation_backend = {gb!r} cannot merge the adapter with {why}; use 'static' or 'auto'")


def _steps_planned(v: int) -> int:
    # TRL trains by epochs for any max_steps <= 0: a 0 or -5 would silently run every epoch
    if v == 0 or v < -1:
        raise ValueError("must be a number of steps (1 or more), or -1 to train by num_train_epochs")
    return v


MaxSteps = Annotated[int, AfterValidator(_steps_planned), Field(description="-1: derived from epochs")]
PositiveInt = Annotated[int, Field(ge=1)]
MaxSeqLength = Annotated[int, Field(ge=16)]

# transformers' get_scheduler builds these from the optimizer alone; the others it knows need
# lr_scheduler_kwargs or an eval strategy, and fail only once the model is loaded on the GPU host.
SchedulerName = Literal[
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt"
]
# TRL GRPOTrainer's loss formulations; another name fails at the first optimisation step.
LossType = Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"]
# Every integer reaches C code (torch, tokenizers, setrlimit) as a 64-bit one: a larger one fails
# there with OverflowError, after the job has queued.
INT64_MAX = 2**63 - 1
# programs sampled per task (eval) or per HER epoch: the trainer plans every one up front, so 1e18
# would exhaust the GPU host's memory after the model has loaded
MAX_SAMPLES = 100_000
# Most reward shaping may give or take (ARC rewards are -1..10). TRL's rewards are float32: 1e39 is
# inf, a square past 1e19 (the std) too: NaN advantages and loss, a ruined adapter, no error.
REWARD_LIMIT = 1000.0


# inf/nan (also 1e309, which parses as inf) would reach spec.json as null and break the trainer,
# resume and fork: every float, nested ones in dict parameters included, must be finite.
FINITE_NUMBERS = ConfigDict(allow_inf_nan=False)


def _int64(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT64_MAX:
        raise ValueError(f"{value} does not fit in 64 bits (the trainer's libraries take at most {INT64_MAX})")
    for v in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        _int64(v)


def _admits_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    return any(_admits_bool(a) for a in typing.get_args(annotation) if not isinstance(a, (str, int)))


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, v: Any, info: ValidationInfo) -> Any:
        # pydantic reads true as 1 for an int field: -p max_steps=true would train one step
        if isinstance(v, bool) and not _admits_bool(cls.model_fields[info.field_name].annotation):
            raise ValueError(f"expected a number, not {str(v).lower()}")
        return v

    @field_validator("*", mode="after")
    @classmethod
    def _fits_int64(cls, v: Any) -> Any:
        _int64(v)
        return v

    model_path: str = Field(description="HF model folder (or hub id on hosts that can reach it)")
    dataset: str = Field(
        description="built-in name (arc1/train, kaggle2024/eval, synthetic, ...) or a Kaggle-format file"
    )
    max_tasks: int | None = Field(None, ge=1, description="use only the first N tasks of the dataset")
    task_ids: TaskIds = Field(None, description="use only these tasks of the dataset (ids)")
    # transformers' set_seed seeds numpy, which takes only 0..2**32-1: anything else would stop
    # the job after it had been launched and had waited for its GPUs
    seed: int = Field(42, ge=0, le=2**32 - 1)
    backend: Literal["trl", "unsloth"] = Field("trl", description="unsloth: the optional `unsloth` extra")
    load_in_4bit: bool = Field(False, description="4-bit quantized base model (unquantized trains faster)")
    max_seq_length: MaxSeqLength = 9700
    grid_encoder: Literal["color_names", "digits"] = "color_names"
    use_data_augmentation: bool = True
    common_module: str | None = Field(None, description="path to a user helper library exposed as `common`")
    wandb: bool = Field(
        False,
        description="log to Weights & Biases through TRL (online with a login or "
        "WANDB_API_KEY, offline otherwise; WANDB_MODE wins)",
    )


class _Wandb(BaseModel):
    """Where the W&B run of a GRPO or SFT job goes (with wandb = true)."""

    wandb_project: WandbName = Field(None, description="W&B project (unset: $WANDB_PROJECT, else arcctl)")
    wandb_entity: WandbName = Field(None, description="W&B team or user (unset: $WANDB_ENTITY, else your default)")
    wandb_group: WandbName = Field(
        None, description="W&B group (unset: a sweep's points share one named after the sweep)"
    )


class _Lora(BaseModel):
    model_config = FINITE_NUMBERS

    lora_r: int = Field(32, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    use_rslora: bool = False
    use_dora: bool = False
    # PEFT refuses an empty list or an empty name, but only once the model is loaded on the GPU host
    lora_target_modules: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    adapter_path: str | None = Field(None, description="start from this LoRA adapter")


class _Optim(BaseModel):
    model_config = FINITE_NUMBERS

    learning_rate: LearningRate = 2e-6
    lr_scheduler_type: SchedulerName = "constant_with_warmup"
    warmup_ratio: float = Field(0.01, ge=0, le=1)
    epochs: Epochs = 100
    max_steps: MaxSteps = -1
    max_grad_norm: float = Field(0.1, gt=0)
    gradient_accumulation_steps: PositiveInt = 2
    per_device_train_batch_size: PositiveInt = 8
    save_steps: int = Field(200, ge=1)
    save_total_limit: int | None = Field(
        None,
        ge=1,
        description="keep the newest N checkpoints, plus the last healthy one and any a resume or "
        "fork starts from (None: keep all)",
    )
    logging_steps: PositiveInt = 1
    bf16: bool | None = Field(None, description="None: bf16 when the GPU supports it")


class GuardParams(BaseModel):
    """How the trainer reacts to collapse alerts from jobs.health."""

    model_config = FINITE_NUMBERS

    guard: Literal["off", "warn", "stop", "rollback"] = "warn"
    rollback_changes: dict[str, float | int | str | bool] = Field(
        default_factory=lambda: {"learning_rate": 0.5, "beta": 2.0},
        description="numbers multiply the parent's value; a string '=V' sets V (e.g. '=0.5' switches on a "
        "penalty that is 0); other values replace it",
    )
    max_rollbacks: int = Field(1, ge=0)


class GRPOParams(_Params, _Wandb, _Lora, _Optim, GuardParams):
    num_generations: int = Field(16, ge=2)
    beta: float = Field(0.01, ge=0)
    repetition_penalty: float = Field(1.02, gt=0, description="TRL GRPOConfig.repetition_penalty (sampling)")
    temperature: float = Field(1.0, gt=0, le=10)
    top_p: float = Field(1.0, gt=0, le=1)
    scale_rewards: Literal["group", "batch", "none"] = "batch"
    loss_type: LossType = "dapo"
    mask_truncated_completions: bool = True
    reward_name: Literal["arc-v0", "arc-v1", "arc-v2-no-pixel-score"] = "arc-v2-no-pixel-score"
    max_completion_length: int = Field(1024, ge=1)
    # Remedies against collapse (all off by default; rollback_changes may switch them on).
    frequency_penalty: float = Field(
        0.0, ge=-2, le=2, description="subtract this x (times the token was generated) from its logit"
    )
    presence_penalty: float = Field(
        0.0, ge=-2, le=2, description="subtract this from the logit of every token already generated"
    )
    reward_ngram_penalty: float = Field(
        0.0, ge=0, le=REWARD_LIMIT, description="reward minus this x the share of repeated n-grams in the completion"
    )
    reward_ngram_size: int = Field(4, ge=1, description="n of the n-grams reward_ngram_penalty counts")
    truncated_reward: float | None = Field(
        None, ge=-REWARD_LIMIT, le=REWARD_LIMIT, description="reward of completions cut at max_completion_length"
    )
    tie_break: Literal["off", "shorter"] = Field(
        "off", description="shorter: in a group whose rewards are all equal, shorter completions earn a little more"
    )
    prompt_template: str | None = Field(
        None, description="TOML file with system/user/assistant_prefix Jinja templates (default: the built-in prompt)"
    )
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    gpu_memory_utilization: float = Field(0.3, gt=0, le=1, description="vLLM colocate mode: its share of the GPU")
    vllm_server_url: str | None = Field(
        None, description="vllm_mode server: a running `trl vllm-serve`; unset: the job starts one on its last GPU"
    )
    vllm_server_gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    generation_backend: GenerationBackend = Field(
        "auto",
        description="how completions are sampled without vLLM (trainer/fast_generation.py): "
        "auto = the fastest correct one (GPU: merged-cudagraph; CPU: trl)",
    )
    n_jobs: SandboxWorkers = Field(20, description="sandbox worker processes")
    sandbox_timeout_s: SandboxTimeout = 1.0
    sandbox_memory_mb: SandboxMemory = 1024
    completions_sample: float = Field(1.0, gt=0, le=1, description="share of completions written to completions.jsonl")
    log_completions: bool = Field(
        False,
        description="with wandb: TRL's table of each logging step's completions in W&B "
        "(and as parquet under completions/)",
    )
    health: dict[str, float] = Field(default_factory=dict, description="overrides of jobs.health thresholds")

    @field_validator("health")
    @classmethod
    def _known_thresholds(cls, v: dict[str, float]) -> dict[str, float]:
        # Checked here, at render/submit time, not in the trainer after the model has loaded.
        from difflib import get_close_matches

        from jobs.health.thresholds import Thresholds

        known = Thresholds.names()
        for key in v:
            if key not in known:
                close = get_close_matches(key, list(known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ValueError(f"unknown health threshold {key!r}{hint}")
        return v

    @model_validator(mode="after")
    def _generation_combinations(self):
        # Checked at render time: each of these would only fail on the GPU host, after queueing.
        gb = self.generation_backend
        if gb != "auto" and self.use_vllm:
            raise ValueError(
                f"generation_backend = {gb!r} and use_vllm = true: vLLM generates; leave generation_backend at 'auto'"
            )
        _check_backend_combination(gb, self.backend, self.load_in_4bit, self.use_dora)
        if self.vllm_server_url is not None and not (self.use_vllm and self.vllm_mode == "server"):
            raise ValueError("vllm_server_url is only used with use_vllm = true and vllm_mode = 'server'")
        if self.vllm_server_url is not None and not self.vllm_server_url.startswith(("http://", "https://")):
            raise ValueError(f"vllm_server_url {self.vllm_server_url!r}: expected http://host:port")
        if self.loss_type == "vespo" and self.use_vllm:
            # TRL's vLLM importance-sampling correction defaults to a mode VESPO refuses at start
            raise ValueError("loss_type = 'vespo' does not work with use_vllm = true in TRL; use another loss_type")
        if self.backend == "unsloth" and self.use_vllm and self.vllm_mode == "server":
            raise ValueError(
                "backend = 'unsloth' with use_vllm = true and vllm_mode = 'server' does not work "
                "(unsloth runs its own in-process vLLM engine): use vllm_mode = 'colocate'"
            )
        return self

    @model_validator(mode="after")
    def _batch_arithmetic(self, info: ValidationInfo):
        # The trainer would refuse these only after the job waited in the queue and loaded the model.
        gen_batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if gen_batch % self.num_generations:
            raise ValueError(
                f"per_device_train_batch_size ({self.per_device_train_batch_size}) x gradient_accumulation_steps "
                f"({self.gradient_accumulation_steps}) = {gen_batch} completions per step must be a multiple of "
                f"num_generations ({self.num_generations})"
            )
        if self.max_seq_length <= self.max_completion_length:
            raise ValueError(
                f"max_seq_length ({self.max_seq_length}) must exceed max_completion_length "
                f"({self.max_completion_length})"
            )
        if not (info.context or {}).get("rollback_child"):
            self._check_rollback()
        return self

    def _check_rollback(self) -> None:
        """The run a rollback would start must itself be valid (a typo or a value out of range
        would otherwise surface only at the first collapse, hours in)."""
        from difflib import get_close_matches

        from pydantic import ValidationError

        fields = type(self).model_fields
        for key in self.rollback_changes:
            if key not in fields:
                close = get_close_matches(key, list(fields), n=1)
                raise ValueError(
                    f"rollback_changes: unknown parameter {key!r}" + (f" (did you mean '{close[0]}'?)" if close else "")
                )
        child = {**self.model_dump(), **apply_changes(self.model_dump(), dict(self.rollback_changes))}
        try:
            type(self).model_validate(child, context={"rollback_child": True})
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err.get("loc", ())) or "params"
            raise ValueError(
                f"rollback_changes would start an invalid run: {where}: "
                f"{err.get('msg', '').removeprefix('Value error, ')}"
            ) from None


def apply_changes(params: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The overrides a rollback applies: numbers multiply the parent's numeric value; a string
    "=V" sets V (a JSON literal: '=0.5', '=true', or text), which switches on a remedy whose
    parent value is 0, where a factor could not; anything else replaces the parent's value."""
    out = {}
    for key, change in changes.items():
        old = params.get(key)
        if isinstance(change, str) and change.startswith("="):
            out[key] = _literal(change[1:])
        elif _is_num(change) and _is_num(old):
            new = old * change
            out[key] = int(round(new)) if isinstance(old, int) else new
        else:
            out[key] = change
    return out


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past the decoder's depth: the text
        return text


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class GRPORefineParams(GRPOParams):
    """Second-turn RL: the prompt carries an earlier (wrong) program and its execution feedback."""

    refine_dataset: str | None = Field(
        None, description="refine file written by `arcctl refine-data` (earlier programs and their feedback)"
    )


class SFTParams(_Params, _Wandb, _Lora, _Optim):
    # SFT's own defaults for shared parameters
    learning_rate: LearningRate = 2e-4
    epochs: Epochs = 1
    max_steps: MaxSteps = 4000
    per_device_train_batch_size: PositiveInt = 2
    gradient_accumulation_steps: PositiveInt = 16
    logging_steps: PositiveInt = 10
    max_seq_length: MaxSeqLength = 8192
    use_rslora: bool = True
    use_dora: bool = True
    completion_only_loss: bool = True
    packing: bool = False
    eval_fraction: float = Field(0.0, ge=0, lt=1)
    synthetic_tasks: int = Field(
        0, ge=0, description="generate N synthetic warm-start tasks instead of reading `dataset`"
    )
    use_lora: bool = Field(True, description="false: full fine-tuning (small models such as the tiny demo model)")


class SamplingGroup(BaseModel):
    """`n` predictions per task sampled at one temperature (exploitation and exploration mixed)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    n: int = Field(ge=1, le=MAX_SAMPLES, strict=True)  # strict: true is not 1
    temperature: float = Field(ge=0, le=10)
    top_p: float = Field(1.0, gt=0, le=1)


def sampling_total(groups: Any) -> int | None:
    """The programs per task of eval sampling groups, None when they are not a list of groups
    (the field validation names what is wrong). Groups arrive as dicts (spec.json) or as
    SamplingGroup (a -p value already typed), and a run's name uses the total too."""
    if not isinstance(groups, list):
        return None
    try:
        return sum(int(g.n if isinstance(g, SamplingGroup) else g["n"]) for g in groups)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


class EvalParams(_Params):
    adapter_path: str | None = None
    n_predictions: int = Field(128, ge=1, le=MAX_SAMPLES, description="per task; with `sampling`, the sum of its n")
    sampling: list[SamplingGroup] | None = Field(
        None,
        min_length=1,
        description="groups of predictions per task, each with its own temperature "
        "(e.g. [{n=8, temperature=0.1}, {n=128, temperature=0.9}]); replaces n_predictions/temperature/top_p",
    )
    refine_dataset: str | None = Field(
        None, description="refine file: n_predictions refinements of each record's program instead of first attempts"
    )
    save_every: int = Field(
        256,
        ge=1,
        description="predictions generated per chunk; each chunk is appended "
        "to predictions.jsonl, and a killed eval resumes after the last one",
    )

    @model_validator(mode="after")
    def _nothing_set_that_eval_ignores(self):
        _refuse_ignored(self, "eval jobs", EVAL_IGNORES)
        return self

    @model_validator(mode="before")
    @classmethod
    def _sampling_total(cls, data):
        # with sampling groups, n_predictions is their sum (the metrics and pass@k use it)
        if isinstance(data, dict) and (total := sampling_total(data.get("sampling"))) is not None:
            data = {**data, "n_predictions": total}
        return data

    temperature: float = Field(1.0, ge=0, le=10)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(1024, ge=1)
    use_vllm: bool = False
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    n_jobs: SandboxWorkers = 20
    sandbox_timeout_s: SandboxTimeout = 1.0
    sandbox_memory_mb: SandboxMemory = 1024
    batch_size: int = Field(8, ge=1)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    prompt_template: str | None = Field(None, description="TOML prompt template file (see GRPOParams.prompt_template)")


class CommandParams(BaseModel):
    """`command` jobs: any program (the template's entry, or the words after `--` on the command
    line) run as a job; it gets no spec.json argument, only ARCCTL_RUN_DIR and its run dir as cwd."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    args: list[str] = Field(default_factory=list, description="arguments appended to the command")


# --- hindsight experience replay (HER) ------------------------------------------------------------


class HERSamplingGroup(TypedDict):
    """`n` programs sampled at `temperature` each epoch (a TypedDict: specs keep plain dicts)."""

    __pydantic_config__ = ConfigDict(extra="forbid", allow_inf_nan=False)  # type: ignore[misc]

    n: Annotated[int, Field(ge=0, le=MAX_SAMPLES, strict=True)]
    temperature: Annotated[float, Field(ge=0, le=10)]


class HERParams(_Params, _Lora, _Optim):
    """Test-time search and learn on single target tasks (trainer/her.py): sample programs, run
    them, relabel each valid program as the solution of the task made of the inputs and the
    outputs it produced, fine-tune on those, sample again. `epochs`/`learning_rate`/batch sizes are
    the fine-tuning of one HER epoch; a checkpoint is saved after every HER epoch."""

    dataset: str = Field(
        "toy",
        description="target tasks: a built-in set or Kaggle-format file with "
        "task_ids, or toy[:N] (synthetic drawing targets)",
    )
    use_data_augmentation: bool = Field(False, description="not used: relabelled programs are trained as written")
    # HER's own defaults for shared parameters
    learning_rate: LearningRate = 1e-6
    epochs: Epochs = 1
    lora_r: int = Field(16, ge=1)
    max_seq_length: MaxSeqLength = 8192
    # each epoch's fine-tuning is a few steps with a fresh optimizer: a warmup would spend them at lr ~0
    lr_scheduler_type: SchedulerName = "constant"
    warmup_ratio: float = Field(0.0, ge=0, le=1)
    sampling: list[HERSamplingGroup] = Field(
        default_factory=lambda: [HERSamplingGroup(n=8, temperature=0.1), HERSamplingGroup(n=128, temperature=0.9)],
        min_length=1,
        description="sampling groups of each epoch: exploitation (low temperature) and exploration (high temperature)",
    )
    her_epochs: int = Field(10, ge=1, le=10_000, description="most search-and-learn epochs per target")
    keep_programs: int = Field(
        32, ge=1, description="programs trained on per epoch: best pixel score first, one per distinct set of outputs"
    )
    stop_when_solved: bool = Field(True, description="next target once a program solves every train pair")
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(1024, ge=1)
    batch_size: int = Field(16, ge=1, description="prompts per generate call")
    generation_backend: GenerationBackend = Field(
        "auto",
        description="how programs are sampled (trainer/fast_generation.py; `trl` = plain model.generate): "
        "auto = the fastest correct one (GPU: merged-cudagraph; CPU: trl)",
    )
    n_jobs: SandboxWorkers = Field(4, description="sandbox worker processes")
    sandbox_timeout_s: SandboxTimeout = 1.0
    sandbox_memory_mb: SandboxMemory = 1024

    @field_validator("sampling")
    @classmethod
    def _some_samples(cls, v: list[HERSamplingGroup]) -> list[HERSamplingGroup]:
        if sum(g["n"] for g in v) < 1:
            raise ValueError("the sampling groups sum to 0 programs per epoch; give a group with n >= 1")
        return v

    @model_validator(mode="after")
    def _generation_combinations(self):
        # Checked at render time, as GRPOParams does: each would only fail on the GPU host.
        gb = self.generation_backend
        _check_backend_combination(gb, self.backend, self.load_in_4bit, self.use_dora)
        return self

    @model_validator(mode="after")
    def _nothing_set_that_her_ignores(self):
        # shared fields a HER job has no use for: a value set there would silently change nothing
        _refuse_ignored(self, "HER jobs", HER_IGNORES)
        return self


# field -> (its only value, why the job ignores it)
HER_IGNORES = {
    "wandb": (False, "they do not log to W&B"),
    "save_total_limit": (None, "every epoch's checkpoint-N is kept"),
    "save_steps": (200, "a checkpoint is saved after every HER epoch"),
    "max_steps": (-1, "`epochs` passes over the kept programs make an epoch's fine-tuning"),
    "use_data_augmentation": (False, "relabelled programs are trained as written"),
}
EVAL_IGNORES = {"wandb": (False, "they do not log to W&B")}


def _refuse_ignored(params: BaseModel, jobs: str, ignored: dict[str, tuple[Any, str]]) -> None:
    for name, (only, why) in ignored.items():
        if getattr(params, name) != only:
            raise ValueError(f"{name}: not used by {jobs} ({why}); leave it unset")


def defaults(kind: str) -> dict[str, Any]:
    """Every parameter of a kind that has a default, with it (JSON types): what a template's
    [params] override and what an experiment-name pattern may use."""
    from pydantic_core import PydanticUndefined

    out = {}
    for name, f in PARAMS_BY_KIND[kind].model_fields.items():
        d = f.get_default(call_default_factory=True)
        if d is not PydanticUndefined:
            out[name] = d
    return out


PARAMS_BY_KIND: dict[str, type[BaseModel]] = {
    "grpo": GRPOParams,
    "grpo-refine": GRPORefineParams,
    "sft": SFTParams,
    "eval": EvalParams,
    "command": CommandParams,
    "her": HERParams,
}
