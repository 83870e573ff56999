"""Datasets of the issue's sizes through HTTP on both brokers (PostgreSQL + Redis, SQLite + embedded
broker), with a real prefork worker whose mir runs its own worker pool: imports of 5,000 images by zip
upload, by URL and by server path, then export and training of a 2,500-image version: a real one-epoch
training of the smallest model on 16x16 images on the embedded broker, the data preparation and a
scripted executor on Redis. A workplace on a 12 MiB tmpfs shows a full disk through the API."""

from __future__ import annotations

import http.server
import io
import os
import shutil
import subprocess
import threading
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
from tests.mounts import tmpfs
from ymir_backend.config import BackendSettings
from ymir_backend.main import create_app
from ymir_backend.services import lifecycle
from ymir_controller.protocol import TrainRequest

N = 5_000
HALF = 2_500
WEB = "127.0.0.2"  # the workers may fetch from this internal address (make_engine's YMIR_FETCH_ALLOW)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5,000 seeded 16x16 JPEGs with one VOC box each (``images/``, ``annotations/``)."""
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


@pytest.fixture(scope="module")
def web(big_zip: bytes) -> Iterator[str]:
    """``http://127.0.0.2:<port>/big.zip`` serving the zip (a dataset on a web server)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            if self.path != "/big.zip":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(big_zip)))
            self.end_headers()
            self.wfile.write(big_zip)

    server = http.server.ThreadingHTTPServer((WEB, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{WEB}:{server.server_address[1]}/big.zip"
    server.shutdown()


TINY_TRAINING = {
    "model_size": "tiny",
    "img_size": 32,
    "epochs": 1,
    "batch_size_per_gpu": 64,
    "workers_per_gpu": 0,
    "eval_interval": 1,
    "mosaic_prob": 0.0,
    "channels_last": False,  # on the CPU it makes batch norm about three times slower
    "export_onnx": False,
}


def stack(broker: str, tmp: Path, outside: Path | None = None) -> Iterator[Api]:
    """API + database + a real prefork worker on ``broker``; mir in the worker uses 2 processes.
    ``outside``: where the worker's log and GPU locks go instead of the workplace."""
    engine = make_engine(broker, tmp, (outside or tmp) / "gpu-locks")
    if outside is not None:
        engine.log = outside / engine.log.name
    engine.env["MIR_WORKERS"] = "2"
    if broker == "redis":  # a task running longer than this is delivered again (it then waits for
        engine.env["YMIR_VISIBILITY_TIMEOUT"] = "20"  # the first): fewer copies of the long tasks here
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
        engine.kill()  # a throw-away workplace: the warm shutdown is tested in test_engine.py
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


