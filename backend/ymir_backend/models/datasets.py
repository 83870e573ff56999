"""Dataset groups and their versions (one version = one mir revision)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ymir_backend.db import Base
from ymir_backend.models._common import Timestamped


class DatasetGroup(Timestamped, Base):
    __tablename__ = "dataset_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    deleted: Mapped[bool] = mapped_column(default=False)

    @property
    def branch(self) -> str:
        """The mir branch of this group."""
        return f"dataset-{self.id}"


class DatasetVersion(Timestamped, Base):
    __tablename__ = "dataset_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("dataset_groups.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    version_num: Mapped[int] = mapped_column(Integer)
    rev: Mapped[str] = mapped_column(String(200))  # branch@task_id
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending | ready | failed
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"), nullable=True)
    is_public: Mapped[bool] = mapped_column(default=False)
    asset_count: Mapped[int] = mapped_column(Integer, default=0)
    tvt: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gt_stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pred_stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gt_boxes: Mapped[int] = mapped_column(Integer, default=0)
    pred_boxes: Mapped[int] = mapped_column(Integer, default=0)
    source_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    evaluation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    deleted: Mapped[bool] = mapped_column(default=False)
