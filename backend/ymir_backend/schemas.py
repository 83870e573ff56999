"""Request and response bodies of the API (pydantic), grouped by resource."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from mir.errors import InvalidLabelError
from mir.labels import check_label

T = TypeVar("T")

DB_INT_MAX = 2**31 - 1  # an INTEGER column on PostgreSQL; SQLite's is wider
DbId = Annotated[int, Ge(1), Le(DB_INT_MAX)]
"""An id of a row: 1 to 2^31-1 (a larger one is refused with 422, never looked up)."""
DbInt = Annotated[int, Ge(0), Le(DB_INT_MAX)]
"""A count, offset or other integer stored in (or compared with) an INTEGER column."""


NO_NUL = r"^[^\x00]*$"
"""The pattern of a form field or parameter that may hold anything but NUL."""


def first_nul(value: Any, path: str = "") -> str | None:
    """Where a NUL character sits in a JSON-like value (``a.b[2]``), or None. PostgreSQL cannot store
    NUL in text, and no name, path or description needs one."""
    if isinstance(value, str):
        return (path or "the value") if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            where = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and "\x00" in k:
                return where
            found = first_nul(v, where)
            if found:
                return found
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = first_nul(v, f"{path}[{i}]")
            if found:
                return found
    return None


class In(BaseModel):
    """Base of every request body: no NUL character in any field, nested keys included."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        where = first_nul(value)
        if where:
            raise ValueError(f"{where} contains a NUL character (\\x00); remove it")
        return value


class Page(BaseModel, Generic[T]):
    """A page of a list: ``items``, the ``total`` matching, and where this page starts."""

    items: list[T]
    total: int
    offset: int
    limit: int


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- auth and users -------------------------------------------------------------------------------
class SignUp(In):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=8, max_length=200)


class SignUpOut(BaseModel):
    """The same for a new and an already registered e-mail (sign-up does not reveal accounts)."""

    email: str
    username: str
    state: str


class Login(In):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    password: str = Field(max_length=200)


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"


class Refresh(In):
    refresh_token: str


class PasswordChange(In):
    model_config = ConfigDict(extra="forbid")
    old_password: str
    new_password: str = Field(min_length=8, max_length=200)


class PasswordReset(In):
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


class UserAdminUpdate(In):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "admin", "super_admin"] | None = None
    state: Literal["pending", "active", "declined", "deactivated"] | None = None


class ApiTokenIn(In):
    name: str = Field(min_length=1, max_length=80)


class ApiTokenOut(Orm):
    id: int
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    token: str | None = None  # shown once, at creation


# -- labels and projects --------------------------------------------------------------------------
def _label(value: str) -> str:
    """mir's own rule for a class name (no ',', ';' or control character), checked before anything is
    written, so a refused name changes nothing."""
    try:
        return str(check_label(value))
    except InvalidLabelError as e:
        raise ValueError(f"{e.message}; {e.fix}" if e.fix else e.message) from None


class LabelIn(In):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=120)
    aliases: list[Annotated[str, Field(max_length=120)]] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _label(v)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        return [_label(a) for a in v]


class LabelUpdate(In):
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
        return [_label(c) for c in v]


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
        return None if v is None else [_label(c) for c in v]


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


# -- models -----------------------------------------------------------------------------------------
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
class ImageIn(In):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=300)
    description: str = ""
    templates: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="training / mining / infer templates; their presence = capability"
    )
    object_type: int = Field(2, ge=0, le=DB_INT_MAX)
    is_public: bool = True

    @field_validator("templates")
    @classmethod
    def _kinds(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        bad = set(v) - {"training", "mining", "infer"}
        if bad:
            raise ValueError(f"unknown template kind(s) {sorted(bad)}; use training, mining, infer")
        return v


class ImageCopy(In):
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

    model_id: DbId
    stage: str
    width: int
    height: int
    boxes: list[VerifiedBox]
    elapsed_ms: float


# -- iterations -------------------------------------------------------------------------------------
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
