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
    """Store ``data`` under ``asset_id`` unless present; True when this call wrote the file.

    This runs once per imported image, a million times per large import, and creating files is
    what import costs on most disks; so the common case is one exclusive create written in place
    (no temporary name, no rename). Safety comes from the size: a file whose size differs from the
    image's is the leftover of a killed writer (or another writer still busy) and is replaced
    atomically through a temporary name; a committed version only ever names complete files,
    because a version is committed after all its images were written.
    """
    folder = os.path.join(location, asset_id[-2:])
    target = os.path.join(folder, asset_id)
    try:
        if os.stat(target).st_size == len(data):
            return False
        _replace(folder, target, asset_id, data)
        return True
    except FileNotFoundError:
        pass
    if folder not in _made_dirs:
        os.makedirs(folder, exist_ok=True)
        _made_dirs.add(folder)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:  # another import is writing this very image right now
        _replace(folder, target, asset_id, data)
        return True
    except FileNotFoundError:  # the folder went away since we cached it
        _made_dirs.discard(folder)
        return store_bytes(location, asset_id, data)
    try:
        _write_all(fd, data)
    except BaseException:
        os.close(fd)
        os.unlink(target)
        raise
    os.close(fd)
    return True


def _replace(folder: str, target: str, asset_id: str, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (temporary name, then rename)."""
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{asset_id}-{os.getpid()}")
    try:
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
