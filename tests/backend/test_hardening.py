"""Attacks an outside probe made over HTTP, replayed: each must now fail with a clear message."""

from __future__ import annotations

import http.server
import io
import json
import socket
import struct
import threading
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bench.synthetic import generate_voc
from tests.backend.conftest import Api, _api


def test_an_executor_image_never_carries_a_command_line(light: Api) -> None:
    c = light.client
    root = light.login("root@example.com", "root-pass-123")
    templates = {"training": {"epochs": 1}}
    for name in ("local:sh -c 'id > /tmp/owned'", "local:/bin/sh", "local:unknown-one"):
        r = c.post("/api/v1/images", headers=root, json={"name": name, "templates": templates})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert detail.startswith("name: ") and "YMIR_LOCAL_EXECUTORS" in detail, detail
        assert "registered: fake, fake-sleep" in detail  # what the server offers instead
    for name in ("ubuntu --privileged", "Upper/Case", "img:tag;rm -rf /", "-v/:/host"):
        r = c.post("/api/v1/images", headers=root, json={"name": name, "templates": templates})
        assert r.status_code == 422 and "not a container image reference" in r.json()["detail"], r.text
    for name in ("local:fake", "registry.example.com:5000/team/det:1.0", "det@sha256:" + "a" * 64):
        r = c.post("/api/v1/images", headers=root, json={"name": name, "templates": templates})
        assert r.status_code == 201, r.text
    names = [i["name"] for i in c.get("/api/v1/images", headers=root).json()]
    assert not any(" " in n for n in names), names


# --- one stack for the attacks that need the worker: SQLite, the embedded broker, a real worker --------

ALLOWED = "127.0.0.2"  # the test's own web server: the only internal address the worker may fetch from
SECRET = b"INTERNAL-SECRET-7f3a"


class _Web(http.server.BaseHTTPRequestHandler):
    """What a web server on the internal network might answer: a dataset zip, redirects, a slow
    download, a secret, an error page."""

    zips: dict[str, bytes] = {}
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        path, _, query = self.path.partition("?")
        if path in self.zips:
            self._send(200, self.zips[path])
        elif path == "/redirect":
            self._send(302, b"", {"Location": urllib.parse.unquote(query)})
        elif path == "/secret":
            self._send(200, SECRET)
        elif path == "/error":
            self._send(500, SECRET)
        elif path == "/slow.zip":  # 100 bytes every 0.2 s of a 50 MB file: hours to finish
            self.send_response(200)
            self.send_header("Content-Length", str(50 * 1024**2))
            self.end_headers()
            try:
                for _ in range(600):
                    self.wfile.write(b"PK" + b"\0" * 98)
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                return  # the worker hung up: what a cancel must do
        else:
            self._send(404, b"no")


