"""Importing dataset versions: a zip upload, a URL, a folder of the sharing folder, or a copy of a
version the user may see (or a public one). Each launches an import task filling one new version (the
engine makes the project's repository and labels current first)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from ymir_backend.datasets.schemas import ANNO_FORMATS, ImportCopy, ImportPath, ImportUrl
from ymir_backend.datasets.service import new_version
from ymir_backend.errors import ApiError
from ymir_backend.models import Project, Task, User
from ymir_backend.services.access import project_access, public_or_visible
from ymir_backend.services.engine import Engine
from ymir_backend.services.uploads import form_text, receive_upload
from ymir_backend.sharing import service as sharing
from ymir_backend.tasks.service import TaskPlan, launch, new_task_id
from ymir_controller.protocol import CopyRequest, ImportRequest, ImportSource


def _import(
    db: Session,
    engine: Engine,
    *,
    user: User,
    project: Project,
    group_name: str,
    source: ImportSource,
    strategy: str,
    with_predictions: bool = False,
    anno_format: str = "auto",
) -> Task:
    tid = new_task_id()
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
    return launch(db, engine, user=user, project=project, plan=TaskPlan(tid, req, [dv]))


async def import_upload(
    db: Session, engine: Engine, *, user: User, project_id: int, request: Request
) -> Task:
    """Import an uploaded zip. Who asks and the project are checked before the body is read; the body
    is streamed to disk and cut at ``YMIR_MAX_UPLOAD_BYTES`` (413), chunked bodies included."""
    settings = engine.settings
    project = project_access(db, user, project_id, write=True)
    db.commit()  # no transaction stays open while the body arrives
    tmp, fields = await receive_upload(request, settings, suffix=".zip")
    try:
        name = form_text(fields, "group_name")
        strategy = form_text(
            fields, "unknown_types_strategy", default="add", choices=("stop", "ignore", "add")
        )
        anno_format = form_text(fields, "anno_format", default="auto", choices=ANNO_FORMATS)
        source = ImportSource(kind="zip", path=str(tmp.relative_to(settings.root)))
        return _import(
            db,
            engine,
            user=user,
            project=project,
            group_name=name,
            source=source,
            strategy=strategy,
            anno_format=anno_format,
        )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def import_url(db: Session, engine: Engine, *, user: User, project_id: int, body: ImportUrl) -> Task:
    """Import a zip from a URL."""
    project = project_access(db, user, project_id, write=True)
    if not body.url.lower().startswith(("http://", "https://")):
        raise ApiError(422, "invalid_request", "url: only http:// and https:// addresses can be imported")
    return _import(
        db,
        engine,
        user=user,
        project=project,
        group_name=body.group_name,
        source=ImportSource(kind="url", url=body.url),
        strategy=body.unknown_types_strategy,
        anno_format=body.anno_format,
    )


def import_path(db: Session, engine: Engine, *, user: User, project_id: int, body: ImportPath) -> Task:
    """Import a folder of the sharing folder (``images/`` + ``annotations/``), named by its absolute path
    or relative to the sharing folder; never outside it (links out of it are refused)."""
    settings = engine.settings
    project = project_access(db, user, project_id, write=True)
    folder, rel = sharing.locate(settings, body.path)
    if not folder.is_dir() or not rel:
        raise ApiError(
            422,
            "invalid_request",
            f"path: {body.path!r} is not a dataset folder under the sharing folder {sharing.shown(settings)}",
            fix="give a folder holding images/ (and annotations/); GET /api/v1/sharing lists them",
        )
    return _import(
        db,
        engine,
        user=user,
        project=project,
        group_name=body.group_name,
        source=ImportSource(kind="path", path=rel),
        strategy=body.unknown_types_strategy,
        with_predictions=body.with_predictions,
        anno_format=body.anno_format,
    )


def import_copy(db: Session, engine: Engine, *, user: User, project_id: int, body: ImportCopy) -> Task:
    """Copy a dataset you may see, or one marked public, into this project."""
    project = project_access(db, user, project_id, write=True)
    src, src_project = public_or_visible(db, user, body.source_dataset_id)
    tid = new_task_id()
    dv = new_version(db, project, body.group_name, tid, [src.id])
    req = CopyRequest(
        repo=project.repo,
        dst_rev=dv.rev,
        src_repo=src_project.repo,
        src_revs=src.rev,
        unknown_types_strategy=body.unknown_types_strategy,
        user=user.email,
    )
    return launch(db, engine, user=user, project=project, plan=TaskPlan(tid, req, [dv]))
