"""A workplace on a small tmpfs: an import that cannot fit is refused before it writes; one that fills
the disk anyway fails saying where the disk is full and how much is free; either leaves nothing behind,
and the same import works once there is room."""

from __future__ import annotations

import http.server
import io
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.pool_bench import generate
from mir.ops import history
from mir.store.repo import Repo
from tests.mounts import tmpfs
from ymir_controller import handlers, room
from ymir_controller.handlers.context import Context
from ymir_controller.protocol import ImportRequest, ImportSource
from ymir_controller.settings import Settings


@pytest.fixture
def small_workplace(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs."""
    with tmpfs(tmp_path / "ws", "6m") as ws:
        yield ws


def test_an_import_that_fills_the_disk_fails_clearly_and_cleanly(
    small_workplace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = generate(tmp_path / "data", 900, 64, 64)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(data.rglob("*")):
            if p.is_file() and p.suffix in (".jpg", ".xml"):
                zf.write(p, str(p.relative_to(data)))
    ws = small_workplace
    (ws / "uploads").mkdir()
    (ws / "uploads" / "d.zip").write_bytes(buf.getvalue())  # fits; unpacked + stored it does not
    history.init(root=ws / "repos" / "main")
    settings = Settings(workplace=ws, max_unzipped_bytes=1 << 30)
    request = ImportRequest(
        repo="repos/main",
        dst_rev="d@t1",
        source=ImportSource(kind="zip", path="uploads/d.zip"),
        unknown_types_strategy="add",
    )
    result = handlers.run(request.model_dump(mode="json"), Context(settings=settings, task_id="t1"))
    assert result.state == "failed" and result.error is not None
    # the annotations unpacked and the images stored (4 KiB each on this disk) do not fit: refused
    # before anything is written
    message = result.error.message
    assert message.startswith("not enough space: unpacking the annotations and storing 900 images"), message
    assert "MB free" in message and "free some space" in result.error.fix
    assert not (ws / "work" / "t1").exists() and not (ws / "media").exists()
    assert Repo(ws / "repos" / "main").refs()["tags"] == {}  # no version, no half of one
    assert history.status(root=ws / "repos" / "main").leftovers == []

    # the disk fills while the task writes (the estimate cannot know of another writer)
    ballast = ws / "ballast"
    ballast.write_bytes(b"\0" * (3 << 20))
    monkeypatch.setattr(room, "check", lambda *a, **k: None)
    result = handlers.run(request.model_dump(mode="json"), Context(settings=settings, task_id="t1"))
    assert result.state == "failed" and result.error is not None
    assert result.error.message.startswith("disk full at the workplace, free "), result.error.message
    assert result.error.message.endswith(" MB") and "retry" in result.error.fix
    assert not (ws / "work" / "t1").exists()  # the unpacked annotations are gone
    assert Repo(ws / "repos" / "main").refs()["tags"] == {}
    assert history.status(root=ws / "repos" / "main").leftovers == []
    monkeypatch.undo()
    ballast.unlink()

    subprocess.run(["mount", "-o", "remount,size=32m", str(ws)], check=True)  # room again
    result = handlers.run(request.model_dump(mode="json"), Context(settings=settings, task_id="t1"))
    assert result.state == "done", result.error
    assert result.version is not None and result.version.assets == 900


def test_imports_that_cannot_fit_are_refused_before_they_start(small_workplace: Path, tmp_path: Path) -> None:
    ws = small_workplace
    (tmp_path / "sharing").mkdir()
    (ws / "sharing").symlink_to(tmp_path / "sharing")  # the shared folder on another disk
    generate(tmp_path / "sharing" / "d", 1_600, 16, 16)  # 1,600 stored copies of 4 KiB: 6.6 MB
    history.init(root=ws / "repos" / "main")
    settings = Settings(workplace=ws, fetch_allow="127.0.0.2")

    def run(source: ImportSource, tid: str) -> str:
        req = ImportRequest(
            repo="repos/main", dst_rev=f"d@{tid}", source=source, unknown_types_strategy="add"
        )
        result = handlers.run(req.model_dump(mode="json"), Context(settings=settings, task_id=tid))
        assert result.state == "failed" and result.error is not None
        assert result.error.code == 160002 and "free some space" in result.error.fix
        assert not (ws / "work" / tid).exists()
        return result.error.message

    message = run(ImportSource(kind="path", path="d"), "t1")
    assert message.startswith("not enough space: storing 1600 images needs about 7 MB in media/"), message
    assert not (ws / "media").exists() or not any((ws / "media").iterdir())

    class Big(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            self.send_response(200)
            self.send_header("Content-Length", str(40 << 20))  # announced, never sent
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Big)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        message = run(
            ImportSource(kind="url", url=f"http://127.0.0.2:{server.server_address[1]}/d.zip"), "t2"
        )
    finally:
        server.shutdown()
    assert message.startswith("not enough space: downloading and importing the zip needs about 84 MB"), (
        message
    )
    assert Repo(ws / "repos" / "main").refs()["tags"] == {}
