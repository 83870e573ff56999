"""Receiving uploaded files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import UploadFile

from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError


async def save_upload(file: UploadFile, settings: BackendSettings, suffix: str) -> Path:
    """Stream an upload into ``<workplace>/uploads`` (refused past ``YMIR_MAX_UPLOAD_BYTES``; nothing
    is left behind when it is refused or the client goes away)."""
    uploads = settings.root / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=uploads, suffix=suffix)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await file.read(1 << 20):
                written += len(chunk)
                if written > settings.max_upload_bytes:
                    raise ApiError(
                        413,
                        "upload_too_large",
                        f"the upload exceeds {settings.max_upload_bytes} bytes; "
                        "import large datasets from the sharing folder instead",
                    )
                out.write(chunk)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


async def read_small_upload(file: UploadFile, *, limit: int, what: str, setting: str) -> bytes:
    """The bytes of a small upload (an image to verify), read in chunks and refused with 413 as soon as
    they pass ``limit``, so a huge file never sits in memory; ``setting`` names the variable to raise."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413,
                "upload_too_large",
                f"the {what} exceeds {limit} bytes; send a smaller one (or raise {setting})",
            )
        chunks.append(chunk)
    return b"".join(chunks)
