"""Dataset groups and versions: import (zip upload, URL, sharing folder, public copy), merge,
filter, sampling, export, evaluate, delete. Long work answers ``202`` with the task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ymir_backend.api.deps import DB, CurrentUser, Settings, project_access
from ymir_backend.errors import ApiError
from ymir_backend.models import DatasetGroup, DatasetVersion, ModelVersion, Project, Task, User
from ymir_backend.schemas import (
    ANNO_FORMAT_HELP,
    ANNO_FORMATS,
    DB_INT_MAX,
    UNKNOWN_TYPES_HELP,
    DatasetGroupOut,
    DatasetUpdate,
    DatasetVersionOut,
    DbId,
    EvaluateIn,
    ExportIn,
    FilterIn,
    FuseIn,
    ImportCopy,
    ImportPath,
    ImportUrl,
    MergeIn,
    Page,
    PublicDatasetOut,
    SamplingIn,
    TaskOut,
)
from ymir_backend.services import sharing
from ymir_backend.services import tasks as task_service
from ymir_backend.services.access import public_or_visible
from ymir_backend.services.access import version_of as version_of
from ymir_backend.services.repos import ensure_repo, sync_labels
from ymir_backend.services.uploads import form_text, receive_upload, upload_form
from ymir_controller.protocol import (
    CopyRequest,
    EvaluateRequest,
    ExportRequest,
    FilterRequest,
    FuseRequest,
    ImportRequest,
    ImportSource,
    MergeRequest,
    SamplingRequest,
)

router = APIRouter(tags=["datasets"])
_TYPE_PREFIX = {"train": "tr:", "val": "va:", "test": "te:", "": ""}


def ready(dv: DatasetVersion) -> DatasetVersion:
    """Refuse versions still being made or that failed."""
    if dv.state != "ready":
        raise ApiError(
            409, "dataset_not_ready", f"dataset {dv.id} is {dv.state}; wait for its task to finish"
        )
    return dv


def _group(db: Session, project: Project, name: str) -> DatasetGroup:
    group = db.scalar(
        select(DatasetGroup).where(
            DatasetGroup.project_id == project.id, DatasetGroup.name == name, DatasetGroup.deleted.is_(False)
        )
    )
    if group is None:
        group = DatasetGroup(project_id=project.id, name=name)
        db.add(group)
        db.flush()
    return group


def new_version(
    db: Session, project: Project, group_name: str, task_id: str, source_ids: list[int]
) -> DatasetVersion:
    """The version a task will fill, in ``group_name`` (created if new)."""
    group = _group(db, project, group_name)
    num = (
        db.scalar(select(func.max(DatasetVersion.version_num)).where(DatasetVersion.group_id == group.id))
        or 0
    ) + 1
    dv = DatasetVersion(
        group_id=group.id,
        project_id=project.id,
        version_num=num,
        rev=f"{group.branch}@{task_id}",
        task_id=None,
        source_ids=source_ids,
    )
    db.add(dv)
    db.flush()
    return dv


def launch(
    db: Session,
    request: Request,
    *,
    user: User,
    project: Project,
    task_id: str,
    req: Any,
    versions: Sequence[DatasetVersion | ModelVersion],
) -> Task:
    """Commit the task row and the pending versions it will fill, then queue the request."""
    task = Task(
        id=task_id,
        user_id=user.id,
        project_id=project.id,
        kind=str(req.kind),
        request=req.model_dump(mode="json"),
    )
    db.add(task)
    db.flush()
    for v in versions:
        v.task_id = task_id
    db.commit()
    request.app.state.engine.send(req, task_id)
    return task


def _import(
    db: Session,
    request: Request,
    settings: Settings,
    user: User,
    project: Project,
    group_name: str,
    source: ImportSource,
    strategy: str,
    with_predictions: bool = False,
    anno_format: str = "auto",
) -> Task:
    ensure_repo(settings, project)
    sync_labels(db, settings, project)
    tid = task_service.new_task_id()
    dv = new_version(db, project, group_name, tid, [])
    req = ImportRequest(
        repo=project.repo,
        dst_rev=dv.rev,
        source=source,
        user=user.email,
        unknown_types_strategy=strategy,  # type: ignore[arg-type]
        with_predictions=with_predictions,
        anno_format=anno_format,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[dv])


@router.post(
    "/projects/{project_id}/datasets/upload",
    response_model=TaskOut,
    status_code=202,
    openapi_extra=upload_form(
        "a .zip with images/ and annotations/",
        {
            "group_name": {"type": "string", "minLength": 1, "maxLength": 120},
            "unknown_types_strategy": {
                "type": "string",
                "enum": ["stop", "ignore", "add"],
                "default": "add",
                "description": UNKNOWN_TYPES_HELP,
            },
            "anno_format": {
                "type": "string",
                "enum": list(ANNO_FORMATS),
                "default": "auto",
                "description": ANNO_FORMAT_HELP,
            },
        },
        ["group_name"],
    ),
)
async def import_upload(
    project_id: DbId, request: Request, user: CurrentUser, db: DB, settings: Settings
) -> Task:
    """Import an uploaded zip. Who asks and the project are checked before the body is read; the body
    is streamed to disk and cut at ``YMIR_MAX_UPLOAD_BYTES`` (413), chunked bodies included."""
    project = project_access(db, user, project_id, write=True)
    db.commit()  # no transaction stays open while the body arrives
    tmp, fields = await receive_upload(request, settings, suffix=".zip")
    try:
        group_name = form_text(fields, "group_name")
        strategy = form_text(
            fields, "unknown_types_strategy", default="add", choices=("stop", "ignore", "add")
        )
        anno_format = form_text(fields, "anno_format", default="auto", choices=ANNO_FORMATS)
        rel = str(tmp.relative_to(settings.root))
        source = ImportSource(kind="zip", path=rel)
        return _import(
            db, request, settings, user, project, group_name, source, strategy, anno_format=anno_format
        )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@router.post("/projects/{project_id}/datasets/url", response_model=TaskOut, status_code=202)
def import_url(
    project_id: DbId, body: ImportUrl, request: Request, user: CurrentUser, db: DB, settings: Settings
) -> Task:
    """Import a zip from a URL."""
    project = project_access(db, user, project_id, write=True)
    if not body.url.lower().startswith(("http://", "https://")):
        raise ApiError(422, "invalid_request", "url: only http:// and https:// addresses can be imported")
    return _import(
        db,
        request,
        settings,
        user,
        project,
        body.group_name,
        ImportSource(kind="url", url=body.url),
        body.unknown_types_strategy,
        anno_format=body.anno_format,
    )


@router.post("/projects/{project_id}/datasets/path", response_model=TaskOut, status_code=202)
def import_path(
    project_id: DbId, body: ImportPath, request: Request, user: CurrentUser, db: DB, settings: Settings
) -> Task:
    """Import a folder of the sharing folder (``images/`` + ``annotations/``), named by its absolute path or
    relative to the sharing folder; never outside it (links out of it are refused)."""
    project = project_access(db, user, project_id, write=True)
    folder, rel = sharing.locate(settings, body.path)
    if not folder.is_dir() or not rel:
        raise ApiError(
            422,
            "invalid_request",
            f"path: {body.path!r} is not a dataset folder under the sharing folder {sharing.shown(settings)}",
            fix="give a folder holding images/ (and annotations/); GET /api/v1/sharing lists them",
        )
    source = ImportSource(kind="path", path=rel)
    return _import(
        db,
        request,
        settings,
        user,
        project,
        body.group_name,
        source,
        body.unknown_types_strategy,
        body.with_predictions,
        anno_format=body.anno_format,
    )


@router.post("/projects/{project_id}/datasets/copy", response_model=TaskOut, status_code=202)
def import_copy(
    project_id: DbId, body: ImportCopy, request: Request, user: CurrentUser, db: DB, settings: Settings
) -> Task:
    """Copy a dataset you may see, or one marked public, into this project."""
    project = project_access(db, user, project_id, write=True)
    src, src_project = public_or_visible(db, user, body.source_dataset_id)
    ensure_repo(settings, project)
    sync_labels(db, settings, project)
    tid = task_service.new_task_id()
    dv = new_version(db, project, body.group_name, tid, [src.id])
    req = CopyRequest(
        repo=project.repo,
        dst_rev=dv.rev,
        src_repo=src_project.repo,
        src_revs=src.rev,
        unknown_types_strategy=body.unknown_types_strategy,
        user=user.email,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[dv])


@router.get("/projects/{project_id}/dataset-groups", response_model=list[DatasetGroupOut])
def list_groups(project_id: DbId, user: CurrentUser, db: DB) -> list[DatasetGroup]:
    """The project's dataset groups."""
    project_access(db, user, project_id)
    return list(
        db.scalars(
            select(DatasetGroup)
            .where(DatasetGroup.project_id == project_id, DatasetGroup.deleted.is_(False))
            .order_by(DatasetGroup.id)
        )
    )


