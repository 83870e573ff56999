"""The Alembic migrations build exactly the schema the ORM models declare, on PostgreSQL and SQLite.

Every schema change must be a migration (DESIGN §5): a column added to a model without one works in
tests that create tables from the models but breaks every existing installation at its next start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import ymir_backend.models  # noqa: F401 - registers every table on Base.metadata
from tests.backend.conftest import _drop, _pg_database
from ymir_backend.db import Base
from ymir_backend.migrate import upgrade


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    url = _pg_database()
    try:
        yield url
    finally:
        _drop(url)


def test_migrations_match_the_models(db_url: str) -> None:
    upgrade(db_url)
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"the models and the migrations differ; add a migration for: {diff}"
