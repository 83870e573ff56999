"""Request and response bodies of the API (pydantic), grouped by resource."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list: ``items``, the ``total`` matching, and where this page starts."""

    items: list[T]
    total: int
    offset: int
    limit: int


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- auth and users -------------------------------------------------------------------------------
class SignUp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=8, max_length=200)


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    password: str = Field(max_length=200)


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"


class Refresh(BaseModel):
    refresh_token: str


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old_password: str
    new_password: str = Field(min_length=8, max_length=200)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reset_token: str
    new_password: str = Field(min_length=8, max_length=200)


class UserOut(Orm):
    id: int
    email: str
    username: str
    role: str
    state: str
    created_at: dt.datetime


class UserAdminUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "admin", "super_admin"] | None = None
    state: Literal["pending", "active", "declined", "deactivated"] | None = None


class ApiTokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)


class ApiTokenOut(Orm):
    id: int
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    token: str | None = None  # shown once, at creation


# -- labels and projects --------------------------------------------------------------------------
def _label(value: str) -> str:
    v = value.strip().lower()
    if not v or "," in v or ";" in v:
        raise ValueError("a class name must be non-empty and may not contain ',' or ';'")
    return v


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=120)
    aliases: list[str] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _label(v)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        return [_label(a) for a in v]


class LabelUpdate(BaseModel):
    """A PATCH of a label: aliases to add. ``name`` may be repeated but never changed."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=120)
    aliases: list[str] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else _label(v)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        return [_label(a) for a in v]


class LabelOut(Orm):
    id: int
    name: str
    aliases: list[str]


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    training_classes: list[str] = []
    target_map: float | None = Field(None, ge=0, le=1)
    target_iterations: int | None = Field(None, ge=1)

    @field_validator("training_classes")
    @classmethod
    def _classes(cls, v: list[str]) -> list[str]:
        return [_label(c) for c in v]


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = None
    training_classes: list[str] | None = None
    target_map: float | None = Field(None, ge=0, le=1)
    target_iterations: int | None = Field(None, ge=1)
    training_dataset_id: int | None = None
    validation_dataset_id: int | None = None
    mining_dataset_id: int | None = None
    initial_model_id: int | None = None


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


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    role: Literal["viewer", "editor"]


# -- datasets ---------------------------------------------------------------------------------------
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


class DatasetUpdate(BaseModel):
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


AnnoFormat = Literal["auto", "voc", "coco", "yolo", "ark", "labelstudio", "none"]
ANNO_FORMAT_HELP = (
    "format of annotations/: auto (detected; an empty or missing annotations/ imports the images "
    "unlabeled), voc, coco, yolo, ark, labelstudio, or none (ignore annotations/)"
)
UNKNOWN_TYPES_HELP = "classes not among your labels: add (new labels), ignore (drop their boxes), stop (fail)"


class ImportUrl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_name: str = Field(min_length=1, max_length=120)
    url: str = Field(min_length=1, max_length=2000)
    anno_format: AnnoFormat = Field("auto", description=ANNO_FORMAT_HELP)
    unknown_types_strategy: Literal["stop", "ignore", "add"] = Field("add", description=UNKNOWN_TYPES_HELP)


class ImportPath(BaseModel):
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


class ImportCopy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_name: str = Field(min_length=1, max_length=120)
    source_dataset_id: int
    unknown_types_strategy: Literal["stop", "ignore", "add"] = "add"


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_name: str | None = None
    dataset_ids: list[int] = Field(min_length=1)
    types: list[Literal["train", "val", "test", ""]] = []
    exclude_dataset_ids: list[int] = []
    strategy: Literal["stop", "host", "guest"] = "stop"


class FilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_id: int
    include: list[str] = []
    exclude: list[str] = []
    anno_src: Literal["gt", "pred", "any"] = "any"
    tvt: list[str] = []
    tags: list[str] = []


class SamplingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_id: int
    count: int | None = Field(None, gt=0)
    rate: float | None = Field(None, gt=0, le=1)
    seed: int = 0


class FuseIn(BaseModel):
    """Merge, filter and sample in one step (YMIR's "fuse", used to prepare mining data)."""

    model_config = ConfigDict(extra="forbid")
    group_name: str | None = None
    dataset_ids: list[int] = Field(min_length=1)
    exclude_dataset_ids: list[int] = []
    strategy: Literal["stop", "host", "guest"] = "stop"
    include: list[str] = []
    exclude: list[str] = []
    anno_src: Literal["gt", "pred", "any"] = "any"
    count: int | None = Field(None, gt=0)
    rate: float | None = Field(None, gt=0, le=1)
    seed: int = 0


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    anno_format: Literal["voc", "coco", "yolo", "ark", "labelstudio"] = "voc"
    gt: bool = True
    pred: bool = False


class EvaluateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conf_thr: float = Field(0.0, ge=0, lt=1)
    iou_thr: float = Field(0.5, gt=0, lt=1)
    class_names: list[str] = []


# -- models -----------------------------------------------------------------------------------------
class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    training_dataset_id: int
    validation_dataset_id: int
    image_id: int | None = None
    config: dict[str, Any] = {}
    class_names: list[str] = []
    pretrained_model_id: int | None = None
    gpu_count: int = Field(0, ge=0)
    group_name: str | None = None


class MiningIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_id: int
    model_id: int
    topk: int = Field(gt=0)
    add_prediction: bool = False
    algorithm: str | None = None
    image_id: int | None = None
    config: dict[str, Any] = {}
    gpu_count: int = Field(0, ge=0)


class InferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_id: int
    model_id: int
    image_id: int | None = None
    config: dict[str, Any] = {}
    gpu_count: int = Field(0, ge=0)


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


# -- tasks ------------------------------------------------------------------------------------------
class TaskOut(Orm):
    id: str
    project_id: int | None
    user_id: int
    kind: str
    state: str
    percent: float
    stage: str
    message: str
    request: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    retry_of: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


# -- executor images ----------------------------------------------------------------------------------
class ImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=300)
    description: str = ""
    templates: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="training / mining / infer templates; their presence = capability"
    )
    object_type: int = 2
    is_public: bool = True

    @field_validator("templates")
    @classmethod
    def _kinds(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        bad = set(v) - {"training", "mining", "infer"}
        if bad:
            raise ValueError(f"unknown template kind(s) {sorted(bad)}; use training, mining, infer")
        return v


class ImageCopy(BaseModel):
    """A copy of a public image: your own entry running the same container, with your name for it,
    and templates you may change."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=300)
    description: str | None = None
    templates: dict[str, dict[str, Any]] | None = Field(
        None, description="default: the original's; give only kinds the original has"
    )


class ImageOut(Orm):
    id: int
    name: str
    runs: str = Field(description="the container image (or built-in executor) tasks run")
    owner_id: int | None
    description: str
    capabilities: list[str]
    templates: dict[str, Any]
    object_type: int
    is_public: bool


# -- model verification ----------------------------------------------------------------------------
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

    model_id: int
    stage: str
    width: int
    height: int
    boxes: list[VerifiedBox]
    elapsed_ms: float


# -- iterations -------------------------------------------------------------------------------------
class IterationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    training_dataset_id: int | None = None
    mining_dataset_id: int | None = None
    model_id: int | None = None
    presets: dict[str, Any] = {}


class StepRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presets: dict[str, Any] = {}
    skip: bool = False
    labeled_dataset_id: int | None = None
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
