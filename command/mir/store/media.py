"""Content-addressed image storage: ``<media-location>/<sha1[-2:]>/<sha1>`` (YMIR's layout).

An image imported twice is stored once and has the same name everywhere. Files appear atomically
(written to a temporary name, then renamed), so a reader never sees half an image.
"""

from __future__ import annotations

import os
from pathlib import Path


def asset_path(location: Path, asset_id: str) -> Path:
    """Where the bytes of ``asset_id`` live (sub-folder layout)."""
    return location / asset_id[-2:] / asset_id


def locate(location: Path, asset_id: str) -> Path | None:
    """Find an asset in the sub-folder layout or YMIR's older flat layout."""
    for candidate in (asset_path(location, asset_id), location / asset_id):
        if candidate.is_file():
            return candidate
    return None


_made_dirs: set[str] = set()


def store_bytes(location: Path, asset_id: str, data: bytes) -> bool:
    """Store ``data`` under ``asset_id`` unless present; True when this call created the file.

    Plain ``os`` calls on strings: this runs once per image of an import, a million times.
    """
    folder = os.path.join(location, asset_id[-2:])
    target = os.path.join(folder, asset_id)
    if os.path.exists(target):
        return False
    if folder not in _made_dirs:
        os.makedirs(folder, exist_ok=True)
        _made_dirs.add(folder)
    tmp = os.path.join(folder, f".tmp-{asset_id}-{os.getpid()}")
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except FileNotFoundError:  # the folder went away since we cached it
            os.makedirs(folder, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
