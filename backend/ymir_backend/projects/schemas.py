"""Bodies of projects and their members."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from ymir_backend.labels.schemas import label_name
from ymir_backend.schemas import DB_INT_MAX, DbId, In, Orm


class ProjectIn(In):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    training_classes: list[Annotated[str, Field(max_length=120)]] = []
    target_map: float | None = Field(None, ge=0, le=1)
    target_iterations: int | None = Field(None, ge=1, le=DB_INT_MAX)

    @field_validator("training_classes")
    @classmethod
    def _classes(cls, v: list[str]) -> list[str]:
        return [label_name(c) for c in v]


class ProjectUpdate(In):
    model_config = ConfigDict(extra="forbid")
    # leave a field out to keep it; null is refused where the column cannot hold it
    name: str | SkipJsonSchema[None] = Field(None, min_length=1, max_length=120)
    description: str | SkipJsonSchema[None] = None
    training_classes: list[Annotated[str, Field(max_length=120)]] | SkipJsonSchema[None] = None
    target_map: float | None = Field(None, ge=0, le=1)
    target_iterations: int | None = Field(None, ge=1, le=DB_INT_MAX)
    training_dataset_id: DbId | None = None
    validation_dataset_id: DbId | None = None
    mining_dataset_id: DbId | None = None
    initial_model_id: DbId | None = None

    @field_validator("name", "description", "training_classes", mode="before")
    @classmethod
    def _not_null(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return v

    @field_validator("training_classes")
    @classmethod
    def _classes(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [label_name(c) for c in v]


class ProjectOut(Orm):
    id: int
    owner_id: int
    name: str
    description: str
    training_classes: list[str]
    target_map: float | None
    target_iterations: int | None
    training_dataset_id: int | None
    validation_dataset_id: int | None
    mining_dataset_id: int | None
    initial_model_id: int | None
    created_at: dt.datetime


class MemberIn(In):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    role: Literal["viewer", "editor"]


class ProjectStatsOut(BaseModel):
    """A project's figures for the home page."""

    project_id: int
    round: int | None = Field(description="the latest iteration round (None before the first)")
    round_state: str | None = Field(description="running or done")
    step: str | None = Field(description="the running round's current step (prepare_mining … training)")
    model_id: int | None = Field(description="the project's newest ready model")
    map50_95: float | None = Field(description="that model's COCO AP over IoU .5:.95 on the validation set")
    map50: float | None
    target_map: float | None
    target_iterations: int | None
    datasets: int = Field(description="ready dataset versions")
    models: int = Field(description="ready models")
