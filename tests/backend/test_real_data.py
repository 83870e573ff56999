"""Datasets of real size through HTTP on both brokers (PostgreSQL + Redis, SQLite + embedded broker),
with a real prefork worker whose mir runs its own worker pool: imports of 2,100 images by zip upload
and by server path, export and a one-epoch training of that version (the issue asked for 5,000 and
2,500 images; 2,100 tiny images pass every pool threshold of mir: 512 for import, 2,048 for
placing assets, and keep the suite fast)."""

from __future__ import annotations

import io
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bench.pool_bench import generate
from tests.backend.conftest import Api, _drop, _pg_database
from tests.controller.conftest import make_engine
from ymir_backend.config import BackendSettings
from ymir_backend.main import create_app
from ymir_backend.services import lifecycle
from ymir_controller.protocol import TrainRequest

N = 2_100


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,100 seeded 16x16 JPEGs with one VOC box each (``images/``, ``annotations/``)."""
    folder = generate(tmp_path_factory.mktemp("big") / "data", N, 16, 16)
    (folder / "index.txt").unlink()
    (folder / "complete.json").unlink()
    return folder


@pytest.fixture(scope="module")
def big_zip(big: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(big.rglob("*")):
            if p.is_file():
                zf.write(p, str(p.relative_to(big)))
    return buf.getvalue()


def stack(broker: str, tmp: Path) -> Iterator[Api]:
    """API + database + a real prefork worker on ``broker``; mir in the worker uses 2 processes."""
    engine = make_engine(broker, tmp, tmp / "gpu-locks")
    engine.env["MIR_WORKERS"] = "2"
    engine.env.pop("MIR_POOL", None)
    url = _pg_database() if broker == "redis" else ""
    engine.start()
    settings = BackendSettings(
        workplace=tmp,
        database_url=url,
        admin_email="root@example.com",
        admin_password="root-pass-123",
        monitor_interval=0.2,
        heartbeat_seconds=1,
        login_attempts_per_minute=1000,
        broker_url=engine.env.get("YMIR_BROKER_URL", ""),
        result_backend=engine.env.get("YMIR_RESULT_BACKEND", ""),
        redis_key_prefix=engine.env.get("YMIR_REDIS_KEY_PREFIX", ""),
    )
    try:
        with TestClient(create_app(settings)) as client:
            yield Api(client=client, settings=settings, engine=engine)
    finally:
        engine.stop()
        if url:
            _drop(url)


@pytest.fixture(scope="module", params=["redis", "embedded"])
def full(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from stack(request.param, tmp_path_factory.mktemp(f"real-{request.param}-{uuid.uuid4().hex[:6]}"))


def _done(api: Api, h: dict[str, str], r: Any, timeout: float = 300) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    task = api.wait(h, r.json(), timeout=timeout)
    assert task["state"] == "done", task["error"]
    return task


def _version(api: Api, h: dict[str, str], pid: int, task: dict[str, Any]) -> dict[str, Any]:
    items = api.client.get(f"/api/v1/projects/{pid}/datasets?limit=100", headers=h).json()["items"]
    return next(v for v in items if v["task_id"] == task["id"])


def test_thousands_of_images_import_export_and_train(full: Api, big: Path, big_zip: bytes) -> None:
    c = full.client
    h = full.signup(f"bulk-{uuid.uuid4().hex[:6]}@example.com")
    for name in ("cat", "dog"):  # a project's classes are labels first
        assert c.post("/api/v1/labels", headers=h, json={"name": name}).status_code == 201
    r = c.post("/api/v1/projects", headers=h, json={"name": "bulk", "training_classes": ["cat", "dog"]})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]

    t0 = time.monotonic()
    up = _done(
        full,
        h,
        c.post(
            f"/api/v1/projects/{pid}/datasets/upload",
            headers=h,
            data={"group_name": "zipped"},
            files={"file": ("big.zip", big_zip, "application/zip")},
        ),
    )
    zipped = _version(full, h, pid, up)
    assert zipped["state"] == "ready" and zipped["asset_count"] == N, zipped
    assert zipped["gt_stats"]["cat"]["boxes"] + zipped["gt_stats"]["dog"]["boxes"] == N
    upload_s = time.monotonic() - t0
    _eventually(lambda: _uploads(full) == [])  # the zip goes once its import is done

    shutil.copytree(big, full.settings.root / "sharing" / "big")
    by_path = _done(
        full,
        h,
        c.post(f"/api/v1/projects/{pid}/datasets/path", headers=h, json={"path": "big", "group_name": "p"}),
    )
    assert _version(full, h, pid, by_path)["asset_count"] == N

    exp = _done(
        full, h, c.post(f"/api/v1/datasets/{zipped['id']}/export", headers=h, json={"anno_format": "voc"})
    )
    dl = c.get(f"/api/v1/tasks/{exp['id']}/download", headers=h)
    assert dl.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(dl.content)).namelist()
    assert sum(n.endswith(".jpg") for n in names) == N and sum(n.endswith(".xml") for n in names) == N

    val = generate(full.settings.root / "sharing" / "val", 40, 16, 16, seed=9)
    (val / "index.txt").unlink()
    small = _done(
        full,
        h,
        c.post(f"/api/v1/projects/{pid}/datasets/path", headers=h, json={"path": "val", "group_name": "v"}),
    )
    # the training's data preparation (2,100 assets placed by mir's pool) in the real worker; the
    # executor is the scripted stand-in: a real model over 2,100 images costs minutes on 2 cores
    # (the HTTP training of a real model is tests/backend/test_flow.py)
    assert full.engine is not None
    val_rev = _version(full, h, pid, small)["rev"]
    trained = full.engine.client.wait(
        full.engine.client.submit(
            TrainRequest(
                repo=f"repos/project-{pid}",
                dst_rev="big-model@t1",
                src_revs=f"tr:{zipped['rev']};va:{val_rev}",
                executor="local:fake",  # registered by make_engine (YMIR_LOCAL_EXECUTORS)
                class_names=["cat", "dog"],
            )
        ),
        timeout=300,
    )
    assert trained.state == "done", trained.error
    assert trained.model is not None and trained.model.model_hash
    # no leftovers of the worker pools: every mir worker process ended with its task
    assert full.engine is not None and full.engine.proc is not None
    kids = _descendants(full.engine.proc.pid)
    assert len(kids) <= 4, kids  # the Celery main process' prefork children only (-c 3)
    print(f"upload import of {N} images: {upload_s:.1f} s")


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        out.extend(kids)
        todo.extend(kids)
    return [k for k in out if os.path.exists(f"/proc/{k}")]


def test_a_lost_then_retried_import_commits_once(full: Api, big_zip: bytes) -> None:
    """Kill the worker mid-import: the task reads ``lost``, the user retries it, and on Redis the
    original is delivered again later; only the retry commits (one version for one request)."""
    c, engine = full.client, full.engine
    assert engine is not None
    h = full.signup(f"lost-{uuid.uuid4().hex[:6]}@example.com")
    assert c.post("/api/v1/labels", headers=h, json={"name": "cat"}).status_code == 201  # classes are labels
    r = c.post("/api/v1/projects", headers=h, json={"name": "lost", "training_classes": ["cat"]})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/upload",
        headers=h,
        data={"group_name": "again"},
        files={"file": ("big.zip", big_zip, "application/zip")},
    )
    assert r.status_code == 202, r.text
    original = r.json()["id"]
    deadline = time.monotonic() + 60
    while c.get(f"/api/v1/tasks/{original}", headers=h).json()["state"] != "running":
        assert time.monotonic() < deadline, "the import never started"
        time.sleep(0.05)
    engine.kill()
    deadline = time.monotonic() + 60
    while (st := c.get(f"/api/v1/tasks/{original}", headers=h).json())["state"] != "lost":
        assert time.monotonic() < deadline, st
        time.sleep(0.3)
    retry = c.post(f"/api/v1/tasks/{original}/retry", headers=h)
    assert retry.status_code == 202, retry.text
    engine.start()
    done = full.wait(h, retry.json())
    assert done["state"] == "done", done["error"]
    if engine.broker == "redis":  # the original comes back after the visibility timeout: it must do nothing
        deadline = time.monotonic() + 90
        while (late := engine.client.status(original)).result is None:
            assert time.monotonic() < deadline, "the original was never delivered again"
            time.sleep(0.5)
        assert late.result.state == "cancelled" and "retried as" in late.result.error.message  # type: ignore[union-attr]
    from mir.store.repo import Repo

    tags = Repo(full.settings.root / f"repos/project-{pid}").refs()["tags"]
    assert [t for t in tags if t.endswith(original)] == []
    assert len([t for t in tags if t.endswith(done["id"])]) == 1
    items = c.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
    assert [(v["state"], v["asset_count"]) for v in items] == [("ready", N)]
    _eventually(lambda: _uploads(full) == [])  # the retry is done: the zip it shared is gone


def test_a_failed_import_keeps_its_upload_and_work_folder_for_a_while(full: Api) -> None:
    c = full.client
    h = full.signup(f"broken-{uuid.uuid4().hex[:6]}@example.com")
    assert c.post("/api/v1/labels", headers=h, json={"name": "cat"}).status_code == 201  # classes are labels
    r = c.post("/api/v1/projects", headers=h, json={"name": "broken", "training_classes": ["cat"]})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("images/a.jpg", b"not a jpeg")
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/upload",
        headers=h,
        data={"group_name": "broken"},
        files={"file": ("broken.zip", buf.getvalue(), "application/zip")},
    )
    assert r.status_code == 202, r.text
    task = full.wait(h, r.json())
    assert task["state"] == "failed"
    work = full.settings.root / "work" / task["id"]
    kept = _uploads(full)
    assert len(kept) == 1 and work.is_dir()  # kept for a retry, and to look at
    db = full.client.app.state.db  # type: ignore[attr-defined]
    with db.sessions() as s:
        lifecycle.sweep(s, full.settings)
        assert _uploads(full) == kept and work.is_dir()  # not yet
        hours = full.settings.keep_failed_hours
        gone = lifecycle.sweep(s, full.settings, now=time.time() + 3600 * (hours + 1))
    assert set(gone) >= {kept[0], work} and _uploads(full) == [] and not work.exists()


def _uploads(api: Api) -> list[Path]:
    folder = api.settings.root / "uploads"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _eventually(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
