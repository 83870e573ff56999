"""Executor images: admins register them; users see the ones they may use, with their templates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ymir_backend.api.deps import DB, Admin, CurrentUser, Settings
from ymir_backend.images import service
from ymir_backend.images.schemas import ImageCopy, ImageIn, ImageOut, ImageUpdate
from ymir_backend.models import ExecutorImage
from ymir_backend.schemas import DbId

router = APIRouter(prefix="/images", tags=["executor images"])


@router.get("", response_model=list[ImageOut])
def list_images(
    user: CurrentUser,
    db: DB,
    search: Annotated[str, Query(max_length=200, description="part of the name or description")] = "",
    public: Annotated[bool | None, Query(description="true: only public images; false: only private")] = None,
) -> list[ExecutorImage]:
    """Images you may use: public ones and your own (admins see all)."""
    return service.list_images(db, user, search=search, public=public)


@router.post("/{image_id}/copy", response_model=ImageOut, status_code=201)
def copy_image(image_id: DbId, body: ImageCopy, user: CurrentUser, db: DB) -> ExecutorImage:
    """Copy a public image (or one of yours) as your own private entry: it runs the same container,
    under your name for it, with templates you may change."""
    return service.copy_image(db, user, image_id, body)


@router.post("", response_model=ImageOut, status_code=201)
def register_image(body: ImageIn, admin: Admin, db: DB, settings: Settings) -> ExecutorImage:
    """Register an image with its templates (a template's presence is a capability).

    The name is a container image reference or ``local:<name>`` of a local executor the server's
    ``YMIR_LOCAL_EXECUTORS`` registers; a command line is never accepted.
    """
    return service.register_image(db, settings, admin, body)


@router.patch("/{image_id}", response_model=ImageOut)
def update_image(image_id: DbId, body: ImageUpdate, user: CurrentUser, db: DB) -> ExecutorImage:
    """Change an image's description, templates (their kinds are its capabilities) or visibility:
    admins any image, users their own copies (kept private). The name never changes."""
    return service.update_image(db, user, image_id, body)


@router.delete("/{image_id}", status_code=204)
def delete_image(image_id: DbId, user: CurrentUser, db: DB) -> None:
    """Unregister an image (admins; users their own copies). Tasks that used it keep their record."""
    service.delete_image(db, user, image_id)
