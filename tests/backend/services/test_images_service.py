"""images.service: which image a task runs, who may use, copy and remove images."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.backend.services.conftest import make_image, make_user
from ymir_backend.errors import ApiError
from ymir_backend.images import service
from ymir_backend.images.schemas import ImageCopy
from ymir_backend.models.users import Role


def test_no_image_means_the_builtin_executor(db: Session) -> None:
    image = service.usable(db, make_user(db), None, "training")
    assert image.name == "ymir-executor" and service.executor_of(image) == ""


@pytest.mark.parametrize("image_id", [0, -3, "7", True, 2**40])
def test_what_is_no_image_id_names_no_image(db: Session, image_id: object) -> None:
    """An iteration step's presets may carry anything as ``image_id``."""
    with pytest.raises(ApiError) as refused:
        service.usable(db, make_user(db), image_id, "mining")
    assert (refused.value.status, refused.value.code) == (404, "image_not_found")


def test_a_copy_runs_the_original_under_its_own_name(db: Session) -> None:
    user = make_user(db)
    original = make_image(db, capabilities=("training", "mining"))
    body = ImageCopy(name=f"mine-{original.id}", description=None, templates={"mining": {"topk": 5}})
    copy = service.copy_image(db, user, original.id, body)
    assert (copy.owner_id, copy.is_public, copy.capabilities) == (user.id, False, ["mining"])
    assert service.executor_of(copy) == original.name  # a task of the copy runs the original's container
    assert service.usable(db, user, copy.id, "mining").id == copy.id
    with pytest.raises(ApiError) as cannot:
        service.usable(db, user, copy.id, "training")
    assert cannot.value.code == "image_cannot"
    with pytest.raises(ApiError) as hidden:
        service.usable(db, make_user(db), copy.id, "mining")  # a private copy is its owner's only
    assert hidden.value.status == 404
    admin = make_user(db, role=Role.ADMIN)
    assert service.usable(db, admin, copy.id, "mining").id == copy.id


def test_users_remove_their_copies_but_not_registered_images(db: Session) -> None:
    user = make_user(db)
    public = make_image(db, capabilities=("infer",))
    with pytest.raises(ApiError) as refused:
        service.delete_image(db, user, public.id)
    assert (refused.value.status, refused.value.code) == (403, "forbidden")
    copy = service.copy_image(
        db, user, public.id, ImageCopy(name=f"c-{public.id}", description="", templates=None)
    )
    service.delete_image(db, user, copy.id)
    with pytest.raises(ApiError) as builtin:
        service.delete_image(db, make_user(db, role=Role.ADMIN), service.usable(db, user, None, "infer").id)
    assert builtin.value.code == "builtin_image"
