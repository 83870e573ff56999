"""Column helpers shared by the models."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> dt.datetime:
    """Timezone-aware now (stored as UTC)."""
    return dt.datetime.now(dt.UTC)


class Timestamped:
    """``created_at`` on every row."""

    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
