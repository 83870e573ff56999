"""Labels: class names with aliases, per user; a name or alias has one owner, a name never changes,
and a label in use is never deleted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ymir_backend.errors import ApiError, not_found
from ymir_backend.labels.schemas import LabelIn, LabelsIn, LabelUpdate
from ymir_backend.models import DatasetVersion, Label, ModelVersion, Project, User


def _check_unique(db: Session, user_id: int, body: LabelIn, own_id: int | None = None) -> None:
    names = {body.name, *body.aliases}
    for other in db.scalars(select(Label).where(Label.user_id == user_id)):
        if other.id == own_id:
            continue
        clash = names & {other.name, *other.aliases}
        if clash:
            raise ApiError(
                409,
                "label_conflict",
                f"{sorted(clash)[0]!r} already names label {other.name!r}; a name or alias has one owner",
            )


def list_labels(db: Session, user: User) -> list[Label]:
    """The user's labels."""
    return list(db.scalars(select(Label).where(Label.user_id == user.id).order_by(Label.id)))


def create_label(db: Session, user: User, body: LabelIn) -> Label:
    """Add a label whose name and aliases no other label of the user has."""
    _check_unique(db, user.id, body)
    label = Label(user_id=user.id, name=body.name, aliases=body.aliases)
    db.add(label)
    db.commit()
    return label


def create_labels(db: Session, user: User, body: LabelsIn) -> list[Label]:
    """Add several labels in one commit: a name or alias given twice, or one another label of the user
    has, refuses them all (409 naming the item), so nothing is half-added."""
    seen: dict[str, int] = {}
    for i, item in enumerate(body.labels):
        for name in (item.name, *item.aliases):
            if name in seen and seen[name] != i:
                raise ApiError(
                    409,
                    "label_conflict",
                    f"labels.{i}: {name!r} is also given by labels.{seen[name]}; "
                    "a name or alias has one owner",
                    loc=("body", "labels", i),
                )
            seen[name] = i
        try:
            _check_unique(db, user.id, item)
        except ApiError as e:
            raise ApiError(e.status, e.code, f"labels.{i}: {e.detail}", loc=("body", "labels", i)) from e
    labels = [Label(user_id=user.id, name=item.name, aliases=item.aliases) for item in body.labels]
    db.add_all(labels)
    db.commit()
    return labels


def _own(db: Session, user: User, label_id: int) -> Label:
    label = db.get(Label, label_id)
    if label is None or label.user_id != user.id:
        raise not_found("label", label_id)
    return label


def update_label(db: Session, user: User, label_id: int, body: LabelUpdate) -> Label:
    """Add aliases to a label (a label's name never changes: versions refer to it)."""
    label = _own(db, user, label_id)
    if body.name is not None and body.name != label.name:
        raise ApiError(
            400, "rename_forbidden", "labels cannot be renamed (versions refer to them); add an alias"
        )
    _check_unique(db, user.id, LabelIn(name=label.name, aliases=body.aliases), own_id=label.id)
    label.aliases = sorted(set(label.aliases) | set(body.aliases))
    db.commit()
    return label


def delete_label(db: Session, user: User, label_id: int) -> None:
    """Delete a label no project, dataset version or model of the user's uses (409 names the first)."""
    label = _own(db, user, label_id)
    user_of = label_users(db, user.id, label.name)
    if user_of:
        raise ApiError(
            409,
            "label_in_use",
            f"label {label.name!r} is used by {user_of}; remove it there first (or keep the label)",
        )
    db.delete(label)
    db.commit()


def label_users(db: Session, user_id: int, name: str) -> str | None:
    """The first project, dataset version or model of ``user_id``'s projects that uses class ``name``."""
    projects = list(
        db.scalars(select(Project).where(Project.owner_id == user_id, Project.deleted.is_(False)))
    )
    for p in projects:
        if name in (p.training_classes or []):
            return f"project {p.id} ({p.name!r}) as a training class"
    ids = [p.id for p in projects]
    for dv in db.scalars(
        select(DatasetVersion).where(DatasetVersion.project_id.in_(ids), DatasetVersion.deleted.is_(False))
    ):
        if name in (dv.gt_stats or {}) or name in (dv.pred_stats or {}):
            return f"dataset {dv.id}"
    for mv in db.scalars(
        select(ModelVersion).where(ModelVersion.project_id.in_(ids), ModelVersion.deleted.is_(False))
    ):
        if name in (mv.class_names or []):
            return f"model {mv.id}"
    return None
