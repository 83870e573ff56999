"""Models: training, mining and inference (202 + task), import of a package upload, download,
groups, versions and stages with their metrics, and verification on one uploaded image."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ymir_backend.api.deps import DB, CurrentUser, Settings, project_access
from ymir_backend.api.routes.datasets import launch, new_version, ready, version_of
from ymir_backend.api.routes.images import usable
from ymir_backend.errors import ApiError, ErrorOut
from ymir_backend.models import (
    DatasetGroup,
    DatasetVersion,
    ExecutorImage,
    ModelGroup,
    ModelStage,
    ModelVersion,
    Project,
    User,
)
from ymir_backend.schemas import (
    DB_INT_MAX,
    NO_NUL,
    DbId,
    InferIn,
    MiningIn,
    ModelGroupOut,
    ModelStageOut,
    ModelVersionOut,
    Page,
    TaskOut,
    TrainIn,
    VerificationOut,
)
from ymir_backend.services import evaluations, verification
from ymir_backend.services import tasks as task_service
from ymir_backend.services.access import model_of as model_of
from ymir_backend.services.uploads import form_text, read_small_upload, receive_upload, upload_form
from ymir_controller.protocol import (
    InferRequest,
    MiningRequest,
    ModelExportRequest,
    ModelImportRequest,
    TrainRequest,
)

router = APIRouter(tags=["models"])


def ready_model(mv: ModelVersion) -> ModelVersion:
    """Refuse models still training or that failed."""
    if mv.state != "ready" or not mv.model_hash:
        raise ApiError(409, "model_not_ready", f"model {mv.id} is {mv.state}; wait for its task to finish")
    return mv


def new_model(db: Session, project: Project, group_name: str, task_id: str) -> ModelVersion:
    """The model version a task will fill."""
    group = db.scalar(
        select(ModelGroup).where(
            ModelGroup.project_id == project.id, ModelGroup.name == group_name, ModelGroup.deleted.is_(False)
        )
    )
    if group is None:
        group = ModelGroup(project_id=project.id, name=group_name)
        db.add(group)
        db.flush()
    num = (
        db.scalar(select(func.max(ModelVersion.version_num)).where(ModelVersion.group_id == group.id)) or 0
    ) + 1
    mv = ModelVersion(group_id=group.id, project_id=project.id, version_num=num, task_id=None)
    db.add(mv)
    db.flush()
    return mv


def executor_of(image: ExecutorImage) -> str:
    """The ``executor`` a request names: empty for our built-in executor, else the image."""
    return "" if image.runs == "ymir-executor" else image.runs


def model_ref(mv: ModelVersion) -> str:
    """``hash@stage`` of a ready model (the form mir and the engine take)."""
    return f"{ready_model(mv).model_hash}@{mv.best_stage}"


def _dataset_and_model(
    db: Session, user: User, project: Project, dataset_id: int, model_id: int
) -> tuple[DatasetVersion, ModelVersion]:
    """A ready dataset and a ready model, both of ``project`` (mining and inference take these)."""
    src, _ = version_of(db, user, dataset_id, within=project)
    mv, _ = model_of(db, user, model_id, within=project)
    ready(src)
    ready_model(mv)
    return src, mv


@router.post("/projects/{project_id}/models/train", response_model=TaskOut, status_code=202)
def train(project_id: DbId, body: TrainIn, request: Request, user: CurrentUser, db: DB) -> object:
    """Train on a training and a validation version; the model's mAP is measured by the platform."""
    project = project_access(db, user, project_id, write=True)
    image = usable(db, user.id, user.role, body.image_id, "training")
    trn, _ = version_of(db, user, body.training_dataset_id, within=project)
    val, _ = version_of(db, user, body.validation_dataset_id, within=project)
    ready(trn)
    ready(val)
    pretrained = None
    if body.pretrained_model_id is not None:
        pm, _ = model_of(db, user, body.pretrained_model_id, within=project)
        pretrained = model_ref(pm)
    classes = body.class_names or list(project.training_classes)
    tid = task_service.new_task_id()
    mv = new_model(db, project, body.group_name or f"model-{trn.group_id}", tid)
    mv.training_dataset_id = trn.id
    req = TrainRequest(
        repo=project.repo,
        dst_rev=f"training-{mv.group_id}@{tid}",
        src_revs=f"tr:{trn.rev};va:{val.rev}",
        executor=executor_of(image),
        config=body.config,
        class_names=classes,
        pretrained=pretrained,
        gpu_count=body.gpu_count,
        strategy="host",
        user=user.email,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[mv])


