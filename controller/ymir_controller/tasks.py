"""The Celery tasks: one per operation, each a thin shell around :func:`handlers.run`.

The shell publishes progress (Celery state ``PROGRESS`` with a :class:`~protocol.Progress`), keeps
a heartbeat going so a dead worker shows as ``lost`` instead of "running" forever, and checks the
cancel flag. The handler itself never sees Celery.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from celery import Celery, Task

from mir.messages import workplace_relative
from ymir_controller import flags, handlers
from ymir_controller.handlers.context import Context
from ymir_controller.protocol import TASK_NAMES, Kind, Progress, superseded_flag
from ymir_controller.settings import Settings


class _Reporter:
    """Throttled progress publishing plus a heartbeat thread."""

    def __init__(self, task: Task, settings: Settings) -> None:
        self.task = task
        self.task_id = str(task.request.id)  # the request is thread-local: keep the id for the heartbeat
        self.settings = settings
        self.lock = threading.Lock()
        self.last = Progress(
            percent=0.0, stage="starting", heartbeat=time.time(), worker=socket.gethostname()
        )
        self.sent_at = 0.0
        self.dirty = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def publish(self) -> None:
        with self.lock:
            self.last.heartbeat = time.time()
            self.task.update_state(task_id=self.task_id, state="PROGRESS", meta=self.last.model_dump())
            self.sent_at = time.monotonic()

    def report(self, percent: float, stage: str, message: str) -> None:
        changed_stage = stage != self.last.stage
        self.last = Progress(
            percent=round(percent, 4),
            stage=stage,
            message=workplace_relative(message, self.settings.root) if "/" in message else message,
            heartbeat=time.time(),
            worker=self.last.worker,
        )
        if changed_stage or time.monotonic() - self.sent_at >= 0.1 or percent >= 1.0:
            self.publish()
        else:
            self.dirty = True  # the beat thread publishes it within 0.1 s

    def _beat(self) -> None:
        while not self.stop.wait(0.1):
            if self.dirty or time.monotonic() - self.sent_at >= self.settings.heartbeat_seconds:
                self.dirty = False
                self.publish()

    def __enter__(self) -> _Reporter:
        self.publish()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def execute(task: Task, payload: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Run one request inside a Celery task and return its TaskResult as JSON."""
    task_id = str(task.request.id)
    internal = settings.internal
    retried = superseded_flag(settings.root, task_id)
    with _Reporter(task, settings) as reporter:
        ctx = Context(
            settings=settings,
            task_id=task_id,
            report=reporter.report,
            # a retried task stops too: a worker that was frozen (not dead) while the user retried
            # its task finds the mark at its next check and never reaches its commit
            should_cancel=lambda: flags.is_cancelled(internal, task_id) or retried.exists(),
        )
        result = handlers.run(payload, ctx)
    if task.request.delivery_info and task.request.delivery_info.get("redelivered"):
        result.redelivered = True
    flags.clear(internal, task_id)
    return result.model_dump(mode="json")


def register(app: Celery, settings: Settings) -> None:
    """Register one task per operation on ``app``."""
    for kind in Kind:
        _register_one(app, settings, TASK_NAMES[kind])


def _register_one(app: Celery, settings: Settings, name: str) -> None:
    @app.task(name=name, bind=True, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def _task(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
        return execute(self, payload, settings)
