"""The API against a real database (PostgreSQL or SQLite) and a real worker on the embedded broker."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.controller.conftest import Engine, local_executors, make_engine
from ymir_backend.config import BackendSettings
from ymir_backend.main import create_app

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"


def _pg_database() -> str:
    import psycopg

    name = f"ymir_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(
            "host=127.0.0.1 user=postgres dbname=postgres", autocommit=True, connect_timeout=3
        ) as c:
            c.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432 (CI needs it): {e}")
        pytest.skip("PostgreSQL is not running here")
    return PG + name


def _drop(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Api:
    """A client plus helpers to act as a given user."""

    client: TestClient
    settings: BackendSettings
    engine: Engine | None

    def login(self, email: str, password: str) -> dict[str, str]:
        r = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def signup(self, email: str, password: str = "secret-pass-1") -> dict[str, str]:
        r = self.client.post(
            "/api/v1/auth/signup",
            json={"email": email, "username": email.split("@")[0], "password": password},
        )
        assert r.status_code == 201, r.text
        return self.login(email, password)

    def wait(self, headers: dict[str, str], task: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.client.get(f"/api/v1/tasks/{task['id']}", headers=headers)
            assert r.status_code == 200, r.text
            body = r.json()
            if body["state"] in ("done", "failed", "cancelled") and body["result"] is not None:
                return body
            time.sleep(0.2)
        raise TimeoutError(task["id"])


def _api(
    tmp: Path, db_url: str, with_worker: bool, worker_env: dict[str, str] | None = None, **settings: Any
) -> Iterator[Api]:
    engine = make_engine("embedded", tmp, tmp / "gpu-locks", **(worker_env or {})) if with_worker else None
    if engine is not None:
        engine.start()
    backend = BackendSettings(
        workplace=tmp,
        database_url=db_url,
        admin_email="root@example.com",
        admin_password="root-pass-123",
        monitor_interval=0.2,
        heartbeat_seconds=1,
        login_attempts_per_minute=1000,
        local_executors=local_executors(tmp),
        **settings,
    )
    app = create_app(backend)
    try:
        with TestClient(app) as client:
            yield Api(client=client, settings=backend, engine=engine)
    finally:
        if engine is not None:
            engine.kill()  # a throw-away workplace: the warm shutdown is tested in test_engine.py


@pytest.fixture(params=["postgresql", "sqlite"], scope="module")
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A full stack: database, API, monitor and worker."""
    tmp = tmp_path_factory.mktemp(f"backend-{request.param}")
    url = _pg_database() if request.param == "postgresql" else ""
    try:
        yield from _api(tmp, url, with_worker=True)
    finally:
        if url:
            _drop(url)


@pytest.fixture
def light(tmp_path: Path) -> Iterator[Api]:
    """API and SQLite only (no worker): for permissions and input validation."""
    yield from _api(tmp_path, "", with_worker=False)


Headers = Callable[..., dict[str, str]]