@router.get("/projects/{project_id}/datasets", response_model=Page[DatasetVersionOut])
def list_versions(
    project_id: DbId,
    user: CurrentUser,
    db: DB,
    group_id: DbId | None = None,
    state: str | None = None,
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
    limit: int = Query(20, ge=1, le=200),
) -> Page[DatasetVersionOut]:
    """The project's dataset versions, newest first."""
    project_access(db, user, project_id)
    q = select(DatasetVersion).where(
        DatasetVersion.project_id == project_id, DatasetVersion.deleted.is_(False)
    )
    if group_id is not None:
        q = q.where(DatasetVersion.group_id == group_id)
    if state:
        q = q.where(DatasetVersion.state == state)
    total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db.scalars(q.order_by(DatasetVersion.id.desc()).offset(offset).limit(limit))
    return Page(
        items=[DatasetVersionOut.model_validate(r) for r in rows], total=total, offset=offset, limit=limit
    )


@router.get("/datasets/public", response_model=Page[PublicDatasetOut])
def list_public(
    user: CurrentUser,
    db: DB,
    search: Annotated[
        str, Query(max_length=200, description="part of the dataset's, group's or project's name")
    ] = "",
    offset: int = Query(0, ge=0),
    limit: int = Query(20, ge=1, le=200),
) -> Page[PublicDatasetOut]:
    """Public dataset versions of every user, newest first: copy one into your project with
    ``POST /projects/{id}/datasets/copy``."""
    q = (
        select(DatasetVersion, DatasetGroup.name, Project.name, User.email)
        .join(DatasetGroup, DatasetGroup.id == DatasetVersion.group_id)
        .join(Project, Project.id == DatasetVersion.project_id)
        .join(User, User.id == Project.owner_id)
        .where(
            DatasetVersion.is_public.is_(True),
            DatasetVersion.deleted.is_(False),
            DatasetVersion.state == "ready",
            Project.deleted.is_(False),
        )
    )
    if search:
        pattern = f"%{search.lower()}%"
        q = q.where(
            or_(
                func.lower(DatasetGroup.name).like(pattern),
                func.lower(Project.name).like(pattern),
                func.lower(DatasetVersion.description).like(pattern),
            )
        )
    total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db.execute(q.order_by(DatasetVersion.id.desc()).offset(offset).limit(limit)).all()
    items = [
        PublicDatasetOut(
            **DatasetVersionOut.model_validate(dv).model_dump(), group_name=g, project_name=p, owner=o
        )
        for dv, g, p, o in rows
    ]
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.get("/datasets/{dataset_id}", response_model=DatasetVersionOut)
def get_version(dataset_id: DbId, user: CurrentUser, db: DB) -> DatasetVersion:
    """One dataset version with its counts and class statistics (yours, shared with you, or public)."""
    dv = db.get(DatasetVersion, dataset_id)
    if dv is not None and dv.is_public and not dv.deleted and dv.state == "ready":
        project = db.get(Project, dv.project_id)
        if project is not None and not project.deleted:
            return dv
    return version_of(db, user, dataset_id)[0]


