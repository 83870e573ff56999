"""Each project's mir repository (``repos/project-<id>`` in the workplace) and its label file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from mir.ops import history
from mir.store.repo import Repo
from ymir_backend.config import BackendSettings
from ymir_backend.models import Label, Project


def repo_path(settings: BackendSettings, project: Project) -> Path:
    """Absolute path of the project's repository."""
    return settings.root / project.repo


def ensure_repo(settings: BackendSettings, project: Project) -> Path:
    """Create the repository on first use."""
    root = repo_path(settings, project)
    if not (root / ".mir").exists():
        history.init(root=root)
    return root


def sync_labels(db: Session, settings: BackendSettings, project: Project) -> None:
    """Copy the owner's labels (names and aliases) into the repository's label file, so imports
    resolve aliases and class ids stay stable across the project's versions."""
    root = ensure_repo(settings, project)
    known = Repo(root).labels().lookup()
    for label in db.scalars(select(Label).where(Label.user_id == project.owner_id).order_by(Label.id)):
        missing = [a for a in label.aliases if a not in known]
        if label.name not in known or missing:
            history.add_label(root=root, name=label.name, aliases=list(label.aliases))
