"""Bodies of iterations (rounds) and their steps."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from ymir_backend.schemas import DbId, In, Orm


class IterationIn(In):
    model_config = ConfigDict(extra="forbid")
    training_dataset_id: DbId | None = None
    mining_dataset_id: DbId | None = None
    model_id: DbId | None = None
    presets: dict[str, Any] = {}


class StepRun(In):
    model_config = ConfigDict(extra="forbid")
    presets: dict[str, Any] = {}
    skip: bool = False
    labeled_dataset_id: DbId | None = None
    merge_unlabeled: bool = Field(
        False, description="label step: merge the mined images into training although nobody labeled them"
    )


class IterationStepOut(Orm):
    id: int
    name: str
    state: str
    task_id: str | None
    output_dataset_id: int | None
    output_model_id: int | None
    presets: dict[str, Any]


class IterationOut(Orm):
    id: int
    project_id: int
    round: int
    state: str
    training_dataset_id: int | None
    mining_dataset_id: int | None
    model_id: int | None
    result_model_id: int | None
    presets: dict[str, Any]
    steps: list[IterationStepOut] = []
    summary: dict[str, Any] = {}
