"""iterations.service: a round's steps launch through the dataset and model services (same requests,
the GPUs and image the presets ask for), bound to their step in the task's own commit; listing rounds
costs the same queries for one round as for five."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from tests.backend.services.conftest import (
    Stack,
    make_image,
    make_model,
    make_project,
    make_user,
    make_version,
)
from ymir_backend.errors import ApiError
from ymir_backend.iterations import service
from ymir_backend.iterations.schemas import IterationIn, StepRun
from ymir_backend.models import Iteration, IterationStep, Project, Task, User
from ymir_backend.services.engine import Engine


def _project_with_sets(db: Session) -> tuple[User, Project]:
    owner = make_user(db)
    project = make_project(db, owner)
    project.training_dataset_id = make_version(db, project).id
    project.validation_dataset_id = make_version(db, project).id
    project.mining_dataset_id = make_version(db, project).id
    project.initial_model_id = make_model(db, project).id
    db.commit()
    return owner, project


def _skip_to(db: Session, engine: Engine, owner: User, iteration_id: int, name: str) -> None:
    """Mark the steps before ``name`` done, as if their tasks had finished."""
    it = db.get(Iteration, iteration_id)
    assert it is not None
    for step in db.scalars(select(IterationStep).where(IterationStep.iteration_id == it.id)):
        if step.name == name:
            break
        step.state = "done"
    db.commit()


def _step(db: Session, iteration_id: int, name: str) -> IterationStep:
    step = db.scalar(
        select(IterationStep).where(IterationStep.iteration_id == iteration_id, IterationStep.name == name)
    )
    assert step is not None
    return step


def test_the_training_step_runs_on_the_gpus_and_image_its_presets_name(
    db: Session, engine: Engine, stack: Stack
) -> None:
    owner, project = _project_with_sets(db)
    image = make_image(db, capabilities=("training",))
    it = service.start_round(db, user=owner, project_id=project.id, body=IterationIn())
    _skip_to(db, engine, owner, it.id, "training")

    presets = {"gpu_count": 2, "image_id": image.id, "config": {"epochs": 1}}
    task = service.run_step(
        db, engine, user=owner, iteration_id=it.id, name="training", body=StepRun(presets=presets)
    )

    assert isinstance(task, Task)
    req = task.request
    assert (req["kind"], req["gpu_count"], req["executor"], req["config"]) == (
        "train",
        2,
        image.name,
        {"epochs": 1},
    )
    assert req["class_names"] == ["cat"] and req["pretrained"] is not None
    with stack.database.sessions() as fresh:  # what was committed, read by another session
        step = _step(fresh, it.id, "training")
        assert (step.state, step.task_id) == ("running", task.id)
        assert step.output_model_id is not None
        assert fresh.get(Iteration, it.id).result_model_id == step.output_model_id  # type: ignore[union-attr]


def test_the_mining_step_runs_on_the_gpus_its_presets_name(db: Session, engine: Engine) -> None:
    owner, project = _project_with_sets(db)
    it = service.start_round(
        db, user=owner, project_id=project.id, body=IterationIn(presets={"mining": {"topk": 3}})
    )
    _skip_to(db, engine, owner, it.id, "mining")

    task = service.run_step(
        db, engine, user=owner, iteration_id=it.id, name="mining", body=StepRun(presets={"gpu_count": 1})
    )

    assert isinstance(task, Task)
    assert (task.request["kind"], task.request["gpu_count"], task.request["topk"]) == ("mining", 1, 3)
    assert task.request["executor"] == ""  # the built-in executor
    step = _step(db, it.id, "mining")
    assert step.task_id == task.id and step.output_dataset_id is not None


def test_the_label_step_in_label_studio_labels_the_mined_images(db: Session, engine: Engine) -> None:
    owner, project = _project_with_sets(db)
    it = service.start_round(db, user=owner, project_id=project.id, body=IterationIn())
    _skip_to(db, engine, owner, it.id, "label")
    mined = make_version(db, project)
    _step(db, it.id, "mining").output_dataset_id = mined.id
    db.commit()

    presets = {"label_studio": True, "annotators": ["a@example.com"], "ignored": 1}
    task = service.run_step(
        db, engine, user=owner, iteration_id=it.id, name="label", body=StepRun(presets=presets)
    )

    assert isinstance(task, Task)
    assert (task.request["kind"], task.request["src_rev"]) == ("label", mined.rev)
    assert task.request["annotators"] == ["a@example.com"]
    step = _step(db, it.id, "label")
    assert (step.task_id, step.state) == (task.id, "running") and step.output_dataset_id is not None


@pytest.mark.parametrize("value", [-1, 1.5, "2", True])
def test_a_bad_gpu_count_is_refused_naming_the_preset(db: Session, engine: Engine, value: Any) -> None:
    owner, project = _project_with_sets(db)
    it = service.start_round(db, user=owner, project_id=project.id, body=IterationIn())
    with pytest.raises(ApiError) as refused:
        service.run_step(
            db,
            engine,
            user=owner,
            iteration_id=it.id,
            name="prepare_mining",
            body=StepRun(presets={"gpu_count": value}),
        )
    assert (refused.value.status, refused.value.code) == (422, "invalid_gpu_count")
    assert "presets.gpu_count" in refused.value.detail


def test_a_step_waits_for_the_ones_before_it(db: Session, engine: Engine) -> None:
    owner, project = _project_with_sets(db)
    it = service.start_round(db, user=owner, project_id=project.id, body=IterationIn())
    with pytest.raises(ApiError) as refused:
        service.run_step(db, engine, user=owner, iteration_id=it.id, name="training", body=StepRun())
    assert (refused.value.status, refused.value.code) == (409, "step_out_of_order")


def test_a_stranger_cannot_start_a_round(db: Session) -> None:
    _, project = _project_with_sets(db)
    with pytest.raises(ApiError) as refused:
        service.start_round(db, user=make_user(db), project_id=project.id, body=IterationIn())
    assert (refused.value.status, refused.value.code) == (404, "project_not_found")


@contextmanager
def _statements(stack: Stack) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(stack.database.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(stack.database.engine, "before_cursor_execute", count)


def _rounds(db: Session, owner: User, project: Project, n: int) -> None:
    for _ in range(n):
        it = service.start_round(db, user=owner, project_id=project.id, body=IterationIn())
        row = db.get(Iteration, it.id)
        assert row is not None
        row.state = "done"
        row.result_model_id = make_model(db, project).id
        db.commit()


def test_listing_rounds_costs_the_same_queries_for_one_round_as_for_five(db: Session, stack: Stack) -> None:
    counts = {}
    for n in (1, 5):
        owner, project = _project_with_sets(db)
        _rounds(db, owner, project, n)
        db.expire_all()  # nothing answered from the session's identity map
        with _statements(stack) as seen:
            rounds = service.list_rounds(db, owner, project.id)
        assert len(rounds) == n and all(len(r.steps) == 5 for r in rounds)
        assert rounds[-1].summary["map50_95"] == 0.5
        counts[n] = len(seen)
    assert counts[1] == counts[5], counts
    assert counts[5] <= 8, counts
