"""Executor images: who may use which, registering, copying and removing them, and the image a task
runs."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mir.executors.runtime import executor_problem
from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError, not_found
from ymir_backend.images.schemas import ImageCopy, ImageIn, ImageUpdate
from ymir_backend.models import ExecutorImage, User
from ymir_backend.models.users import Role
from ymir_backend.schemas import DB_INT_MAX
from ymir_backend.services.pages import search_in

BUILTIN = "ymir-executor"


def list_images(db: Session, user: User, *, search: str, public: bool | None) -> list[ExecutorImage]:
    """Images ``user`` may use: public ones and their own (admins see all)."""
    q = select(ExecutorImage)
    if user.role == Role.USER:
        q = q.where(or_(ExecutorImage.is_public.is_(True), ExecutorImage.owner_id == user.id))
    if public is not None:
        q = q.where(ExecutorImage.is_public.is_(public))
    if search:
        q = q.where(search_in(search, ExecutorImage.name, ExecutorImage.description))
    return list(db.scalars(q.order_by(ExecutorImage.id)))


def copy_image(db: Session, user: User, image_id: int, body: ImageCopy) -> ExecutorImage:
    """A private copy of a public image (or one of the user's) under a new name."""
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


def register_image(db: Session, settings: BackendSettings, admin: User, body: ImageIn) -> ExecutorImage:
    """Register an image with its templates; its name must be a container image reference or a local
    executor the server registers."""
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


def update_image(db: Session, user: User, image_id: int, body: ImageUpdate) -> ExecutorImage:
    """Change an image's description, templates or visibility (admins: any image; users: their own
    copies, which stay private). A copy keeps to the template kinds it has: it runs the same container."""
    image = db.get(ExecutorImage, image_id)
    if image is None:
        raise not_found("image", image_id)
    if user.role == Role.USER and image.owner_id != user.id:
        if not image.is_public:
            raise not_found("image", image_id)
        raise ApiError(403, "forbidden", "only admins change registered images; users change their copies")
    if body.is_public and user.role == Role.USER:
        raise ApiError(
            403,
            "forbidden",
            "is_public: only admins publish images; your copies stay private",
            loc=("body", "is_public"),
        )
    if body.templates is not None:
        extra = sorted(set(body.templates) - set(image.templates)) if image.reference else []
        if extra:
            raise ApiError(
                422,
                "invalid_request",
                f"templates: {image.name!r} is a copy and its container has no {', '.join(extra)} template; "
                f"give only {', '.join(sorted(image.templates))}",
                loc=("body", "templates"),
            )
        image.templates = body.templates
        image.capabilities = sorted(body.templates)
    if body.description is not None:
        image.description = body.description
    if body.object_type is not None:
        image.object_type = body.object_type
    if body.is_public is not None:
        image.is_public = body.is_public
    db.commit()
    return image


def delete_image(db: Session, user: User, image_id: int) -> None:
    """Unregister an image (admins; users their own copies)."""
    image = db.get(ExecutorImage, image_id)
    if image is not None and user.role == Role.USER and image.owner_id != user.id:
        if not image.is_public:
            raise not_found("image", image_id)
        raise ApiError(403, "forbidden", "only admins remove registered images; users remove their copies")
    if image is None:
        raise not_found("image", image_id)
    if image.name == BUILTIN:  # copies of it (other names) may go
        raise ApiError(400, "builtin_image", "the built-in executor cannot be removed")
    db.delete(image)
    db.commit()


def usable(db: Session, user: User, image_id: object, capability: str) -> ExecutorImage:
    """The image a task will run (default: the built-in executor), checked for access and capability.
    ``image_id`` may be anything (an iteration step's presets may name anything): what is no id is an
    image that does not exist."""
    if image_id is None:
        image = db.scalar(select(ExecutorImage).where(ExecutorImage.name == BUILTIN))
    elif not isinstance(image_id, int) or isinstance(image_id, bool) or not 1 <= image_id <= DB_INT_MAX:
        image = None
    else:
        image = db.get(ExecutorImage, image_id)
        if image is not None and not image.is_public and image.owner_id != user.id and user.role == Role.USER:
            image = None
    if image is None:
        raise not_found("image", image_id if image_id is not None else BUILTIN)
    if capability not in image.capabilities:
        raise ApiError(
            400,
            "image_cannot",
            f"image {image.name!r} cannot do {capability} "
            f"(it can: {', '.join(image.capabilities) or 'nothing'})",
        )
    return image


def executor_of(image: ExecutorImage) -> str:
    """The ``executor`` a request names: empty for our built-in executor, else the image."""
    return "" if image.runs == BUILTIN else image.runs
