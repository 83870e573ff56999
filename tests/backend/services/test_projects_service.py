"""projects.service: classes must be labels, sets must be the project's own, only owners share."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mir.store.repo import Repo
from tests.backend.services.conftest import add_member, make_model, make_project, make_user, make_version
from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError
from ymir_backend.models import Label, Project, ProjectMember
from ymir_backend.projects import service
from ymir_backend.projects.schemas import MemberIn, ProjectIn, ProjectUpdate


def test_a_new_project_gets_its_repository_with_the_owners_labels(
    db: Session, settings: BackendSettings
) -> None:
    owner = make_user(db)
    db.add(Label(user_id=owner.id, name="bike", aliases=["bicycle"]))
    db.commit()

    project = service.create_project(
        db, settings, owner, ProjectIn(name="roads", training_classes=["bicycle"])
    )

    assert project.training_classes == ["bike"]  # the alias resolved to its label
    labels = Repo(settings.root / project.repo).labels()
    assert labels.id_of("bike") is not None and labels.id_of("bicycle") == labels.id_of("bike")


def test_an_unknown_class_is_refused_and_nothing_is_kept(db: Session, settings: BackendSettings) -> None:
    owner = make_user(db)
    before = db.scalar(select(func.count()).select_from(Project))
    with pytest.raises(ApiError) as refused:
        service.create_project(db, settings, owner, ProjectIn(name="x", training_classes=["zebra"]))
    assert (refused.value.status, refused.value.code) == (422, "unknown_class")
    assert (
        "'zebra' is not among your labels" in refused.value.detail
        and "POST /api/v1/labels" in refused.value.fix
    )
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Project)) == before


def test_sets_and_models_must_be_the_projects_own(db: Session, settings: BackendSettings) -> None:
    owner = make_user(db)
    project, other = make_project(db, owner), make_project(db, owner)
    mine, foreign = make_version(db, project), make_version(db, other)

    with pytest.raises(ApiError) as refused:
        service.update_project(db, settings, owner, project.id, ProjectUpdate(training_dataset_id=foreign.id))
    assert (refused.value.status, refused.value.code) == (400, "not_in_project")
    with pytest.raises(ApiError) as model_refused:
        service.update_project(
            db, settings, owner, project.id, ProjectUpdate(initial_model_id=make_model(db, other).id)
        )
    assert model_refused.value.code == "not_in_project"

    db.rollback()
    changed = service.update_project(
        db, settings, owner, project.id, ProjectUpdate(training_dataset_id=mine.id)
    )
    assert changed.training_dataset_id == mine.id


def test_editors_change_settings_but_only_owners_share_and_delete(
    db: Session, settings: BackendSettings
) -> None:
    owner, editor, viewer, newcomer = make_user(db), make_user(db), make_user(db), make_user(db)
    project = make_project(db, owner)
    add_member(db, project, editor, "editor")
    add_member(db, project, viewer, "viewer")

    assert (
        service.update_project(db, settings, editor, project.id, ProjectUpdate(description="d")).description
        == "d"
    )
    with pytest.raises(ApiError) as viewer_refused:
        service.update_project(db, settings, viewer, project.id, ProjectUpdate(description="v"))
    assert viewer_refused.value.status == 403
    with pytest.raises(ApiError) as share_refused:
        service.share(db, editor, project.id, MemberIn(email=newcomer.email, role="viewer"))
    assert (
        share_refused.value.status == 403
        and share_refused.value.detail == "only the owner may share a project"
    )
    with pytest.raises(ApiError) as delete_refused:
        service.delete_project(db, editor, project.id)
    assert delete_refused.value.detail == "only the owner may delete a project"

    service.share(db, owner, project.id, MemberIn(email=newcomer.email.upper(), role="editor"))
    member = db.scalar(select(ProjectMember).where(ProjectMember.user_id == newcomer.id))
    assert member is not None and member.role == "editor"
    service.unshare(db, newcomer, project.id, newcomer.id)  # a member may leave
    assert db.scalar(select(ProjectMember).where(ProjectMember.user_id == newcomer.id)) is None
    with pytest.raises(ApiError) as gone:
        service.get_project(db, newcomer, project.id)
    assert gone.value.status == 404
