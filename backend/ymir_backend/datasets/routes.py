"""Dataset groups and versions: import (zip upload, URL, sharing folder, public copy), merge,
filter, sampling, export, evaluate, delete. Long work answers ``202`` with the task."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from ymir_backend.api.deps import DB, CurrentUser, EngineDep
from ymir_backend.datasets import imports, service
from ymir_backend.datasets.schemas import (
    ANNO_FORMAT_HELP,
    ANNO_FORMATS,
    UNKNOWN_TYPES_HELP,
    DatasetGroupOut,
    DatasetUpdate,
    DatasetVersionOut,
    EvaluateIn,
    ExportIn,
    FilterIn,
    FuseIn,
    ImportCopy,
    ImportPath,
    ImportUrl,
    MergeIn,
    PublicDatasetOut,
    SamplingIn,
)
from ymir_backend.models import DatasetGroup, DatasetVersion, Task
from ymir_backend.schemas import DB_INT_MAX, DbId, Page
from ymir_backend.services.uploads import upload_form
from ymir_backend.tasks.schemas import TaskOut

router = APIRouter(tags=["datasets"])


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
    project_id: DbId, request: Request, user: CurrentUser, db: DB, engine: EngineDep
) -> Task:
    """Import an uploaded zip. Who asks and the project are checked before the body is read; the body
    is streamed to disk and cut at ``YMIR_MAX_UPLOAD_BYTES`` (413), chunked bodies included."""
    return await imports.import_upload(db, engine, user=user, project_id=project_id, request=request)


@router.post("/projects/{project_id}/datasets/url", response_model=TaskOut, status_code=202)
def import_url(project_id: DbId, body: ImportUrl, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Import a zip from a URL."""
    return imports.import_url(db, engine, user=user, project_id=project_id, body=body)


@router.post("/projects/{project_id}/datasets/path", response_model=TaskOut, status_code=202)
def import_path(project_id: DbId, body: ImportPath, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Import a folder of the sharing folder (``images/`` + ``annotations/``), named by its absolute path or
    relative to the sharing folder; never outside it (links out of it are refused)."""
    return imports.import_path(db, engine, user=user, project_id=project_id, body=body)


@router.post("/projects/{project_id}/datasets/copy", response_model=TaskOut, status_code=202)
def import_copy(project_id: DbId, body: ImportCopy, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Copy a dataset you may see, or one marked public, into this project."""
    return imports.import_copy(db, engine, user=user, project_id=project_id, body=body)


@router.get("/projects/{project_id}/dataset-groups", response_model=list[DatasetGroupOut])
def list_groups(project_id: DbId, user: CurrentUser, db: DB) -> list[DatasetGroup]:
    """The project's dataset groups."""
    return service.list_groups(db, user, project_id)


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
    return service.list_versions(
        db, user, project_id, group_id=group_id, state=state, offset=offset, limit=limit
    )


@router.get("/datasets/public", response_model=Page[PublicDatasetOut])
def list_public(
    user: CurrentUser,
    db: DB,
    search: Annotated[
        str, Query(max_length=200, description="part of the dataset's, group's or project's name")
    ] = "",
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
    limit: int = Query(20, ge=1, le=200),
) -> Page[PublicDatasetOut]:
    """Public dataset versions of every user, newest first: copy one into your project with
    ``POST /projects/{id}/datasets/copy``."""
    return service.list_public(db, search=search, offset=offset, limit=limit)


@router.get("/datasets/{dataset_id}", response_model=DatasetVersionOut)
def get_version(dataset_id: DbId, user: CurrentUser, db: DB) -> DatasetVersion:
    """One dataset version with its counts and class statistics (yours, shared with you, or public)."""
    return service.get_version(db, user, dataset_id)


@router.patch("/datasets/{dataset_id}", response_model=DatasetVersionOut)
def update_version(
    dataset_id: DbId, body: DatasetUpdate, request: Request, user: CurrentUser, db: DB
) -> DatasetVersion:
    """Mark a version public (every user may then find and copy it) or describe it."""
    return service.update_version(db, user, dataset_id, body, query=request.query_params.keys())


@router.delete("/datasets/{dataset_id}", status_code=204)
def delete_version(dataset_id: DbId, user: CurrentUser, db: DB) -> None:
    """Hide a version (soft delete: its mir history stays)."""
    service.delete_version(db, user, dataset_id)


@router.post("/projects/{project_id}/datasets/merge", response_model=TaskOut, status_code=202)
def merge(project_id: DbId, body: MergeIn, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Merge versions (first = host; ``types`` set train/val/test per source)."""
    return service.merge(db, engine, user=user, project_id=project_id, body=body)


@router.post("/projects/{project_id}/datasets/filter", response_model=TaskOut, status_code=202)
def filter_dataset(project_id: DbId, body: FilterIn, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Keep assets by class, type or tag (a new version in the same group)."""
    return service.filter_version(db, engine, user=user, project_id=project_id, body=body)


@router.post("/projects/{project_id}/datasets/sampling", response_model=TaskOut, status_code=202)
def sample(project_id: DbId, body: SamplingIn, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """A random subset by count or rate."""
    return service.sample(db, engine, user=user, project_id=project_id, body=body)


@router.post("/projects/{project_id}/datasets/fuse", response_model=TaskOut, status_code=202)
def fuse(project_id: DbId, body: FuseIn, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Merge versions, keep assets by class, then sample, in one task and one new version."""
    return service.fuse(db, engine, user=user, project_id=project_id, body=body)


@router.post("/datasets/{dataset_id}/export", response_model=TaskOut, status_code=202)
def export(dataset_id: DbId, body: ExportIn, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Export as a zip; download it from ``/tasks/{id}/download`` when the task is done."""
    return service.export(db, engine, user=user, dataset_id=dataset_id, body=body)


@router.post("/datasets/{dataset_id}/evaluate", response_model=TaskOut, status_code=202)
def evaluate(dataset_id: DbId, body: EvaluateIn, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Evaluate the version's predictions against its ground truth (a new, marked version)."""
    return service.evaluate(db, engine, user=user, dataset_id=dataset_id, body=body)
