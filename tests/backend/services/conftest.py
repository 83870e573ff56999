"""Services called directly, without HTTP: a real database (SQLite, migrated like a deployment) and
a real engine client on the embedded broker with no worker, so a launched task stays queued and its
request can be read back from the task row.

Each test builds what it needs with the factories below (unique e-mails), so any test runs alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ymir_backend.config import BackendSettings
from ymir_backend.db import Database
from ymir_backend.main import bootstrap
from ymir_backend.migrate import upgrade
from ymir_backend.models import (
    DatasetGroup,
    DatasetVersion,
    ExecutorImage,
    Label,
    ModelGroup,
    ModelVersion,
    Project,
    ProjectMember,
    User,
)
from ymir_backend.models.users import Role
from ymir_backend.services.engine import Engine


@dataclass
class Stack:
    settings: BackendSettings
    database: Database
    engine: Engine


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One migrated SQLite database and engine client for every service test (each builds its own
    users and projects, so they share it safely)."""
    tmp = tmp_path_factory.mktemp("services")
    settings = BackendSettings(
        workplace=tmp,
        database_url="",
        admin_email="root@example.com",
        admin_password="root-pass-123",
        run_monitor=False,
    )
    upgrade(settings.db_url)
    database = Database(settings.db_url)
    bootstrap(database, settings)
    yield Stack(settings=settings, database=database, engine=Engine(settings))
    database.engine.dispose()


@pytest.fixture
def db(stack: Stack) -> Iterator[Session]:
    with stack.database.sessions() as session:
        yield session


@pytest.fixture
def engine(stack: Stack) -> Engine:
    return stack.engine


@pytest.fixture
def settings(stack: Stack) -> BackendSettings:
    return stack.settings


def make_user(db: Session, *, role: str = Role.USER) -> User:
    name = f"u{uuid.uuid4().hex[:10]}"
    user = User(email=f"{name}@example.com", username=name, password_hash="-", role=role)
    db.add(user)
    db.commit()
    return user


def make_project(db: Session, owner: User, *, classes: tuple[str, ...] = ("cat",)) -> Project:
    known = set(db.scalars(select(Label.name).where(Label.user_id == owner.id)))
    for name in set(classes) - known:
        db.add(Label(user_id=owner.id, name=name, aliases=[]))
    project = Project(owner_id=owner.id, name=f"p-{uuid.uuid4().hex[:6]}", training_classes=list(classes))
    db.add(project)
    db.commit()
    return project


def add_member(db: Session, project: Project, user: User, role: str) -> None:
    db.add(ProjectMember(project_id=project.id, user_id=user.id, role=role))
    db.commit()


def make_version(
    db: Session,
    project: Project,
    *,
    group: str = "",
    state: str = "ready",
    assets: int = 10,
    gt_boxes: int = 0,
    pred_boxes: int = 0,
) -> DatasetVersion:
    """A version as if a finished task had filled it."""
    g = DatasetGroup(project_id=project.id, name=group or f"g-{uuid.uuid4().hex[:6]}")
    db.add(g)
    db.flush()
    dv = DatasetVersion(
        group_id=g.id,
        project_id=project.id,
        version_num=1,
        rev=f"{g.branch}@t{uuid.uuid4().hex[:8]}",
        state=state,
        asset_count=assets,
        gt_boxes=gt_boxes,
        pred_boxes=pred_boxes,
    )
    db.add(dv)
    db.commit()
    return dv


def make_model(db: Session, project: Project, *, state: str = "ready", map50_95: float = 0.5) -> ModelVersion:
    g = ModelGroup(project_id=project.id, name=f"m-{uuid.uuid4().hex[:6]}")
    db.add(g)
    db.flush()
    mv = ModelVersion(
        group_id=g.id,
        project_id=project.id,
        version_num=1,
        state=state,
        model_hash=uuid.uuid4().hex if state == "ready" else None,
        best_stage="best" if state == "ready" else None,
        map50_95=map50_95,
        class_names=["cat"],
    )
    db.add(mv)
    db.commit()
    return mv


def make_image(db: Session, *, capabilities: tuple[str, ...], owner: User | None = None) -> ExecutorImage:
    """A registered container image that can do ``capabilities``."""
    image = ExecutorImage(
        name=f"registry.example/det-{uuid.uuid4().hex[:6]}:1",
        templates={c: {} for c in capabilities},
        capabilities=list(capabilities),
        is_public=owner is None,
        owner_id=owner.id if owner else None,
    )
    db.add(image)
    db.commit()
    return image
