"""Iterations: YMIR's rounds of prepare-mining-data, mine, label, merge, train."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ymir_backend.db import Base
from ymir_backend.models._common import Timestamped

STEPS = ("prepare_mining", "mining", "label", "merge", "training")


class Iteration(Timestamped, Base):
    __tablename__ = "iterations"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="running")  # running | done
    training_dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"), nullable=True)
    mining_dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"), nullable=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"), nullable=True)
    result_model_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"), nullable=True)
    presets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IterationStep(Base):
    __tablename__ = "iteration_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    iteration_id: Mapped[int] = mapped_column(ForeignKey("iterations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(
        String(20), default="pending"
    )  # pending | running | done | skipped | failed
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"), nullable=True)
    output_dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"), nullable=True)
    output_model_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"), nullable=True)
    presets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
