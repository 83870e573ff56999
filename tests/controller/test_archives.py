"""Archive limits count every entry and the running total, whatever the entry size (zip imports and
tar model packages), on archives generated here."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from mir import models
from mir.errors import CancelledError, InputFileError, ModelError
from ymir_controller.archives import safe_extract

LIMITS = {"max_total": 1 << 40, "max_ratio": 250.0, "max_entries": 1000}


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_many_small_entries_add_up_to_a_bomb(tmp_path: Path) -> None:
    block = b"\0" * (1 << 20)  # 1 MiB: each entry alone stays at the per-entry threshold
    archive = _zip(tmp_path / "bomb.zip", {f"images/{i:03d}.jpg": block for i in range(40)})
    assert archive.stat().st_size < 60_000
    with pytest.raises(InputFileError, match=r"40 entries expand to \d+ bytes, more than 250 times") as e:
        safe_extract(archive, tmp_path / "out", label="bomb.zip", **LIMITS)
    assert str(tmp_path) not in str(e.value)  # named as the user knows it
    assert not (tmp_path / "out").exists()  # refused before anything was written
    small = b"\0" * (128 << 10)  # small entries too: it is the running total that counts
    archive = _zip(tmp_path / "small.zip", {f"images/{i:04d}.jpg": small for i in range(200)})
    with pytest.raises(InputFileError, match="zip bomb"):
        safe_extract(archive, tmp_path / "out2", **LIMITS)


def test_the_total_size_limit_counts_every_entry(tmp_path: Path) -> None:
    rng = __import__("random").Random(0)
    entries = {f"images/{i}.jpg": rng.randbytes(50_000) for i in range(10)}  # incompressible, like JPEG
    archive = _zip(tmp_path / "big.zip", entries)
    with pytest.raises(InputFileError, match="over the limit of 400000"):
        safe_extract(archive, tmp_path / "out", **(LIMITS | {"max_total": 400_000}))
    with pytest.raises(InputFileError, match="10 entries, over the limit of 9"):
        safe_extract(archive, tmp_path / "out", **(LIMITS | {"max_entries": 9}))
    out = safe_extract(archive, tmp_path / "ok", **LIMITS)  # a real dataset passes
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(Path(n).name for n in entries)


def test_a_model_package_of_many_padded_entries_is_refused(tmp_path: Path) -> None:
    package = tmp_path / "model.tar.gz"
    with tarfile.open(package, "w:gz", compresslevel=6) as tar:
        block = b"\0" * (1 << 20)
        for i in range(40):
            info = tarfile.TarInfo(f"stage/w{i}.bin")
            info.size = len(block)
            tar.addfile(info, io.BytesIO(block))
    with pytest.raises(ModelError, match="tar bomb") as e:
        models.read_info(package)
    assert str(tmp_path) not in str(e.value)


def test_a_zip_that_lies_about_its_sizes_is_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "lie.zip", {"images/a.jpg": b"\0" * (2 << 20)})
    raw = bytearray(archive.read_bytes())
    true_size = (2 << 20).to_bytes(4, "little")
    assert raw.count(true_size) == 2  # the local header and the central directory
    archive.write_bytes(bytes(raw).replace(true_size, (1000).to_bytes(4, "little")))
    with pytest.raises(InputFileError, match=r"the entry 'images/a.jpg' is damaged"):
        safe_extract(archive, tmp_path / "out", **LIMITS)
    out = tmp_path / "out" / "images" / "a.jpg"
    assert not out.exists() or out.stat().st_size <= 1000  # never more than it declared


def test_unpacking_stops_on_cancel(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "ok.zip", {f"images/{i}.jpg": b"x" * 1000 for i in range(5)})
    asked = iter([False, False, True])
    with pytest.raises(CancelledError):
        safe_extract(archive, tmp_path / "out", should_cancel=lambda: next(asked, True), **LIMITS)
    assert len(list((tmp_path / "out").rglob("*.jpg"))) <= 2


def test_an_entry_name_with_a_line_break_is_refused_by_name(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "odd.zip", {"images/a\nb.jpg": b"x", "images/c.jpg": b"y"})
    with pytest.raises(InputFileError, match=r"'images/a\\nb.jpg' has a tab or a line break in its name"):
        safe_extract(archive, tmp_path / "out", **LIMITS)
    assert not (tmp_path / "out").exists()  # refused before anything was written
