"""Labels: class names with aliases, per user, used across the user's projects."""

from __future__ import annotations

from fastapi import APIRouter

from ymir_backend.api.deps import DB, CurrentUser
from ymir_backend.labels import service
from ymir_backend.labels.schemas import LabelIn, LabelOut, LabelsIn, LabelUpdate
from ymir_backend.models import Label
from ymir_backend.schemas import DbId

router = APIRouter(prefix="/labels", tags=["labels"])


@router.get("", response_model=list[LabelOut])
def list_labels(user: CurrentUser, db: DB) -> list[Label]:
    """Your labels."""
    return service.list_labels(db, user)


@router.post("", response_model=LabelOut, status_code=201)
def create_label(body: LabelIn, user: CurrentUser, db: DB) -> Label:
    """Add a label (``bike`` with alias ``bicycle``: importing ``bicycle`` yields ``bike``)."""
    return service.create_label(db, user, body)


@router.post("/bulk", response_model=list[LabelOut], status_code=201)
def create_labels(body: LabelsIn, user: CurrentUser, db: DB) -> list[Label]:
    """Add up to 1,000 labels at once: all of them, or none (the first problem names its item)."""
    return service.create_labels(db, user, body)


@router.patch("/{label_id}", response_model=LabelOut)
def update_label(label_id: DbId, body: LabelUpdate, user: CurrentUser, db: DB) -> Label:
    """Add aliases to a label (a label's name never changes: versions refer to it)."""
    return service.update_label(db, user, label_id, body)


@router.delete("/{label_id}", status_code=204)
def delete_label(label_id: DbId, user: CurrentUser, db: DB) -> None:
    """Delete a label no project, dataset version or model of yours uses (409 names the first user).

    Class ids in existing repositories stay as they are: the name is only forgotten by this account,
    so a new project no longer gets it."""
    service.delete_label(db, user, label_id)
