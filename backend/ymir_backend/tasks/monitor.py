"""Following tasks: the monitor reads each unfinished task's state from the engine and turns finished
ones into dataset and model versions exactly once.

The monitor polls the engine's result backend for every unfinished task (results persist there, so
a restarted backend simply reads them again). Storing a result first flips ``result_stored`` with a
conditional UPDATE; only the process whose UPDATE changed the row stores, so each result becomes
versions exactly once even with several API processes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ymir_backend.config import BackendSettings
from ymir_backend.errors import api_words
from ymir_backend.models import (
    DatasetVersion,
    Iteration,
    IterationStep,
    ModelStage,
    ModelVersion,
    Project,
    Task,
)
from ymir_backend.services import lifecycle
from ymir_backend.services.engine import Engine
from ymir_backend.services.repos import adopt_classes
from ymir_controller.protocol import Progress, TaskRequest, TaskResult

log = logging.getLogger(__name__)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stats(side: dict[str, Any]) -> dict[str, Any]:
    return {name: {"images": c["images"], "boxes": c["boxes"]} for name, c in side.items()}


def store_result(db: Session, task: Task, result: TaskResult) -> list[tuple[int, str]]:
    """Fill the versions a finished task was creating (called once per task); returns the dataset
    versions it made ready, as (project id, rev)."""
    ok = result.state == "done"
    ready: list[tuple[int, str]] = []
    for dv in db.scalars(select(DatasetVersion).where(DatasetVersion.task_id == task.id)):
        if ok and result.version is not None:
            v = result.version
            ready.append((dv.project_id, dv.rev))
            dv.state = "ready"
            dv.asset_count = v.assets
            dv.tvt = dict(v.tvt)
            dv.gt_stats = _stats({k: c.model_dump() for k, c in v.gt.items()})
            dv.pred_stats = _stats({k: c.model_dump() for k, c in v.pred.items()})
            dv.gt_boxes = v.gt_boxes
            dv.pred_boxes = v.pred_boxes
            dv.evaluation = result.evaluation
            project = db.get(Project, dv.project_id)
            if project is not None:
                adopt_classes(db, project.owner_id, sorted({*v.gt, *v.pred}))
        else:
            dv.state = "failed"
    for mv in db.scalars(select(ModelVersion).where(ModelVersion.task_id == task.id)):
        if ok and result.model is not None:
            m = result.model
            mv.state = "ready"
            mv.model_hash = m.model_hash
            mv.best_stage = m.best_stage
            mv.map50_95 = m.map50_95
            mv.map50 = m.map50
            mv.executor_map50 = m.executor_map50
            mv.class_names = list(m.class_names)
            mv.evaluation = m.evaluation
            for name, stage in m.stages.items():
                metrics = {k: v for k, v in stage.items() if k not in ("files", "stage_name", "timestamp")}
                db.add(
                    ModelStage(
                        model_version_id=mv.id,
                        name=name,
                        metrics=metrics,
                        timestamp=int(stage.get("timestamp") or 0),
                    )
                )
        else:
            mv.state = "failed"
    for step in db.scalars(select(IterationStep).where(IterationStep.task_id == task.id)):
        step.state = "done" if ok else "failed"
        if ok and step.name == "training":
            iteration = db.get(Iteration, step.iteration_id)
            if iteration is not None:
                iteration.state = "done"
    return ready


def apply_status(db: Session, engine: Engine, task: Task) -> None:
    """Refresh one task from the engine; store its result the first time it is final."""
    state, progress, result = engine.read(task.id)
    if progress is not None:
        task.percent, task.stage, task.message = progress.percent, progress.stage, progress.message
    if result is None:
        if state == "failed":  # the task raised inside Celery itself: no TaskResult
            task.state = "failed"
            task.error = {
                "code": 169999,
                "message": "the worker crashed while running this task",
                "fix": "retry it",
            }
            task.result_stored = True
            task.finished_at = now()
            _fail_versions(db, task)
        elif state == "lost" and task.kind == "label":
            _resume_labeling(engine, task)
        elif state != task.state:
            task.state = state
        db.commit()
        return
    if not claim(db, task):
        return
    task.state = result.state
    task.result = result.model_dump(mode="json")
    task.error = _api_error(result, task.kind)
    task.percent = 1.0 if result.state == "done" else task.percent
    task.finished_at = now()
    ready = store_result(db, task, result)
    if task.state == "failed" or task.state == "cancelled":
        _fail_versions(db, task)
        ready = []
    db.commit()
    for project_id, rev in ready:
        engine.version_ready(project_id, rev)
    lifecycle.release_upload(db, settings_of(engine), task)


def _api_error(result: TaskResult, kind: str) -> dict[str, Any] | None:
    """The task's error as API users read it: field names instead of mir's CLI flags."""
    if result.error is None:
        return None
    error: dict[str, Any] = result.error.model_dump()
    error["message"] = api_words(error["message"], kind)
    error["fix"] = api_words(error["fix"], kind)
    return error


def _resume_labeling(engine: Engine, task: Task) -> None:
    """A labeling task whose worker died is sent again under its own id: it finds its Label Studio
    project again and carries on (the embedded broker does not redeliver; Redis does, later)."""
    log.warning("labeling task %s lost its worker; sending it again", task.id)
    request: BaseModel = TypeAdapter(TaskRequest).validate_python(task.request)
    engine.app.backend.store_result(  # a fresh heartbeat: not "lost" again before a worker takes it
        task.id,
        Progress(
            percent=task.percent, stage="resuming", message="waiting for a worker", heartbeat=time.time()
        ).model_dump(),
        "PROGRESS",
    )
    engine.send(request, task.id)


def claim(db: Session, task: Task) -> bool:
    """Flips ``result_stored`` with a conditional UPDATE; True for the one caller whose UPDATE changed the
    row (so a result is stored, or a task retried, once even with several API processes)."""
    claimed = db.execute(  # type: ignore[attr-defined]
        update(Task).where(Task.id == task.id, Task.result_stored.is_(False)).values(result_stored=True)
    ).rowcount
    if not claimed:
        db.rollback()
    return bool(claimed)


def _fail_versions(db: Session, task: Task) -> None:
    for dv in db.scalars(select(DatasetVersion).where(DatasetVersion.task_id == task.id)):
        dv.state = "failed"
    for mv in db.scalars(select(ModelVersion).where(ModelVersion.task_id == task.id)):
        mv.state = "failed"


def poll_once(db: Session, engine: Engine) -> int:
    """Refresh every unfinished task; returns how many were looked at."""
    tasks = list(db.scalars(select(Task).where(Task.result_stored.is_(False))))
    for task in tasks:
        try:
            apply_status(db, engine, task)
        except Exception:  # noqa: BLE001 - one bad record must not stop the monitor
            db.rollback()
            log.exception("could not refresh task %s", task.id)
    return len(tasks)


def settings_of(engine: Engine) -> BackendSettings:
    """The settings the engine was made with."""
    return engine.settings


class Monitor:
    """A background thread polling the engine for the API process (and sweeping the workplace)."""

    def __init__(self, sessions: Any, engine: Engine, interval: float) -> None:
        self.sessions = sessions
        self.engine = engine
        self.interval = interval
        self.swept_at = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="ymir-task-monitor")

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                with self.sessions() as db:
                    poll_once(db, self.engine)
                    if time.monotonic() - self.swept_at >= self.engine.settings.sweep_seconds:
                        self.swept_at = time.monotonic()
                        lifecycle.sweep(db, self.engine.settings)
            except Exception:  # noqa: BLE001
                log.exception("task monitor round failed")

    def start(self) -> None:
        """Start polling."""
        self.thread.start()

    def close(self) -> None:
        """Stop polling."""
        self.stop.set()
        self.thread.join(timeout=10)
