"""projects.service: classes must be labels, sets must be the project's own, only owners share."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mir.errors import InvalidLabelError
from mir.ops import history
from tests.backend.services.conftest import (
    Stack,
    add_member,
    make_model,
    make_project,
    make_user,
    make_version,
)
from ymir_backend.config import BackendSettings
from ymir_backend.datasets.service import new_version
from ymir_backend.errors import ApiError
from ymir_backend.models import Label, Project, ProjectMember, Task
from ymir_backend.projects import service
from ymir_backend.projects.schemas import MemberIn, ProjectIn, ProjectUpdate
from ymir_backend.services.engine import Engine
from ymir_backend.tasks.service import TaskPlan, launch, new_task_id
from ymir_controller.protocol import SamplingRequest


def test_a_new_project_leaves_its_repository_to_the_engine(
    db: Session, settings: BackendSettings, engine: Engine, stack: Stack
) -> None:
    owner = make_user(db)
    db.add(Label(user_id=owner.id, name="bike", aliases=["bicycle"]))
    db.commit()

    project = service.create_project(
        db, settings, owner, ProjectIn(name="roads", training_classes=["bicycle"])
    )

    assert project.training_classes == ["bike"]  # the alias resolved to its label
    assert not (settings.root / project.repo).exists()  # the API writes no repository
    # the project's first task brings the labels: the engine makes the repository with them
    tid = new_task_id()
    out = new_version(db, project, "first", tid, [])
    req = SamplingRequest(repo=project.repo, dst_rev=out.rev, src_revs="x@y", count=1)
    launch(db, engine, user=owner, project=project, plan=TaskPlan(tid, req, [out]))
    with stack.database.sessions() as fresh:
        row = fresh.get(Task, tid)
        assert row is not None and row.request["labels"] == [{"name": "bike", "aliases": ["bicycle"]}]


def test_labels_the_repository_cannot_take_are_refused_and_nothing_is_kept(
    db: Session, settings: BackendSettings
) -> None:
    owner = make_user(db)
    db.add(Label(user_id=owner.id, name="bike", aliases=[]))
    db.commit()
    project = service.create_project(db, settings, owner, ProjectIn(name="roads", training_classes=["bike"]))
    history.init(root=settings.root / project.repo)  # what the engine made, holding class "cycle"
    history.add_labels(root=settings.root / project.repo, labels=[("bike", []), ("cycle", [])])
    label = db.scalar(select(Label).where(Label.user_id == owner.id, Label.name == "bike"))
    assert label is not None
    label.aliases = ["cycle"]  # now an alias of bike, while the repository has "cycle" as a class
    with pytest.raises(InvalidLabelError, match="'cycle'"):
        service.update_project(db, settings, owner, project.id, ProjectUpdate(description="changed"))
    db.rollback()
    assert db.get(Project, project.id).description != "changed"  # type: ignore[union-attr]


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
