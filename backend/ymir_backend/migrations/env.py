"""Alembic environment: the URL comes from the caller (``ymir_backend.migrate``), the metadata from
the ORM models. One set of migrations runs on PostgreSQL and SQLite (batch mode for SQLite)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import ymir_backend.models  # noqa: F401 - registers every table
from ymir_backend.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = engine_from_config(
            config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.", poolclass=pool.NullPool
        )
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
