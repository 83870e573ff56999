"""What dataset groups and model groups share: a project's groups, a group found or made by name,
and the number of a group's next version.

A dataset version and a model version both live in a group of their project and are numbered 1, 2, …
within it; the two resources differ in what a version holds, not in how it is filed.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ymir_backend.models import DatasetGroup, DatasetVersion, ModelGroup, ModelVersion, Project

G = TypeVar("G", DatasetGroup, ModelGroup)
V = TypeVar("V", DatasetVersion, ModelVersion)


def project_groups(db: Session, kind: type[G], project_id: int) -> list[G]:
    """The project's groups of ``kind`` that are not deleted, oldest first."""
    return list(
        db.scalars(
            select(kind).where(kind.project_id == project_id, kind.deleted.is_(False)).order_by(kind.id)
        )
    )


def group_named(db: Session, kind: type[G], project: Project, name: str) -> G:
    """The project's group of ``kind`` called ``name``, created (and flushed, so it has an id) if new."""
    group = db.scalar(
        select(kind).where(kind.project_id == project.id, kind.name == name, kind.deleted.is_(False))
    )
    if group is None:
        group = kind(project_id=project.id, name=name)
        db.add(group)
        db.flush()
    return group


def next_version_num(db: Session, kind: type[V], group_id: int) -> int:
    """1 + the highest version number in the group (1 for a new group; deleted versions count)."""
    return (db.scalar(select(func.max(kind.version_num)).where(kind.group_id == group_id)) or 0) + 1
