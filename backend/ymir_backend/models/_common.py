"""Column helpers shared by the models."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Mapped, mapped_column

from ymir_backend.db import UtcDateTime


def utcnow() -> dt.datetime:
    """Timezone-aware now (stored as UTC)."""
    return dt.datetime.now(dt.UTC)


class Timestamped:
    """``created_at`` on every row."""

    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
