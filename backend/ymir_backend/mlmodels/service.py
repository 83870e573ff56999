"""Models: the pending versions tasks fill, readiness, training, mining and inference (each with a
``plan_<verb>`` that iterations use too), import and export of packages, verification, and reading
groups, versions, stages and evaluations."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from ymir_backend.datasets.service import group_name, new_version, ready
from ymir_backend.errors import ApiError
from ymir_backend.images.service import executor_of, usable
from ymir_backend.mlmodels import verification
from ymir_backend.mlmodels.schemas import InferIn, MiningIn, ModelVersionOut, TrainIn, VerificationOut
from ymir_backend.models import (
    DatasetVersion,
    ExecutorImage,
    ModelGroup,
    ModelStage,
    ModelVersion,
    Project,
    Task,
    User,
)
from ymir_backend.schemas import Page
from ymir_backend.services import evaluations
from ymir_backend.services.access import model_of, project_access, version_of
from ymir_backend.services.engine import Engine
from ymir_backend.services.groups import group_named, next_version_num, project_groups
from ymir_backend.services.pages import page
from ymir_backend.services.uploads import form_text, read_small_upload, receive_upload
from ymir_backend.tasks.service import TaskPlan, launch, new_task_id
from ymir_controller.protocol import (
    InferRequest,
    MiningRequest,
    ModelExportRequest,
    ModelImportRequest,
    TrainRequest,
)


def ready_model(mv: ModelVersion) -> ModelVersion:
    """Refuse models still training or that failed."""
    if mv.state != "ready" or not mv.model_hash:
        raise ApiError(409, "model_not_ready", f"model {mv.id} is {mv.state}; wait for its task to finish")
    return mv


def new_model(db: Session, project: Project, group_name: str, task_id: str) -> ModelVersion:
    """The model version a task will fill, in ``group_name`` (created if new)."""
    group = group_named(db, ModelGroup, project, group_name)
    num = next_version_num(db, ModelVersion, group.id)
    mv = ModelVersion(group_id=group.id, project_id=project.id, version_num=num, task_id=None)
    db.add(mv)
    db.flush()
    return mv


def model_ref(mv: ModelVersion) -> str:
    """``hash@stage`` of a ready model (the form mir and the engine take)."""
    return f"{ready_model(mv).model_hash}@{mv.best_stage}"


# -- training, mining, inference --------------------------------------------------------------------
def plan_training(
    db: Session,
    *,
    user: User,
    project: Project,
    training: DatasetVersion,
    validation: DatasetVersion,
    image: ExecutorImage,
    config: dict[str, object],
    class_names: Sequence[str],
    pretrained: ModelVersion | None,
    gpu_count: int,
    group: str,
) -> TaskPlan:
    """Train ``image`` on ready ``training`` and ``validation`` versions into a new model of ``group``,
    on ``gpu_count`` GPUs (0: the CPU), starting from ``pretrained`` when given."""
    src_revs = f"tr:{ready(training).rev};va:{ready(validation).rev}"
    pretrained_ref = model_ref(pretrained) if pretrained is not None else None
    tid = new_task_id()
    mv = new_model(db, project, group, tid)
    mv.training_dataset_id = training.id
    req = TrainRequest(
        repo=project.repo,
        dst_rev=f"training-{mv.group_id}@{tid}",
        src_revs=src_revs,
        executor=executor_of(image),
        config=config,
        class_names=list(class_names),
        pretrained=pretrained_ref,
        gpu_count=gpu_count,
        strategy="host",
        user=user.email,
    )
    return TaskPlan(tid, req, [mv])


def train(db: Session, engine: Engine, *, user: User, project_id: int, body: TrainIn) -> Task:
    """Train on a training and a validation version; the model's mAP is measured by the platform."""
    project = project_access(db, user, project_id, write=True)
    image = usable(db, user, body.image_id, "training")
    trn, _ = version_of(db, user, body.training_dataset_id, within=project)
    val, _ = version_of(db, user, body.validation_dataset_id, within=project)
    ready(trn)
    ready(val)
    pretrained = None
    if body.pretrained_model_id is not None:
        pretrained, _ = model_of(db, user, body.pretrained_model_id, within=project)
    plan = plan_training(
        db,
        user=user,
        project=project,
        training=trn,
        validation=val,
        image=image,
        config=body.config,
        class_names=body.class_names or list(project.training_classes),
        pretrained=pretrained,
        gpu_count=body.gpu_count,
        group=body.group_name or f"model-{trn.group_id}",
    )
    return launch(db, engine, user=user, project=project, plan=plan)


def plan_mining(
    db: Session,
    *,
    user: User,
    project: Project,
    source: DatasetVersion,
    model: ModelVersion,
    image: ExecutorImage,
    topk: int,
    add_prediction: bool,
    algorithm: str | None,
    config: dict[str, object],
    gpu_count: int,
) -> TaskPlan:
    """Mine the ``topk`` most useful assets of a ready version with a ready model, into a new version
    of the ``mined`` group, on ``gpu_count`` GPUs."""
    src_rev, ref = ready(source).rev, model_ref(model)
    tid = new_task_id()
    out = new_version(db, project, "mined", tid, [source.id])
    req = MiningRequest(
        repo=project.repo,
        dst_rev=out.rev,
        src_revs=src_rev,
        model=ref,
        topk=topk,
        add_prediction=add_prediction,
        algorithm=algorithm,
        executor=executor_of(image),
        config=config,
        gpu_count=gpu_count,
        user=user.email,
    )
    return TaskPlan(tid, req, [out])


