"""Talking to the task engine by task name only (the backend imports the controller's protocol,
never its tasks): send requests, read results and progress from the result backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery
from pydantic import BaseModel

from ymir_backend.config import BackendSettings
from ymir_controller.protocol import (
    TASK_NAMES,
    Kind,
    Progress,
    TaskResult,
    cancel_flag,
    celery_client_config,
    interpret,
    queue_of,
)


class Engine:
    """A Celery client configured like the workers (Redis, or the embedded broker in the workplace)."""

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        self.on_version_ready: Callable[[int, str], None] | None = None
        self.app = Celery("ymir-backend")
        self.app.conf.update(
            celery_client_config(
                workplace=settings.root,
                broker_url=settings.broker_url,
                result_backend=settings.result_backend,
                key_prefix=settings.redis_key_prefix,
            )
        )

    def version_ready(self, project_id: int, rev: str) -> None:
        """A task's dataset version became ready (stored once, by whichever process claimed the result):
        ``on_version_ready`` (the API loads it for browsing) hears of it."""
        if self.on_version_ready is not None:
            self.on_version_ready(project_id, rev)

    def send(self, request: BaseModel, task_id: str) -> None:
        """Queue ``request`` under ``task_id``."""
        kind = Kind(request.kind)  # type: ignore[attr-defined]
        self.app.send_task(
            TASK_NAMES[kind], args=[request.model_dump(mode="json")], task_id=task_id, queue=queue_of(kind)
        )

    def read(self, task_id: str) -> tuple[str, Progress | None, TaskResult | None]:
        """(state, progress, result) of a task."""
        meta: dict[str, Any] = self.app.backend.get_task_meta(task_id)
        state, progress, result = interpret(meta, heartbeat_seconds=self.settings.heartbeat_seconds)
        return state, progress, result

    def cancel(self, task_id: str) -> None:
        """Ask a task to stop (a flag file in the workplace, read by the workers)."""
        flag = cancel_flag(self.settings.root, task_id)
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