@router.post("/projects/{project_id}/models/mine", response_model=TaskOut, status_code=202)
def mine(project_id: DbId, body: MiningIn, request: Request, user: CurrentUser, db: DB) -> object:
    """Mine the ``topk`` most useful assets of a version with a model (a new dataset version)."""
    project = project_access(db, user, project_id, write=True)
    image = usable(db, user.id, user.role, body.image_id, "mining")
    src, mv = _dataset_and_model(db, user, project, body.dataset_id, body.model_id)
    tid = task_service.new_task_id()
    out = new_version(db, project, "mined", tid, [src.id])
    req = MiningRequest(
        repo=project.repo,
        dst_rev=out.rev,
        src_revs=src.rev,
        model=model_ref(mv),
        topk=body.topk,
        add_prediction=body.add_prediction,
        algorithm=body.algorithm,
        executor=executor_of(image),
        config=body.config,
        gpu_count=body.gpu_count,
        user=user.email,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[out])


@router.post("/projects/{project_id}/models/infer", response_model=TaskOut, status_code=202)
def infer(project_id: DbId, body: InferIn, request: Request, user: CurrentUser, db: DB) -> object:
    """The model's predictions on every asset of a version (a new dataset version with predictions)."""
    project = project_access(db, user, project_id, write=True)
    image = usable(db, user.id, user.role, body.image_id, "infer")
    src, mv = _dataset_and_model(db, user, project, body.dataset_id, body.model_id)
    tid = task_service.new_task_id()
    group = db.get(DatasetGroup, src.group_id)
    assert group is not None
    out = new_version(db, project, group.name, tid, [src.id])
    req = InferRequest(
        repo=project.repo,
        dst_rev=out.rev,
        src_revs=src.rev,
        model=model_ref(mv),
        executor=executor_of(image),
        config=body.config,
        gpu_count=body.gpu_count,
        user=user.email,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[out])


@router.post(
    "/projects/{project_id}/models/upload",
    response_model=TaskOut,
    status_code=202,
    openapi_extra=upload_form(
        "a model package (.tar.gz), ours or YMIR's",
        {"group_name": {"type": "string", "minLength": 1, "maxLength": 120, "default": "imported"}},
        [],
    ),
)
async def import_model(
    project_id: DbId, request: Request, user: CurrentUser, db: DB, settings: Settings
) -> object:
    """Import a model package upload (checked and streamed like a dataset upload)."""
    project = project_access(db, user, project_id, write=True)
    db.commit()
    tmp, fields = await receive_upload(request, settings, suffix=".tar.gz")
    try:
        group_name = form_text(fields, "group_name", default="imported")
        tid = task_service.new_task_id()
        mv = new_model(db, project, group_name, tid)
        req = ModelImportRequest(package=str(tmp.relative_to(settings.root)), user=user.email)
        return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[mv])
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@router.post("/models/{model_id}/export", response_model=TaskOut, status_code=202)
def export_model(model_id: DbId, request: Request, user: CurrentUser, db: DB) -> object:
    """Prepare the package for download (then GET /tasks/{id}/download)."""
    mv, project = model_of(db, user, model_id)
    ready_model(mv)
    tid = task_service.new_task_id()
    req = ModelExportRequest(
        model_hash=mv.model_hash or "", dst=f"exports/{tid}/model-{mv.id}.tar.gz", user=user.email
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[])


