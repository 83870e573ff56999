"""Projects, who they are shared with, and users' labels."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ymir_backend.db import Base
from ymir_backend.models._common import Timestamped


class Project(Timestamped, Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    training_classes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    target_map: Mapped[float | None] = mapped_column(Float, nullable=True)
    target_iterations: Mapped[int | None] = mapped_column(Integer, nullable=True)
    training_dataset_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    validation_dataset_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mining_dataset_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    initial_model_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deleted: Mapped[bool] = mapped_column(default=False)
    # the four ids above are checked by the API (a plain column: projects and versions reference each
    # other, and a cycle of foreign keys would need deferred constraints on every database)

    @property
    def repo(self) -> str:
        """The project's mir repository, relative to the workplace."""
        return f"repos/project-{self.id}"


class ProjectMember(Base):
    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # viewer | editor


class Label(Timestamped, Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    aliases: Mapped[list[Any]] = mapped_column(JSON, default=list)
