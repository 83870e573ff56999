"""Tasks: the one place that launches work on the engine (a task row, the versions it will fill, a
message to the engine), and listing, cancelling, retrying and downloading tasks.

Every resource that starts work (datasets, models, iterations, labeling) builds a ``TaskPlan`` with
its own service and hands it to ``launch``; nothing else sends to the engine.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError, not_found
from ymir_backend.models import (
    DatasetVersion,
    IterationStep,
    ModelVersion,
    Project,
    ProjectMember,
    Task,
    User,
)
from ymir_backend.schemas import Page
from ymir_backend.services import lifecycle
from ymir_backend.services.access import project_access, task_of
from ymir_backend.services.engine import Engine
from ymir_backend.services.pages import page
from ymir_backend.services.repos import project_labels
from ymir_backend.tasks.monitor import apply_status, claim, now
from ymir_backend.tasks.schemas import TaskOut
from ymir_controller.protocol import TaskRequest, superseded_flag

RETRYABLE = ("failed", "cancelled", "lost")

log = logging.getLogger(__name__)


def new_task_id() -> str:
    """A task id: also the Celery id and the mir task id in ``branch@tid``."""
    return uuid.uuid4().hex


@dataclass
class TaskPlan:
    """A task ready to launch: its id, the request for the engine, the pending dataset and model
    versions (already added to the session) it will fill, and the iteration steps it runs."""

    task_id: str
    request: BaseModel
    versions: Sequence[DatasetVersion | ModelVersion] = field(default_factory=list)
    steps: list[IterationStep] = field(default_factory=list)


def launch(
    db: Session,
    engine: Engine,
    *,
    user: User,
    project: Project | None,
    plan: TaskPlan,
    retry_of: str | None = None,
) -> Task:
    """Commit the task row and the pending versions it will fill, then queue the request (the row
    exists before any worker can answer); what else the session holds is committed with them. A
    retry names the task it runs again in ``retry_of``."""
    request = plan.request
    if project is not None and "labels" in type(request).model_fields:
        request.labels = project_labels(db, project)  # type: ignore[attr-defined]  # the engine syncs them
    task = Task(
        id=plan.task_id,
        user_id=user.id,
        project_id=project.id if project is not None else None,
        kind=str(request.kind),  # type: ignore[attr-defined]
        request=request.model_dump(mode="json"),
        retry_of=retry_of,
    )
    db.add(task)
    db.flush()
    for v in [*plan.versions, *plan.steps]:  # after the task row: they refer to it
        v.task_id = plan.task_id
    db.commit()
    engine.send(request, plan.task_id)
    return task


def list_tasks(
    db: Session, user: User, *, project_id: int | None, state: str | None, offset: int, limit: int
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
    return page(db, q, order_by=Task.created_at.desc(), out=TaskOut, offset=offset, limit=limit)


def get_task(db: Session, engine: Engine, user: User, task_id: str) -> Task:
    """A task with its current progress (read through from the engine)."""
    task = task_of(db, user, task_id)
    if not task.result_stored:
        try:
            apply_status(db, engine, task)
        except (OSError, SQLAlchemyError):  # e.g. a full disk: answer with what is stored
            log.warning("could not refresh task %s; answering with its stored state", task_id, exc_info=True)
            db.rollback()
            task = task_of(db, user, task_id)
    return task


def cancel(db: Session, engine: Engine, user: User, task_id: str) -> Task:
    """Stop a queued or running task; it ends ``cancelled`` and commits nothing."""
    task = task_of(db, user, task_id, write=True)
    if task.result_stored:
        raise ApiError(409, "task_finished", f"task {task_id} already ended {task.state}")
    engine.cancel(task_id)
    return task


def download_path(db: Session, settings: BackendSettings, user: User, task_id: str) -> Path:
    """The file an export or model-export task wrote."""
    task = task_of(db, user, task_id)
    output = (task.result or {}).get("output")
    if task.state != "done" or not output:
        raise ApiError(
            409, "nothing_to_download", f"task {task_id} is {task.state} and has no file to download"
        )
    path: Path = (settings.root / str(output)).resolve()
    if settings.root.resolve() not in path.parents:
        raise not_found("download", task_id)
    if not path.is_file():
        if lifecycle.export_expired(str(output)):
            raise ApiError(
                410,
                "export_expired",
                f"the file of task {task_id} was removed {settings.keep_export_hours:g} hours after the "
                "export ended (YMIR_KEEP_EXPORT_HOURS)",
                fix="export it again",
            )
        raise not_found("download", task_id)
    return path


def retry(db: Session, engine: Engine, settings: BackendSettings, user: User, task_id: str) -> Task:
    """Runs a failed, cancelled or lost task again, with the same parameters, as a new task.

    The dataset and model versions and the iteration step the old task was filling are handed to the new
    one and wait again, so a retried import fills the same version the user already sees. The request is
    the old one with the old task id replaced (it names the new revision ``branch@task_id``), and the
    project's labels are synced again first: a typical fix for a failed import is adding a label.

    Raises:
        ApiError: 409 when the task is queued, running or done.
    """
    task = task_of(db, user, task_id, write=True)
    if task.state not in RETRYABLE:
        raise ApiError(
            409,
            "task_not_retryable",
            f"task {task.id} is {task.state}; only failed, cancelled or lost tasks can be retried",
        )
    new_id = new_task_id()
    # The original must never commit once its retry exists (Redis delivers a lost task again after
    # its visibility timeout). Mark it superseded first, then look at it once more: a delivery that
    # started before the mark shows as running by now and the retry is refused; one that starts later
    # finds the mark and does nothing (ymir_controller.handlers.run).
    mark = superseded_flag(settings.root, task.id)
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text(new_id)
    if not task.result_stored:  # lost
        state, _, result = engine.read(task.id)
        if state != "lost" or result is not None:
            mark.unlink(missing_ok=True)
            raise ApiError(
                409,
                "task_not_retryable",
                f"task {task.id} is {state} again (its worker came back); look at it again",
            )
        if not claim(db, task):  # so the monitor stops waiting for a result
            mark.unlink(missing_ok=True)
            raise ApiError(409, "task_not_retryable", f"task {task.id} has just ended; look at it again")
        task.finished_at = now()
    raw = json.loads(json.dumps(task.request).replace(task.id, new_id))
    request: BaseModel = TypeAdapter(TaskRequest).validate_python(raw)
    project = db.get(Project, task.project_id) if task.project_id is not None else None
    versions: list[DatasetVersion | ModelVersion] = []
    for dv in db.scalars(select(DatasetVersion).where(DatasetVersion.task_id == task.id)):
        dv.rev, dv.state = dv.rev.replace(task.id, new_id), "pending"
        versions.append(dv)
    for mv in db.scalars(select(ModelVersion).where(ModelVersion.task_id == task.id)):
        mv.state = "pending"
        versions.append(mv)
    steps = list(db.scalars(select(IterationStep).where(IterationStep.task_id == task.id)))
    for step in steps:
        step.state = "running"
    plan = TaskPlan(new_id, request, versions, steps)
    return launch(db, engine, user=user, project=project, plan=plan, retry_of=task.id)
