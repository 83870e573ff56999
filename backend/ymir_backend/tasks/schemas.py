"""What the API answers about a task."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ymir_backend.schemas import Orm


class TaskOut(Orm):
    id: str
    project_id: int | None
    user_id: int
    kind: str
    state: str
    percent: float
    stage: str
    message: str
    request: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    retry_of: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
