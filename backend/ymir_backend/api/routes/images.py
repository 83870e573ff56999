"""Executor images: admins register them; users see the ones they may use, with their templates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, or_, select

from mir.executors.runtime import executor_problem
from ymir_backend.api.deps import DB, Admin, CurrentUser, Settings
from ymir_backend.errors import ApiError, not_found
from ymir_backend.models import ExecutorImage
from ymir_backend.models.users import Role
from ymir_backend.schemas import DB_INT_MAX, DbId, ImageCopy, ImageIn, ImageOut

router = APIRouter(prefix="/images", tags=["executor images"])


@router.get("", response_model=list[ImageOut])
def list_images(
    user: CurrentUser,
    db: DB,
    search: Annotated[str, Query(max_length=200, description="part of the name or description")] = "",
    public: Annotated[bool | None, Query(description="true: only public images; false: only private")] = None,
) -> list[ExecutorImage]:
    """Images you may use: public ones and your own (admins see all)."""
    q = select(ExecutorImage)
    if user.role == Role.USER:
        q = q.where(or_(ExecutorImage.is_public.is_(True), ExecutorImage.owner_id == user.id))
    if public is not None:
        q = q.where(ExecutorImage.is_public.is_(public))
    if search:
        pattern = f"%{search.lower()}%"
        q = q.where(
            or_(
                func.lower(ExecutorImage.name).like(pattern),
                func.lower(ExecutorImage.description).like(pattern),
            )
        )
    return list(db.scalars(q.order_by(ExecutorImage.id)))


@router.post("/{image_id}/copy", response_model=ImageOut, status_code=201)
def copy_image(image_id: DbId, body: ImageCopy, user: CurrentUser, db: DB) -> ExecutorImage:
    """Copy a public image (or one of yours) as your own private entry: it runs the same container,
    under your name for it, with templates you may change."""
    original = db.get(ExecutorImage, image_id)
    if original is None or (
        not original.is_public and original.owner_id != user.id and user.role == Role.USER
    ):
        raise not_found("image", image_id)
    if db.scalar(select(ExecutorImage).where(ExecutorImage.name == body.name)):
        raise ApiError(409, "image_exists", f"name: an image named {body.name!r} exists; choose another name")
    templates = original.templates if body.templates is None else body.templates
    extra = sorted(set(templates) - set(original.templates))
    if extra:
        raise ApiError(
            422,
            "invalid_request",
            f"templates: {original.name!r} has no {', '.join(extra)} template; "
            f"give only {', '.join(sorted(original.templates))}",
        )
    image = ExecutorImage(
        name=body.name,
        description=original.description if body.description is None else body.description,
        templates=templates,
        capabilities=sorted(templates),
        object_type=original.object_type,
        is_public=False,
        owner_id=user.id,
        reference=original.runs,
    )
    db.add(image)
    db.commit()
    return image


@router.post("", response_model=ImageOut, status_code=201)
def register_image(body: ImageIn, admin: Admin, db: DB, settings: Settings) -> ExecutorImage:
    """Register an image with its templates (a template's presence is a capability).

    The name is a container image reference or ``local:<name>`` of a local executor the server's
    ``YMIR_LOCAL_EXECUTORS`` registers; a command line is never accepted.
    """
    problem = executor_problem(body.name, settings.local_executors)
    if problem:
        raise ApiError(422, "invalid_executor", f"name: {problem}")
    if db.scalar(select(ExecutorImage).where(ExecutorImage.name == body.name)):
        raise ApiError(409, "image_exists", f"image {body.name!r} is already registered")
    if not body.templates:
        raise ApiError(400, "no_templates", "give at least one of the training, mining and infer templates")
    image = ExecutorImage(
        name=body.name,
        description=body.description,
        templates=body.templates,
        capabilities=sorted(body.templates),
        object_type=body.object_type,
        is_public=body.is_public,
        owner_id=admin.id,
    )
    db.add(image)
    db.commit()
    return image


@router.delete("/{image_id}", status_code=204)
def delete_image(image_id: DbId, user: CurrentUser, db: DB) -> None:
    """Unregister an image (admins; users their own copies). Tasks that used it keep their record."""
    image = db.get(ExecutorImage, image_id)
    if image is not None and user.role == Role.USER and image.owner_id != user.id:
        if not image.is_public:
            raise not_found("image", image_id)
        raise ApiError(403, "forbidden", "only admins remove registered images; users remove their copies")
    if image is None:
        raise not_found("image", image_id)
    if image.name == "ymir-executor":  # copies of it (other names) may go
        raise ApiError(400, "builtin_image", "the built-in executor cannot be removed")
    db.delete(image)
    db.commit()


def usable(db: DB, user_id: int, role: str, image_id: object, capability: str) -> ExecutorImage:
    """The image a task will run (default: the built-in executor), checked for access and capability."""
    if image_id is None:
        image = db.scalar(select(ExecutorImage).where(ExecutorImage.name == "ymir-executor"))
    elif not isinstance(image_id, int) or isinstance(image_id, bool) or not 1 <= image_id <= DB_INT_MAX:
        image = None  # an iteration step's presets may name anything
    else:
        image = db.get(ExecutorImage, image_id)
        if image is not None and not image.is_public and image.owner_id != user_id and role == Role.USER:
            image = None
    if image is None:
        raise not_found("image", image_id if image_id is not None else "ymir-executor")
    if capability not in image.capabilities:
        raise ApiError(
            400,
            "image_cannot",
            f"image {image.name!r} cannot do {capability} "
            f"(it can: {', '.join(image.capabilities) or 'nothing'})",
        )
    return image
