"""The job spec: what to run (template + typed parameters), where (profile/backend) and from what
(resume_from / parent). Serialised as `spec.json` in the run dir; `load(dump(spec)) == spec`."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from jobs.params import PARAMS_BY_KIND

Kind = Literal["grpo", "sft", "eval", "grpo-refine", "her", "command"]
BackendName = Literal["local", "htcondor", "slurm"]
SPEC_FILE = "spec.json"


def _not_zero(size: str) -> str:
    # Slurm reads --mem=0 as "all the memory of the node"
    if float(re.match(r"\d+(\.\d+)?", size).group()) == 0:
        raise ValueError(f"{size!r}: a size must be more than 0")
    return size


Size = Annotated[str, Field(pattern=r"^\d+(\.\d+)?[KMGT]?B?$"), AfterValidator(_not_zero)]


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpus: int = Field(0, ge=0, le=1024)  # one job on one host (or one Slurm allocation)
    cpus: int = Field(1, ge=1, le=65536)
    memory: Size = "16G"
    disk: Size | None = None
    time: str | None = Field(None, description="wall-time limit, Slurm syntax (e.g. 2-00:00:00)")
    requirements: str | None = Field(None, description='machine requirement, e.g. (TARGET.Machine == "calculon21")')
    gpu_memory: Size | None = Field(
        None, description="memory of one GPU (e.g. 24G): render warns when a GRPO job cannot fit"
    )


class CheckpointRef(BaseModel):
    """A run and one of its checkpoints; checkpoint None means the newest valid one."""

    model_config = ConfigDict(extra="forbid")

    run_dir: str
    checkpoint: str | None = None
    name: str | None = None


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    name: str = Field(min_length=1)
    template: str
    params: dict[str, Any]
    resources: Resources = Resources()
    profile: str = "local"
    backend: BackendName = "local"
    host: str | None = Field(None, description="ssh host (from ~/.ssh/config) for remote backends")
    backend_options: dict[str, Any] = Field(default_factory=dict, description="profile settings for the backend")
    env: dict[str, str] = Field(default_factory=dict)
    entry: list[str] = Field(default_factory=lambda: ["python", "-m", "trainer", "run"])
    run_dir: str
    resume_from: CheckpointRef | None = None
    parent: CheckpointRef | None = None
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    # The params as their kind's model, validated once with the spec; `params` keeps them as plain
    # JSON (what spec.json holds), filled with every default.
    _typed: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _typed_params(self) -> "JobSpec":
        typed = PARAMS_BY_KIND[self.kind].model_validate(self.params)
        self.__dict__["params"] = typed.model_dump(mode="json")
        self._typed = (self.params, typed)
        if (
            getattr(typed, "use_vllm", False)
            and getattr(typed, "vllm_mode", "") == "server"
            and not getattr(typed, "vllm_server_url", None)
            and self.resources.gpus < 2
        ):
            raise ValueError(
                f"vllm_mode = 'server' starts a vLLM server on a GPU of its own: resources.gpus is "
                f"{self.resources.gpus}, needs 2 or more (or set vllm_server_url to a running server)"
            )
        return self

    def typed_params(self):
        """The typed params (jobs.params), as validated with this spec: no second validation.
        A copy, so changing it never changes the spec."""
        source, typed = self._typed
        if source is not self.params:  # params replaced through model_copy(update=...)
            typed = PARAMS_BY_KIND[self.kind].model_validate(self.params)
            self._typed = (self.params, typed)
        return typed.model_copy(deep=True)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> "JobSpec":
        return cls.model_validate_json(text)

    def write(self, run_dir: str | Path | None = None) -> Path:
        path = Path(run_dir or self.run_dir) / SPEC_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.to_json() + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, path: str | Path) -> "JobSpec":
        path = Path(path)
        if path.is_dir():
            path = path / SPEC_FILE
        return cls.from_json(path.read_text())
