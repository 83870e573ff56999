"""labels.service: a name or alias has one owner, names never change, labels in use stay."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.backend.services.conftest import make_project, make_user
from ymir_backend.errors import ApiError
from ymir_backend.labels import service
from ymir_backend.labels.schemas import LabelIn, LabelUpdate
from ymir_backend.models import Label


def test_a_name_or_alias_has_one_label(db: Session) -> None:
    user = make_user(db)
    bike = service.create_label(db, user, LabelIn(name="bike", aliases=["bicycle"]))
    with pytest.raises(ApiError) as refused:
        service.create_label(db, user, LabelIn(name="cycle", aliases=["bicycle"]))
    assert (refused.value.status, refused.value.code) == (409, "label_conflict")
    assert "'bicycle' already names label 'bike'" in refused.value.detail
    other = make_user(db)  # labels are per user: another may use the name
    assert service.create_label(db, other, LabelIn(name="bicycle")).user_id == other.id
    assert [label.name for label in service.list_labels(db, user)] == [bike.name]


def test_aliases_are_added_and_names_never_change(db: Session) -> None:
    user = make_user(db)
    car = service.create_label(db, user, LabelIn(name="car", aliases=["auto"]))
    updated = service.update_label(db, user, car.id, LabelUpdate(name="car", aliases=["automobile"]))
    assert updated.aliases == ["auto", "automobile"]
    with pytest.raises(ApiError) as refused:
        service.update_label(db, user, car.id, LabelUpdate(name="vehicle"))
    assert (refused.value.status, refused.value.code) == (400, "rename_forbidden")
    with pytest.raises(ApiError) as hidden:
        service.update_label(db, make_user(db), car.id, LabelUpdate(aliases=["x"]))
    assert (hidden.value.status, hidden.value.code) == (404, "label_not_found")


def test_a_label_in_use_is_kept(db: Session) -> None:
    user = make_user(db)
    project = make_project(db, user, classes=("cat",))
    cat = db.query(Label).filter_by(user_id=user.id, name="cat").one()
    with pytest.raises(ApiError) as refused:
        service.delete_label(db, user, cat.id)
    assert (refused.value.status, refused.value.code) == (409, "label_in_use")
    assert f"project {project.id}" in refused.value.detail
    spare = service.create_label(db, user, LabelIn(name="spare"))
    service.delete_label(db, user, spare.id)
    assert db.get(Label, spare.id) is None
