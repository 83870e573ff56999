"""Content-addressed image storage: ``<media-location>/<sha1[-2:]>/<sha1>`` (YMIR's layout).

An image imported twice is stored once and has the same name everywhere. Files appear atomically
(written to a temporary name, then renamed), so a reader never sees half an image.
"""

from __future__ import annotations

import os
import tempfile
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


def store_bytes(location: Path, asset_id: str, data: bytes) -> bool:
    """Store ``data`` under ``asset_id`` unless present; True when this call created the file."""
    target = asset_path(location, asset_id)
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
