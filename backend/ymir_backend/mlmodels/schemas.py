"""Bodies of models (training, mining, inference, verification) and their stages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ymir_backend.schemas import DB_INT_MAX, DbId, In, Orm


class TrainIn(In):
    model_config = ConfigDict(extra="forbid")
    training_dataset_id: DbId
    validation_dataset_id: DbId
    image_id: DbId | None = None
    config: dict[str, Any] = {}
    class_names: list[str] = []
    pretrained_model_id: DbId | None = None
    gpu_count: int = Field(0, ge=0, le=1024)
    group_name: str | None = Field(None, min_length=1, max_length=120)


class MiningIn(In):
    model_config = ConfigDict(extra="forbid")
    dataset_id: DbId
    model_id: DbId
    topk: int = Field(gt=0, le=DB_INT_MAX)
    add_prediction: bool = False
    algorithm: str | None = None
    image_id: DbId | None = None
    config: dict[str, Any] = {}
    gpu_count: int = Field(0, ge=0, le=1024)


class InferIn(In):
    model_config = ConfigDict(extra="forbid")
    dataset_id: DbId
    model_id: DbId
    image_id: DbId | None = None
    config: dict[str, Any] = {}
    gpu_count: int = Field(0, ge=0, le=1024)


class ModelStageOut(Orm):
    name: str
    metrics: dict[str, Any]
    timestamp: int


class ModelVersionOut(Orm):
    id: int
    group_id: int
    project_id: int
    version_num: int
    state: str
    task_id: str | None
    model_hash: str | None
    best_stage: str | None
    map50_95: float | None = Field(description="COCO AP over IoU .5:.95, measured by YMIR on the val set")
    map50: float | None = Field(description="COCO AP at IoU .5, measured by YMIR on the validation set")
    executor_map50: float | None = Field(description="AP@.5 the executor claimed for its best stage")
    class_names: list[str]
    training_dataset_id: int | None
    created_at: dt.datetime


class ModelGroupOut(Orm):
    id: int
    project_id: int
    name: str
    created_at: dt.datetime


class VerifiedBox(BaseModel):
    """A box in the uploaded image's pixels: top-left corner ``x``, ``y`` and size ``w``, ``h``."""

    x: float
    y: float
    w: float
    h: float
    class_name: str
    score: float


class VerificationOut(BaseModel):
    """The model's boxes on one image, best first, and how long the platform took."""

    model_id: DbId
    stage: str
    width: int
    height: int
    boxes: list[VerifiedBox]
    elapsed_ms: float
