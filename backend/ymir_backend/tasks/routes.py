"""Tasks: list, detail with progress and error, cancel, retry, downloads of exports, and live
progress as Server-Sent Events."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse

from ymir_backend.api.deps import DB, Bearer, CurrentUser, EngineDep, Settings
from ymir_backend.errors import ErrorOut
from ymir_backend.models import Task
from ymir_backend.schemas import DB_INT_MAX, DbId, Page
from ymir_backend.tasks import events, service
from ymir_backend.tasks.schemas import TaskOut

router = APIRouter(prefix="/tasks", tags=["tasks"])


# before /{task_id}: "events" is no task id
@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`event: task`, a TaskOut as `data`, each time a task's state or progress changes",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def task_events(
    request: Request,
    creds: Bearer,
    project_id: int | None = Query(None, ge=1, le=2**31 - 1, description="a project's tasks; default: yours"),
    seconds: float = Query(300, gt=0, le=3600, description="the stream ends after this; reconnect then"),
    since: float | None = Query(
        None,
        ge=0,
        le=2**42,
        description="reconnecting: the `id` of the last message received; tasks that ended since come too",
    ),
) -> StreamingResponse:
    """Server-Sent Events: the current unfinished tasks first, then every change of state or progress.
    Each message's `id` is the server's time of the read it came from."""
    viewer = await run_in_threadpool(
        events.viewer, request.app.state.db, request.app.state.settings, creds, project_id
    )
    return StreamingResponse(
        events.stream(request, viewer, project_id, seconds, since),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


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
    return service.list_tasks(db, user, project_id=project_id, state=state, offset=offset, limit=limit)


@router.get("/{task_id}", response_model=TaskOut)
def get_task(task_id: str, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """A task with its current progress (read through from the engine)."""
    return service.get_task(db, engine, user, task_id)


@router.post("/{task_id}/cancel", response_model=TaskOut, status_code=202)
def cancel(task_id: str, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Stop a queued or running task; it ends ``cancelled`` and commits nothing."""
    return service.cancel(db, engine, user, task_id)


@router.post("/{task_id}/retry", response_model=TaskOut, status_code=202)
def retry(task_id: str, user: CurrentUser, db: DB, engine: EngineDep, settings: Settings) -> Task:
    """Run a failed, cancelled or lost task again as a new task (``retry_of`` names the old one).

    The versions and iteration step the old task was filling wait for the new one.
    """
    return service.retry(db, engine, settings, user, task_id)


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
    path = service.download_path(db, settings, user, task_id)
    return FileResponse(path, filename=path.name)
