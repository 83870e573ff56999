"""Each project's mir repository (``repos/project-<id>`` in the workplace), read only: the engine writes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from mir.store.repo import Repo
from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError
from ymir_backend.models import Label, Project
from ymir_controller.protocol import LabelSpec


def repo_path(settings: BackendSettings, project: Project) -> Path:
    """Absolute path of the project's repository."""
    return settings.root / project.repo


def project_labels(db: Session, project: Project) -> list[LabelSpec]:
    """The project's classes as the engine takes them with every request (the owner's labels, oldest
    first, so class ids stay stable across the project's versions). The engine creates the repository
    and adds them to its label file before the task runs: the API never writes a repository."""
    rows = db.scalars(select(Label).where(Label.user_id == project.owner_id).order_by(Label.id))
    return [LabelSpec(name=label.name, aliases=list(label.aliases)) for label in rows]


def check_labels_fit(settings: BackendSettings, project: Project, labels: list[LabelSpec]) -> None:
    """Refuse labels the project's repository could not take (an alias naming a class of its own there),
    reading the label file only: what the engine's next task would fail on, told now.

    Raises:
        InvalidLabelError: naming the label or alias and the fix (the API answers 400).
    """
    root = repo_path(settings, project)
    if not (root / ".mir").is_dir():
        return  # made, with these labels, by the project's first task
    current = Repo(root).labels()
    for spec in labels:
        current.add(spec.name, spec.aliases)  # in memory only


def adopt_classes(db: Session, user_id: int, names: list[str]) -> list[str]:
    """Make every class a dataset holds one of the user's labels (an import with strategy ``add``
    creates classes in the repository; the label list is the one place users see and pick classes).
    Returns the names added."""
    known: set[str] = set()
    for label in db.scalars(select(Label).where(Label.user_id == user_id)):
        known |= {label.name, *label.aliases}
    added = []
    for name in names:
        key = name.strip().lower()
        if key and key not in known:
            db.add(Label(user_id=user_id, name=key, aliases=[]))
            known.add(key)
            added.append(key)
    return added


def resolve_classes(db: Session, user_id: int, names: list[str], *, field: str) -> list[str]:
    """The label names for ``names`` (a name or an alias of one of the user's labels).

    Raises:
        ApiError: 422 naming the first unknown class and how to add it.
    """
    lookup: dict[str, str] = {}
    for label in db.scalars(select(Label).where(Label.user_id == user_id)):
        lookup[label.name] = label.name
        lookup.update(dict.fromkeys(label.aliases, label.name))
    unknown = [n for n in names if n not in lookup]
    if unknown:
        raise ApiError(
            422,
            "unknown_class",
            f"{field}: {', '.join(repr(n) for n in unknown)} {'is' if len(unknown) == 1 else 'are'} not "
            "among your labels",
            fix=f"add {'it' if len(unknown) == 1 else 'them'} first with POST /api/v1/labels "
            '({"name": ...}), or import a dataset holding it with unknown_types_strategy "add"',
        )
    return list(dict.fromkeys(lookup[n] for n in names))