def test_thousands_of_images_import_export_and_train(full: Api, big: Path, big_zip: bytes, web: str) -> None:
    c = full.client
    h = full.signup(f"bulk-{uuid.uuid4().hex[:6]}@example.com")
    for name in ("cat", "dog"):  # a project's classes are labels first
        assert c.post("/api/v1/labels", headers=h, json={"name": name}).status_code == 201
    r = c.post("/api/v1/projects", headers=h, json={"name": "bulk", "training_classes": ["cat", "dog"]})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    took: dict[str, float] = {}

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
    took["zip upload"] = time.monotonic() - t0
    _eventually(lambda: _uploads(full) == [])  # the zip goes once its import is done

    t0 = time.monotonic()
    by_url = _done(
        full,
        h,
        c.post(f"/api/v1/projects/{pid}/datasets/url", headers=h, json={"url": web, "group_name": "u"}),
    )
    fetched = _version(full, h, pid, by_url)
    assert fetched["asset_count"] == N and fetched["gt_stats"] == zipped["gt_stats"], fetched
    took["url"] = time.monotonic() - t0

    shutil.copytree(big, full.settings.root / "sharing" / "big")
    t0 = time.monotonic()
    by_path = _done(
        full,
        h,
        c.post(f"/api/v1/projects/{pid}/datasets/path", headers=h, json={"path": "big", "group_name": "p"}),
    )
    assert _version(full, h, pid, by_path)["asset_count"] == N
    took["server path"] = time.monotonic() - t0
    assert not (full.settings.root / "work").exists() or not any((full.settings.root / "work").iterdir())

    half = _version(
        full,
        h,
        pid,
        _done(
            full,
            h,
            c.post(
                f"/api/v1/projects/{pid}/datasets/sampling",
                headers=h,
                json={"dataset_id": zipped["id"], "count": HALF, "seed": 1},
            ),
        ),
    )
    assert half["asset_count"] == HALF, half

    t0 = time.monotonic()
    exp = _done(
        full, h, c.post(f"/api/v1/datasets/{half['id']}/export", headers=h, json={"anno_format": "voc"})
    )
    dl = c.get(f"/api/v1/tasks/{exp['id']}/download", headers=h)
    assert dl.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(dl.content)).namelist()
    assert sum(n.endswith(".jpg") for n in names) == HALF and sum(n.endswith(".xml") for n in names) == HALF
    took["export"] = time.monotonic() - t0
    db = c.app.state.db  # type: ignore[attr-defined]
    with db.sessions() as s:  # an export can be downloaded for YMIR_KEEP_EXPORT_HOURS, then it goes
        exported = full.settings.root / "exports" / exp["id"]
        assert exported not in lifecycle.sweep(s, full.settings) and exported.is_dir()
        later = time.time() + 3600 * (full.settings.keep_export_hours + 1)
        assert exported in lifecycle.sweep(s, full.settings, now=later) and not exported.exists()
    gone = c.get(f"/api/v1/tasks/{exp['id']}/download", headers=h)
    assert gone.status_code == 410 and gone.json()["code"] == "export_expired", gone.text
    assert "export it again" in gone.json()["fix"]

    val = generate(full.settings.root / "sharing" / "val", 40, 16, 16, seed=9)
    (val / "index.txt").unlink()
    small = _done(
        full,
        h,
        c.post(f"/api/v1/projects/{pid}/datasets/path", headers=h, json={"path": "val", "group_name": "v"}),
    )
    val_version = _version(full, h, pid, small)
    t0 = time.monotonic()
    assert full.engine is not None
    if full.engine.broker == "embedded":
        # a real training of the built-in executor over the 2,500 images (its data preparation places
        # them with mir's pool inside the prefork worker): one epoch of the tiny model at 32 px, about
        # 13 s of the executor on one thread (tests/conftest.py), runs on one broker only
        trained = _done(
            full,
            h,
            c.post(
                f"/api/v1/projects/{pid}/models/train",
                headers=h,
                json={
                    "training_dataset_id": half["id"],
                    "validation_dataset_id": val_version["id"],
                    "config": TINY_TRAINING,
                },
            ),
            timeout=900,
        )
        models = c.get(f"/api/v1/projects/{pid}/models", headers=h).json()["items"]
        model = next(m for m in models if m["task_id"] == trained["id"])
        assert model["state"] == "ready" and model["model_hash"], model
        assert c.get(f"/api/v1/models/{model['id']}/stages", headers=h).json()
        evaluation = c.get(f"/api/v1/models/{model['id']}/evaluation", headers=h).json()
        assert set(evaluation["per_class"]) == {"cat", "dog"}, evaluation  # evaluated on the 40 val images
    else:
        # on Redis: the same data preparation of the 2,500 images in the prefork worker, then the
        # scripted stand-in executor
        result = full.engine.client.wait(
            full.engine.client.submit(
                TrainRequest(
                    repo=f"repos/project-{pid}",
                    dst_rev="big-model@t1",
                    src_revs=f"tr:{half['rev']};va:{val_version['rev']}",
                    executor="local:fake",  # registered by make_engine (YMIR_LOCAL_EXECUTORS)
                    class_names=["cat", "dog"],
                )
            ),
            timeout=300,
        )
        assert result.state == "done", result.error
        assert result.model is not None and result.model.model_hash
    took["training"] = time.monotonic() - t0
    # no leftovers of the worker pools: every mir worker process ended with its task
    assert full.engine is not None and full.engine.proc is not None
    kids = _descendants(full.engine.proc.pid)
    assert len(kids) <= 4, kids  # the Celery main process' prefork children only (-c 3)
    print(", ".join(f"{k}: {v:.1f} s" for k, v in took.items()))


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


# --- a workplace on a small disk ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """PostgreSQL + Redis with the workplace on a 12 MiB tmpfs (the worker's log outside it)."""
    base = tmp_path_factory.mktemp("small-disk")
    with tmpfs(base / "ws", "12m") as ws:
        yield from stack("redis", ws, outside=base)


