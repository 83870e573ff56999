"""Models: training, mining and inference (202 + task), import of a package upload, download,
groups, versions and stages with their metrics, and verification on one uploaded image."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from ymir_backend.api.deps import DB, CurrentUser, EngineDep
from ymir_backend.errors import ErrorOut
from ymir_backend.mlmodels import service
from ymir_backend.mlmodels.schemas import (
    InferIn,
    MiningIn,
    ModelGroupOut,
    ModelStageOut,
    ModelVersionOut,
    TrainIn,
    VerificationOut,
)
from ymir_backend.models import ModelGroup, ModelStage, ModelVersion, Task
from ymir_backend.schemas import DB_INT_MAX, NO_NUL, DbId, Page
from ymir_backend.services.uploads import upload_form
from ymir_backend.tasks.schemas import TaskOut

router = APIRouter(tags=["models"])


@router.post("/projects/{project_id}/models/train", response_model=TaskOut, status_code=202)
def train(project_id: DbId, body: TrainIn, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Train on a training and a validation version; the model's mAP is measured by the platform."""
    return service.train(db, engine, user=user, project_id=project_id, body=body)


@router.post("/projects/{project_id}/models/mine", response_model=TaskOut, status_code=202)
def mine(project_id: DbId, body: MiningIn, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Mine the ``topk`` most useful assets of a version with a model (a new dataset version)."""
    return service.mine(db, engine, user=user, project_id=project_id, body=body)


@router.post("/projects/{project_id}/models/infer", response_model=TaskOut, status_code=202)
def infer(project_id: DbId, body: InferIn, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """The model's predictions on every asset of a version (a new dataset version with predictions)."""
    return service.infer(db, engine, user=user, project_id=project_id, body=body)


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
    project_id: DbId, request: Request, user: CurrentUser, db: DB, engine: EngineDep
) -> Task:
    """Import a model package upload (checked and streamed like a dataset upload)."""
    return await service.import_model(db, engine, user=user, project_id=project_id, request=request)


@router.post("/models/{model_id}/export", response_model=TaskOut, status_code=202)
def export_model(model_id: DbId, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Prepare the package for download (then GET /tasks/{id}/download)."""
    return service.export_model(db, engine, user=user, model_id=model_id)


@router.post(
    "/models/{model_id}/verify",
    response_model=VerificationOut,
    responses={404: {"description": "no such model (or not yours)", "model": ErrorOut}},
)
async def verify_model(
    model_id: DbId,
    user: CurrentUser,
    db: DB,
    engine: EngineDep,
    file: Annotated[UploadFile, File(description="one image: JPEG, PNG, BMP or WebP")],
    stage: Annotated[
        str | None, Form(max_length=80, pattern=NO_NUL, description="default: the best stage")
    ] = None,
    conf_threshold: Annotated[float, Form(ge=0.0, le=1.0)] = 0.25,
    max_boxes: Annotated[int, Form(ge=1, le=1000)] = 100,
    iou_threshold: Annotated[float, Form(gt=0.0, le=1.0)] = 0.6,
) -> VerificationOut:
    """The model's boxes on one uploaded image, answered at once (CPU; changes nothing, so viewers may)."""
    return await service.verify(
        db,
        engine,
        user=user,
        model_id=model_id,
        file=file,
        stage=stage,
        conf_threshold=conf_threshold,
        max_boxes=max_boxes,
        iou_threshold=iou_threshold,
    )


@router.get("/projects/{project_id}/model-groups", response_model=list[ModelGroupOut])
def list_groups(project_id: DbId, user: CurrentUser, db: DB) -> list[ModelGroup]:
    """The project's model groups."""
    return service.list_groups(db, user, project_id)


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
    return service.list_models(db, user, project_id, state=state, offset=offset, limit=limit)


@router.get("/models/{model_id}", response_model=ModelVersionOut)
def get_model(model_id: DbId, user: CurrentUser, db: DB) -> ModelVersion:
    """One model version."""
    return service.get_model(db, user, model_id)


@router.get("/models/{model_id}/stages", response_model=list[ModelStageOut])
def stages(model_id: DbId, user: CurrentUser, db: DB) -> list[ModelStage]:
    """A model's stages with the metrics the executor reported."""
    return service.stages(db, user, model_id)


@router.get("/models/{model_id}/evaluation")
def evaluation(model_id: DbId, user: CurrentUser, db: DB) -> dict[str, object]:
    """The platform's own evaluation of the model on its validation set (per-class AP, PR curves)."""
    return service.evaluation(db, user, model_id)


@router.delete("/models/{model_id}", status_code=204)
def delete_model(model_id: DbId, user: CurrentUser, db: DB) -> None:
    """Hide a model version (soft delete)."""
    service.delete_model(db, user, model_id)
