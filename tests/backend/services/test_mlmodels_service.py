"""mlmodels.service: training, mining and inference requests carry the image and GPUs asked for."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.backend.services.conftest import (
    add_member,
    make_image,
    make_model,
    make_project,
    make_user,
    make_version,
)
from ymir_backend.errors import ApiError
from ymir_backend.mlmodels import service
from ymir_backend.mlmodels.schemas import InferIn, MiningIn, TrainIn
from ymir_backend.models import DatasetGroup, DatasetVersion, ModelVersion
from ymir_backend.services.engine import Engine


def _train(training: int, validation: int, **fields: object) -> TrainIn:
    return TrainIn.model_validate(
        {"training_dataset_id": training, "validation_dataset_id": validation, **fields}
    )


def test_train_request_carries_gpu_count_image_and_pretrained_model(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project = make_project(db, owner, classes=("cat", "dog"))
    trn, val = make_version(db, project), make_version(db, project)
    image = make_image(db, capabilities=("training",))
    base = make_model(db, project)

    body = _train(
        trn.id, val.id, image_id=image.id, gpu_count=2, pretrained_model_id=base.id, config={"epochs": 3}
    )
    task = service.train(db, engine, user=owner, project_id=project.id, body=body)

    req = task.request
    assert (req["kind"], req["gpu_count"], req["executor"]) == ("train", 2, image.name)
    assert req["src_revs"] == f"tr:{trn.rev};va:{val.rev}"
    assert req["pretrained"] == f"{base.model_hash}@best"
    assert req["class_names"] == ["cat", "dog"] and req["config"] == {"epochs": 3}
    (mv,) = db.scalars(select(ModelVersion).where(ModelVersion.task_id == task.id))
    assert mv.state == "pending" and mv.training_dataset_id == trn.id
    assert req["dst_rev"] == f"training-{mv.group_id}@{task.id}"


def test_the_builtin_executor_is_named_by_an_empty_executor(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project = make_project(db, owner)
    trn, val = make_version(db, project), make_version(db, project)
    task = service.train(db, engine, user=owner, project_id=project.id, body=_train(trn.id, val.id))
    assert (task.request["executor"], task.request["gpu_count"], task.request["pretrained"]) == ("", 0, None)


def test_an_image_that_cannot_train_is_refused(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project = make_project(db, owner)
    trn, val = make_version(db, project), make_version(db, project)
    miner = make_image(db, capabilities=("mining",))
    with pytest.raises(ApiError) as refused:
        service.train(
            db, engine, user=owner, project_id=project.id, body=_train(trn.id, val.id, image_id=miner.id)
        )
    assert (refused.value.status, refused.value.code) == (400, "image_cannot")
    assert "cannot do training (it can: mining)" in refused.value.detail


def test_another_users_private_image_does_not_exist(db: Session, engine: Engine) -> None:
    owner, other = make_user(db), make_user(db)
    project = make_project(db, owner)
    trn, val = make_version(db, project), make_version(db, project)
    private = make_image(db, capabilities=("training",), owner=other)
    with pytest.raises(ApiError) as refused:
        service.train(
            db, engine, user=owner, project_id=project.id, body=_train(trn.id, val.id, image_id=private.id)
        )
    assert (refused.value.status, refused.value.code) == (404, "image_not_found")


def test_viewers_cannot_train(db: Session, engine: Engine) -> None:
    owner, viewer = make_user(db), make_user(db)
    project = make_project(db, owner)
    add_member(db, project, viewer, "viewer")
    trn, val = make_version(db, project), make_version(db, project)
    with pytest.raises(ApiError) as refused:
        service.train(db, engine, user=viewer, project_id=project.id, body=_train(trn.id, val.id))
    assert refused.value.status == 403


def test_mining_request_and_its_output_version(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project = make_project(db, owner)
    src = make_version(db, project)
    mv = make_model(db, project)
    image = make_image(db, capabilities=("mining",))
    body = MiningIn.model_validate(
        {"dataset_id": src.id, "model_id": mv.id, "topk": 7, "image_id": image.id, "gpu_count": 1}
    )

    task = service.mine(db, engine, user=owner, project_id=project.id, body=body)

    req = task.request
    assert (req["topk"], req["gpu_count"], req["executor"]) == (7, 1, image.name)
    assert (req["src_revs"], req["model"]) == (src.rev, f"{mv.model_hash}@best")
    (out,) = db.scalars(select(DatasetVersion).where(DatasetVersion.task_id == task.id))
    assert out.source_ids == [src.id] and out.rev == req["dst_rev"] == f"dataset-{out.group_id}@{task.id}"
    assert db.get(DatasetGroup, out.group_id).name == "mined"  # type: ignore[union-attr]


def test_a_model_still_training_cannot_infer(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project = make_project(db, owner)
    src = make_version(db, project)
    training = make_model(db, project, state="pending")
    body = InferIn.model_validate({"dataset_id": src.id, "model_id": training.id})
    with pytest.raises(ApiError) as refused:
        service.infer(db, engine, user=owner, project_id=project.id, body=body)
    assert (refused.value.status, refused.value.code) == (409, "model_not_ready")
