"""Bodies of dataset groups and versions, and of the tasks that make them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import ConfigDict, Field

from ymir_backend.schemas import DB_INT_MAX, DbId, In, Orm


class DatasetVersionOut(Orm):
    id: int
    group_id: int
    project_id: int
    version_num: int
    rev: str
    state: str
    task_id: str | None
    is_public: bool
    asset_count: int
    tvt: dict[str, int]
    gt_stats: dict[str, Any]
    pred_stats: dict[str, Any]
    gt_boxes: int
    pred_boxes: int
    source_ids: list[int]
    description: str
    created_at: dt.datetime


class DatasetUpdate(In):
    """What a PATCH of a dataset version changes; any other field is refused (422)."""

    model_config = ConfigDict(extra="forbid")
    is_public: bool | None = Field(None, description="public versions are listed to and copied by every user")
    description: str | None = Field(None, max_length=10_000)


class PublicDatasetOut(DatasetVersionOut):
    """A public version as every user sees it, with the names to recognise it by."""

    project_name: str
    group_name: str
    owner: str


class DatasetGroupOut(Orm):
    id: int
    project_id: int
    name: str
    description: str
    created_at: dt.datetime


ANNO_FORMATS = ("auto", "voc", "coco", "yolo", "ark", "labelstudio", "none")
AnnoFormat = Literal["auto", "voc", "coco", "yolo", "ark", "labelstudio", "none"]
ANNO_FORMAT_HELP = (
    "format of annotations/: auto (detected; an empty or missing annotations/ imports the images "
    "unlabeled), voc, coco, yolo, ark, labelstudio, or none (ignore annotations/)"
)
UNKNOWN_TYPES_HELP = "classes not among your labels: add (new labels), ignore (drop their boxes), stop (fail)"


class ImportUrl(In):
    model_config = ConfigDict(extra="forbid")
    group_name: str = Field(min_length=1, max_length=120)
    url: str = Field(min_length=1, max_length=2000)
    anno_format: AnnoFormat = Field("auto", description=ANNO_FORMAT_HELP)
    unknown_types_strategy: Literal["stop", "ignore", "add"] = Field("add", description=UNKNOWN_TYPES_HELP)


class ImportPath(In):
    model_config = ConfigDict(extra="forbid")
    group_name: str = Field(min_length=1, max_length=120)
    path: str = Field(
        min_length=1,
        max_length=1000,
        description="a folder of the sharing folder: absolute, or relative to the sharing folder",
    )
    anno_format: AnnoFormat = Field("auto", description=ANNO_FORMAT_HELP)
    unknown_types_strategy: Literal["stop", "ignore", "add"] = Field("add", description=UNKNOWN_TYPES_HELP)
    with_predictions: bool = False


class ImportCopy(In):
    model_config = ConfigDict(extra="forbid")
    group_name: str = Field(min_length=1, max_length=120)
    source_dataset_id: DbId
    unknown_types_strategy: Literal["stop", "ignore", "add"] = "add"


class MergeIn(In):
    model_config = ConfigDict(extra="forbid")
    group_name: str | None = Field(None, min_length=1, max_length=120)
    dataset_ids: list[DbId] = Field(min_length=1)
    types: list[Literal["train", "val", "test", ""]] = []
    exclude_dataset_ids: list[DbId] = []
    strategy: Literal["stop", "host", "guest"] = "stop"


class FilterIn(In):
    model_config = ConfigDict(extra="forbid")
    dataset_id: DbId
    include: list[str] = []
    exclude: list[str] = []
    anno_src: Literal["gt", "pred", "any"] = "any"
    tvt: list[Literal["train", "val", "test", "unknown"]] = []
    tags: list[str] = []


class SamplingIn(In):
    model_config = ConfigDict(extra="forbid")
    dataset_id: DbId
    count: int | None = Field(None, gt=0, le=DB_INT_MAX)
    rate: float | None = Field(None, gt=0, le=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)


class FuseIn(In):
    """Merge, filter and sample in one step (YMIR's "fuse", used to prepare mining data)."""

    model_config = ConfigDict(extra="forbid")
    group_name: str | None = Field(None, min_length=1, max_length=120)
    dataset_ids: list[DbId] = Field(min_length=1)
    exclude_dataset_ids: list[DbId] = []
    strategy: Literal["stop", "host", "guest"] = "stop"
    include: list[str] = []
    exclude: list[str] = []
    anno_src: Literal["gt", "pred", "any"] = "any"
    count: int | None = Field(None, gt=0, le=DB_INT_MAX)
    rate: float | None = Field(None, gt=0, le=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)


class ExportIn(In):
    model_config = ConfigDict(extra="forbid")
    anno_format: Literal["voc", "coco", "yolo", "ark", "labelstudio"] = "voc"
    gt: bool = True
    pred: bool = False


class EvaluateIn(In):
    model_config = ConfigDict(extra="forbid")
    conf_thr: float = Field(0.0, ge=0, lt=1)
    iou_thr: float = Field(0.5, gt=0, lt=1)
    class_names: list[str] = []
