"""Live task progress pushed to the browser: a Server-Sent Events stream of the user's tasks.

The monitor already writes each task's state and progress into the database; the stream reads the
user's unfinished (and just finished) tasks every ``monitor_interval`` and sends the ones that changed,
so no page has to poll the task list.

A stream ends (after ``seconds``, or when the network drops) and the page connects again. Each message
carries the server's time of the read it came from as its ``id``; a page that passes the last one back
as ``since`` also gets the tasks that ended while it was away. Without it, a task that ended in that gap
was never sent as ended, and a form showing it said "running" for ever.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import or_, select

from ymir_backend.api.deps import current_user, project_access
from ymir_backend.config import BackendSettings
from ymir_backend.db import Database
from ymir_backend.models import Task
from ymir_backend.tasks.schemas import TaskOut

KEEP_ALIVE_SECONDS = 15.0
#: how far before ``since`` a resumed stream looks: a task's end time is taken before the monitor commits
#: it, so one can become visible a little after a read whose time is later than its end
RESUME_MARGIN = dt.timedelta(seconds=30)
#: the oldest end a resumed stream sends again (a page away longer reloads its lists anyway)
RESUME_LIMIT = dt.timedelta(hours=1)


def viewer(
    database: Database,
    settings: BackendSettings,
    creds: HTTPAuthorizationCredentials | None,
    project_id: int | None,
) -> int:
    """The user's id after checking the token (and the project, when one is named), in a short session:
    the stream itself holds no database connection between reads."""
    with database.sessions() as db:
        user = current_user(db, settings, creds)
        if project_id is not None:
            project_access(db, user, project_id)
        return user.id


def _changed(database: Database, user_id: int, project_id: int | None, since: dt.datetime) -> list[TaskOut]:
    """The tasks the stream watches: unfinished ones, and those that ended after ``since``."""
    q = select(Task).where(or_(Task.result_stored.is_(False), Task.finished_at >= since))
    q = q.where(Task.project_id == project_id) if project_id is not None else q.where(Task.user_id == user_id)
    with database.sessions() as db:
        return [TaskOut.model_validate(t) for t in db.scalars(q.order_by(Task.created_at))]


def _event(task: TaskOut, read_at: float) -> str:
    return f"event: task\nid: {read_at:.3f}\ndata: {task.model_dump_json()}\n\n"


def first_read(now: dt.datetime, resume: float | None) -> dt.datetime:
    """The oldest end the stream's reads include: the time of the page's last message less a margin
    (``resume``, seconds since the epoch, from the ``id`` of that message), at most an hour back; a new
    page gets what ended in the last two seconds."""
    if resume is None:
        return now - dt.timedelta(seconds=2)
    last = dt.datetime.fromtimestamp(resume, dt.UTC)
    return max(min(last, now) - RESUME_MARGIN, now - RESUME_LIMIT)


async def stream(
    request: Request, user_id: int, project_id: int | None, seconds: float, resume: float | None = None
) -> AsyncIterator[str]:
    """The events of ``user_id``'s tasks (or ``project_id``'s) for ``seconds``, or until the client
    goes: a ``retry`` hint, then each task whose state or progress changed, and keep-alive comments;
    ``resume`` (the ``id`` of the page's last message) adds the tasks that ended since."""
    database: Database = request.app.state.db
    settings: BackendSettings = request.app.state.settings
    interval = min(max(settings.monitor_interval, 0.2), 1.0)
    since = first_read(dt.datetime.now(dt.UTC), resume)
    seen: dict[str, tuple[str, float, str, str]] = {}
    deadline = time.monotonic() + seconds
    quiet_since = time.monotonic()
    yield "retry: 2000\n\n"
    while time.monotonic() < deadline and not await request.is_disconnected():
        read_at = time.time()
        for task in await run_in_threadpool(_changed, database, user_id, project_id, since):
            key = (task.state, task.percent, task.stage, task.message)
            if seen.get(task.id) != key:
                seen[task.id] = key
                quiet_since = time.monotonic()
                yield _event(task, read_at)
        if time.monotonic() - quiet_since > KEEP_ALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield f"id: {read_at:.3f}\n: keep-alive\n\n"
        await asyncio.sleep(interval)
