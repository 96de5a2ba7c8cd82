"""Parameter types with a check of their own, shared by the models of jobs.params."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _wandb_name(v: str | None) -> str | None:
    # W&B refuses these in project/entity/group names: caught at submit, not on the GPU host.
    bad = any(c in "/\\#?%:" or ord(c) < 32 or ord(c) == 127 for c in v or "")
    if v is not None and (bad or not v.strip() or len(v) > 128):
        raise ValueError(f"{v!r}: a W&B name has 1-128 characters, none of / \\ # ? % : or control characters")
    return v


WandbName = Annotated[str | None, AfterValidator(_wandb_name)]


def _task_ids(v: list[str] | None) -> list[str] | None:
    # the trainer reads an empty list as no filter at all (select_tasks: `if not task_ids`): a
    # list that came out empty (a filter that kept nothing) trained on every task of the set
    if v is not None and not v:
        raise ValueError("an empty list would use every task of the dataset; leave task_ids out for that")
    return v


TaskIds = Annotated[list[str] | None, AfterValidator(_task_ids)]
