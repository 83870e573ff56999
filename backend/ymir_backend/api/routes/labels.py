"""Labels: class names with aliases, per user, used across the user's projects."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from ymir_backend.api.deps import DB, CurrentUser
from ymir_backend.errors import ApiError, not_found
from ymir_backend.models import Label
from ymir_backend.schemas import LabelIn, LabelOut, LabelUpdate

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
def update_label(label_id: int, body: LabelUpdate, user: CurrentUser, db: DB) -> Label:
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
