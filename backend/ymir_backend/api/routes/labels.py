"""Labels: class names with aliases, per user, used across the user's projects."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from ymir_backend.api.deps import DB, CurrentUser
from ymir_backend.errors import ApiError, not_found
from ymir_backend.models import DatasetVersion, Label, ModelVersion, Project
from ymir_backend.schemas import DbId, LabelIn, LabelOut, LabelUpdate

router = APIRouter(prefix="/labels", tags=["labels"])


def _check_unique(db: DB, user_id: int, body: LabelIn, own_id: int | None = None) -> None:
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


@router.get("", response_model=list[LabelOut])
def list_labels(user: CurrentUser, db: DB) -> list[Label]:
    """Your labels."""
    return list(db.scalars(select(Label).where(Label.user_id == user.id).order_by(Label.id)))


@router.post("", response_model=LabelOut, status_code=201)
def create_label(body: LabelIn, user: CurrentUser, db: DB) -> Label:
    """Add a label (``bike`` with alias ``bicycle``: importing ``bicycle`` yields ``bike``)."""
    _check_unique(db, user.id, body)
    label = Label(user_id=user.id, name=body.name, aliases=body.aliases)
    db.add(label)
    db.commit()
    return label


@router.patch("/{label_id}", response_model=LabelOut)
def update_label(label_id: DbId, body: LabelUpdate, user: CurrentUser, db: DB) -> Label:
    """Add aliases to a label (a label's name never changes: versions refer to it)."""
    label = db.get(Label, label_id)
    if label is None or label.user_id != user.id:
        raise not_found("label", label_id)
    if body.name is not None and body.name != label.name:
        raise ApiError(
            400, "rename_forbidden", "labels cannot be renamed (versions refer to them); add an alias"
        )
    _check_unique(db, user.id, LabelIn(name=label.name, aliases=body.aliases), own_id=label.id)
    label.aliases = sorted(set(label.aliases) | set(body.aliases))
    db.commit()
    return label


@router.delete("/{label_id}", status_code=204)
def delete_label(label_id: DbId, user: CurrentUser, db: DB) -> None:
    """Delete a label no project, dataset version or model of yours uses (409 names the first user).

    Class ids in existing repositories stay as they are: the name is only forgotten by this account,
    so a new project no longer gets it."""
    label = db.get(Label, label_id)
    if label is None or label.user_id != user.id:
        raise not_found("label", label_id)
    user_of = label_users(db, user.id, label.name)
    if user_of:
        raise ApiError(
            409,
            "label_in_use",
            f"label {label.name!r} is used by {user_of}; remove it there first (or keep the label)",
        )
    db.delete(label)
    db.commit()


def label_users(db: DB, user_id: int, name: str) -> str | None:
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