def _serve(host: str, handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("hardening")
    worker_env = {
        "YMIR_FETCH_ALLOW": ALLOWED,
        "YMIR_DOWNLOAD_TIMEOUT": "3",
        "YMIR_DOWNLOAD_MAX_SECONDS": "4",
    }
    stacks = _api(tmp, "", with_worker=True, worker_env=worker_env, max_json_bytes=64 * 1024)
    api = next(stacks)
    yield api
    if api.engine is not None:
        api.engine.kill()  # nothing left to finish: skip the worker's warm shutdown (15-20 s)
    next(stacks, None)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = generate_voc(
        tmp_path_factory.mktemp("web") / "d", n_images=4, seed=5, image_size=(32, 32), name_prefix="w"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.suffix in (".jpg", ".xml"):
                zf.write(p, str(p.relative_to(folder)))
    _Web.zips = {"/data.zip": buf.getvalue()}
    allowed, internal = _serve(ALLOWED, _Web), _serve("127.0.0.1", _Web)
    yield f"http://{ALLOWED}:{allowed.server_address[1]}|{internal.server_address[1]}"
    allowed.shutdown()
    internal.shutdown()


def _project(stack: Api, h: dict[str, str]) -> int:
    stack.client.post("/api/v1/labels", json={"name": "circle"}, headers=h)  # 409 once it exists
    r = stack.client.post("/api/v1/projects", json={"name": "p", "training_classes": ["circle"]}, headers=h)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _import_urls(stack: Api, h: dict[str, str], pid: int, urls: list[str]) -> list[dict[str, Any]]:
    tasks = []
    for i, url in enumerate(urls):
        r = stack.client.post(
            f"/api/v1/projects/{pid}/datasets/url", json={"group_name": f"u{i}", "url": url}, headers=h
        )
        assert r.status_code == 202, r.text
        tasks.append(r.json())
    return [stack.wait(h, t, timeout=60) for t in tasks]


def test_url_imports_reach_no_internal_address(stack: Api, web: str) -> None:
    base, internal_port = web.split("|")
    h = stack.signup("mallory@example.com")
    pid = _project(stack, h)
    inside = [
        f"http://127.0.0.1:{internal_port}/secret",
        f"http://2130706433:{internal_port}/secret",  # 127.0.0.1 in decimal
        f"http://0177.0.0.1:{internal_port}/secret",  # ... in octal
        f"http://[::1]:{internal_port}/secret",
        f"http://[::ffff:127.0.0.1]:{internal_port}/secret",  # IPv4 inside IPv6
        f"http://localhost:{internal_port}/secret",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.1/x.zip",
        f"{base}/redirect?" + urllib.parse.quote(f"http://127.0.0.1:{internal_port}/secret"),
    ]
    closed = socket.socket()
    closed.bind((ALLOWED, 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # a closed port on the allowed host...
    outcomes = [f"{base}/error", f"{base}/secret", f"http://{ALLOWED}:{closed_port}/x.zip"]
    tasks = _import_urls(stack, h, pid, [*inside, *outcomes])
    for url, task in zip(inside, tasks, strict=False):
        assert task["state"] == "failed", (url, task)
        message = task["error"]["message"]
        assert "only fetch from public addresses" in message and "YMIR_FETCH_ALLOW" in task["error"]["fix"]
        assert SECRET.decode() not in message and "HTTP" not in message, message
    error, secret, closed_task = tasks[len(inside) :]
    assert "the server answered HTTP 500" in error["error"]["message"]
    assert "is not a zip archive" in secret["error"]["message"]
    assert "could not be reached" in closed_task["error"]["message"]
    for task in tasks:
        shown = f"{task['error']} {task['message']}"
        assert SECRET.decode() not in shown and str(stack.settings.root) not in shown, shown
    # the allow-listed server works, also through a redirect to itself
    ok = _import_urls(stack, h, pid, [f"{base}/data.zip", f"{base}/redirect?{base}/data.zip"])
    assert [t["state"] for t in ok] == ["done", "done"], [t["error"] for t in ok]


def test_a_slow_download_is_cancelled_within_seconds_and_has_a_total_limit(stack: Api, web: str) -> None:
    base = web.split("|")[0]
    h = stack.signup("slow@example.com")
    pid = _project(stack, h)
    c = stack.client
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/url", json={"group_name": "s", "url": f"{base}/slow.zip"}, headers=h
    )
    task = r.json()
    deadline = time.monotonic() + 30
    while c.get(f"/api/v1/tasks/{task['id']}", headers=h).json()["stage"] != "downloading":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1)  # bytes are trickling in
    asked = time.monotonic()
    assert c.post(f"/api/v1/tasks/{task['id']}/cancel", headers=h).status_code == 202
    ended = stack.wait(h, task, timeout=30)
    assert ended["state"] == "cancelled" and time.monotonic() - asked < 10, ended
    # the server trickles forever; YMIR_DOWNLOAD_MAX_SECONDS=4 ends the download whatever it does
    started = time.monotonic()
    [limited] = _import_urls(stack, h, pid, [f"{base}/slow.zip"])
    assert limited["state"] == "failed" and "longer than its limit of 4 s" in limited["error"]["message"]
    assert time.monotonic() - started < 15


def _bomb_zip() -> bytes:
    """300 entries of 1 MiB of zeros each, about 350 kB zipped: no entry looks like a bomb, all
    together do. Written by hand around one deflated block (zipfile would deflate 300 MiB)."""
    block = b"\0" * (1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = packer.compress(block) + packer.flush()
    crc = zlib.crc32(block)
    out, central = io.BytesIO(), io.BytesIO()
    for i in range(300):
        name = f"images/{i:03d}.jpg".encode()
        offset = out.tell()
        sizes = struct.pack("<IIIHH", crc, len(data), len(block), len(name), 0)
        out.write(struct.pack("<IHHHHH", 0x04034B50, 20, 0, 8, 0, 0) + sizes + name + data)
        central.write(struct.pack("<IHHHHHH", 0x02014B50, 20, 20, 0, 8, 0, 0) + sizes)
        central.write(struct.pack("<HHHII", 0, 0, 0, 0, offset) + name)
    start = out.tell()
    out.write(central.getvalue())
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 300, 300, len(central.getvalue()), start, 0))
    return out.getvalue()


def test_a_zip_of_many_harmless_looking_entries_is_refused_as_a_bomb(stack: Api) -> None:
    h = stack.signup("bomber@example.com")
    pid = _project(stack, h)
    data = _bomb_zip()
    assert len(data) < 400_000
    r = stack.client.post(
        f"/api/v1/projects/{pid}/datasets/upload",
        headers=h,
        data={"group_name": "bomb"},
        files={"file": ("bomb.zip", data, "application/zip")},
    )
    assert r.status_code == 202, r.text  # an upload is not capped like JSON
    task = stack.wait(h, r.json(), timeout=60)
    assert task["state"] == "failed", task
    message = task["error"]["message"]
    assert "zip bomb" in message and "300 entries" in message, message
    assert str(stack.settings.root) not in message
    unpacked = stack.settings.root / "work" / task["id"] / "unpacked"
    assert not unpacked.exists() or sum(p.stat().st_size for p in unpacked.rglob("*") if p.is_file()) == 0


def test_json_bodies_are_capped_and_messages_hold_no_server_paths(stack: Api) -> None:
    c = stack.client
    h = stack.signup("big@example.com")
    big = {"name": "huge", "training_classes": ["circle"], "description": "x" * 100_000}
    r = c.post("/api/v1/projects", json=big, headers=h)
    assert r.status_code == 413 and "YMIR_MAX_JSON_BYTES" in r.json()["detail"], r.text
    body = json.dumps(big).encode()
    chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))  # chunked: no Content-Length
    r = c.post("/api/v1/projects", content=chunks, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert c.get("/api/v1/projects", headers=h).json()["total"] == 0  # nothing was created
    pid = _project(stack, h)
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/path", json={"group_name": "g", "path": "nowhere"}, headers=h
    )
    assert r.status_code == 404 and "sharing" in r.json()["detail"], r.text  # refused before any task
    assert str(stack.settings.root) not in r.text, r.text


def test_an_unexpected_server_error_gives_an_id_not_a_path(
    light: Api, caplog: pytest.LogCaptureFixture
) -> None:
    app = light.client.app

    @app.get("/boom")  # type: ignore[attr-defined,misc]
    def boom() -> None:
        raise RuntimeError(f"cannot open {light.settings.root}/secret.db")

    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/boom")
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    detail = r.json()["detail"]
    assert "GET /boom" in detail and "RuntimeError" in detail and "unexpected" not in detail
    assert str(light.settings.root) not in detail
    eid = detail.split("error id ")[1].split()[0]
    assert any(eid in rec.getMessage() for rec in caplog.records)  # the operator finds the detail