class _Flood(http.server.BaseHTTPRequestHandler):
    """A web server sending a 40 MB zip without announcing its size (chunked)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = b"PK" + b"\0" * (256 * 1024 - 2)
        try:
            for _ in range(160):
                self.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            return  # the worker hung up


def test_a_full_disk_fails_imports_clearly_and_the_api_stays_up(small: Api) -> None:
    c, root = small.client, small.settings.root
    h = small.signup(f"full-{uuid.uuid4().hex[:6]}@example.com")
    assert c.post("/api/v1/labels", headers=h, json={"name": "cat"}).status_code == 201
    assert c.post("/api/v1/labels", headers=h, json={"name": "dog"}).status_code == 201
    r = c.post("/api/v1/projects", headers=h, json={"name": "small", "training_classes": ["cat", "dog"]})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    few = _done(small, h, _upload(c, h, pid, _zip_of(generate(root.parent / "few", 20, 16, 16)), "few"))
    first = _version(small, h, pid, few)
    asset = c.get(f"/api/v1/datasets/{first['id']}/assets?limit=1", headers=h).json()["items"][0]

    # 1. the upload fits, its 2,000 images stored once more do not: refused before anything is written
    many = _zip_of(generate(root.parent / "many", 2_000, 16, 16, seed=4))
    r = _upload(c, h, pid, many, "many")
    refused = small.wait(h, r.json())
    assert refused["state"] == "failed", refused
    message = refused["error"]["message"]
    assert message.startswith("not enough space: unpacking the annotations and storing 2000 images"), message
    assert " MB free" in message and "free some space" in refused["error"]["fix"]
    assert not (root / "work" / refused["id"]).exists()
    _eventually(lambda: len(_uploads(small)) == 1)  # the refused one's, kept for a retry

    # 2. a download whose size nobody announced fills the disk: the task says so and cleans up
    server = http.server.ThreadingHTTPServer((WEB, 0), _Flood)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://{WEB}:{server.server_address[1]}/flood.zip"
        r = c.post(f"/api/v1/projects/{pid}/datasets/url", headers=h, json={"url": url, "group_name": "u"})
        assert r.status_code == 202, r.text
        flooded = small.wait(h, r.json(), timeout=120)
    finally:
        server.shutdown()
    assert flooded["state"] == "failed", flooded
    assert flooded["error"]["message"].startswith("disk full at the workplace, free "), flooded["error"]
    assert "retry" in flooded["error"]["fix"]
    assert not (root / "work" / flooded["id"]).exists()  # the partial download is gone

    # 3. while the disk is full to the last byte, the API answers reads (and refuses writes clearly)
    ballast = root / "ballast"
    with open(ballast, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    try:
        assert shutil.disk_usage(root).free < 65536
        for path in (
            f"/api/v1/tasks/{flooded['id']}",
            f"/api/v1/projects/{pid}/datasets",
            f"/api/v1/datasets/{first['id']}/assets?limit=5",
            f"/api/v1/datasets/{first['id']}/assets/{asset['asset_id']}/thumbnail?size=32",
        ):
            r = c.get(path, headers=h)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
        # a write of the API's own (it writes no repository: a new project touches only the database)
        r = c.post(
            f"/api/v1/projects/{pid}/datasets/upload",
            headers=h,
            data={"group_name": "more"},
            files={"file": ("more.zip", b"PK" + b"\0" * 200_000, "application/zip")},
        )
        assert r.status_code == 507 and r.json()["code"] == "disk_full", r.text  # not a 500
        assert "GB free" in r.json()["detail"], r.text
    finally:
        ballast.unlink()

    # 4. nothing of the failed imports is left, and once there is room the same import works
    from mir.store.repo import Repo

    tags = Repo(root / f"repos/project-{pid}").refs()["tags"]
    assert [t for t in tags if t.endswith((refused["id"], flooded["id"]))] == []
    subprocess.run(["mount", "-o", "remount,size=64m", str(root)], check=True)
    retried = small.wait(h, c.post(f"/api/v1/tasks/{refused['id']}/retry", headers=h).json())
    assert retried["state"] == "done", retried["error"]
    assert _version(small, h, pid, retried)["asset_count"] == 2_000
    _eventually(lambda: _uploads(small) == [])


def _zip_of(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.suffix in (".jpg", ".xml"):
                zf.write(p, str(p.relative_to(folder)))
    return buf.getvalue()


def _upload(c: TestClient, h: dict[str, str], pid: int, data: bytes, group: str) -> Any:
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/upload",
        headers=h,
        data={"group_name": group},
        files={"file": (f"{group}.zip", data, "application/zip")},
    )
    assert r.status_code == 202, r.text
    return r
