"""Uploads over a real HTTP server (uvicorn): who asks and the project are checked before the body is
read, chunked bodies are counted as they stream and cut at the cap, broken forms are refused by name,
and nothing is left behind (partial uploads of a dead API are swept at start)."""

from __future__ import annotations

import io
import json
import os
import select
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.mounts import tmpfs
from ymir_backend.config import BackendSettings
from ymir_backend.main import create_app
from ymir_backend.services.uploads import part_name

MIB = 1 << 20


@dataclass
class Live:
    base: str
    port: int
    settings: BackendSettings

    def headers(self, email: str) -> dict[str, str]:
        with httpx.Client(base_url=self.base) as c:
            r = c.post(
                "/api/v1/auth/signup",
                json={"email": email, "username": email.split("@")[0], "password": "pass-123-x"},
            )
            assert r.status_code == 201, r.text
            r = c.post("/api/v1/auth/login", json={"email": email, "password": "pass-123-x"})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def uploads(self) -> list[Path]:
        folder = self.settings.root / "uploads"
        return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("uploads-live")
    (root / "uploads").mkdir()
    dead = root / "uploads" / f"{part_name(pid=2**22 + 17)}abc.part"  # a pid that cannot exist
    dead.write_bytes(b"x" * 1000)
    alive = root / "uploads" / f"{part_name()}def.part"  # this process: an upload in progress
    alive.write_bytes(b"y")
    settings = BackendSettings(
        workplace=root,
        database_url="",
        admin_email="root@example.com",
        admin_password="root-pass-123",
        run_monitor=False,
        login_attempts_per_minute=1000,
        max_upload_bytes=5 * MIB,
    )
    app = create_app(settings)
    assert not dead.exists() and alive.exists()  # swept at start: the dead API's part only
    alive.unlink()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield Live(base=f"http://127.0.0.1:{port}", port=port, settings=settings)
    server.should_exit = True
    thread.join(10)


def stream_upload(
    live: Live, path: str, headers: dict[str, str], total: int
) -> tuple[int, dict[str, object], int]:
    """POST a chunked multipart body of ``total`` bytes of file data, stopping as soon as the server
    answers: (status, body, bytes sent)."""
    boundary = "ymirboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="group_name"\r\n\r\nbig\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", live.port))
    sock.settimeout(30)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{live.port}",
        f"Content-Type: multipart/form-data; boundary={boundary}",
        "Transfer-Encoding: chunked",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    sent = 0
    block = b"\0" * (256 * 1024)
    pieces = [head] + [block] * (total // len(block)) + [f"\r\n--{boundary}--\r\n".encode()]
    reply = b""
    try:
        for piece in pieces:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server answered before the body was complete
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            sent += len(piece)
        else:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < _length(reply):
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    sock.close()
    status = int(reply.split(b" ", 2)[1])
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1] or b"{}")
    return status, body, sent


def _length(reply: bytes) -> int:
    for line in reply.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def _project(live: Live, headers: dict[str, str]) -> int:
    with httpx.Client(base_url=live.base, headers=headers) as c:
        c.post("/api/v1/labels", json={"name": "cat"})  # classes are labels first (409 once it exists)
        r = c.post("/api/v1/projects", json={"name": f"p{time.time_ns()}", "training_classes": ["cat"]})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])


def test_a_200_mib_upload_to_a_forbidden_project_is_refused_before_it_is_read(live: Live) -> None:
    owner = live.headers("owner@example.com")
    other = live.headers("intruder@example.com")
    pid = _project(live, owner)
    for path, who in (
        (f"/api/v1/projects/{pid}/datasets/upload", other),  # somebody else's project
        ("/api/v1/projects/999999/datasets/upload", owner),  # no such project
        (f"/api/v1/projects/{pid}/models/upload", other),
        (f"/api/v1/projects/{pid}/datasets/upload", {"Authorization": "Bearer nonsense"}),
    ):
        t0 = time.monotonic()
        status, body, sent = stream_upload(live, path, who, 200 * MIB)
        assert status in (401, 404), (path, status, body)
        assert sent < 200 * MIB, sent  # answered long before the body was complete
        assert time.monotonic() - t0 < 20
        assert live.uploads() == []  # not one byte was written


