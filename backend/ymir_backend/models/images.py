"""Executor images registered by admins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ymir_backend.db import Base
from ymir_backend.models._common import Timestamped


class ExecutorImage(Timestamped, Base):
    __tablename__ = "executor_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)  # image reference, or "ymir-executor"
    description: Mapped[str] = mapped_column(Text, default="")
    capabilities: Mapped[list[Any]] = mapped_column(JSON, default=list)  # training | mining | infer
    templates: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    object_type: Mapped[int] = mapped_column(Integer, default=2)
    is_public: Mapped[bool] = mapped_column(default=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    # what a copy runs: the original's image (a copy's name is only its own); None: the name itself
    reference: Mapped[str | None] = mapped_column(String(300), nullable=True)

    @property
    def runs(self) -> str:
        """The container image (or built-in executor) this entry runs."""
        return self.reference or self.name