@router.patch("/datasets/{dataset_id}", response_model=DatasetVersionOut)
def update_version(
    dataset_id: DbId, body: DatasetUpdate, request: Request, user: CurrentUser, db: DB
) -> DatasetVersion:
    """Mark a version public (every user may then find and copy it) or describe it."""
    stray = [k for k in ("is_public", "description") if k in request.query_params]
    if stray:
        raise ApiError(
            422, "invalid_request", f"{stray[0]}: send it in the JSON body, not in the query string"
        )
    dv, _ = version_of(db, user, dataset_id, write=True)
    for field, value in body.model_dump(exclude_unset=True).items():
        if value is None:
            raise ApiError(422, "invalid_request", f"{field}: may not be null")
        setattr(dv, field, value)
    db.commit()
    return dv


@router.delete("/datasets/{dataset_id}", status_code=204)
def delete_version(dataset_id: DbId, user: CurrentUser, db: DB) -> None:
    """Hide a version (soft delete: its mir history stays)."""
    dv, _ = version_of(db, user, dataset_id, write=True)
    dv.deleted = True
    db.commit()


def _sources(db: Session, user: User, ids: list[int], project: Project) -> list[DatasetVersion]:
    out = []
    for i in ids:
        dv, _ = version_of(db, user, i, within=project)
        out.append(ready(dv))
    return out


