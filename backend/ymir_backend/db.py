"""The database engine and sessions (PostgreSQL in deployments, SQLite by default)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import anyio.to_thread
import psycopg
from sqlalchemy import Compiled, DateTime, Dialect, Engine, Select, TypeDecorator, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Base of every ORM model."""


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that always comes back time-zone aware, in UTC. PostgreSQL keeps the zone itself;
    SQLite stores text without one, so naive values read from it are UTC by construction."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL, foreign keys and a busy timeout so the API and monitor can share it."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=30)


class Database:
    """Engine + session factory of one app instance."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.reader = AsyncReader(self.engine) if self.engine.dialect.name == "postgresql" else None

    async def read_one(self, statement: Select[Any], params: dict[str, Any]) -> Sequence[Any] | None:
        """The first row of a read-only ``statement``, for the hot paths of async routes: on PostgreSQL
        without a thread and without blocking the event loop; on SQLite in the thread pool."""
        if self.reader is not None:
            return await self.reader.read_one(statement, params)
        return await anyio.to_thread.run_sync(self._read_one, statement, params)

    def _read_one(self, statement: Select[Any], params: dict[str, Any]) -> Sequence[Any] | None:
        with self.engine.connect() as conn:
            return conn.execute(statement, params).first()

    def session(self) -> Iterator[Session]:
        """A session for one request (FastAPI dependency)."""
        with self.sessions() as s:
            yield s


class AsyncReader:
    r"""Autocommit psycopg ``AsyncConnection``\ s for hot read-only queries on PostgreSQL (up to
    ``size`` per event loop, kept open). A query is one round trip (no ping, BEGIN or ROLLBACK) and the
    event loop serves other requests meanwhile. A connection that fails is dropped; a query that fails
    on a kept connection the server closed (restart, idle timeout) runs once more on a new one, which
    is what ``pool_pre_ping`` gives the other routes, without the extra round trip."""

    def __init__(self, engine: Engine, size: int = 8) -> None:
        self.engine = engine
        self.size = size
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        self._connect_args = (cargs, {**cparams, "autocommit": True})
        self._compiled: dict[Select[Any], Compiled] = {}
        self._idle: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[psycopg.AsyncConnection[Any]]]
        self._idle = weakref.WeakKeyDictionary()
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._slots = weakref.WeakKeyDictionary()

    def _sql(self, statement: Select[Any], params: dict[str, Any]) -> tuple[str, Any]:
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = statement.compile(dialect=self.engine.dialect)
        return str(compiled), compiled.construct_params(params)

    async def read_one(self, statement: Select[Any], params: dict[str, Any]) -> Sequence[Any] | None:
        """The first row of ``statement`` (plain values: the columns' Python types are not applied)."""
        sql, values = self._sql(statement, params)
        loop = asyncio.get_running_loop()
        idle = self._idle.setdefault(loop, [])
        slots = self._slots.setdefault(loop, asyncio.Semaphore(self.size))
        async with slots:
            for attempt in (1, 2):
                conn = idle.pop() if idle and attempt == 1 else None  # the retry: a new connection
                fresh = conn is None
                if conn is None:
                    cargs, cparams = self._connect_args
                    conn = await psycopg.AsyncConnection.connect(*cargs, **cparams)
                try:
                    cur = await conn.execute(sql, values)
                    row = await cur.fetchone()
                except BaseException as e:
                    with contextlib.suppress(Exception):
                        await conn.close()
                    if fresh or attempt == 2 or not isinstance(e, psycopg.OperationalError):
                        raise
                    continue
                idle.append(conn)
                return row
        return None  # not reached
