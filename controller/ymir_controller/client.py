"""Sending tasks and following them, by task name only (what the backend, tests and benchmarks use).

``status`` reads the result backend: ``queued``, ``running`` (with progress), ``done``, ``failed``,
``cancelled`` — or ``lost`` when a running task's heartbeat stopped (its worker died and nobody
redelivered it), so nothing shows "running" forever.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from celery import Celery
from pydantic import BaseModel

from ymir_controller import flags
from ymir_controller.app import make_app
from ymir_controller.protocol import TASK_NAMES, Kind, Progress, TaskResult, finish_flag, interpret, queue_of
from ymir_controller.settings import Settings


@dataclass
class TaskStatus:
    """Where a task is."""

    state: str
    progress: Progress | None = None
    result: TaskResult | None = None


class Client:
    """Submit, follow, cancel."""

    def __init__(self, settings: Settings, app: Celery | None = None) -> None:
        self.settings = settings
        self.app = app or make_app(settings)

    def submit(self, request: BaseModel, *, task_id: str | None = None) -> str:
        """Queue a request; returns its task id (give one to make the ``dst_rev`` tid match it)."""
        kind = Kind(request.kind)  # type: ignore[attr-defined]
        tid = task_id or uuid.uuid4().hex
        queue = queue_of(kind)
        self.app.send_task(TASK_NAMES[kind], args=[request.model_dump(mode="json")], task_id=tid, queue=queue)
        return tid

    def status(self, task_id: str) -> TaskStatus:
        """Current state, progress and (when finished) the result."""
        meta = self.app.backend.get_task_meta(task_id)  # one read: state and payload agree
        state, progress, result = interpret(meta, heartbeat_seconds=self.settings.heartbeat_seconds)
        return TaskStatus(state=state, progress=progress, result=result)

    def cancel(self, task_id: str) -> None:
        """Ask the task to stop (queued: it will not start; running: its executor is stopped)."""
        flags.request_cancel(self.settings.internal, task_id)

    def finish(self, task_id: str) -> None:
        """Ask a labeling task to import what is labeled now and end (asking twice changes nothing)."""
        flag = finish_flag(self.settings.root, task_id)
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()

    def wait(self, task_id: str, *, timeout: float = 600.0, poll: float = 0.05) -> TaskResult:
        """Block until the task has a result (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status(task_id)
            if st.result is not None:
                return st.result
            if st.state in ("failed", "lost"):
                raise RuntimeError(f"task {task_id} ended {st.state}")
            time.sleep(poll)
        raise TimeoutError(f"task {task_id} did not finish within {timeout} s")

    def raw(self, task_id: str) -> Any:
        """The result backend's record (for debugging)."""
        return self.app.AsyncResult(task_id).info
