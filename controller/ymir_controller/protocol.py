"""Requests and results of every controller task, as pydantic models with no Celery import.

The backend builds requests and reads results with these models alone and sends tasks by name
(:data:`TASK_NAMES`); it never imports the engine. Every path in a request is *relative to the
workplace* (repositories, media, models, uploads), so moving the workplace folder breaks no queued
task (YMIR kept absolute paths in Redis, and a moved install broke every task).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator


class Kind(StrEnum):
    """One task type per operation."""

    IMPORT = "import"
    COPY = "copy"
    MERGE = "merge"
    FILTER = "filter"
    SAMPLING = "sampling"
    FUSE = "fuse"
    EXPORT = "export"
    TRAIN = "train"
    MINING = "mining"
    INFER = "infer"
    EVALUATE = "evaluate"
    MODEL_IMPORT = "model_import"
    MODEL_EXPORT = "model_export"
    LABEL = "label"
    PING = "ping"


TASK_NAMES: dict[Kind, str] = {k: f"ymir.{k.value}" for k in Kind}
GPU_KINDS = {Kind.TRAIN, Kind.MINING, Kind.INFER}


def _relative(value: str) -> str:
    p = PurePosixPath(value)
    if p.is_absolute() or ".." in p.parts:
        raise ValueError(f"{value!r} must be a path inside the workplace (relative, without '..')")
    return value


RelPath = Annotated[str, Field(min_length=1), AfterValidator(_relative)]
"""A path inside the workplace: relative, without ``..``."""


class LabelSpec(BaseModel):
    """One class of a project: its name and its aliases (what the project's label list holds)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    aliases: list[str] = []


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo: RelPath = Field(description="the mir repository, relative to the workplace")
    user: str = ""
    labels: list[LabelSpec] | None = Field(
        None,
        description="the project's classes: before the task runs the engine creates the repository if "
        "it is missing and adds these classes and aliases to its label file, in one write (ids stay "
        "stable; nothing is removed). None leaves the repository as it is (and a missing one fails)",
    )


class _Writes(_Request):
    dst_rev: str = Field(description="new version, branch@task_id")


class ImportSource(BaseModel):
    """Where imported images come from: a folder under the sharing folder, an uploaded zip, or a URL."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["path", "zip", "url"]
    path: str = ""  # path: a folder under the sharing folder; zip: the uploaded file (workplace-relative)
    url: str = ""

    @field_validator("path")
    @classmethod
    def _path_relative(cls, v: str) -> str:
        return _relative(v) if v else v


class ImportRequest(_Writes):
    kind: Literal[Kind.IMPORT] = Kind.IMPORT
    source: ImportSource
    anno_format: str = "auto"
    unknown_types_strategy: Literal["stop", "ignore", "add"] = "stop"
    invalid_boxes: Literal["stop", "clip", "drop"] = "stop"
    with_predictions: bool = False


class CopyRequest(_Writes):
    kind: Literal[Kind.COPY] = Kind.COPY
    src_repo: RelPath
    src_revs: str
    unknown_types_strategy: Literal["stop", "ignore", "add"] = "stop"
    drop_annotations: bool = False


class MergeRequest(_Writes):
    kind: Literal[Kind.MERGE] = Kind.MERGE
    src_revs: str
    ex_src_revs: str = ""
    strategy: Literal["stop", "host", "guest"] = "stop"


class FilterRequest(_Writes):
    kind: Literal[Kind.FILTER] = Kind.FILTER
    src_revs: str
    include: list[str] = []
    exclude: list[str] = []
    anno_src: Literal["gt", "pred", "any"] = "any"
    tvt: list[str] = []
    tags: list[str] = []
    ex_tags: list[str] = []


class SamplingRequest(_Writes):
    kind: Literal[Kind.SAMPLING] = Kind.SAMPLING
    src_revs: str
    count: int | None = None
    rate: float | None = None
    seed: int = 0


class FuseRequest(_Writes):
    kind: Literal[Kind.FUSE] = Kind.FUSE
    src_revs: str
    ex_src_revs: str = ""
    strategy: Literal["stop", "host", "guest"] = "stop"
    include: list[str] = []
    exclude: list[str] = []
    anno_src: Literal["gt", "pred", "any"] = "any"
    count: int | None = None
    rate: float | None = None
    seed: int = 0


class ExportRequest(_Request):
    kind: Literal[Kind.EXPORT] = Kind.EXPORT
    src_rev: str
    dst_dir: RelPath = Field(description="folder under the workplace to write into")
    anno_format: str = "voc"
    gt: bool = True
    pred: bool = False
    class_names: list[str] = []
    zip: bool = True


class _Executes(_Writes):
    src_revs: str
    executor: str = Field(
        "",
        description="a container image reference, 'local:<name>' of a local executor the worker's "
        "YMIR_LOCAL_EXECUTORS registers, or empty for our executor",
    )
    config: dict[str, Any] = {}
    gpu_count: int = Field(0, ge=0)
    strategy: Literal["stop", "host", "guest"] = "stop"
    timeout: float | None = None


class TrainRequest(_Executes):
    kind: Literal[Kind.TRAIN] = Kind.TRAIN
    pretrained: str | None = None
    class_names: list[str] = []


class MiningRequest(_Executes):
    kind: Literal[Kind.MINING] = Kind.MINING
    model: str
    topk: int = Field(gt=0)
    add_prediction: bool = False
    algorithm: str | None = None


class InferRequest(_Executes):
    kind: Literal[Kind.INFER] = Kind.INFER
    model: str


class EvaluateRequest(_Writes):
    kind: Literal[Kind.EVALUATE] = Kind.EVALUATE
    src_revs: str
    class_names: list[str] = []
    conf_thr: float = Field(0.0, ge=0, lt=1)
    iou_thr: float = Field(0.5, gt=0, lt=1)


class ModelImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal[Kind.MODEL_IMPORT] = Kind.MODEL_IMPORT
    package: RelPath = Field(description="uploaded package, relative to the workplace")
    user: str = ""


class ModelExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal[Kind.MODEL_EXPORT] = Kind.MODEL_EXPORT
    model_hash: str
    dst: RelPath
    user: str = ""


class LabelRequest(_Writes):
    """Label a version in Label Studio; the annotators' boxes become version ``dst_rev`` (gt)."""

    kind: Literal[Kind.LABEL] = Kind.LABEL
    src_rev: str = Field(description="the version whose images are labeled")
    class_names: list[str] = Field(min_length=1, description="the classes annotators may draw")
    annotators: list[str] = Field([], description="annotators' e-mails")
    instruction: str = Field("", max_length=20000, description="shown to annotators (text or HTML)")
    pre_annotations: Literal["none", "pred", "gt"] = "none"
    title: str = Field("", max_length=200)
    unknown_classes: Literal["stop", "ignore"] = Field(
        "stop", description="a box of a class outside the project: stop (wait for a fix) or leave it out"
    )
    invalid_boxes: Literal["stop", "clip", "drop"] = Field(
        "stop", description="a box outside the image: stop (wait for a fix), clip it, or leave it out"
    )


class PingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal[Kind.PING] = Kind.PING
    sleep: float = 0.0


TaskRequest = Annotated[
    ImportRequest
    | CopyRequest
    | MergeRequest
    | FilterRequest
    | SamplingRequest
    | FuseRequest
    | ExportRequest
    | TrainRequest
    | MiningRequest
    | InferRequest
    | EvaluateRequest
    | ModelImportRequest
    | ModelExportRequest
    | LabelRequest
    | PingRequest,
    Field(discriminator="kind"),
]


class ClassStat(BaseModel):
    """Images and boxes of one class on one side."""

    images: int
    boxes: int


class VersionInfo(BaseModel):
    """A version the task created: what the backend stores as a dataset version."""

    commit: str
    tag: str
    assets: int
    tvt: dict[str, int]
    gt: dict[str, ClassStat]
    pred: dict[str, ClassStat]
    gt_boxes: int
    pred_boxes: int


class ModelInfo(BaseModel):
    """A model the task created or imported."""

    model_hash: str
    best_stage: str
    stages: dict[str, dict[str, Any]]
    class_names: list[str]
    map50_95: float | None = None  # COCO AP averaged over IoU .5:.95, measured by mir (docs/glossary.md)
    map50: float | None = None  # COCO AP at IoU .5, measured by mir
    executor_map50: float | None = None  # what the executor claimed for its best stage, never trusted alone
    evaluation: dict[str, Any] | None = None


class TaskError(BaseModel):
    """Why a task failed, in words a user can act on."""

    code: int
    message: str
    fix: str = ""
    executor_code: int | None = None
    log_tail: str = ""


class TaskResult(BaseModel):
    """What every task returns (as JSON): its final state and what it made."""

    task_id: str
    kind: Kind
    state: Literal["done", "failed", "cancelled"]
    version: VersionInfo | None = None
    model: ModelInfo | None = None
    evaluation: dict[str, Any] | None = None
    output: str | None = None  # export: the written folder or zip, relative to the workplace
    error: TaskError | None = None
    labeling: dict[str, Any] | None = None  # label: project, counts, what was left out and why
    seconds: float = 0.0
    redelivered: bool = False


class Progress(BaseModel):
    """A running task's progress, published as the Celery state ``PROGRESS``."""

    percent: float
    stage: str
    message: str = ""
    heartbeat: float = Field(description="unix time of the last sign of life")
    worker: str = ""


def celery_client_config(
    *,
    workplace: Path,
    broker_url: str = "",
    result_backend: str = "",
    visibility_timeout: float = 12 * 3600.0,
    restore_interval: float = 10.0,
    key_prefix: str = "",
) -> dict[str, Any]:
    """Broker and result-backend settings shared by workers and by clients that send tasks by name.

    Pure data (no Celery import), so the backend can build its own Celery client from it. Empty URLs
    mean the embedded broker: message and result files under ``<workplace>/.controller``.
    ``key_prefix`` lets several installations (or test runs) share one Redis server.
    """
    internal = workplace / ".controller"
    extra: dict[str, Any] = {}
    if broker_url:
        broker = broker_url
        transport: dict[str, Any] = {
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": restore_interval,
            "unacked_restore_throttle": 1,
        }
        if key_prefix:
            transport["global_keyprefix"] = key_prefix
    else:
        folder = internal / "broker"
        for sub in ("in", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        import ymir_controller.fstransport  # noqa: F401 - registers the atomic filesystem transport

        broker = "ymirfs://"
        transport = {
            "data_folder_in": str(folder / "in"),
            "data_folder_out": str(folder / "in"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "control_folder": str(folder / "control"),
            "polling_interval": 0.05,  # kombu's default 1 s would add a second to every task
        }
    if result_backend:
        backend = result_backend
        if key_prefix and backend.startswith("redis"):
            extra["result_backend_transport_options"] = {"global_keyprefix": key_prefix}
    else:
        (internal / "results").mkdir(parents=True, exist_ok=True)
        # Celery's file results, written atomically (ymir_controller.fsresults)
        backend = f"ymir_controller.fsresults:AtomicFilesystemBackend+file://{internal / 'results'}"
    return {
        **extra,
        "broker_url": broker,
        "broker_transport_options": transport,
        "result_backend": backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        "task_default_queue": "cpu",
        "task_routes": {TASK_NAMES[k]: {"queue": "gpu"} for k in GPU_KINDS},
    }


def queue_of(kind: Kind) -> str:
    """The queue a task kind goes to."""
    return "gpu" if kind in GPU_KINDS else "cpu"


def interpret(
    meta: dict[str, Any], *, heartbeat_seconds: float = 5.0, now: float | None = None
) -> tuple[str, Progress | None, TaskResult | None]:
    """A result-backend record as (state, progress, result); ``lost`` when a running task's heartbeat
    stopped (its worker died and nothing redelivered it)."""
    status = meta.get("status")
    info = meta.get("result")
    if status == "SUCCESS" and isinstance(info, dict):
        result = TaskResult.model_validate(info)
        return result.state, None, result
    if status in ("FAILURE", "REVOKED"):
        return "failed", None, None
    if status == "PROGRESS" and isinstance(info, dict):
        progress = Progress.model_validate(info)
        stale = (now or time.time()) - progress.heartbeat > max(3 * heartbeat_seconds, 15.0)
        return ("lost" if stale else "running"), progress, None
    if status == "STARTED":
        return "running", None, None
    return "queued", None, None


def cancel_flag(workplace: Path, task_id: str) -> Path:
    """The file whose existence asks task ``task_id`` to stop (set by clients, polled by workers)."""
    safe = "".join(c for c in task_id if c.isalnum() or c in "-_.")
    return workplace / ".controller" / "cancel" / safe


def superseded_flag(workplace: Path, task_id: str) -> Path:
    """The file whose existence says task ``task_id`` was retried under another id (the file holds
    it): a late redelivery of the original must not run, so a request never commits twice."""
    return workplace / ".controller" / "superseded" / _safe(task_id)


def finish_flag(workplace: Path, task_id: str) -> Path:
    """The file whose existence asks labeling task ``task_id`` to collect what is labeled and end."""
    return workplace / ".controller" / "label-finish" / _safe(task_id)


def poke_flag(workplace: Path, task_id: str) -> Path:
    """The file a Label Studio webhook touches so labeling task ``task_id`` looks at its project now."""
    return workplace / ".controller" / "label-poke" / _safe(task_id)


def _safe(task_id: str) -> str:
    return "".join(c for c in task_id if c.isalnum() or c in "-_.")


def label_url_key(workplace: Path) -> bytes:
    """The key signing image URLs of labeling tasks, made once in the workplace (workers sign, the API
    checks; both see the workplace)."""
    path = workplace / ".controller" / "label-url-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    for _ in range(50):  # another process may be writing it this very moment
        text = path.read_text().strip()
        if text:
            return text.encode()
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty; delete it and start again")


def label_url_signature(key: bytes, task_id: str, asset_id: str, expires: int) -> str:
    """The signature of one image URL of a labeling task (valid until unix time ``expires``)."""
    message = f"{task_id}:{asset_id}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]