def test_a_chunked_upload_is_cut_at_the_cap(live: Live) -> None:
    h = live.headers("chunky@example.com")
    pid = _project(live, h)
    status, body, sent = stream_upload(live, f"/api/v1/projects/{pid}/datasets/upload", h, 64 * MIB)
    assert status == 413 and body["code"] == "upload_too_large", body
    assert "YMIR_MAX_UPLOAD_BYTES" in str(body["detail"])
    assert sent < 64 * MIB
    assert live.uploads() == []  # the partial file is gone


def test_broken_upload_forms_are_refused_by_field(live: Live) -> None:
    h = live.headers("forms@example.com")
    pid = _project(live, h)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("images/a.txt", "x")
    url = f"/api/v1/projects/{pid}/datasets/upload"
    with httpx.Client(base_url=live.base, headers=h) as c:
        r = c.post(url, files={"file": ("d.zip", buf.getvalue())})
        assert r.status_code == 422 and "group_name" in r.json()["detail"], r.text
        r = c.post(url, data={"group_name": "g"})
        assert r.status_code == 422 and "'file'" in r.json()["detail"], r.text
        r = c.post(
            url, data={"group_name": "g", "unknown_types_strategy": "maybe"}, files={"file": ("d.zip", b"z")}
        )
        assert r.status_code == 422 and "unknown_types_strategy" in r.json()["detail"], r.text
        r = c.post(url, json={"group_name": "g"})
        assert r.status_code == 422 and "multipart/form-data" in r.json()["detail"], r.text
        # a good one still works and is kept for its task
        r = c.post(url, data={"group_name": "g"}, files={"file": ("d.zip", buf.getvalue())})
        assert r.status_code == 202, r.text
    kept = live.uploads()
    assert len(kept) == 1 and kept[0].suffix == ".zip" and kept[0].read_bytes() == buf.getvalue()
    kept[0].unlink()
    assert not any(p.name.endswith(".part") for p in kept)
    assert os.listdir(live.settings.root / "uploads") == []


@pytest.fixture
def small_disk(live: Live) -> Iterator[Path]:
    """``uploads/`` on a 2 MiB tmpfs."""
    with tmpfs(live.settings.root / "uploads", "2m") as folder:
        yield folder


def test_a_full_disk_ends_an_upload_with_a_clear_error(live: Live, small_disk: Path) -> None:
    h = live.headers("full@example.com")
    pid = _project(live, h)
    url = f"/api/v1/projects/{pid}/datasets/upload"
    status, body, _ = stream_upload(live, url, h, 4 * MIB)  # chunked: the disk fills while it streams
    assert status == 507 and body["code"] == "disk_full", body
    assert "disk full at uploads/" in str(body["detail"]) and "GB" in str(body["detail"])
    assert os.listdir(small_disk) == []  # the partial file is gone
    with httpx.Client(base_url=live.base, headers=h) as c:
        # announced in advance: refused before a byte is written
        r = c.post(url, data={"group_name": "g"}, files={"file": ("d.zip", b"\0" * (3 * MIB))})
        assert r.status_code == 507 and "free" in r.json()["detail"], r.text
        assert os.listdir(small_disk) == []
        assert c.get(f"/api/v1/projects/{pid}").status_code == 200  # the API answers as before
        r = c.post(url, data={"group_name": "g"}, files={"file": ("d.zip", b"PK" + b"\0" * 1000)})
        assert r.status_code == 202, r.text  # a small one fits
    for p in small_disk.iterdir():
        p.unlink()


def test_an_upload_no_task_names_is_swept_after_the_keep_time(live: Live) -> None:
    from ymir_backend.db import Database
    from ymir_backend.services import lifecycle

    orphan = live.settings.root / "uploads" / "orphan.zip"  # e.g. the API died before its task row
    orphan.write_bytes(b"PK")
    fresh = live.settings.root / "uploads" / "fresh.zip"  # an upload whose task is being created
    fresh.write_bytes(b"PK")
    old = time.time() - 3600 * (live.settings.keep_failed_hours + 1)
    os.utime(orphan, (old, old))
    with Database(live.settings.db_url).sessions() as s:
        removed = lifecycle.sweep(s, live.settings)
    assert orphan in removed and not orphan.exists() and fresh.exists()
    fresh.unlink()
