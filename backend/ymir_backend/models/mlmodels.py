"""Model groups, versions (one trained or imported package) and their stages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ymir_backend.db import Base
from ymir_backend.models._common import Timestamped


class ModelGroup(Timestamped, Base):
    __tablename__ = "model_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    deleted: Mapped[bool] = mapped_column(default=False)


class ModelVersion(Timestamped, Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("model_groups.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    version_num: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"), nullable=True)
    model_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    best_stage: Mapped[str | None] = mapped_column(String(80), nullable=True)
    map50_95: Mapped[float | None] = mapped_column(Float, nullable=True)  # docs/glossary.md
    map50: Mapped[float | None] = mapped_column(Float, nullable=True)
    executor_map50: Mapped[float | None] = mapped_column(Float, nullable=True)
    class_names: Mapped[list[Any]] = mapped_column(JSON, default=list)
    evaluation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    training_dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"), nullable=True)
    deleted: Mapped[bool] = mapped_column(default=False)


class ModelStage(Base):
    __tablename__ = "model_stages"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timestamp: Mapped[int] = mapped_column(Integer, default=0)