def _dataset_and_model(
    db: Session, user: User, project: Project, dataset_id: int, model_id: int
) -> tuple[DatasetVersion, ModelVersion]:
    """A ready dataset and a ready model, both of ``project`` (mining and inference take these)."""
    src, _ = version_of(db, user, dataset_id, within=project)
    mv, _ = model_of(db, user, model_id, within=project)
    ready(src)
    ready_model(mv)
    return src, mv


def mine(db: Session, engine: Engine, *, user: User, project_id: int, body: MiningIn) -> Task:
    """Mine the ``topk`` most useful assets of a version with a model (a new dataset version)."""
    project = project_access(db, user, project_id, write=True)
    image = usable(db, user, body.image_id, "mining")
    src, mv = _dataset_and_model(db, user, project, body.dataset_id, body.model_id)
    plan = plan_mining(
        db,
        user=user,
        project=project,
        source=src,
        model=mv,
        image=image,
        topk=body.topk,
        add_prediction=body.add_prediction,
        algorithm=body.algorithm,
        config=body.config,
        gpu_count=body.gpu_count,
    )
    return launch(db, engine, user=user, project=project, plan=plan)


def infer(db: Session, engine: Engine, *, user: User, project_id: int, body: InferIn) -> Task:
    """The model's predictions on every asset of a version (a new dataset version with predictions)."""
    project = project_access(db, user, project_id, write=True)
    image = usable(db, user, body.image_id, "infer")
    src, mv = _dataset_and_model(db, user, project, body.dataset_id, body.model_id)
    tid = new_task_id()
    out = new_version(db, project, group_name(db, src), tid, [src.id])
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
    return launch(db, engine, user=user, project=project, plan=TaskPlan(tid, req, [out]))


# -- packages ---------------------------------------------------------------------------------------
async def import_model(db: Session, engine: Engine, *, user: User, project_id: int, request: Request) -> Task:
    """Import a model package upload (checked and streamed like a dataset upload)."""
    settings = engine.settings
    project = project_access(db, user, project_id, write=True)
    db.commit()
    tmp, fields = await receive_upload(request, settings, suffix=".tar.gz")
    try:
        group = form_text(fields, "group_name", default="imported")
        tid = new_task_id()
        mv = new_model(db, project, group, tid)
        req = ModelImportRequest(package=str(tmp.relative_to(settings.root)), user=user.email)
        return launch(db, engine, user=user, project=project, plan=TaskPlan(tid, req, [mv]))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def export_model(db: Session, engine: Engine, *, user: User, model_id: int) -> Task:
    """Prepare the package for download (then GET /tasks/{id}/download)."""
    mv, project = model_of(db, user, model_id)
    ready_model(mv)
    tid = new_task_id()
    req = ModelExportRequest(
        model_hash=mv.model_hash or "", dst=f"exports/{tid}/model-{mv.id}.tar.gz", user=user.email
    )
    return launch(db, engine, user=user, project=project, plan=TaskPlan(tid, req, []))


async def verify(
    db: Session,
    engine: Engine,
    *,
    user: User,
    model_id: int,
    file: UploadFile,
    stage: str | None,
    conf_threshold: float,
    max_boxes: int,
    iou_threshold: float,
) -> VerificationOut:
    """The model's boxes on one uploaded image, answered at once (CPU; changes nothing)."""
    settings = engine.settings
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


# -- reading ----------------------------------------------------------------------------------------
def list_groups(db: Session, user: User, project_id: int) -> list[ModelGroup]:
    """The project's model groups."""
    project_access(db, user, project_id)
    return project_groups(db, ModelGroup, project_id)


def list_models(
    db: Session, user: User, project_id: int, *, state: str | None, offset: int, limit: int
) -> Page[ModelVersionOut]:
    """The project's model versions, newest first."""
    project_access(db, user, project_id)
    q = select(ModelVersion).where(ModelVersion.project_id == project_id, ModelVersion.deleted.is_(False))
    if state:
        q = q.where(ModelVersion.state == state)
    return page(db, q, order_by=ModelVersion.id.desc(), out=ModelVersionOut, offset=offset, limit=limit)


def get_model(db: Session, user: User, model_id: int) -> ModelVersion:
    """One model version."""
    return model_of(db, user, model_id)[0]


def stages(db: Session, user: User, model_id: int) -> list[ModelStage]:
    """A model's stages with the metrics the executor reported."""
    mv, _ = model_of(db, user, model_id)
    return list(
        db.scalars(select(ModelStage).where(ModelStage.model_version_id == mv.id).order_by(ModelStage.id))
    )


def evaluation(db: Session, user: User, model_id: int) -> dict[str, object]:
    """The platform's own evaluation of the model on its validation set (per-class AP, PR curves)."""
    mv, _ = model_of(db, user, model_id)
    if not mv.evaluation:
        raise ApiError(404, "not_evaluated", f"model {mv.id} has no evaluation")
    return evaluations.by_class_name(mv.evaluation)


def delete_model(db: Session, user: User, model_id: int) -> None:
    """Hide a model version (soft delete)."""
    mv, _ = model_of(db, user, model_id, write=True)
    mv.deleted = True
    db.commit()
