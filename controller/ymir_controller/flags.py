"""Cancellation flags, shared by everything that can see the workplace.

A flag is a file ``.controller/cancel/<task id>``: the client sets it, the task polls it (before it
starts and while its executor runs) and stops. It works the same with Redis and with the embedded
broker, which cannot broadcast Celery's revoke messages.
"""

from __future__ import annotations

from pathlib import Path

from ymir_controller.protocol import cancel_flag


def _flag(internal: Path, task_id: str) -> Path:
    return cancel_flag(internal.parent, task_id)


def request_cancel(internal: Path, task_id: str) -> None:
    """Ask a queued or running task to stop."""
    flag = _flag(internal, task_id)
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.touch()


def is_cancelled(internal: Path, task_id: str) -> bool:
    """Whether someone asked this task to stop."""
    return _flag(internal, task_id).exists()


def clear(internal: Path, task_id: str) -> None:
    """Forget the flag once the task has ended."""
    _flag(internal, task_id).unlink(missing_ok=True)
