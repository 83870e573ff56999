"""Tasks: list, detail with progress and error, cancel, retry, and downloads of exports."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy import func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from ymir_backend.api.deps import DB, CurrentUser, Settings, project_access
from ymir_backend.errors import ApiError, ErrorOut, not_found
from ymir_backend.models import Project, ProjectMember, Task
from ymir_backend.schemas import DB_INT_MAX, DbId, Page, TaskOut
from ymir_backend.services import lifecycle
from ymir_backend.services import tasks as task_service
from ymir_backend.services.access import task_of as task_of

log = logging.getLogger(__name__)

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("", response_model=Page[TaskOut])
def list_tasks(
    user: CurrentUser,
    db: DB,
    project_id: DbId | None = None,
    state: str | None = None,
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
    limit: int = Query(20, ge=1, le=200),
) -> Page[TaskOut]:
    """Your tasks (or a project's), newest first."""
    q = select(Task)
    if project_id is not None:
        project_access(db, user, project_id)
        q = q.where(Task.project_id == project_id)
    else:  # yours, less those of projects deleted since or that you were removed from
        visible = select(Project.id).where(
            Project.deleted.is_(False),
            or_(
                Project.owner_id == user.id,
                Project.id.in_(select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)),
            ),
        )
        q = q.where(Task.user_id == user.id, or_(Task.project_id.is_(None), Task.project_id.in_(visible)))
    if state:
        q = q.where(Task.state == state)
    total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db.scalars(q.order_by(Task.created_at.desc()).offset(offset).limit(limit))
    return Page(items=[TaskOut.model_validate(t) for t in rows], total=total, offset=offset, limit=limit)


@router.get("/{task_id}", response_model=TaskOut)
def get_task(task_id: str, request: Request, user: CurrentUser, db: DB) -> Task:
    """A task with its current progress (read through from the engine)."""
    task = task_of(db, user, task_id)
    if not task.result_stored:
        try:
            task_service.apply_status(db, request.app.state.engine, task)
        except (OSError, SQLAlchemyError):  # e.g. a full disk: answer with what is stored
            log.warning("could not refresh task %s; answering with its stored state", task_id, exc_info=True)
            db.rollback()
            task = task_of(db, user, task_id)
    return task


@router.post("/{task_id}/cancel", response_model=TaskOut, status_code=202)
def cancel(task_id: str, request: Request, user: CurrentUser, db: DB) -> Task:
    """Stop a queued or running task; it ends ``cancelled`` and commits nothing."""
    task = task_of(db, user, task_id, write=True)
    if task.result_stored:
        raise ApiError(409, "task_finished", f"task {task_id} already ended {task.state}")
    request.app.state.engine.cancel(task_id)
    return task


@router.post("/{task_id}/retry", response_model=TaskOut, status_code=202)
def retry(task_id: str, request: Request, user: CurrentUser, db: DB, settings: Settings) -> Task:
    """Run a failed, cancelled or lost task again as a new task (``retry_of`` names the old one).

    The versions and iteration step the old task was filling wait for the new one.
    """
    task = task_of(db, user, task_id, write=True)
    return task_service.retry(db, request.app.state.engine, settings, task, user)


@router.get(
    "/{task_id}/download",
    response_class=FileResponse,
    responses={
        200: {
            "description": "the exported zip (datasets) or package (models)",
            "content": dict.fromkeys(
                ("application/zip", "application/x-tar", "application/octet-stream"), {}
            ),
        },
        410: {"description": "the export was removed after YMIR_KEEP_EXPORT_HOURS", "model": ErrorOut},
    },
)
def download(task_id: str, user: CurrentUser, db: DB, settings: Settings) -> FileResponse:
    """The file an export or model-export task wrote."""
    task = task_of(db, user, task_id)
    output = (task.result or {}).get("output")
    if task.state != "done" or not output:
        raise ApiError(
            409, "nothing_to_download", f"task {task_id} is {task.state} and has no file to download"
        )
    path = (settings.root / output).resolve()
    if settings.root.resolve() not in path.parents:
        raise not_found("download", task_id)
    if not path.is_file():
        if lifecycle.export_expired(output):
            raise ApiError(
                410,
                "export_expired",
                f"the file of task {task_id} was removed {settings.keep_export_hours:g} hours after the "
                "export ended (YMIR_KEEP_EXPORT_HOURS)",
                fix="export it again",
            )
        raise not_found("download", task_id)
    return FileResponse(path, filename=path.name)
