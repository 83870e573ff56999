"""datasets.service: who may make versions, the pending version written, the request sent."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.backend.services.conftest import add_member, make_project, make_user, make_version
from ymir_backend.datasets import imports, service
from ymir_backend.datasets.schemas import FilterIn, FuseIn, ImportUrl, MergeIn
from ymir_backend.errors import ApiError
from ymir_backend.models import DatasetGroup, DatasetVersion, Task
from ymir_backend.services.engine import Engine


def _count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def _merge_body(*ids: int) -> MergeIn:
    return MergeIn(group_name=None, dataset_ids=list(ids), types=["train", "val"], strategy="host")


def test_merge_writes_a_pending_version_bound_to_its_task(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project = make_project(db, owner)
    a, b = make_version(db, project, group="host"), make_version(db, project, group="guest")

    task = service.merge(db, engine, user=owner, project_id=project.id, body=_merge_body(a.id, b.id))

    assert task.kind == "merge" and task.project_id == project.id and task.user_id == owner.id
    assert task.request["src_revs"] == f"tr:{a.rev};va:{b.rev}"
    assert task.request["strategy"] == "host" and task.request["user"] == owner.email
    (out,) = db.scalars(select(DatasetVersion).where(DatasetVersion.task_id == task.id))
    assert out.state == "pending" and out.source_ids == [a.id, b.id]
    assert db.get(DatasetGroup, out.group_id).name == "host"  # type: ignore[union-attr]  # the host's group
    assert out.rev.endswith(f"@{task.id}") and task.request["dst_rev"] == out.rev


def test_viewers_and_strangers_make_nothing(db: Session, engine: Engine) -> None:
    owner, viewer, stranger = make_user(db), make_user(db), make_user(db)
    project = make_project(db, owner)
    add_member(db, project, viewer, "viewer")
    a, b = make_version(db, project), make_version(db, project)
    tasks, versions = _count(db, Task), _count(db, DatasetVersion)

    with pytest.raises(ApiError) as refused:
        service.merge(db, engine, user=viewer, project_id=project.id, body=_merge_body(a.id, b.id))
    assert refused.value.status == 403 and "not change it" in refused.value.detail
    with pytest.raises(ApiError) as hidden:
        service.merge(db, engine, user=stranger, project_id=project.id, body=_merge_body(a.id, b.id))
    assert (hidden.value.status, hidden.value.code) == (404, "project_not_found")
    db.rollback()
    assert (_count(db, Task), _count(db, DatasetVersion)) == (tasks, versions)


def test_a_version_still_being_made_is_refused(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project = make_project(db, owner)
    pending = make_version(db, project, state="pending")
    versions = _count(db, DatasetVersion)

    with pytest.raises(ApiError) as refused:
        service.filter_version(
            db,
            engine,
            user=owner,
            project_id=project.id,
            body=FilterIn(dataset_id=pending.id, include=["cat"]),
        )
    assert (refused.value.status, refused.value.code) == (409, "dataset_not_ready")
    assert f"dataset {pending.id} is pending" in refused.value.detail
    db.rollback()
    assert _count(db, DatasetVersion) == versions


def test_a_version_of_another_project_is_refused(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project, other = make_project(db, owner), make_project(db, owner)
    foreign = make_version(db, other)
    with pytest.raises(ApiError) as refused:
        service.filter_version(
            db, engine, user=owner, project_id=project.id, body=FilterIn(dataset_id=foreign.id)
        )
    assert (refused.value.status, refused.value.code) == (400, "not_in_project")


def test_plan_fuse_excludes_and_samples_in_one_request(db: Session) -> None:
    owner = make_user(db)
    project = make_project(db, owner)
    src, ex = make_version(db, project), make_version(db, project)
    spec = FuseIn(group_name=None, dataset_ids=[src.id], strategy="host", count=5, rate=None, seed=7)

    plan = service.plan_fuse(
        db, user=owner, project=project, sources=[src], excluded=[ex], group="mine", body=spec
    )

    request = plan.request.model_dump()
    assert (request["src_revs"], request["ex_src_revs"]) == (src.rev, ex.rev)
    assert (request["count"], request["seed"], request["strategy"]) == (5, 7, "host")
    (out,) = plan.versions
    assert (
        isinstance(out, DatasetVersion)
        and out.rev == f"{db.get(DatasetGroup, out.group_id).branch}@{plan.task_id}"
    )  # type: ignore[union-attr]
    db.rollback()


def test_fuse_takes_count_or_rate_not_both(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project = make_project(db, owner)
    src = make_version(db, project)
    body = FuseIn(group_name=None, dataset_ids=[src.id], strategy="host", count=5, rate=0.5, seed=0)
    with pytest.raises(ApiError) as refused:
        service.fuse(db, engine, user=owner, project_id=project.id, body=body)
    assert refused.value.status == 422 and "at most one of count and rate" in refused.value.detail


def test_url_imports_take_only_http(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project = make_project(db, owner)
    body = ImportUrl(
        group_name="g", url="file:///etc/passwd", anno_format="auto", unknown_types_strategy="add"
    )
    with pytest.raises(ApiError) as refused:
        imports.import_url(db, engine, user=owner, project_id=project.id, body=body)
    assert refused.value.status == 422 and refused.value.detail.startswith("url: only http://")


def test_evaluate_needs_ground_truth_and_predictions(db: Session, engine: Engine) -> None:
    from ymir_backend.datasets.schemas import EvaluateIn

    owner = make_user(db)
    project = make_project(db, owner)
    gt_only = make_version(db, project, gt_boxes=5)
    with pytest.raises(ApiError) as refused:
        service.evaluate(db, engine, user=owner, dataset_id=gt_only.id, body=EvaluateIn())
    assert (refused.value.status, refused.value.code) == (409, "nothing_to_evaluate")

    both = make_version(db, project, gt_boxes=5, pred_boxes=4)
    task = service.evaluate(db, engine, user=owner, dataset_id=both.id, body=EvaluateIn(iou_thr=0.7))
    assert task.kind == "evaluate" and task.request["iou_thr"] == 0.7 and task.request["src_revs"] == both.rev