def _merge_inputs(
    db: Session, user: User, body: MergeIn | FuseIn, project: Project
) -> tuple[list[DatasetVersion], list[DatasetVersion], str]:
    """The versions to merge, those to exclude, and the group of the result (default: the host's)."""
    sources = _sources(db, user, body.dataset_ids, project)
    excluded = _sources(db, user, body.exclude_dataset_ids, project)
    group = body.group_name or db.get(DatasetGroup, sources[0].group_id).name  # type: ignore[union-attr]
    return sources, excluded, group


@router.post("/projects/{project_id}/datasets/merge", response_model=TaskOut, status_code=202)
def merge(project_id: DbId, body: MergeIn, request: Request, user: CurrentUser, db: DB) -> Task:
    """Merge versions (first = host; ``types`` set train/val/test per source)."""
    project = project_access(db, user, project_id, write=True)
    sources, excluded, group = _merge_inputs(db, user, body, project)
    if body.types and len(body.types) != len(sources):
        raise ApiError(422, "invalid_request", "types: give one type per dataset (or none)")
    types = body.types or [""] * len(sources)
    src_revs = ";".join(_TYPE_PREFIX[t] + s.rev for t, s in zip(types, sources, strict=True))
    tid = task_service.new_task_id()
    dv = new_version(db, project, group, tid, [s.id for s in sources])
    req = MergeRequest(
        repo=project.repo,
        dst_rev=dv.rev,
        src_revs=src_revs,
        ex_src_revs=";".join(e.rev for e in excluded),
        strategy=body.strategy,
        user=user.email,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[dv])


@router.post("/projects/{project_id}/datasets/filter", response_model=TaskOut, status_code=202)
def filter_dataset(project_id: DbId, body: FilterIn, request: Request, user: CurrentUser, db: DB) -> Task:
    """Keep assets by class, type or tag (a new version in the same group)."""
    project = project_access(db, user, project_id, write=True)
    (src,) = _sources(db, user, [body.dataset_id], project)
    tid = task_service.new_task_id()
    dv = new_version(db, project, db.get(DatasetGroup, src.group_id).name, tid, [src.id])  # type: ignore[union-attr]
    req = FilterRequest(
        repo=project.repo,
        dst_rev=dv.rev,
        src_revs=src.rev,
        include=body.include,
        exclude=body.exclude,
        anno_src=body.anno_src,
        tvt=body.tvt,
        tags=body.tags,
        user=user.email,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[dv])