@router.post(
    "/models/{model_id}/verify",
    response_model=VerificationOut,
    responses={404: {"description": "no such model (or not yours)", "model": ErrorOut}},
)
async def verify_model(
    model_id: DbId,
    user: CurrentUser,
    db: DB,
    settings: Settings,
    file: Annotated[UploadFile, File(description="one image: JPEG, PNG, BMP or WebP")],
    stage: Annotated[
        str | None, Form(max_length=80, pattern=NO_NUL, description="default: the best stage")
    ] = None,
    conf_threshold: Annotated[float, Form(ge=0.0, le=1.0)] = 0.25,
    max_boxes: Annotated[int, Form(ge=1, le=1000)] = 100,
    iou_threshold: Annotated[float, Form(gt=0.0, le=1.0)] = 0.6,
) -> VerificationOut:
    """The model's boxes on one uploaded image, answered at once (CPU; changes nothing, so viewers may)."""
    mv, _ = model_of(db, user, model_id)
    model_hash = ready_model(mv).model_hash or ""
    image = await read_small_upload(
        file, limit=settings.verify_max_image_bytes, what="image", setting="YMIR_VERIFY_MAX_IMAGE_BYTES"
    )
    return await run_in_threadpool(
        verification.verify,
        settings,
        model_id=mv.id,
        model_hash=model_hash,
        stage=stage or mv.best_stage,
        image=image,
        image_name=file.filename or "the image",
        conf_threshold=conf_threshold,
        max_boxes=max_boxes,
        iou_threshold=iou_threshold,
    )


@router.get("/projects/{project_id}/model-groups", response_model=list[ModelGroupOut])
def list_groups(project_id: DbId, user: CurrentUser, db: DB) -> list[ModelGroup]:
    """The project's model groups."""
    project_access(db, user, project_id)
    return list(
        db.scalars(
            select(ModelGroup)
            .where(ModelGroup.project_id == project_id, ModelGroup.deleted.is_(False))
            .order_by(ModelGroup.id)
        )
    )


@router.get("/projects/{project_id}/models", response_model=Page[ModelVersionOut])
def list_models(
    project_id: DbId,
    user: CurrentUser,
    db: DB,
    state: str | None = None,
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
    limit: int = Query(20, ge=1, le=200),
) -> Page[ModelVersionOut]:
    """The project's model versions, newest first."""
    project_access(db, user, project_id)
    q = select(ModelVersion).where(ModelVersion.project_id == project_id, ModelVersion.deleted.is_(False))
    if state:
        q = q.where(ModelVersion.state == state)
    total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db.scalars(q.order_by(ModelVersion.id.desc()).offset(offset).limit(limit))
    return Page(
        items=[ModelVersionOut.model_validate(r) for r in rows], total=total, offset=offset, limit=limit
    )


@router.get("/models/{model_id}", response_model=ModelVersionOut)
def get_model(model_id: DbId, user: CurrentUser, db: DB) -> ModelVersion:
    """One model version."""
    return model_of(db, user, model_id)[0]


@router.get("/models/{model_id}/stages", response_model=list[ModelStageOut])
def stages(model_id: DbId, user: CurrentUser, db: DB) -> list[ModelStage]:
    """A model's stages with the metrics the executor reported."""
    mv, _ = model_of(db, user, model_id)
    return list(
        db.scalars(select(ModelStage).where(ModelStage.model_version_id == mv.id).order_by(ModelStage.id))
    )


@router.get("/models/{model_id}/evaluation")
def evaluation(model_id: DbId, user: CurrentUser, db: DB) -> dict[str, object]:
    """The platform's own evaluation of the model on its validation set (per-class AP, PR curves)."""
    mv, _ = model_of(db, user, model_id)
    if not mv.evaluation:
        raise ApiError(404, "not_evaluated", f"model {mv.id} has no evaluation")
    return evaluations.by_class_name(mv.evaluation)


@router.delete("/models/{model_id}", status_code=204)
def delete_model(model_id: DbId, user: CurrentUser, db: DB) -> None:
    """Hide a model version (soft delete)."""
    mv, _ = model_of(db, user, model_id, write=True)
    mv.deleted = True
    db.commit()
