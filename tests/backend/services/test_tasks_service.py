"""tasks.service: one launch for every task (row, bound versions and steps, the message queued),
cancel, retry and downloads."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.backend.services.conftest import Stack, make_project, make_user, make_version
from ymir_backend.config import BackendSettings
from ymir_backend.datasets.service import new_version
from ymir_backend.errors import ApiError
from ymir_backend.models import DatasetVersion, Label, Task, User
from ymir_backend.services.engine import Engine
from ymir_backend.tasks import service
from ymir_controller.protocol import SamplingRequest, superseded_flag


def _launch(db: Session, engine: Engine) -> tuple[Task, DatasetVersion]:
    owner = make_user(db)
    project = make_project(db, owner)
    src = make_version(db, project)
    tid = service.new_task_id()
    out = new_version(db, project, "sampled", tid, [src.id])
    req = SamplingRequest(repo=project.repo, dst_rev=out.rev, src_revs=src.rev, count=3, user=owner.email)
    task = service.launch(db, engine, user=owner, project=project, plan=service.TaskPlan(tid, req, [out]))
    return task, out


def _owner(db: Session, task: Task) -> User:
    user = db.get(User, task.user_id)
    assert user is not None
    return user


def test_launch_commits_the_task_and_its_versions_then_queues_it(
    db: Session, engine: Engine, stack: Stack
) -> None:
    task, out = _launch(db, engine)
    with stack.database.sessions() as fresh:  # committed, as a worker's answer would find it
        row = fresh.get(Task, task.id)
        assert row is not None and (row.kind, row.state) == ("sampling", "queued")
        assert row.request["count"] == 3 and row.request["dst_rev"] == out.rev
        version = fresh.get(DatasetVersion, out.id)
        assert version is not None and (version.task_id, version.state) == (task.id, "pending")
    state, progress, result = engine.read(task.id)
    assert (state, progress, result) == ("queued", None, None)


def test_cancel_asks_the_worker_and_refuses_ended_tasks(
    db: Session, engine: Engine, settings: BackendSettings
) -> None:
    task, _ = _launch(db, engine)
    owner = _owner(db, task)
    assert service.cancel(db, engine, owner, task.id).id == task.id
    assert (settings.root / ".controller" / "cancel" / task.id).exists()
    task.state, task.result_stored = "done", True
    db.commit()
    with pytest.raises(ApiError) as refused:
        service.cancel(db, engine, owner, task.id)
    assert (refused.value.status, refused.value.code) == (409, "task_finished")


def test_a_stranger_sees_no_task(db: Session, engine: Engine) -> None:
    task, _ = _launch(db, engine)
    with pytest.raises(ApiError) as hidden:
        service.get_task(db, engine, make_user(db), task.id)
    assert (hidden.value.status, hidden.value.code) == (404, "task_not_found")


def test_retry_hands_the_versions_to_a_new_task(
    db: Session, engine: Engine, settings: BackendSettings
) -> None:
    task, out = _launch(db, engine)
    owner = _owner(db, task)
    with pytest.raises(ApiError) as queued:
        service.retry(db, engine, settings, owner, task.id)
    assert (queued.value.status, queued.value.code) == (409, "task_not_retryable")

    assert {"name": "car", "aliases": ["auto"]} not in task.request["labels"]
    db.add(Label(user_id=owner.id, name="car", aliases=["auto"]))  # a labels change meanwhile
    task.state, task.result_stored = "failed", True
    out.state = "failed"
    db.commit()
    new = service.retry(db, engine, settings, owner, task.id)
    assert new.request["labels"][-1] == {"name": "car", "aliases": ["auto"]}  # the labels of now

    assert new.retry_of == task.id and new.kind == "sampling" and new.id != task.id
    assert new.request["dst_rev"] == out.rev.replace(task.id, new.id)
    db.refresh(out)
    assert (out.task_id, out.state, out.rev) == (new.id, "pending", new.request["dst_rev"])
    assert superseded_flag(settings.root, task.id).read_text() == new.id


def test_download_needs_a_finished_export(db: Session, engine: Engine, settings: BackendSettings) -> None:
    task, _ = _launch(db, engine)
    owner = _owner(db, task)
    with pytest.raises(ApiError) as refused:
        service.download_path(db, settings, owner, task.id)
    assert (refused.value.status, refused.value.code) == (409, "nothing_to_download")
    target = settings.root / "exports" / task.id / "d.zip"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"PK")
    task.state, task.result = "done", {"output": f"exports/{task.id}/d.zip"}
    db.commit()
    assert service.download_path(db, settings, owner, task.id) == target.resolve()
    task.result = {"output": "../../etc/passwd"}
    db.commit()
    with pytest.raises(ApiError) as outside:
        service.download_path(db, settings, owner, task.id)
    assert outside.value.status == 404