@router.post("/projects/{project_id}/datasets/sampling", response_model=TaskOut, status_code=202)
def sample(project_id: DbId, body: SamplingIn, request: Request, user: CurrentUser, db: DB) -> Task:
    """A random subset by count or rate."""
    if (body.count is None) == (body.rate is None):
        raise ApiError(422, "invalid_request", "give exactly one of count and rate")
    project = project_access(db, user, project_id, write=True)
    (src,) = _sources(db, user, [body.dataset_id], project)
    tid = task_service.new_task_id()
    dv = new_version(db, project, db.get(DatasetGroup, src.group_id).name, tid, [src.id])  # type: ignore[union-attr]
    req = SamplingRequest(
        repo=project.repo,
        dst_rev=dv.rev,
        src_revs=src.rev,
        count=body.count,
        rate=body.rate,
        seed=body.seed,
        user=user.email,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[dv])


@router.post("/projects/{project_id}/datasets/fuse", response_model=TaskOut, status_code=202)
def fuse(project_id: DbId, body: FuseIn, request: Request, user: CurrentUser, db: DB) -> Task:
    """Merge versions, keep assets by class, then sample, in one task and one new version."""
    if body.count is not None and body.rate is not None:
        raise ApiError(422, "invalid_request", "give at most one of count and rate")
    project = project_access(db, user, project_id, write=True)
    sources, excluded, group = _merge_inputs(db, user, body, project)
    tid = task_service.new_task_id()
    dv = new_version(db, project, group, tid, [s.id for s in sources])
    req = FuseRequest(
        repo=project.repo,
        dst_rev=dv.rev,
        src_revs=";".join(s.rev for s in sources),
        ex_src_revs=";".join(e.rev for e in excluded),
        strategy=body.strategy,
        include=body.include,
        exclude=body.exclude,
        anno_src=body.anno_src,
        count=body.count,
        rate=body.rate,
        seed=body.seed,
        user=user.email,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[dv])


@router.post("/datasets/{dataset_id}/export", response_model=TaskOut, status_code=202)
def export(dataset_id: DbId, body: ExportIn, request: Request, user: CurrentUser, db: DB) -> Task:
    """Export as a zip; download it from ``/tasks/{id}/download`` when the task is done."""
    dv, project = version_of(db, user, dataset_id)
    ready(dv)
    tid = task_service.new_task_id()
    req = ExportRequest(
        repo=project.repo,
        src_rev=dv.rev,
        dst_dir=f"exports/{tid}/dataset-{dv.id}",
        anno_format=body.anno_format,
        gt=body.gt,
        pred=body.pred,
        user=user.email,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[])


@router.post("/datasets/{dataset_id}/evaluate", response_model=TaskOut, status_code=202)
def evaluate(dataset_id: DbId, body: EvaluateIn, request: Request, user: CurrentUser, db: DB) -> Task:
    """Evaluate the version's predictions against its ground truth (a new, marked version)."""
    dv, project = version_of(db, user, dataset_id, write=True)
    ready(dv)
    if not dv.gt_boxes or not dv.pred_boxes:
        raise ApiError(409, "nothing_to_evaluate", f"dataset {dv.id} needs both ground truth and predictions")
    tid = task_service.new_task_id()
    out = new_version(db, project, db.get(DatasetGroup, dv.group_id).name, tid, [dv.id])  # type: ignore[union-attr]
    req = EvaluateRequest(
        repo=project.repo,
        dst_rev=out.rev,
        src_revs=dv.rev,
        class_names=body.class_names,
        conf_thr=body.conf_thr,
        iou_thr=body.iou_thr,
        user=user.email,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[out])
