"""Atomic text writes: a temporary file beside the target (or in ``tmp_dir``), fsynced, then renamed
over it, so a reader sees the old file or the new one, never a part; the temporary file never
outlives a failure."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(
    path: Path, text: str, *, tmp_dir: Path | None = None, prefix: str = "", suffix: str = ""
) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file ``<prefix>…<suffix>`` (default prefix:
    ``<path's name>.``) in ``tmp_dir`` (default: ``path``'s folder; it must be on ``path``'s file
    system)."""
    fd, tmp = tempfile.mkstemp(dir=tmp_dir or path.parent, prefix=prefix or f"{path.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
