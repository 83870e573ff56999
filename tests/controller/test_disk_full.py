"""A workplace on a small tmpfs filled by an import: the task fails saying where the disk is full and
how much is free, leaves nothing behind, and the same import works once there is room."""

from __future__ import annotations

import io
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.pool_bench import generate
from mir.ops import history
from mir.store.repo import Repo
from tests.mounts import tmpfs
from ymir_controller import handlers
from ymir_controller.handlers.context import Context
from ymir_controller.protocol import ImportRequest, ImportSource
from ymir_controller.settings import Settings


@pytest.fixture
def small_workplace(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs."""
    with tmpfs(tmp_path / "ws", "6m") as ws:
        yield ws


def test_an_import_that_fills_the_disk_fails_clearly_and_cleanly(
    small_workplace: Path, tmp_path: Path
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
    assert result.error.message.startswith("disk full at the workplace, free "), result.error.message
    assert result.error.message.endswith(" GB") and "retry" in result.error.fix
    assert not (ws / "work" / "t1").exists()  # the unpacked zip is gone
    assert Repo(ws / "repos" / "main").refs()["tags"] == {}  # no version, no half of one
    assert history.status(root=ws / "repos" / "main").leftovers == []

    subprocess.run(["mount", "-o", "remount,size=32m", str(ws)], check=True)  # room again
    result = handlers.run(request.model_dump(mode="json"), Context(settings=settings, task_id="t1"))
    assert result.state == "done", result.error
    assert result.version is not None and result.version.assets == 900
